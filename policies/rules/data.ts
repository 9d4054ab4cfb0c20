/** KMS keys, EFS, EKS, SSM parameters and CloudWatch log groups. */
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy } from "@pulumi/policy";
import { cidrBreadthProblems } from "../lib/cidr";
import { onResource } from "../lib/rule";
import { asArray, get, UNKNOWN } from "../lib/util";
import { checkKey } from "./ebs";
import { BREADTH_SCHEMA, BreadthConfig, limitsOf } from "./network";

interface SsmConfig { secretNamePattern: string }
interface EksLogConfig { requiredLogTypes: string[] }
const SECRET_NAMES = "(token|password|passwd|secret|private[-_]?key|credential)";

export const dataPolicies: ResourceValidationPolicy[] = [
    {
        name: "kms-key-rotation-enabled",
        description: "Checks whether customer-managed KMS keys rotate automatically.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.kms.Key, "KMS key", (k, args, report) => {
            if (k.enableKeyRotation !== true) report(`KMS key '${args.name}' must set enableKeyRotation: true.`);
        }),
    },
    {
        name: "efs-encrypted-cmk",
        description: "Checks whether EFS file systems are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.efs.FileSystem, "EFS file system", (fs, args, report, d) => {
            if (fs.encrypted !== true) report(`EFS file system '${args.name}' must set encrypted: true and the stack's kmsKeyId.`);
            checkKey(d, report, "kmsKeyId", () => fs.kmsKeyId, `EFS file system '${args.name}'`);
        }),
    },
    {
        name: "eks-secrets-encrypted",
        description: "Checks whether EKS clusters envelope-encrypt Kubernetes secrets with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.eks.Cluster, "EKS cluster", (c, args, report, d) => {
            const e = c.encryptionConfig;
            if (!e || !asArray(e.resources).includes("secrets")) report(`EKS cluster '${args.name}' must set encryptionConfig { resources: ["secrets"], provider.keyArn: <stack key> }.`);
            else checkKey(d, report, "encryptionConfig.provider.keyArn", () => e.provider?.keyArn, `EKS cluster '${args.name}' secrets`);
        }),
    },
    {
        name: "eks-endpoint-not-public",
        description: "Checks whether the EKS API endpoint is private, or public only to source CIDRs within the configured address space.",
        enforcementLevel: "mandatory",
        configSchema: { properties: BREADTH_SCHEMA },
        validateResource: onResource(aws.eks.Cluster, "EKS cluster", (c, args, report, d) => {
            const v = c.vpcConfig;
            if (v?.endpointPrivateAccess !== true) report(`EKS cluster '${args.name}' must set vpcConfig.endpointPrivateAccess: true.`);
            if (v?.endpointPublicAccess === false) return;
            const cidrs = d.copy("vpcConfig.publicAccessCidrs", () => v?.publicAccessCidrs) as string[] | undefined | typeof UNKNOWN;
            if (cidrs === UNKNOWN) return;
            // An omitted list means 0.0.0.0/0 to EKS.
            const problems = cidrBreadthProblems(asArray(cidrs).length ? asArray(cidrs) : ["0.0.0.0/0"], limitsOf(args.getConfig<Partial<BreadthConfig>>()));
            if (problems.length) report(`EKS cluster '${args.name}' public endpoint: ${problems.join("; ")}. Set endpointPublicAccess: false or publicAccessCidrs to the institution's CIDRs.`);
        }),
    },
    {
        name: "eks-control-plane-logging",
        description: "Checks whether EKS control-plane logs (api, audit, authenticator) are enabled.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { requiredLogTypes: { type: "array", items: { type: "string" }, default: ["api", "audit", "authenticator"] } } },
        validateResource: onResource(aws.eks.Cluster, "EKS cluster", (c, args, report) => {
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
        configSchema: { properties: { secretNamePattern: { type: "string", default: SECRET_NAMES } } },
        validateResource: onResource(aws.ssm.Parameter, "SSM parameter", (p, args, report, d) => {
            const { secretNamePattern = SECRET_NAMES } = args.getConfig<SsmConfig>();
            const name = get(() => p.name);
            const shown = name === UNKNOWN ? args.name : String(name ?? args.name);
            // Whether a String parameter holds a secret is decided by its name.
            if (name === UNKNOWN && p.type !== "SecureString") { d.defer("name"); return; }
            const holdsSecret = p.type === "SecureString" || new RegExp(secretNamePattern, "i").test(shown);
            if (!holdsSecret) return;
            if (p.type !== "SecureString") report(`SSM parameter '${args.name}' (${shown}) holds a secret and must be type SecureString (found ${p.type}).`);
            else checkKey(d, report, "keyId", () => p.keyId, `SSM parameter '${args.name}' (${shown}) (not alias/aws/ssm)`);
        }),
    },
    {
        name: "cloudwatch-log-groups-cmk",
        description: "Checks whether CloudWatch log groups are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.cloudwatch.LogGroup, "Log group", (g, args, report, d) => {
            checkKey(d, report, "kmsKeyId", () => g.kmsKeyId, `Log group '${args.name}'`);
        }),
    },
];
