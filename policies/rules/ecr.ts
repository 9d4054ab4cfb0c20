/** ECR repositories: encrypted with the stack key, scanned on push, immutable tags. */
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy } from "@pulumi/policy";
import { onResource } from "../lib/rule";
import { asArray } from "../lib/util";
import { checkKey } from "./ebs";

export const ecrPolicies: ResourceValidationPolicy[] = [
    {
        name: "ecr-encrypted-cmk",
        description: "Checks whether ECR repositories are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ecr.Repository, "ECR repository", (r, args, report, d) => {
            const enc = asArray(r.encryptionConfigurations)[0];
            if (!enc || enc.encryptionType !== "KMS") report(`ECR repository '${args.name}' must set encryptionConfigurations [{ encryptionType: "KMS", kmsKey: <stack key> }].`);
            else checkKey(d, report, "encryptionConfigurations[0].kmsKey", () => enc.kmsKey, `ECR repository '${args.name}'`);
        }),
    },
    {
        name: "ecr-scan-on-push",
        description: "Checks whether ECR repositories scan images on push.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ecr.Repository, "ECR repository", (r, args, report) => {
            if (r.imageScanningConfiguration?.scanOnPush !== true) report(`ECR repository '${args.name}' must set imageScanningConfiguration.scanOnPush: true.`);
        }),
    },
    {
        name: "ecr-immutable-tags",
        description: "Checks whether ECR repositories have IMMUTABLE image tags.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ecr.Repository, "ECR repository", (r, args, report) => {
            if (r.imageTagMutability !== "IMMUTABLE") report(`ECR repository '${args.name}' must set imageTagMutability: "IMMUTABLE" (found ${r.imageTagMutability ?? "MUTABLE (default)"}).`);
        }),
    },
];
