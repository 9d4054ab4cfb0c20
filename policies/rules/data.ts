import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, isCustomerKey, isOpenCidr } from "../lib/util";

interface SsmConfig { secretNamePattern: string }
interface EksLogConfig { requiredLogTypes: string[] }

/** KMS keys, EFS, EKS, SSM parameters and CloudWatch log groups. */
export const dataPolicies: ResourceValidationPolicy[] = [
    {
        name: "kms-key-rotation-enabled",
        description: "Checks whether customer-managed KMS keys rotate automatically.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.kms.Key, (k, args, report) => {
            if (k.enableKeyRotation !== true) report(`KMS key '${args.name}' must set enableKeyRotation: true.`);
        }),
    },
    {
        name: "efs-encrypted-cmk",
        description: "Checks whether EFS file systems are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.efs.FileSystem, (fs, args, report) => {
            if (fs.encrypted !== true || !isCustomerKey(get(() => fs.kmsKeyId))) report(`EFS file system '${args.name}' must set encrypted: true and the stack's kmsKeyId.`);
        }),
    },
    {
        name: "eks-secrets-encrypted",
        description: "Checks whether EKS clusters envelope-encrypt Kubernetes secrets with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.eks.Cluster, (c, args, report) => {
            const e = c.encryptionConfig;
            if (!e || !asArray(e.resources).includes("secrets") || !isCustomerKey(get(() => e.provider?.keyArn))) {
                report(`EKS cluster '${args.name}' must set encryptionConfig { resources: ["secrets"], provider.keyArn: <stack key> }.`);
            }
        }),
    },
    {
        name: "eks-endpoint-not-public",
        description: "Checks whether the EKS API endpoint is private or restricted to listed CIDRs (never 0.0.0.0/0).",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.eks.Cluster, (c, args, report) => {
            const v = c.vpcConfig;
            if (v?.endpointPrivateAccess !== true) report(`EKS cluster '${args.name}' must set vpcConfig.endpointPrivateAccess: true.`);
            if (v?.endpointPublicAccess === false) return;
            const cidrs = asArray(get(() => v?.publicAccessCidrs) as string[] | undefined);
            if (cidrs.length === 0 || cidrs.some(isOpenCidr)) {
                report(`EKS cluster '${args.name}' public endpoint is open to the internet; set endpointPublicAccess: false or publicAccessCidrs to the institution's CIDRs.`);
            }
        }),
    },
    {
        name: "eks-control-plane-logging",
        description: "Checks whether EKS control-plane logs (api, audit, authenticator) are enabled.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { requiredLogTypes: { type: "array", items: { type: "string" }, default: ["api", "audit", "authenticator"] } } },
        validateResource: validateResourceOfType(aws.eks.Cluster, (c, args, report) => {
            const { requiredLogTypes = ["api", "audit", "authenticator"] } = args.getConfig<EksLogConfig>();
            const on = asArray(c.enabledClusterLogTypes);
            const missing = requiredLogTypes.filter((t) => !on.includes(t));
            if (missing.length) report(`EKS cluster '${args.name}' must enable control-plane log types ${missing.join(", ")} in enabledClusterLogTypes.`);
        }),
    },
    {
        name: "ssm-secure-parameters-cmk",
        description: "Checks whether SSM parameters that hold secrets are SecureString encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { secretNamePattern: { type: "string", default: "(token|password|passwd|secret|private[-_]?key|credential)" } } },
        validateResource: validateResourceOfType(aws.ssm.Parameter, (p, args, report) => {
            const { secretNamePattern = "(token|password|passwd|secret|private[-_]?key|credential)" } = args.getConfig<SsmConfig>();
            const name = String(get(() => p.name) ?? args.name);
            const holdsSecret = p.type === "SecureString" || new RegExp(secretNamePattern, "i").test(name);
            if (!holdsSecret) return;
            if (p.type !== "SecureString") report(`SSM parameter '${args.name}' (${name}) holds a secret and must be type SecureString (found ${p.type}).`);
            else if (!isCustomerKey(get(() => p.keyId))) report(`SSM parameter '${args.name}' (${name}) must be encrypted with the stack's KMS key (keyId), not alias/aws/ssm.`);
        }),
    },
    {
        name: "cloudwatch-log-groups-cmk",
        description: "Checks whether CloudWatch log groups are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.cloudwatch.LogGroup, (g, args, report) => {
            if (!isCustomerKey(get(() => g.kmsKeyId))) report(`Log group '${args.name}' must set kmsKeyId to the stack's KMS key.`);
        }),
    },
];
