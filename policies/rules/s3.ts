/** S3 buckets: SSE-KMS with a customer key, public access blocked, and every bucket fully configured. */
import * as aws from "@pulumi/aws";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { statementsOf } from "../lib/policy-document";
import { label, onResource, onStack } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, get, UNKNOWN } from "../lib/util";
import { checkKey } from "./ebs";

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

export const s3Policies: ResourceValidationPolicy[] = [
    {
        name: "s3-sse-kms-cmk",
        description: "Checks whether S3 default encryption is SSE-KMS with a customer-managed key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.s3.BucketServerSideEncryptionConfiguration, "Bucket encryption", (c, args, report, d) => {
            const rules = asArray(c.rules);
            const def = rules[0]?.applyServerSideEncryptionByDefault;
            if (!def || !["aws:kms", "aws:kms:dsse"].includes(def.sseAlgorithm)) report(`Bucket encryption '${args.name}' must use sseAlgorithm "aws:kms" (found ${def?.sseAlgorithm ?? "none"}).`);
            else checkKey(d, report, "rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId", () => def.kmsMasterKeyId, `Bucket encryption '${args.name}' (not the AWS-managed aws/s3 key)`);
        }),
    },
    {
        name: "s3-public-access-blocked",
        description: "Checks whether every S3 public access block setting is on.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.s3.BucketPublicAccessBlock, "Public access block", (p, args, report) => {
            const off = PAB_FLAGS.filter((f) => p[f] !== true);
            if (off.length) report(`Public access block '${args.name}' must set ${off.join(", ")} to true.`);
        }),
    },
];

/** True when a bucket policy denies s3:* (or *) whenever aws:SecureTransport is false. */
export function deniesInsecureTransport(policy: unknown): boolean {
    return asArray(statementsOf(policy)).some((s) =>
        s.effect === "Deny" && String(s.condition.Bool?.["aws:SecureTransport"]?.[0]) === "false" && s.actions.some((a) => a === "s3:*" || a === "*"));
}

/**
 * Sub-resources (encryption, versioning, policy...) of `bucket`: `mine` are known to belong to it,
 * `unknown` might (their `bucket` input is not known yet, e.g. bucket.id at the first preview).
 */
export function bucketParts(resources: readonly PolicyResource[], bucket: PolicyResource, type: string): { mine: PolicyResource[]; unknown: PolicyResource[] } {
    const ids = [get(() => bucket.props.id), get(() => bucket.props.bucket)].filter((x) => typeof x === "string" && x);
    const all = resources.filter((r) => r.type === type).map((r) => ({ r, b: get(() => r.props.bucket) }));
    const bucketKnown = ids.length > 0;
    return {
        mine: all.filter((x) => bucketKnown && ids.includes(x.b)).map((x) => x.r),
        unknown: all.filter((x) => x.b === UNKNOWN || (!bucketKnown && x.b !== undefined)).map((x) => x.r),
    };
}

/** Reports `missing` unless a known part satisfies `ok`; parts that cannot be matched or judged yet are deferred. */
export function requirePart(d: Deferrals, parts: { mine: PolicyResource[]; unknown: PolicyResource[] }, ok: (r: PolicyResource) => boolean | typeof UNKNOWN, missing: () => void, what: string): void {
    const results = parts.mine.map((r) => ({ r, v: get(() => ok(r)) }));
    if (results.some((x) => x.v === true)) return;
    const undecided = [...results.filter((x) => x.v === UNKNOWN).map((x) => x.r), ...parts.unknown];
    if (undecided.length) { for (const r of undecided) d.defer(`${label(r)} (${what})`); return; }
    missing();
}

export const s3StackPolicies: StackValidationPolicy[] = [
    {
        name: "s3-buckets-fully-configured",
        description: "Checks whether every S3 bucket has SSE-KMS, a public access block, versioning on and a bucket policy denying non-TLS requests.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            for (const b of args.resources.filter((r) => r.isType(aws.s3.Bucket))) {
                const parts = (t: { __pulumiType: string } | any) => bucketParts(args.resources, b, t.__pulumiType);
                requirePart(d, parts(aws.s3.BucketServerSideEncryptionConfiguration), () => true,
                    () => report(`Bucket '${b.name}' has no BucketServerSideEncryptionConfiguration; add SSE-KMS with the stack key.`, b.urn), "its bucket");
                requirePart(d, parts(aws.s3.BucketPublicAccessBlock), () => true,
                    () => report(`Bucket '${b.name}' has no BucketPublicAccessBlock; add one with all four settings true.`, b.urn), "its bucket");
                requirePart(d, parts(aws.s3.BucketVersioning), (v) => v.props.versioningConfiguration?.status === "Enabled",
                    () => report(`Bucket '${b.name}' must have BucketVersioning with status "Enabled".`, b.urn), "its bucket or status");
                requirePart(d, parts(aws.s3.BucketPolicy), (p) => deniesInsecureTransport(p.props.policy),
                    () => report(`Bucket '${b.name}' needs a bucket policy that denies s3:* when aws:SecureTransport is false.`, b.urn), "its bucket or policy");
            }
        }),
    },
];
