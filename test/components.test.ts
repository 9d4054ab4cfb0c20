import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { engine, value, doc } from "./helpers/program";
import type { MockEngine } from "../tools/mock-engine";

const KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b";

// Loaded lazily: the mocks must be installed before component modules register anything.
const load = <T>(m: string): T => require(m) as T;
type Mods = {
    network: typeof import("../infra/components/network");
    key: typeof import("../infra/components/key");
    datastore: typeof import("../infra/components/datastore");
    registry: typeof import("../infra/components/registry");
    workstation: typeof import("../infra/components/workstation");
    budget: typeof import("../infra/components/budget");
    identity: typeof import("../infra/components/identity");
};

describe("components in isolation", () => {
    let e: MockEngine;
    let m: Mods;
    before(async () => {
        e = await engine();
        m = {
            network: load("../infra/components/network"),
            key: load("../infra/components/key"),
            datastore: load("../infra/components/datastore"),
            registry: load("../infra/components/registry"),
            workstation: load("../infra/components/workstation"),
            budget: load("../infra/components/budget"),
            identity: load("../infra/components/identity"),
        };
    });
    beforeEach(() => e.reset());

    /** Every custom resource is a child of the component and named <component>-<role>. */
    function assertChildren(componentType: string, name: string) {
        const comp = e.one(componentType, name);
        for (const r of e.resources.filter((x) => x.custom)) {
            assert.equal(r.parent, comp.urn, `${r.type} ${r.name} must have parent ${name}`);
            assert.ok(r.name.startsWith(`${name}-`), `${r.name} must be named ${name}-<role>`);
        }
    }

    describe("Network", () => {
        const args = { vpcCidr: "10.42.0.0/16", availabilityZone: "us-east-1a", region: "us-east-1", accessMode: "ssm" as const, accessCidrs: [] };

        it("ssm mode: no ingress rule at all, one public subnet in the AZ, IGW, S3 endpoint, no NAT", async () => {
            new m.network.Network("n", args);
            await e.settle();
            assertChildren("archaeo:network:Network", "n");
            assert.equal(e.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").length, 0);
            assert.equal(e.one("aws:ec2/securityGroup:SecurityGroup").inputs.ingress, undefined);
            assert.equal(e.one("aws:ec2/subnet:Subnet").inputs.availabilityZone, "us-east-1a");
            assert.equal(e.one("aws:ec2/subnet:Subnet").inputs.cidrBlock, "10.42.0.0/24");
            assert.equal(e.byType("aws:ec2/internetGateway:InternetGateway").length, 1);
            assert.equal(e.byType("aws:ec2/natGateway:NatGateway").length, 0);
            const s3 = e.one("aws:ec2/vpcEndpoint:VpcEndpoint");
            assert.equal(s3.inputs.serviceName, "com.amazonaws.us-east-1.s3");
            assert.equal(s3.inputs.vpcEndpointType, "Gateway");
        });

        it("cidr mode: exactly 2222, 8888 and 6006 from each listed CIDR (IPv6 as cidrIpv6)", async () => {
            new m.network.Network("n", { ...args, accessMode: "cidr", accessCidrs: ["203.0.113.0/24", "2001:db8::/48"] });
            await e.settle();
            const rules = e.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs);
            assert.equal(rules.length, 6);
            const seen = rules.map((r) => `${r.fromPort}-${r.toPort}/${r.cidrIpv4 ?? r.cidrIpv6}`).sort();
            assert.deepEqual(seen, ["2222-2222/2001:db8::/48", "2222-2222/203.0.113.0/24", "6006-6006/2001:db8::/48", "6006-6006/203.0.113.0/24",
                "8888-8888/2001:db8::/48", "8888-8888/203.0.113.0/24"]);
            assert.ok(rules.every((r) => r.ipProtocol === "tcp"));
        });
    });

    describe("Key", () => {
        it("creates a rotating CMK with alias/archaeo/<institution>, protected, usable by the workstation role", async () => {
            const k = new m.key.Key("k", { institution: "example-lab", partition: "aws", accountId: "123456789012", userRoleArns: ["arn:aws:iam::123456789012:role/ws"] });
            await value(k.keyArn);
            await e.settle();
            assertChildren("archaeo:key:Key", "k");
            const key = e.one("aws:kms/key:Key");
            assert.equal(key.inputs.enableKeyRotation, true);
            assert.equal(key.inputs.deletionWindowInDays, 30);
            assert.ok(key.protect && key.retainOnDelete, "key must be protected and retained");
            assert.equal(e.one("aws:kms/alias:Alias").inputs.name, "alias/archaeo/example-lab");
            const policy = doc(key.inputs.policy);
            const admin = policy.Statement.find((s: any) => s.Sid === "AccountAdministersKey");
            assert.equal(admin.Principal.AWS, "arn:aws:iam::123456789012:root");
            const use = policy.Statement.find((s: any) => s.Sid === "WorkbenchRolesUseKey");
            assert.equal(use.Principal.AWS, "arn:aws:iam::123456789012:role/ws");
            assert.ok(!use.Action.includes("kms:*") && use.Action.includes("kms:Decrypt"));
        });

        it("uses an existing key ARN without creating a key", async () => {
            const k = new m.key.Key("k", { institution: "x-lab", partition: "aws", accountId: "1", userRoleArns: [], existingKeyArn: KEY_ARN });
            assert.equal(await value(k.keyArn), KEY_ARN);
            await e.settle();
            assert.equal(e.byType("aws:kms/key:Key").length, 0);
        });

        it("protectData false: neither protected nor retained", async () => {
            new m.key.Key("k", { institution: "x-lab", partition: "aws", accountId: "1", userRoleArns: [], protect: false });
            await e.settle();
            const key = e.one("aws:kms/key:Key");
            assert.equal(key.protect, false);
            assert.equal(key.retainOnDelete, false);
        });
    });

    describe("DataStore", () => {
        const args = { prefix: "archaeo-x", accountId: "123456789012", region: "us-east-1", partition: "aws", keyArn: KEY_ARN,
            workspace: { availabilityZone: "us-east-1b", sizeGiB: 300, snapshotRetentionDays: 9, snapshotTag: { "archaeo-snapshot": "x-ws" } } };

        it("bucket: SSE-KMS with the stack key and a bucket key, versioned, public access blocked, TLS only, protected", async () => {
            new m.datastore.DataStore("d", args);
            await e.settle();
            assertChildren("archaeo:datastore:DataStore", "d");
            const bucket = e.one("aws:s3/bucket:Bucket");
            assert.ok(bucket.protect && bucket.retainOnDelete);
            assert.equal(bucket.inputs.forceDestroy, false);
            const rule = e.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules[0];
            assert.deepEqual(rule.applyServerSideEncryptionByDefault, { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN });
            assert.equal(rule.bucketKeyEnabled, true);
            assert.equal(e.one("aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration.status, "Enabled");
            const pab = e.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
            for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(pab[k], true, k);
            const deny = doc(e.one("aws:s3/bucketPolicy:BucketPolicy").inputs.policy).Statement[0];
            assert.equal(deny.Effect, "Deny");
            assert.deepEqual(deny.Condition, { Bool: { "aws:SecureTransport": "false" } });
            assert.deepEqual(deny.Resource, [bucket.state.arn, `${bucket.state.arn}/*`]);
        });

        it("workspace: gp3 in the workstation's AZ, encrypted with the stack key, protected, snapshotted daily by DLM", async () => {
            new m.datastore.DataStore("d", args);
            await e.settle();
            const vol = e.one("aws:ebs/volume:Volume");
            assert.deepEqual([vol.inputs.type, vol.inputs.size, vol.inputs.availabilityZone, vol.inputs.encrypted, vol.inputs.kmsKeyId], ["gp3", 300, "us-east-1b", true, KEY_ARN]);
            assert.ok(vol.protect && vol.retainOnDelete);
            const dlm = e.one("aws:dlm/lifecyclePolicy:LifecyclePolicy").inputs;
            assert.deepEqual(dlm.policyDetails.targetTags, { "archaeo-snapshot": "x-ws" });
            assert.equal(vol.inputs.tags["archaeo-snapshot"], "x-ws", "the DLM target tag must be on the volume");
            assert.equal(dlm.policyDetails.schedules[0].retainRule.count, 9);
            assert.equal(dlm.policyDetails.schedules[0].createRule.interval, 24);
            assert.equal(dlm.state, "ENABLED");
        });

        it("protect false: bucket and volume neither protected nor retained", async () => {
            new m.datastore.DataStore("d", { ...args, protect: false });
            await e.settle();
            for (const t of ["aws:s3/bucket:Bucket", "aws:ebs/volume:Volume"]) {
                const r = e.one(t);
                assert.equal(r.protect || r.retainOnDelete, false, t);
            }
        });
    });

    describe("ImageRegistry", () => {
        let ctx: string;
        before(() => {
            ctx = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-ctx-"));
            fs.writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\n");
        });

        it("ECR: KMS with the stack key, scan on push, IMMUTABLE, lifecycle; image pushed with a secret token, used by digest", async () => {
            const r = new m.registry.ImageRegistry("r", { repositoryName: "archaeo/x/pytorch-cuda", keyArn: KEY_ARN, contextDir: ctx, baseImage: "pytorch/pytorch:t" });
            const ref = await value(r.imageDigestRef);
            await e.settle();
            assertChildren("archaeo:registry:ImageRegistry", "r");
            const repo = e.one("aws:ecr/repository:Repository").inputs;
            assert.equal(repo.imageTagMutability, "IMMUTABLE");
            assert.equal(repo.imageScanningConfiguration.scanOnPush, true);
            assert.deepEqual(repo.encryptionConfigurations, [{ encryptionType: "KMS", kmsKey: KEY_ARN }]);
            const lc = JSON.parse(e.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy);
            assert.deepEqual(lc.rules.map((x: any) => x.selection.tagStatus), ["untagged", "any"]);
            const img = e.one("docker:index/image:Image").inputs;
            assert.ok(img.imageName.endsWith(`:${r.imageTag}`));
            assert.equal(img.build.platform, "linux/amd64");
            assert.equal(img.registry.username, "AWS");
            assert.ok(e.one("docker:index/image:Image").secretInputs.includes("registry"), "the registry password must be a secret");
            assert.ok(e.invokes.some((i) => i.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken"));
            assert.match(ref, /@sha256:[0-9a-f]{64}$/);
        });

        it("the tag follows the build context's content and the base digest, nothing else", () => {
            const t1 = m.registry.imageTag(ctx, { BASE_IMAGE: "a" });
            assert.equal(m.registry.imageTag(ctx, { BASE_IMAGE: "a" }), t1, "stable for unchanged content");
            assert.notEqual(m.registry.imageTag(ctx, { BASE_IMAGE: "a", BASE_DIGEST: "sha256:1" }), t1);
            fs.writeFileSync(path.join(ctx, "extra.txt"), "x");
            assert.notEqual(m.registry.imageTag(ctx, { BASE_IMAGE: "a" }), t1, "changes with content");
            fs.unlinkSync(path.join(ctx, "extra.txt"));
            assert.equal(m.registry.imageTag(ctx, { BASE_IMAGE: "a" }), t1);
        });
    });

    describe("WorkstationIdentity", () => {
        it("role trusted by EC2 only, with SSM managed core and an instance profile", async () => {
            new m.identity.WorkstationIdentity("i", { prefix: "archaeo-x", partition: "aws" });
            await e.settle();
            assertChildren("archaeo:identity:WorkstationIdentity", "i");
            const trust = doc(e.one("aws:iam/role:Role").inputs.assumeRolePolicy);
            assert.deepEqual(trust.Statement.map((s: any) => s.Principal.Service), ["ec2.amazonaws.com"]);
            assert.equal(e.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs.policyArn, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
            assert.equal(e.byType("aws:iam/instanceProfile:InstanceProfile").length, 1);
        });
    });

    describe("GpuWorkstation", () => {
        const args = {
            prefix: "archaeo-x", region: "us-east-1", partition: "aws", accountId: "123456789012", instanceType: "g5.xlarge", memoryGiB: 16,
            amiSsmParameter: "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
            subnetId: "subnet-1", securityGroupId: "sg-1", roleName: "archaeo-x-workstation", instanceProfileName: "archaeo-x-workstation", keyArn: KEY_ARN,
            bucketArn: "arn:aws:s3:::archaeo-x-123456789012-us-east-1", repositoryArn: "arn:aws:ecr:us-east-1:123456789012:repository/archaeo/x/pytorch-cuda",
            imageRef: "123456789012.dkr.ecr.us-east-1.amazonaws.com/archaeo/x/pytorch-cuda@sha256:" + "a".repeat(64),
            workspaceVolumeId: "vol-0123456789abcdef0", ssmPath: "/archaeo/x/dev", accessMode: "ssm" as const, sshPublicKeys: [ED25519],
            volumeTags: { institution: "x", "data-classification": "confidential", stack: "dev" },
        };

        it("IMDSv2 only, encrypted root with the stack key, shutdown = stop, AMI from SSM held, volume attached safely", async () => {
            const w = new m.workstation.GpuWorkstation("w", args);
            await value(w.connect);
            await e.settle();
            assertChildren("archaeo:workstation:GpuWorkstation", "w");
            const inst = e.one("aws:ec2/instance:Instance");
            assert.equal(inst.inputs.metadataOptions.httpTokens, "required");
            assert.equal(inst.inputs.metadataOptions.httpEndpoint, "enabled");
            assert.deepEqual([inst.inputs.rootBlockDevice.encrypted, inst.inputs.rootBlockDevice.kmsKeyId], [true, KEY_ARN]);
            assert.equal(inst.inputs.rootBlockDevice.tags.institution, "x", "root volume carries the tags (default tags do not reach it)");
            assert.equal(inst.inputs.instanceInitiatedShutdownBehavior, "stop");
            assert.equal(inst.inputs.userDataReplaceOnChange, true);
            assert.deepEqual(inst.ignoreChanges, ["ami"]);
            assert.match(inst.inputs.ami, /^ami-/);
            assert.ok(e.invokes.some((i) => i.token === "aws:ssm/getParameter:getParameter" && i.args.name === args.amiSsmParameter));
            const att = e.one("aws:ec2/volumeAttachment:VolumeAttachment");
            assert.equal(att.inputs.volumeId, args.workspaceVolumeId);
            assert.equal(att.inputs.stopInstanceBeforeDetaching, true);
            assert.equal(att.deleteBeforeReplace, true, "a replaced instance must release the volume first");
        });

        it("a pinned AMI is used as given and not ignored", async () => {
            new m.workstation.GpuWorkstation("w", { ...args, amiId: "ami-0123456789abcdef0" });
            await e.settle();
            const inst = e.one("aws:ec2/instance:Instance");
            assert.equal(inst.inputs.ami, "ami-0123456789abcdef0");
            assert.deepEqual(inst.ignoreChanges, []);
        });

        it("the Jupyter token: random, a Pulumi secret, an SSM SecureString with the stack key, never in user data", async () => {
            const w = new m.workstation.GpuWorkstation("w", args);
            const token = await value(w.jupyterToken);
            assert.equal(await (w.jupyterToken as any).isSecret, true);
            await e.settle();
            assert.equal(e.one("random:index/randomPassword:RandomPassword").inputs.length, 48);
            const param = e.one("aws:ssm/parameter:Parameter").inputs;
            assert.deepEqual([param.type, param.keyId, param.name, param.value], ["SecureString", KEY_ARN, "/archaeo/x/dev/jupyter-token", token]);
            assert.deepEqual(e.one("aws:ssm/parameter:Parameter").secretInputs, ["value"]);
            const userData: string = e.one("aws:ec2/instance:Instance").inputs.userData;
            assert.ok(token.length >= 32 && !userData.includes(token), "token must not be in user data");
            assert.ok(userData.includes("JUPYTER_TOKEN_PARAMETER=/archaeo/x/dev/jupyter-token"));
        });

        it("IAM: every statement names this stack's bucket, repository, key or parameters (GetAuthorizationToken excepted)", async () => {
            new m.workstation.GpuWorkstation("w", args);
            await e.settle();
            const policy = doc(e.one("aws:iam/rolePolicy:RolePolicy").inputs.policy);
            const own = [args.bucketArn, `${args.bucketArn}/*`, args.repositoryArn, KEY_ARN,
                "arn:aws:ssm:us-east-1:123456789012:parameter/archaeo/x/dev/*", "arn:aws:ssm:us-east-1:123456789012:parameter/archaeo/x/dev/status/*"];
            for (const s of policy.Statement) {
                assert.equal(s.Effect, "Allow");
                const resources = [s.Resource].flat();
                if (s.Sid === "EcrAuthToken") { assert.deepEqual([s.Action, s.Resource], ["ecr:GetAuthorizationToken", "*"]); continue; }
                for (const r of resources) assert.ok(own.includes(r), `${s.Sid}: ${r} is not one of this stack's ARNs`);
                assert.ok(![s.Action].flat().some((a: string) => a.endsWith(":*") || a === "*"), `${s.Sid} uses a wildcard action`);
            }
        });

        it("image used by digest; services bound to localhost in ssm mode and to all interfaces in cidr mode", async () => {
            new m.workstation.GpuWorkstation("w", args);
            await e.settle();
            const ud: string = e.one("aws:ec2/instance:Instance").inputs.userData;
            assert.ok(ud.includes(`IMAGE_REF=${args.imageRef}`));
            assert.ok(ud.includes("BIND_ADDRESS=127.0.0.1"));
            e.reset();
            new m.workstation.GpuWorkstation("w", { ...args, accessMode: "cidr" });
            await e.settle();
            assert.ok(e.one("aws:ec2/instance:Instance").inputs.userData.includes("BIND_ADDRESS=0.0.0.0"));
        });
    });

    describe("Budget", () => {
        it("monthly cost budget filtered on the institution tag, alerting every e-mail", async () => {
            new m.budget.Budget("b", { budgetName: "archaeo-x-dev", monthlyUsd: 750, tagKey: "institution", tagValue: "x", alertEmails: ["a@x.org", "b@x.org"] });
            await e.settle();
            assertChildren("archaeo:budget:Budget", "b");
            const b = e.one("aws:budgets/budget:Budget").inputs;
            assert.deepEqual([b.budgetType, b.timeUnit, b.limitAmount, b.limitUnit], ["COST", "MONTHLY", "750.00", "USD"]);
            assert.deepEqual(b.costFilters, [{ name: "TagKeyValue", values: ["user:institution$x"] }]);
            assert.deepEqual(b.notifications.map((n: any) => [n.notificationType, n.threshold]), [["ACTUAL", 80], ["FORECASTED", 100]]);
            assert.ok(b.notifications.every((n: any) => n.subscriberEmailAddresses.join() === "a@x.org,b@x.org"));
        });
    });
});
