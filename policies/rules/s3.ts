import * as aws from "@pulumi/aws";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, isCustomerKey, json, UNKNOWN } from "../lib/util";

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

export const s3Policies: ResourceValidationPolicy[] = [
    {
        name: "s3-sse-kms-cmk",
        description: "Checks whether S3 default encryption is SSE-KMS with a customer-managed key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.s3.BucketServerSideEncryptionConfiguration, (c, args, report) => {
            const rules = asArray(c.rules);
            const d = rules[0]?.applyServerSideEncryptionByDefault;
            if (!d || !["aws:kms", "aws:kms:dsse"].includes(d.sseAlgorithm)) report(`Bucket encryption '${args.name}' must use sseAlgorithm "aws:kms" (found ${d?.sseAlgorithm ?? "none"}).`);
            else if (!isCustomerKey(get(() => d.kmsMasterKeyId))) report(`Bucket encryption '${args.name}' must name the stack's KMS key in kmsMasterKeyId, not the AWS-managed aws/s3 key.`);
        }),
    },
    {
        name: "s3-public-access-blocked",
        description: "Checks whether every S3 public access block setting is on.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.s3.BucketPublicAccessBlock, (p, args, report) => {
            const off = PAB_FLAGS.filter((f) => p[f] !== true);
            if (off.length) report(`Public access block '${args.name}' must set ${off.join(", ")} to true.`);
        }),
    },
];

/** Every bucket in the stack has encryption, a public access block, versioning and a TLS-only policy. */
export const s3StackPolicies: StackValidationPolicy[] = [
    {
        name: "s3-buckets-fully-configured",
        description: "Checks whether every S3 bucket has SSE-KMS, a public access block, versioning on and a bucket policy denying non-TLS requests.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const buckets = args.resources.filter((r) => r.isType(aws.s3.Bucket));
            const of = (type: { __pulumiType: string } | any, b: PolicyResource) =>
                args.resources.filter((r) => r.isType(type) && [get(() => b.props.id), get(() => b.props.bucket)].includes(get(() => r.props.bucket)));
            for (const b of buckets) {
                const name = b.name;
                if (of(aws.s3.BucketServerSideEncryptionConfiguration, b).length === 0) report(`Bucket '${name}' has no BucketServerSideEncryptionConfiguration; add SSE-KMS with the stack key.`, b.urn);
                if (of(aws.s3.BucketPublicAccessBlock, b).length === 0) report(`Bucket '${name}' has no BucketPublicAccessBlock; add one with all four settings true.`, b.urn);
                const versioning = of(aws.s3.BucketVersioning, b);
                if (!versioning.some((v) => get(() => v.props.versioningConfiguration?.status) === "Enabled")) report(`Bucket '${name}' must have BucketVersioning with status "Enabled".`, b.urn);
                const policies = of(aws.s3.BucketPolicy, b);
                const tlsOnly = policies.some((p) => {
                    const d = get(() => p.props.policy);
                    if (d === UNKNOWN) return true;
                    return asArray(json(d)?.Statement).some((s: any) =>
                        s.Effect === "Deny" && String(s.Condition?.Bool?.["aws:SecureTransport"]) === "false" &&
                        asArray(s.Action).some((a: string) => a === "s3:*" || a === "*"));
                });
                if (!tlsOnly) report(`Bucket '${name}' needs a bucket policy that denies s3:* when aws:SecureTransport is false.`, b.urn);
            }
        },
    },
];
