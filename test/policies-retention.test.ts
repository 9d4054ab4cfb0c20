/**
 * Retention and deletion of stateful resources (policies/rules/retention.ts, and cognito-user-pools-mfa):
 * for each check, the mutation it claims to catch and a harmless variant it must let through; the four
 * real stacks stay clean; a first preview defers what it cannot see instead of passing it.
 */
import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { runPolicies, type PackConfig } from "../tools/policy-runner";
import { listStacks } from "../tools/stacks";
import { retentionPolicies, retentionStackPolicies, azRegion, LIFECYCLE_DEFAULTS, LOG_GROUP_DEFAULTS, LOG_RETENTION_VALUES } from "../policies/rules/retention";
import { BUCKET, compliant, KEY, Mutate, opt, set } from "./helpers/fixtures";
import { awsProvider, check, fixture, PACK, silentPasses, UNKNOWN } from "./helpers/policy";
import { runStack } from "./helpers/program";

const MINE = [...retentionPolicies, ...retentionStackPolicies].map((p) => p.name).concat("cognito-user-pools-mfa");
const LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration";
const BUCKET_TYPE = "aws:s3/bucket:Bucket";

/** Violations of `policy` on the compliant stack after `mutate`: mandatory messages and deferral messages. */
async function outcome(policy: string, ...mutate: Mutate[]): Promise<{ mandatory: string[]; deferred: string[] }> {
    const rs: RecordedResource[] = structuredClone(compliant());
    for (const m of mutate) m(rs);
    const hits = (await check(rs)).violations.filter((v) => v.policyName === policy);
    return { mandatory: hits.filter((v) => v.enforcementLevel === "mandatory" && !v.deferred).map((v) => v.message), deferred: hits.filter((v) => v.deferred).map((v) => v.message) };
}
const fails = async (policy: string, ...mutate: Mutate[]) => {
    const o = await outcome(policy, ...mutate);
    assert.ok(o.mandatory.length > 0, `${policy} should refuse it; got ${JSON.stringify(o)}`);
    return o.mandatory.join("\n");
};
const passes = async (policy: string, ...mutate: Mutate[]) => assert.deepEqual(await outcome(policy, ...mutate), { mandatory: [], deferred: [] }, policy);
const datasetsLifecycle = (rules: object[], type = LIFECYCLE): Mutate => (rs) => { rs.push(fixture(type, "datasets-lifecycle", { bucket: BUCKET, rules })); };
const auditRule = (fn: (r: any) => void): Mutate => set("audit-retention", (p) => fn(p.rules[0]));

describe("retention and deletion of stateful resources", () => {
    it("the compliant fixture stack passes every retention policy", async () => {
        const r = await check(compliant());
        assert.deepEqual(r.violations.filter((v) => MINE.includes(v.policyName)).map((v) => v.message), []);
    });

    describe("stateful-data-survives-destroy", () => {
        const P = "stateful-data-survives-destroy";
        it("refuses forceDestroy on the dataset and audit buckets (and BucketV2), passes forceDestroy false or unset", async () => {
            assert.match(await fails(P, set("datasets", (p) => { p.forceDestroy = true; }, BUCKET_TYPE)), /S3 bucket 'datasets' sets forceDestroy: true/);
            await fails(P, set("audit", (p) => { p.forceDestroy = true; }, BUCKET_TYPE));
            await fails(P, (rs) => { rs.push(fixture("aws:s3/bucketV2:BucketV2", "v2", { bucket: "x-v2", forceDestroy: true })); });
            await passes(P, set("audit", (p) => { p.forceDestroy = false; }, BUCKET_TYPE));
            await passes(P, set("datasets", (p) => { delete p.forceDestroy; }, BUCKET_TYPE));
        });
        it("refuses a backup vault with forceDestroy, passes one without", async () => {
            const vault = (extra: object): Mutate => (rs) => { rs.push(fixture("aws:backup/vault:Vault", "homes-vault", { name: "x-homes", kmsKeyArn: KEY, ...extra }, { protect: true })); };
            assert.match(await fails(P, vault({ forceDestroy: true })), /Backup vault 'homes-vault' sets forceDestroy/);
            await passes(P, vault({ forceDestroy: false }));
            await passes(P, vault({}));
        });
        it("refuses ECR forceDelete and a Cognito pool without ACTIVE deletion protection (unset is AWS's INACTIVE)", async () => {
            assert.match(await fails(P, set("repo", (p) => { p.forceDelete = true; })), /ECR repository 'repo' sets forceDelete: true/);
            await passes(P, set("repo", (p) => { p.forceDelete = false; }));
            assert.match(await fails(P, set("users", (p) => { p.deletionProtection = "INACTIVE"; }, "aws:cognito/userPool:UserPool")), /Cognito user pool 'users' has deletionProtection 'INACTIVE'/);
            assert.match(await fails(P, set("users", (p) => { delete p.deletionProtection; }, "aws:cognito/userPool:UserPool")), /unset \(AWS's default is INACTIVE\)/);
        });
        it("allowTeardown lets a teardown's settings through only on unprotected resources (protectData: false)", async () => {
            const teardown = { [P]: { allowTeardown: true } };
            const hits = async (config: PackConfig, ...mutate: Mutate[]) => {
                const rs: RecordedResource[] = structuredClone(compliant());
                for (const m of mutate) m(rs);
                return (await check(rs, config)).violations.filter((v) => v.policyName === P && v.enforcementLevel === "mandatory").map((v) => v.resourceName).sort();
            };
            const destroyable = [set("datasets", (p) => { p.forceDestroy = true; }, BUCKET_TYPE), set("repo", (p) => { p.forceDelete = true; }), set("users", (p) => { p.deletionProtection = "INACTIVE"; }, "aws:cognito/userPool:UserPool")];
            // On the protected stack (the datasets bucket is protected) allowTeardown changes nothing for it.
            assert.deepEqual(await hits(teardown, ...destroyable), ["datasets"]);
            assert.deepEqual(await hits({}, ...destroyable), ["datasets", "repo", "users"]);
            // Unprotected, as protectData: false registers them: through with allowTeardown, refused without.
            assert.deepEqual(await hits(teardown, ...destroyable, opt("datasets", { protect: false }, BUCKET_TYPE)), []);
            assert.deepEqual(await hits({}, ...destroyable, opt("datasets", { protect: false }, BUCKET_TYPE)), ["datasets", "repo", "users"]);
        });
        it("refuses EFS replication overwrite protection DISABLED, passes ENABLED, unset, and lifecycle policies", async () => {
            await fails(P, set("efs", (p) => { p.protection = { replicationOverwrite: "DISABLED" }; }));
            await passes(P, set("efs", (p) => { delete p.protection; p.lifecyclePolicies = [{ transitionToIa: "AFTER_30_DAYS" }]; }));
        });
        it("an unknown forceDestroy is deferred, not passed", async () => {
            const o = await outcome(P, set("datasets", (p) => { p.forceDestroy = UNKNOWN; }, BUCKET_TYPE));
            assert.deepEqual(o.mandatory, []);
            assert.ok(o.deferred.some((m) => m.includes("S3 bucket 'datasets': forceDestroy is unknown")), JSON.stringify(o));
        });
    });

    describe("s3-lifecycle-keeps-data", () => {
        const P = "s3-lifecycle-keeps-data";
        it("refuses current-object expiration on the dataset bucket whatever the filter (V1, V2 and inline rules)", async () => {
            assert.match(await fails(P, datasetsLifecycle([{ id: "tmp", status: "Enabled", filter: { prefix: "researchers/alice/tmp/" }, expiration: { days: 3650 } }])),
                /rule 'tmp' expires current objects after 3650 day\(s\), whatever its filter/);
            await fails(P, datasetsLifecycle([{ id: "all", status: "Enabled", filter: {}, expiration: { days: 30 } }], "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"));
            await fails(P, set("datasets", (p) => { p.lifecycleRules = [{ enabled: true, prefix: "datasets/", expiration: { days: 400 } }]; }, BUCKET_TYPE));
        });
        it("refuses noncurrent versions deleted sooner than the floor, on any bucket", async () => {
            assert.match(await fails(P, datasetsLifecycle([{ id: "v", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: 7 } }])), /deletes noncurrent versions 7 day\(s\)/);
            await fails(P, auditRule((r) => { r.noncurrentVersionExpiration.noncurrentDays = 29; }));
        });
        it("on the audit-log bucket allows expiry at or above the floor only, never by date", async () => {
            await fails(P, auditRule((r) => { r.expiration.days = LIFECYCLE_DEFAULTS.minAuditLogExpirationDays - 1; }));
            await fails(P, auditRule((r) => { r.expiration = { date: "2030-01-01T00:00:00Z" }; }));
            await passes(P, auditRule((r) => { r.expiration.days = LIFECYCLE_DEFAULTS.minAuditLogExpirationDays; r.noncurrentVersionExpiration.noncurrentDays = 30; }));
            // The floor is configuration.
            const rs: RecordedResource[] = structuredClone(compliant());
            auditRule((r) => { r.expiration.days = 400; })(rs);
            assert.ok((await check(rs, { [P]: { minAuditLogExpirationDays: 730 } })).violations.some((v) => v.policyName === P && v.enforcementLevel === "mandatory"));
        });
        it("harmless rules pass on the dataset bucket: abort multipart uploads, transitions, expired delete markers, noncurrent at the floor, a disabled expiry", async () => {
            await passes(P, datasetsLifecycle([
                { id: "mpu", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
                { id: "ia", status: "Enabled", filter: { prefix: "datasets/" }, transitions: [{ days: 30, storageClass: "STANDARD_IA" }], noncurrentVersionTransitions: [{ noncurrentDays: 30, storageClass: "GLACIER" }] },
                { id: "markers", status: "Enabled", filter: {}, expiration: { expiredObjectDeleteMarker: true } },
                { id: "versions", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: LIFECYCLE_DEFAULTS.minNoncurrentVersionDays, newerNoncurrentVersions: 3 } },
                { id: "off", status: "Disabled", filter: {}, expiration: { days: 1 } },
            ]));
        });
        it("a bucket without a purpose tag is judged as data (its objects never expire)", async () => {
            await fails(P, set("audit", (p) => { delete p.tags["archaeo-purpose"]; }, BUCKET_TYPE));
        });
        it("refuses a BucketV2 without versioning Enabled; passes one with a BucketVersioning Enabled", async () => {
            const v2: Mutate = (rs) => { rs.push(fixture("aws:s3/bucketV2:BucketV2", "scratch", { bucket: "x-scratch" }, { state: { id: "x-scratch" } })); };
            assert.match(await fails(P, v2), /BucketV2 'scratch' has no versioning Enabled/);
            await fails(P, v2, (rs) => { rs.push(fixture("aws:s3/bucketVersioningV2:BucketVersioningV2", "scratch-ver", { bucket: "x-scratch", versioningConfiguration: { status: "Suspended" } })); });
            await passes(P, v2, (rs) => { rs.push(fixture("aws:s3/bucketVersioning:BucketVersioning", "scratch-ver", { bucket: "x-scratch", versioningConfiguration: { status: "Enabled" } })); });
        });
        it("unknowns are deferred: rules, a rule's expiry, the configuration's bucket when its rules would harm some bucket", async () => {
            for (const [mutate, path] of [
                [set("audit-retention", (p) => { p.rules = UNKNOWN; }), "BucketLifecycleConfiguration 'audit-retention'.rules"],
                [auditRule((r) => { r.expiration.days = UNKNOWN; }), "rule 'retain' expiration.days"],
                [set("audit-retention", (p) => { p.bucket = UNKNOWN; }), "BucketLifecycleConfiguration 'audit-retention'.bucket (does it expire data of Bucket 'datasets'?)"],
            ] as Array<[Mutate, string]>) {
                const o = await outcome(P, mutate);
                assert.deepEqual(o.mandatory, [], path);
                assert.ok(o.deferred.some((m) => m.includes(path)), `${path}: ${JSON.stringify(o)}`);
            }
            // A known violation is still reported next to an unknown.
            const o = await outcome(P, set("audit-retention", (p) => { p.bucket = UNKNOWN; }), datasetsLifecycle([{ id: "x", status: "Enabled", filter: {}, expiration: { days: 1 } }]));
            assert.equal(o.mandatory.length, 1);
        });
    });

    describe("cloudwatch-log-groups-retained", () => {
        const P = "cloudwatch-log-groups-retained";
        it("refuses retention below the floor, a value CloudWatch refuses, and the DELIVERY class", async () => {
            assert.match(await fails(P, set("logs", (p) => { p.retentionInDays = 30; })), /deletes its events after 30 day\(s\), sooner than minRetentionDays \(90\)/);
            assert.match(await fails(P, set("logs", (p) => { p.retentionInDays = 100; })), /which CloudWatch Logs refuses/);
            await fails(P, set("logs", (p) => { p.logGroupClass = "DELIVERY"; }));
        });
        it("passes a longer retention, the floor itself, and never-expire (unset or 0)", async () => {
            for (const days of [LOG_GROUP_DEFAULTS.minRetentionDays, 365, 3653, 0, undefined]) await passes(P, set("logs", (p) => { p.retentionInDays = days; }));
            await passes(P, set("logs", (p) => { p.logGroupClass = "INFREQUENT_ACCESS"; }));
            assert.ok(LOG_RETENTION_VALUES.includes(LOG_GROUP_DEFAULTS.minRetentionDays), "the default floor is a value the API accepts");
        });
        it("the floor is configuration; an unknown retention is deferred", async () => {
            const rs: RecordedResource[] = structuredClone(compliant());
            assert.ok((await check(rs, { [P]: { minRetentionDays: 365 } })).violations.some((v) => v.policyName === P && v.enforcementLevel === "mandatory"));
            const o = await outcome(P, set("logs", (p) => { p.retentionInDays = UNKNOWN; }));
            assert.deepEqual(o.mandatory, []);
            assert.ok(o.deferred.some((m) => m.includes("Log group 'logs': retentionInDays is unknown")));
        });
    });

    describe("snapshot-policies-in-volume-region", () => {
        const P = "snapshot-policies-in-volume-region";
        const EU = "urn:pulumi:test::archaeo-workbench::pulumi:providers:aws::archaeo-aws-eu";
        const providers: Mutate = (rs) => { rs.unshift(awsProvider(), { ...awsProvider(undefined, "eu-west-1"), urn: EU, name: "archaeo-aws-eu" }); };
        it("refuses a policy in another region than the volumes it targets (its own region, or its provider's)", async () => {
            assert.match(await fails(P, set("snapshots", (p) => { p.region = "eu-west-1"; })), /Volume 'workspace' is in us-east-1 but .* run in eu-west-1 \(LifecyclePolicy 'snapshots'\)/);
            await fails(P, providers, opt("snapshots", { provider: `${EU}::id` }));
        });
        it("passes a second, in-region policy next to the foreign one, and the same region spelled on the resource", async () => {
            await passes(P, set("snapshots", (p) => { p.region = "us-east-1"; }));
            await passes(P, providers, (rs) => {
                const copy = structuredClone(rs.find((r) => r.name === "snapshots")!);
                rs.push({ ...copy, name: "snapshots-eu", urn: `${copy.urn}-eu`, provider: `${EU}::id` });
            });
        });
        it("leaves what stateful-data-backed-up reports to it: no policy targeting the volume, a disabled one", async () => {
            await passes(P, set("workspace", (p) => { delete p.tags["archaeo-snapshot"]; }));
            await passes(P, set("snapshots", (p) => { p.state = "DISABLED"; p.region = "eu-west-1"; }));
        });
        it("an unknown region or target is deferred", async () => {
            for (const [mutate, path] of [
                [set("snapshots", (p) => { p.region = UNKNOWN; }), "LifecyclePolicy 'snapshots' region"],
                [set("snapshots", (p) => { p.policyDetails = UNKNOWN; }), "LifecyclePolicy 'snapshots'.policyDetails"],
                [set("workspace", (p) => { p.availabilityZone = UNKNOWN; }), "Volume 'workspace'.availabilityZone"],
            ] as Array<[Mutate, string]>) {
                const o = await outcome(P, mutate);
                assert.deepEqual(o.mandatory, [], path);
                assert.ok(o.deferred.some((m) => m.includes(path)), `${path}: ${JSON.stringify(o)}`);
            }
        });
        it("reads an availability zone's region, local zones included", () => {
            assert.deepEqual(["us-east-1a", "eu-west-2b", "us-west-2-lax-1a", "us-gov-west-1a", "cn-north-1a", "x"].map(azRegion), ["us-east-1", "eu-west-2", "us-west-2", "us-gov-west-1", "cn-north-1", undefined]);
        });
    });

    describe("cognito-user-pools-mfa", () => {
        const P = "cognito-user-pools-mfa";
        it("refuses OPTIONAL and OFF MFA, passes ON", async () => {
            assert.match(await fails(P, set("users", (p) => { p.mfaConfiguration = "OPTIONAL"; })), /mfaConfiguration must be "ON" \(OPTIONAL lets a researcher sign in without MFA\), found OPTIONAL/);
            await fails(P, set("users", (p) => { delete p.mfaConfiguration; }));
            await passes(P, set("users", (p) => { p.mfaConfiguration = "ON"; }));
        });
    });

    describe("the program's stacks", function () {
        this.timeout(300_000);
        it("every stack is free of mandatory violations of these policies with resolved values", async () => {
            for (const stack of listStacks()) {
                const r = await runPolicies((await runStack(stack)).resources, PACK);
                assert.deepEqual(r.violations.filter((v) => MINE.includes(v.policyName)).map((v) => `${v.policyName}: ${v.message}`), [], stack);
            }
        });
        it("the program sets what these policies require: forceDestroy false, the audit expiry, 90-day log retention, MFA ON", async () => {
            const example = (await runStack("example")).resources;
            for (const b of example.filter((r) => r.type === BUCKET_TYPE)) assert.equal(b.rawInputs.forceDestroy, false, b.name);
            const cluster = (await runStack("national-heritage")).resources;
            assert.equal(cluster.find((r) => r.type === "aws:cloudwatch/logGroup:LogGroup")!.rawInputs.retentionInDays, 90);
            assert.equal(cluster.find((r) => r.type === "aws:cognito/userPool:UserPool")!.rawInputs.mfaConfiguration, "ON");
            const audit = example.find((r) => r.type === LIFECYCLE)!;
            assert.ok(audit.rawInputs.rules[0].expiration.days >= LIFECYCLE_DEFAULTS.minAuditLogExpirationDays);
            assert.ok(!example.some((r) => r.type === LIFECYCLE && r.rawInputs.bucket !== audit.rawInputs.bucket), "only the audit-log bucket has a lifecycle configuration");
        });
        it("a first preview defers what is unknown (the lifecycle configuration's bucket) instead of passing it, and reports nothing mandatory", async () => {
            for (const stack of listStacks()) {
                const { run, silent } = await silentPasses((await runStack(stack, { preview: true })).resources);
                const mine = run.violations.filter((v) => MINE.includes(v.policyName));
                assert.deepEqual(mine.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.message), [], stack);
                assert.ok(mine.some((v) => v.deferred && v.policyName === "s3-lifecycle-keeps-data" && /BucketLifecycleConfiguration 'archaeo-audit-logs-retention'\.bucket \(does it expire data of Bucket 'archaeo-datasets'\?\)/.test(v.message)),
                    `${stack}: ${JSON.stringify(mine.map((v) => v.message))}`);
                assert.deepEqual(silent.filter((s) => MINE.includes(s.policy)), [], `${stack}: read an unknown and reported nothing`);
            }
        });
    });
});
