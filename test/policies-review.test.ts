/**
 * Regression tests from the review of the pack: unknowns that passed silently (or alarmed as
 * mandatory) instead of being deferred to `up`, and keys the README promises that no rule required.
 */
import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { BUCKET, compliant, set } from "./helpers/fixtures";
import { awsProvider, check, fixture, UNKNOWN } from "./helpers/policy";

const of = (r: { violations: Array<{ policyName: string }> }, policy: string) => r.violations.filter((v: any) => v.policyName === policy) as any[];

describe("policy pack: unknowns are deferred, never passed or alarmed (review)", () => {
    it("a Mountpoint for S3 volume whose bucket's encryption rules are unknown is deferred (was: a mandatory 'no SSE-KMS')", async () => {
        const rs = structuredClone(compliant());
        rs.push(fixture("kubernetes:core/v1:PersistentVolume", "datasets-pv", { metadata: { name: "hub.datasets" }, spec: { csi: { driver: "s3.csi.aws.com", volumeHandle: "hub.datasets", volumeAttributes: { bucketName: BUCKET } } } }));
        rs.push(fixture("kubernetes:core/v1:PersistentVolumeClaim", "datasets-pvc", { metadata: { name: "datasets" }, spec: { storageClassName: "", volumeName: "hub.datasets" } }));
        assert.deepEqual(of(await check(rs), "k8s-pvcs-on-encrypted-storage"), [], "known SSE-KMS: clean");
        set("datasets-sse", (p) => { p.rules = UNKNOWN; })(rs);
        const hits = of(await check(rs), "k8s-pvcs-on-encrypted-storage");
        assert.deepEqual(hits.filter((v) => !v.deferred).map((v) => v.message), []);
        assert.ok(hits.some((v) => v.deferred && /BucketServerSideEncryptionConfiguration 'datasets-sse'\.rules/.test(v.message)), JSON.stringify(hits));
        // Known and not KMS: still a violation.
        set("datasets-sse", (p) => { p.rules = [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]; })(rs);
        assert.ok(of(await check(rs), "k8s-pvcs-on-encrypted-storage").some((v) => !v.deferred && /no SSE-KMS/.test(v.message)));
    });

    it("a provider's defaultTags unknown at preview defers what depends on tags (was: the dataset bucket skipped, every resource 'lacks tags')", async () => {
        const provider = awsProvider();
        provider.inputs.defaultTags = UNKNOWN;
        provider.rawInputs.defaultTags = UNKNOWN;
        provider.state.defaultTags = UNKNOWN;
        provider.rawState.defaultTags = UNKNOWN;
        const rs: RecordedResource[] = [provider, ...structuredClone(compliant())];
        // The dataset bucket's purpose could come from the provider's default tags; no trail logs it.
        set("datasets", (p) => { delete p.tags["archaeo-purpose"]; })(rs);
        rs.splice(rs.findIndex((r) => r.name === "trail"), 1);
        const r = await check(rs);
        const audit = of(r, "s3-dataset-access-logged");
        assert.ok(audit.some((v) => v.deferred && /Bucket 'datasets'\.tags/.test(v.message)), JSON.stringify(audit));
        assert.deepEqual(of(r, "required-tags").filter((v) => v.enforcementLevel === "mandatory").map((v) => v.message), []);
    });

    it("a security group rule whose type is unknown is deferred by the union rule (was: left out of the union)", async () => {
        const rs = structuredClone(compliant());
        set("rule", (p) => { p.type = UNKNOWN; })(rs);
        const union = of(await check(rs), "security-groups-ingress-union-limited");
        assert.ok(union.some((v) => v.deferred && /SecurityGroupRule 'rule' ingress/.test(v.message)), JSON.stringify(union));
    });

    it("a researcher's resource whose tags are unknown defers their grants on it (was: a mandatory 'not tagged')", async () => {
        const rs = structuredClone(compliant());
        set("ws", (p) => { p.tags = UNKNOWN; })(rs);
        set("datasets", (p) => { p.tags = UNKNOWN; })(rs);
        const hits = of(await check(rs), "researcher-roles-scoped");
        assert.deepEqual(hits.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.message), []);
        assert.ok(hits.some((v) => v.deferred), JSON.stringify(hits));
    });

    it("a single-region trail whose isMultiRegionTrail is unknown is deferred, not reported, when the regions differ", async () => {
        const rs = structuredClone(compliant());
        const eu = { ...awsProvider(undefined, "eu-west-1"), urn: "urn:pulumi:test::archaeo-workbench::pulumi:providers:aws::eu", name: "eu" };
        rs.unshift(awsProvider(), eu);
        set("trail", (p) => { p.isMultiRegionTrail = UNKNOWN; })(rs);
        const i = rs.findIndex((x) => x.name === "trail");
        rs[i] = { ...rs[i], provider: `${eu.urn}::id` };
        const audit = of(await check(rs), "s3-dataset-access-logged");
        assert.deepEqual(audit.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.message), []);
        assert.ok(audit.some((v) => v.deferred && /isMultiRegionTrail/.test(v.message)), JSON.stringify(audit));
    });
});

describe("policy pack: every key the README promises is required (review)", () => {
    for (const [type, name, path, extra] of [
        ["aws:sqs/queue:Queue", "queue", "kmsMasterKeyId", {}],
        ["aws:backup/vault:Vault", "vault", "kmsKeyArn", { name: "homes" }],
        ["aws:sns/topic:Topic", "topic", "kmsMasterKeyId", {}],
        ["aws:secretsmanager/secret:Secret", "secret", "kmsKeyId", {}],
    ] as const) {
        it(`${type.split(":").pop()} without ${path} is reported (the service's own key is not the institution's)`, async () => {
            const rs = structuredClone(compliant()).filter((r) => r.name !== name);
            rs.push(fixture(type, name, { ...extra, tags: { institution: "x", "data-classification": "confidential" } }));
            const hits = of(await check(rs), "kms-key-references-stack-key");
            assert.ok(hits.some((v) => v.enforcementLevel === "mandatory" && v.message.includes(`${path} is not set`)), JSON.stringify(hits));
        });
    }

    it("a queue with the stack key passes, and one whose key is unknown is deferred", async () => {
        assert.deepEqual(of(await check(compliant()), "kms-key-references-stack-key"), []);
        const rs = structuredClone(compliant());
        set("queue", (p) => { p.kmsMasterKeyId = UNKNOWN; })(rs);
        const hits = of(await check(rs), "kms-key-references-stack-key");
        assert.ok(hits.length > 0 && hits.every((v) => v.deferred), JSON.stringify(hits));
    });
});
