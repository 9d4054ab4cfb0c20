/** Every rule of the pack, as plain arrays: tests and the offline plan import this, never ../index.ts. */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { auditPolicies } from "./audit";
import { budgetEnforcerPolicies } from "./budget-enforcer";
import { budgetPolicies } from "./budgets";
import { clusterAccessPolicies } from "./cluster-access";
import { coveragePolicies } from "./coverage";
import { isolationPolicies } from "./isolation";
import { dataPolicies } from "./data";
import { ebsPolicies } from "./ebs";
import { backupStackPolicies } from "./backups";
import { ec2Policies } from "./ec2";
import { ecrPolicies } from "./ecr";
import { helmPolicies, helmStackPolicies } from "./helm";
import { iamPolicies, iamStackPolicies } from "./iam";
import { keyStackPolicies } from "./keys";
import { kubernetesPolicies, kubernetesStackPolicies } from "./kubernetes";
import { networkPolicies, networkStackPolicies } from "./network";
import { researcherPolicies } from "./researchers";
import { retentionPolicies, retentionStackPolicies } from "./retention";
import { principalStackPolicies, resourcePolicyPolicies } from "./resource-policies";
import { s3Policies, s3StackPolicies } from "./s3";
import { stackPolicies } from "./stack";

export const POLICY_PACK_NAME = "archaeo-workbench-security";

export const resourcePolicies: ResourceValidationPolicy[] = [
    ...ebsPolicies, ...ec2Policies, ...networkPolicies, ...s3Policies, ...ecrPolicies, ...dataPolicies, ...iamPolicies,
    ...resourcePolicyPolicies, ...kubernetesPolicies, ...helmPolicies, ...retentionPolicies,
];
export const stackValidationPolicies: StackValidationPolicy[] = [
    ...s3StackPolicies, ...auditPolicies, ...networkStackPolicies, ...keyStackPolicies, ...principalStackPolicies, ...iamStackPolicies,
    ...researcherPolicies, ...budgetPolicies, ...budgetEnforcerPolicies, ...clusterAccessPolicies, ...kubernetesStackPolicies, ...helmStackPolicies, ...stackPolicies, ...backupStackPolicies,
    ...isolationPolicies, ...coveragePolicies,
    ...retentionStackPolicies,
];
export const allPolicies = [...resourcePolicies, ...stackValidationPolicies];
