import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, isCustomerKey } from "../lib/util";

export const ecrPolicies: ResourceValidationPolicy[] = [
    {
        name: "ecr-encrypted-cmk",
        description: "Checks whether ECR repositories are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ecr.Repository, (r, args, report) => {
            const enc = asArray(r.encryptionConfigurations)[0];
            if (!enc || enc.encryptionType !== "KMS" || !isCustomerKey(get(() => enc.kmsKey))) {
                report(`ECR repository '${args.name}' must set encryptionConfigurations [{ encryptionType: "KMS", kmsKey: <stack key> }].`);
            }
        }),
    },
    {
        name: "ecr-scan-on-push",
        description: "Checks whether ECR repositories scan images on push.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ecr.Repository, (r, args, report) => {
            if (r.imageScanningConfiguration?.scanOnPush !== true) report(`ECR repository '${args.name}' must set imageScanningConfiguration.scanOnPush: true.`);
        }),
    },
    {
        name: "ecr-immutable-tags",
        description: "Checks whether ECR repositories have IMMUTABLE image tags.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ecr.Repository, (r, args, report) => {
            if (r.imageTagMutability !== "IMMUTABLE") report(`ECR repository '${args.name}' must set imageTagMutability: "IMMUTABLE" (found ${r.imageTagMutability ?? "MUTABLE (default)"}).`);
        }),
    },
];
