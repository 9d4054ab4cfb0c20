/**
 * Who read the cultural-heritage images: every dataset bucket's object reads are logged by a
 * CloudTrail trail (S3 data events) into an encrypted, versioned, non-public bucket that keeps the
 * logs for a retention period.
 *
 * Why CloudTrail and not S3 server access logging: server access log target buckets support default
 * encryption only with SSE-S3; "Default server-side encryption with AWS KMS keys (SSE-KMS) is not
 * supported" (awsdocs/amazon-s3-userguide doc_source/enable-server-access-logging.md, commit 0009290d),
 * which breaks "every byte at rest encrypted with the institution's key". CloudTrail data events also
 * record the caller's identity, and log file validation makes tampering detectable.
 * Selector semantics: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/filtering-data-events.html
 * (eventCategory and resources.type use Equals; readOnly absent logs reads and writes; an event is
 * logged when it matches any selector, and a selector matches when all its field selectors match).
 */
import * as aws from "@pulumi/aws";
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { parseArn } from "../lib/arn";
import { keyReferenceProblem } from "../lib/keys";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { Deferrals } from "../lib/unknowns";
import { asArray, get, known, UNKNOWN } from "../lib/util";
import { bucketParts, deniesInsecureTransport, requirePart } from "./s3";

interface AuditConfig { purposeTag: string; datasetsPurpose: string; auditLogsPurpose: string; minRetentionDays: number; requireWriteEvents: boolean }
const AUDIT_DEFAULTS: AuditConfig = { purposeTag: "archaeo-purpose", datasetsPurpose: "datasets", auditLogsPurpose: "audit-logs", minRetentionDays: 365, requireWriteEvents: true };

interface FieldSelector { field: string; equals?: string[]; startsWiths?: string[]; endsWiths?: string[]; notEquals?: string[]; notStartsWiths?: string[]; notEndsWiths?: string[] }

/** Does a string field selector let `value` through (all its operators must hold)? */
function admits(f: FieldSelector, value: string): boolean {
    return (!f.equals || f.equals.includes(value))
        && (!f.startsWiths || f.startsWiths.some((p) => value.startsWith(p)))
        && (!f.endsWiths || f.endsWiths.some((p) => value.endsWith(p)))
        && !(f.notEquals ?? []).includes(value)
        && !(f.notStartsWiths ?? []).some((p) => value.startsWith(p))
        && !(f.notEndsWiths ?? []).some((p) => value.endsWith(p));
}

/** An S3 data event the audit must record: reads (who read which images) and writes (who changed or deleted them). */
interface DataEvent { readonly name: string; readonly readOnly: boolean }
const READS: readonly DataEvent[] = [{ name: "GetObject", readOnly: true }];
const WRITES: readonly DataEvent[] = [{ name: "PutObject", readOnly: false }, { name: "DeleteObject", readOnly: false }];

/**
 * Does an advanced event selector log `ev` on every object of the bucket? resources.ARN must admit
 * the whole object prefix: no Equals/EndsWith (those select some objects), every StartsWith value a
 * prefix of "arn:<p>:s3:::<bucket>/", no Not* operator excluding a part of it. readOnly (Equals
 * "true" or "false" only) must admit the event's kind.
 */
function advancedCovers(fields: FieldSelector[], objectPrefix: string, ev: DataEvent): boolean {
    const by = new Map(fields.map((f) => [f.field, f]));
    const category = by.get("eventCategory");
    const type = by.get("resources.type");
    if (!category?.equals?.includes("Data") || !type?.equals?.includes("AWS::S3::Object")) return false;
    const readOnly = by.get("readOnly");
    if (readOnly && !admits(readOnly, String(ev.readOnly))) return false;
    const name = by.get("eventName");
    if (name && !admits(name, ev.name)) return false;
    const arn = by.get("resources.ARN");
    if (arn) {
        if (arn.equals || arn.endsWiths) return false;
        if (arn.startsWiths && !arn.startsWiths.some((p) => objectPrefix.startsWith(p))) return false;
        const excluded = [...(arn.notStartsWiths ?? []), ...(arn.notEquals ?? [])].some((p) => p.startsWith(objectPrefix) || objectPrefix.startsWith(p));
        if (excluded || arn.notEndsWiths) return false;
    }
    const known = new Set(["eventCategory", "resources.type", "readOnly", "eventName", "resources.ARN", "eventSource"]);
    if (fields.some((f) => !known.has(f.field))) return false;
    const source = by.get("eventSource");
    return !source || admits(source, "s3.amazonaws.com");
}

/** The operators of a field selector (@pulumi/aws 7.48.0 types/input.d.ts TrailAdvancedEventSelectorFieldSelector). */
const OPERATORS = ["equals", "startsWiths", "endsWiths", "notEquals", "notStartsWiths", "notEndsWiths"];

/** "selector 'n' field resources.ARN has startsWith, which is not an operator" for every malformed field selector. */
function malformedFieldSelectors(selectors: any[]): string[] {
    const out: string[] = [];
    selectors.forEach((s: any, i: number) => asArray(s?.fieldSelectors).forEach((f: any) => {
        const where = `advancedEventSelectors[${i}]${s?.name ? ` ('${s.name}')` : ""} field ${f?.field ?? "(none)"}`;
        const stray = Object.keys(f ?? {}).filter((k) => k !== "field" && !OPERATORS.includes(k));
        if (stray.length) out.push(`${where} has ${stray.join(", ")}, which ${stray.length === 1 ? "is not an operator" : "are not operators"}${stray.some((k) => OPERATORS.includes(`${k}s`)) ? ` (did you mean ${stray.filter((k) => OPERATORS.includes(`${k}s`)).map((k) => `${k}s`).join(", ")}?)` : ""}`);
        else if (!OPERATORS.some((o) => f?.[o] !== undefined)) out.push(`${where} has no operator`);
    }));
    return out;
}

/** The same question for basic event selectors (dataResources; readWriteType All, ReadOnly or WriteOnly). */
function basicCovers(selectors: any[], objectPrefix: string, ev: DataEvent): boolean {
    return selectors.some((s) => (s.readWriteType ?? "All") !== (ev.readOnly ? "WriteOnly" : "ReadOnly") && asArray(s.dataResources).some((r: any) =>
        r.type === "AWS::S3::Object" && asArray(r.values).some((v: string) => objectPrefix.startsWith(v))));
}

/** Does a trail (its known selectors) log every event of `events` on the bucket's objects? */
function trailCovers(adv: any[] | undefined, basic: any[] | undefined, objectPrefix: string, events: readonly DataEvent[]): boolean {
    return events.every((ev) => asArray(adv).some((s: any) => advancedCovers(asArray(s.fieldSelectors), objectPrefix, ev)) || basicCovers(asArray(basic), objectPrefix, ev));
}

const purposeOf = (r: PolicyResource, tag: string) => {
    const t = effectiveTags(r);
    return t === UNKNOWN ? UNKNOWN : t[tag];
};

/** Checks the log destination: KMS default encryption, versioning, public access block, TLS-only, lifecycle retention. */
function checkDestination(all: readonly PolicyResource[], dest: PolicyResource, c: AuditConfig, d: Deferrals, report: (m: string, urn?: string) => void): void {
    const problems: string[] = [];
    const judge = (type: string, what: string, ok: (r: PolicyResource) => boolean, missing: string) =>
        requirePart(d, bucketParts(all, dest, type), ok, () => problems.push(missing), what);
    judge("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "its bucket or key",
        (e) => asArray(e.props.rules).some((r: any) => r.applyServerSideEncryptionByDefault?.sseAlgorithm === "aws:kms" && !keyReferenceProblem(r.applyServerSideEncryptionByDefault?.kmsMasterKeyId)),
        "default encryption SSE-KMS with the stack key");
    judge("aws:s3/bucketVersioning:BucketVersioning", "its bucket or status", (v) => v.props.versioningConfiguration?.status === "Enabled", "versioning Enabled");
    judge("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "its bucket",
        (p) => ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every((f) => p.props[f] === true), "a public access block with all four settings true");
    judge("aws:s3/bucketPolicy:BucketPolicy", "its bucket or policy", (p) => deniesInsecureTransport(p.props.policy), "a bucket policy denying non-TLS requests");
    judge("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "its bucket or rules", (l) => {
        const rules = asArray(l.props.rules).filter((r: any) => r.status === "Enabled");
        const expiries = rules.flatMap((r: any) => [r.expiration?.days, ...asArray(r.noncurrentVersionExpiration).map((n: any) => n?.noncurrentDays)]).filter((x) => typeof x === "number");
        const current = rules.map((r: any) => r.expiration?.days).filter((x) => typeof x === "number");
        return current.length > 0 && expiries.every((x: number) => x >= c.minRetentionDays);
    }, `a BucketLifecycleConfiguration whose enabled rules expire logs (current and noncurrent versions) no sooner than ${c.minRetentionDays} days`);
    if (problems.length) report(`Audit log bucket '${dest.name}' must have ${problems.join(", ")}.`, dest.urn);
}

export const auditPolicies: StackValidationPolicy[] = [
    {
        name: "s3-dataset-access-logged",
        description: "Checks whether reads and writes of every dataset bucket's objects are logged by a CloudTrail trail (S3 data events, log file validation, the stack's KMS key) into an encrypted, versioned, non-public audit-log bucket with a retention period.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                purposeTag: { type: "string", default: AUDIT_DEFAULTS.purposeTag, description: "Tag key naming what a bucket is for." },
                datasetsPurpose: { type: "string", default: AUDIT_DEFAULTS.datasetsPurpose, description: "Its value on dataset buckets." },
                auditLogsPurpose: { type: "string", default: AUDIT_DEFAULTS.auditLogsPurpose, description: "Its value on the audit-log bucket." },
                minRetentionDays: { type: "number", default: AUDIT_DEFAULTS.minRetentionDays, minimum: 1, description: "Logs may not expire sooner (lifecycle rules of the audit-log bucket)." },
                requireWriteEvents: { type: "boolean", default: AUDIT_DEFAULTS.requireWriteEvents, description: "Writes (PutObject, DeleteObject) must be logged too, not only reads: who changed or deleted a dataset or a researcher's files." },
            },
        },
        validateStack: onStack((args, report, d) => {
            const c = { ...AUDIT_DEFAULTS, ...args.getConfig<Partial<AuditConfig>>() };
            const buckets = args.resources.filter((r) => r.isType(aws.s3.Bucket));
            const trails = args.resources.filter((r) => r.isType(aws.cloudtrail.Trail));
            // A field selector operator the provider does not know (a typo such as `startsWith`) is not sent as a
            // filter: the selector then means something else than the program says (e.g. every object of every bucket).
            for (const t of trails) {
                const adv = known(() => t.props.advancedEventSelectors) as any[] | undefined | typeof UNKNOWN;
                if (adv === UNKNOWN) { d.defer(`${label(t)} event selectors`); continue; }
                const bad = malformedFieldSelectors(asArray(adv));
                if (bad.length) report(`Trail '${t.name}' ${bad.join("; ")}: an advanced event selector's field selector takes only field and the operators ${OPERATORS.join(", ")} (@pulumi/aws cloudtrail TrailAdvancedEventSelectorFieldSelector), so this filter is not the one the program means.`, t.urn);
            }
            for (const b of buckets) {
                const purpose = purposeOf(b, c.purposeTag);
                if (purpose === UNKNOWN) { d.defer(`${label(b)}.tags`); continue; }
                if (purpose !== c.datasetsPurpose) continue;
                const name = get(() => b.props.bucket);
                if (name === UNKNOWN || typeof name !== "string") { d.defer(`${label(b)}.bucket`); continue; }
                const partition = parseArn(get(() => b.props.arn))?.partition ?? "aws";
                const objectPrefix = `arn:${partition}:s3:::${name}/`;
                const readers: PolicyResource[] = [];
                const writers: PolicyResource[] = [];
                let undecided = false;
                for (const t of trails) {
                    const adv = known(() => t.props.advancedEventSelectors) as any[] | undefined | typeof UNKNOWN;
                    const basic = known(() => t.props.eventSelectors) as any[] | undefined | typeof UNKNOWN;
                    if (adv === UNKNOWN || basic === UNKNOWN) { d.defer(`${label(t)} event selectors`); undecided = true; continue; }
                    if (trailCovers(adv, basic, objectPrefix, READS)) readers.push(t);
                    if (trailCovers(adv, basic, objectPrefix, WRITES)) writers.push(t);
                }
                // A trail whose selectors are unknown may be the one that logs them: no finding until it is known.
                const fix = `add an aws.cloudtrail.Trail with an advanced event selector eventCategory = Data, resources.type = AWS::S3::Object, resources.ARN startsWith ${objectPrefix} and no readOnly filter`;
                if (readers.length === 0 && !undecided) report(`Bucket '${b.name}' (${c.purposeTag}: ${c.datasetsPurpose}) has no CloudTrail trail logging reads of its objects: ${fix}.`, b.urn);
                if (c.requireWriteEvents && writers.length === 0 && readers.length > 0 && !undecided) report(`Bucket '${b.name}' (${c.purposeTag}: ${c.datasetsPurpose}) has no CloudTrail trail logging writes (PutObject, DeleteObject) of its objects, only reads (a readOnly = true filter?): ${fix}.`, b.urn);
                const covering = [...new Set([...readers, ...(c.requireWriteEvents ? writers : [])])];
                for (const t of covering) {
                    const problems: string[] = [];
                    const logging = get(() => t.props.enableLogging);
                    const validation = get(() => t.props.enableLogFileValidation);
                    if (logging === UNKNOWN) d.defer(`${label(t)}.enableLogging`);
                    else if (logging === false) problems.push("enableLogging is false");
                    if (validation === UNKNOWN) d.defer(`${label(t)}.enableLogFileValidation`);
                    else if (validation !== true) problems.push("enableLogFileValidation must be true (tampering with logs must be detectable)");
                    // A single-region trail logs data events of buckets in its own region only.
                    const multi = get(() => t.props.isMultiRegionTrail);
                    if (multi === UNKNOWN) d.defer(`${label(t)}.isMultiRegionTrail`);
                    else if (multi !== true) {
                        const [trailRegion, bucketRegion] = [get(() => t.provider?.props.region), get(() => b.provider?.props.region)];
                        if (trailRegion === UNKNOWN || bucketRegion === UNKNOWN) d.defer(`${label(t)} region (its provider's or the bucket's)`);
                        else if (typeof trailRegion === "string" && typeof bucketRegion === "string" && trailRegion !== bucketRegion) {
                            problems.push(`it is a single-region trail in ${trailRegion} but the bucket is in ${bucketRegion}; put it in the bucket's region or set isMultiRegionTrail: true`);
                        }
                    }
                    const key = get(() => t.props.kmsKeyId);
                    if (key === UNKNOWN) d.defer(`${label(t)}.kmsKeyId`);
                    else if (keyReferenceProblem(key)) problems.push(`kmsKeyId ${keyReferenceProblem(key)}: log files must be SSE-KMS with the stack key`);
                    const destName = get(() => t.props.s3BucketName);
                    const dest = destName === UNKNOWN ? undefined : buckets.find((x) => get(() => x.props.bucket) === destName || get(() => x.props.id) === destName);
                    if (destName === UNKNOWN) d.defer(`${label(t)}.s3BucketName`);
                    else if (!dest && buckets.some((x) => get(() => x.props.bucket) === UNKNOWN)) d.defer(`${label(t)}.s3BucketName (bucket names unknown)`);
                    else if (!dest) problems.push(`it delivers to '${destName}', a bucket outside this stack whose encryption, versioning and retention the pack cannot see`);
                    else {
                        const p = purposeOf(dest, c.purposeTag);
                        if (p === UNKNOWN) d.defer(`${label(dest)}.tags`);
                        else if (p !== c.auditLogsPurpose) problems.push(`its bucket '${dest.name}' must be tagged ${c.purposeTag}: ${c.auditLogsPurpose}`);
                        checkDestination(args.resources, dest, c, d, report);
                    }
                    if (problems.length) report(`Trail '${t.name}' logs bucket '${b.name}' but ${problems.join("; ")}.`, t.urn);
                }
            }
        }),
    },
];
