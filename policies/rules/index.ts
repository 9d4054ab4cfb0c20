/** Every rule of the pack, as plain arrays: tests and the offline plan import this, never ../index.ts. */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { dataPolicies } from "./data";
import { ebsPolicies } from "./ebs";
import { ec2Policies } from "./ec2";
import { ecrPolicies } from "./ecr";
import { iamPolicies } from "./iam";
import { kubernetesPolicies, kubernetesStackPolicies } from "./kubernetes";
import { networkPolicies } from "./network";
import { s3Policies, s3StackPolicies } from "./s3";
import { stackPolicies } from "./stack";

export const POLICY_PACK_NAME = "archaeo-workbench-security";

export const resourcePolicies: ResourceValidationPolicy[] = [
    ...ebsPolicies, ...ec2Policies, ...networkPolicies, ...s3Policies, ...ecrPolicies, ...dataPolicies, ...iamPolicies, ...kubernetesPolicies,
];
export const stackValidationPolicies: StackValidationPolicy[] = [...s3StackPolicies, ...kubernetesStackPolicies, ...stackPolicies];
export const allPolicies = [...resourcePolicies, ...stackValidationPolicies];
