/** The foundation both modes share: key, dataset bucket, audit trail, budget; under the mock engine. */
import { strict as assert } from "assert";
import { parseConfig } from "../../infra/config";
import { readStack } from "../../tools/stacks";
import { doc, runProgram, runStack, ProgramRun } from "../helpers/program";

describe("foundation (example stack)", () => {
    let run: ProgramRun;
    before(async () => { run = await runStack("example"); });

    it("a rotating CMK with a per-stack alias, protected and retained; its policy lets CloudTrail use it only for this trail", () => {
        const key = run.engine.one("aws:kms/key:Key");
        assert.deepEqual([key.inputs.enableKeyRotation, key.inputs.deletionWindowInDays, key.protect, key.retainOnDelete], [true, 30, true, true]);
        assert.equal(run.engine.one("aws:kms/alias:Alias").inputs.name, "alias/archaeo/example-lab/example");
        const policy = doc(key.inputs.policy);
        const trail = run.engine.one("aws:cloudtrail/trail:Trail");
        const ct = policy.Statement.find((s: any) => s.Sid === "CloudTrailEncryptsAuditTrail");
        assert.equal(ct.Condition.StringEquals["aws:SourceArn"], trail.state.arn);
        assert.deepEqual(policy.Statement.map((s: any) => s.Sid), ["AccountAdministersKey", "CloudTrailEncryptsAuditTrail", "CloudTrailDescribesKey"], "instance mode names no cluster services");
    });

    it("two buckets (datasets, audit logs), each SSE-KMS with the key, versioned, public access blocked, owner-enforced, TLS-only, protected", () => {
        const buckets = run.engine.byType("aws:s3/bucket:Bucket");
        assert.deepEqual(buckets.map((b) => b.inputs.tags["archaeo-purpose"]).sort(), ["audit-logs", "datasets"]);
        for (const b of buckets) {
            const of = (type: string) => run.engine.byType(type).filter((r) => r.inputs.bucket === b.id);
            assert.equal(of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0].inputs.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId, run.outputs.kmsKeyArn);
            assert.equal(of("aws:s3/bucketVersioning:BucketVersioning")[0].inputs.versioningConfiguration.status, "Enabled");
            const pab = of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].inputs;
            assert.ok(pab.blockPublicAcls && pab.blockPublicPolicy && pab.ignorePublicAcls && pab.restrictPublicBuckets);
            assert.equal(of("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[0].inputs.rule.objectOwnership, "BucketOwnerEnforced");
            const policy = doc(of("aws:s3/bucketPolicy:BucketPolicy")[0].inputs.policy);
            assert.ok(policy.Statement.some((s: any) => s.Effect === "Deny" && s.Condition.Bool["aws:SecureTransport"] === "false"));
            assert.ok(b.protect && b.retainOnDelete);
            assert.match(b.inputs.bucket, /^archaeo-example-lab-example-(data|audit)-[0-9a-f]{8}$/);
        }
    });

    it("the audit trail records S3 data events (reads and writes) on the dataset bucket's objects, validated and encrypted", () => {
        const trail = run.engine.one("aws:cloudtrail/trail:Trail");
        const dataset = run.engine.byType("aws:s3/bucket:Bucket").find((b) => b.inputs.tags["archaeo-purpose"] === "datasets")!;
        const audit = run.engine.byType("aws:s3/bucket:Bucket").find((b) => b.inputs.tags["archaeo-purpose"] === "audit-logs")!;
        assert.equal(trail.inputs.s3BucketName, audit.state.bucket);
        assert.deepEqual([trail.inputs.kmsKeyId, trail.inputs.enableLogFileValidation, trail.inputs.enableLogging], [run.outputs.kmsKeyArn, true, true]);
        const fields: Record<string, string[]> = Object.fromEntries(trail.inputs.advancedEventSelectors[0].fieldSelectors.map((f: any) => [f.field, f.equals ?? f.startsWiths]));
        assert.equal(fields["readOnly"], undefined, "no readOnly selector: reads and writes both recorded");
        assert.deepEqual(fields, { eventCategory: ["Data"], "resources.type": ["AWS::S3::Object"], "resources.ARN": [`${dataset.state.arn}/`] });
        const retention = run.engine.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
        assert.equal(retention.inputs.bucket, audit.id);
        assert.deepEqual([retention.inputs.rules[0].expiration.days, retention.inputs.rules[0].noncurrentVersionExpiration.noncurrentDays], [400, 400]);
        const auditPolicy = run.engine.byType("aws:s3/bucketPolicy:BucketPolicy").find((p) => p.inputs.bucket === audit.id)!;
        const policy = doc(auditPolicy.inputs.policy);
        const write = policy.Statement.find((s: any) => s.Sid === "CloudTrailWrite");
        assert.deepEqual([write.Principal.Service, write.Condition.StringEquals["aws:SourceArn"]], ["cloudtrail.amazonaws.com", trail.state.arn]);
        // CloudTrail refuses a trail whose bucket policy or key policy does not yet let it write: it waits for both.
        const key = run.engine.one("aws:kms/key:Key");
        for (const [what, urn] of [["the audit bucket's policy", auditPolicy.urn], ["the key (its policy)", key.urn]]) {
            assert.ok(urn && trail.dependencies.includes(urn), `the trail waits for ${what} ${urn}; it depends on ${JSON.stringify(trail.dependencies)}`);
        }
    });

    it("the budget filters on the stack's own cost tag and alerts every address", async () => {
        const b = run.engine.one("aws:budgets/budget:Budget");
        assert.equal(b.inputs.name, "archaeo-example-lab-example");
        assert.deepEqual(b.inputs.notifications.map((n: any) => [n.notificationType, n.threshold, n.subscriberEmailAddresses]), [
            ["ACTUAL", 80, ["research-computing@example.org"]], ["FORECASTED", 100, ["research-computing@example.org"]],
        ]);
        // Several addresses: each one is a subscriber of each notification, in the order configured.
        const emails = ["research-computing@example.org", "pi@example.org", "finance.office@example.org"];
        const s = readStack("example");
        const r = await runProgram(parseConfig({ ...s.raw, "archaeo-workbench:budgetAlertEmails": emails }, { stack: "example", region: s.region }));
        const several = r.engine.one("aws:budgets/budget:Budget");
        assert.deepEqual(several.inputs.notifications.map((n: any) => [n.notificationType, n.threshold, n.subscriberEmailAddresses]), [
            ["ACTUAL", 80, emails], ["FORECASTED", 100, emails],
        ]);
    });

    it("protectData false: neither the key, the buckets nor the workspaces are protected or retained", async () => {
        const s = readStack("example");
        const r = await runProgram(parseConfig({ ...s.raw, "archaeo-workbench:protectData": false }, { stack: "example", region: s.region }));
        const stateful = r.resources.filter((x) => ["aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:ebs/volume:Volume"].includes(x.type));
        assert.equal(stateful.length, 4);
        for (const x of stateful) assert.ok(!x.protect && !x.retainOnDelete, x.name);
    });
});
