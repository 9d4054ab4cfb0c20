/** Instance mode, whole program under the mock engine: a workstation per researcher, nothing shared that is theirs. */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { parseConfig } from "../../infra/config";
import { readStack } from "../../tools/stacks";
import { ACCOUNT, researcher } from "../helpers/config";
import { doc, runProgram, runStack, ProgramRun, RecordedResource } from "../helpers/program";
import { PYTHON } from "../helpers/tools";

const byResearcher = (run: ProgramRun, type: string, id: string) => run.resources.filter((r) => r.type === type && r.name.startsWith(`archaeo-ws-${id}-`));
const one = (run: ProgramRun, type: string, id: string): RecordedResource => {
    const found = byResearcher(run, type, id);
    assert.equal(found.length, 1, `${type} of ${id}: ${found.map((f) => f.name)}`);
    return found[0];
};

describe("instance mode: uni-archaeology, three researchers", () => {
    let run: ProgramRun;
    before(async () => { run = await runStack("uni-archaeology"); });
    const ids = () => run.cfg.researchers.map((r) => r.id);

    it("one workstation component per researcher, named by their id", () => {
        const ws = run.resources.filter((r) => r.type === "archaeo:instance:ResearcherWorkstation").map((r) => r.name).sort();
        assert.deepEqual(ws, ids().map((id) => `archaeo-ws-${id}`).sort());
        assert.equal(run.engine.byType("aws:ec2/instance:Instance").length, 3);
        assert.equal(run.resources.filter((r) => /^aws:eks\/|natGateway/.test(r.type)).length, 0, "no EKS and no NAT gateway in instance mode");
    });

    it("each researcher's instance type and workspace size, each volume in the stack's AZ, protected and encrypted with the key", () => {
        const key = run.outputs.kmsKeyArn;
        for (const r of run.cfg.mode === "instance" ? run.cfg.researchers : []) {
            const inst = one(run, "aws:ec2/instance:Instance", r.id);
            const vol = one(run, "aws:ebs/volume:Volume", r.id);
            assert.equal(inst.inputs.instanceType, r.instanceType, r.id);
            assert.equal(vol.inputs.size, r.workspaceSizeGiB, r.id);
            assert.equal(vol.inputs.availabilityZone, run.cfg.availabilityZone);
            assert.equal(vol.inputs.kmsKeyId, key);
            assert.equal(inst.inputs.rootBlockDevice.kmsKeyId, key);
            assert.ok(vol.protect && vol.retainOnDelete, `${r.id}'s workspace is protected and retained`);
            assert.equal(vol.inputs.tags.researcher, r.id);
        }
        assert.deepEqual(one(run, "aws:ec2/instance:Instance", "pi").inputs.instanceType, "g5.2xlarge");
        assert.deepEqual(one(run, "aws:ec2/instance:Instance", "phd-tiles").inputs.instanceType, "g4dn.xlarge");
    });

    it("a researcher's attachment, token, role and profile are theirs: another's never appears in them", () => {
        for (const id of ids()) {
            const others = ids().filter((o) => o !== id);
            const att = one(run, "aws:ec2/volumeAttachment:VolumeAttachment", id);
            const inst = one(run, "aws:ec2/instance:Instance", id);
            const vol = one(run, "aws:ebs/volume:Volume", id);
            assert.equal(att.inputs.instanceId, inst.id);
            assert.equal(att.inputs.volumeId, vol.id);
            const params = byResearcher(run, "aws:ssm/parameter:Parameter", id);
            const path = `/archaeo/uni-archaeology/uni-archaeology/researchers/${id}`;
            assert.deepEqual(params.map((p) => p.inputs.name).sort(), [`${path}/image`, `${path}/jupyter-token`, `${path}/ssh-keys`]);
            const token = params.find((p) => p.inputs.name.endsWith("/jupyter-token"))!;
            assert.equal(token.inputs.type, "SecureString");
            assert.deepEqual(token.secretInputs, ["value"], "the token value is a Pulumi secret");
            const password = one(run, "random:index/randomPassword:RandomPassword", id);
            assert.equal(typeof password.state.result, "string");
            assert.equal(token.inputs.value, password.state.result, `${id}'s token parameter holds ${id}'s own RandomPassword`);
            for (const o of others) {
                const theirs = byResearcher(run, "aws:ssm/parameter:Parameter", o).find((p) => p.inputs.name.endsWith("/jupyter-token"))!;
                assert.notEqual(token.inputs.value, theirs.inputs.value, `${id} and ${o} have different tokens`);
            }
            const keys = params.find((p) => p.inputs.name.endsWith("/ssh-keys"))!;
            const mine = run.cfg.researchers.find((r) => r.id === id)!;
            assert.equal(keys.inputs.value, mine.sshPublicKeys.join("\n"), "their own keys, nobody else's");
            assert.equal(keys.inputs.tier, "Intelligent-Tiering", "six RSA-4096 keys exceed a Standard parameter's 4 KB");
            const policy = JSON.stringify(doc(one(run, "aws:iam/rolePolicy:RolePolicy", id).inputs.policy));
            for (const o of others) assert.ok(!policy.includes(`/${o}/`) && !policy.includes(`researchers/${o}`), `${id}'s workstation policy mentions ${o}`);
            assert.ok(policy.includes(`researchers/${id}/`));
            const profile = one(run, "aws:iam/instanceProfile:InstanceProfile", id);
            assert.equal(inst.inputs.iamInstanceProfile, profile.state.name);
        }
    });

    it("each researcher's own role: trusted only by their principal with their id as session name, scoped to their instance", () => {
        const roles = run.engine.byType("aws:iam/role:Role").filter((r) => r.name.startsWith("archaeo-researcher-"));
        assert.equal(roles.length, 3);
        for (const r of run.cfg.researchers) {
            const role = roles.find((x) => x.name === `archaeo-researcher-${r.id}-role`)!;
            const trust = doc(role.inputs.assumeRolePolicy);
            assert.deepEqual(trust.Statement.map((s: any) => s.Principal.AWS), [r.iamPrincipalArn]);
            assert.equal(trust.Statement[0].Condition.StringEquals["sts:RoleSessionName"], r.id);
            assert.equal(trust.Statement[0].Condition.StringLike["aws:userid"], `*:${r.sessionName}`, "shared SSO role: only this person's session");
            const policy = doc(run.engine.one("aws:iam/rolePolicy:RolePolicy", `archaeo-researcher-${r.id}-policy`).inputs.policy);
            const instanceArn = one(run, "aws:ec2/instance:Instance", r.id).state.arn;
            const start = policy.Statement.find((s: any) => s.Sid === "StartStopOwnWorkstation");
            assert.equal(start.Resource, instanceArn);
            const session = policy.Statement.find((s: any) => s.Sid === "SessionsToOwnWorkstationOnly");
            assert.deepEqual(session.Resource.filter((x: string) => x.includes(":document/")).map((x: string) => x.split("/").pop()), ["AWS-StartSSHSession", "AWS-StartPortForwardingSession"]);
            assert.equal(session.Condition.BoolIfExists["ssm:SessionDocumentAccessCheck"], "true");
        }
    });

    it("tags: every instance and volume carries the stack's tags and its researcher (the budget and cost lines see it)", () => {
        const provider = run.engine.one("pulumi:providers:aws");
        const defaults = JSON.parse(provider.inputs.defaultTags).tags;
        assert.equal(defaults.workbench, "archaeo-uni-archaeology-uni-archaeology");
        for (const id of ids()) {
            const root = one(run, "aws:ec2/instance:Instance", id).inputs.rootBlockDevice.tags;
            assert.equal(root.workbench, defaults.workbench, "provider default tags don't reach root volumes: set explicitly");
            assert.equal(root.researcher, id);
            assert.equal(one(run, "aws:ec2/instance:Instance", id).inputs.tags.researcher, id);
        }
        const budget = run.engine.one("aws:budgets/budget:Budget");
        assert.deepEqual(budget.inputs.costFilters, [{ name: "TagKeyValue", values: ["user:workbench$archaeo-uni-archaeology-uni-archaeology"] }]);
    });

    it("IMDSv2 with hop limit 2 (containers on the docker bridge use the role), shutdown = stop, the AMI held", () => {
        for (const id of ids()) {
            const i = one(run, "aws:ec2/instance:Instance", id);
            assert.deepEqual([i.inputs.metadataOptions.httpTokens, i.inputs.metadataOptions.httpPutResponseHopLimit], ["required", 2]);
            assert.equal(i.inputs.instanceInitiatedShutdownBehavior, "stop");
            assert.deepEqual(i.ignoreChanges, ["ami"]);
        }
    });

    it("ssm access: no inbound rule at all", () => {
        assert.equal(run.cfg.access.mode, "ssm");
        // Every way the provider adds ingress: a security group's (or the VPC default group's) inline
        // `ingress`, a legacy aws.ec2.SecurityGroupRule of type ingress, an aws.vpc.SecurityGroupIngressRule.
        const groups = run.resources.filter((r) => ["aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"].includes(r.type));
        assert.ok(groups.length > 0, "the workstations' security group is registered");
        const inbound = [
            ...groups.filter((g) => (g.inputs.ingress ?? []).length > 0).map((g) => `${g.type} ${g.name} ingress ${JSON.stringify(g.inputs.ingress)}`),
            ...run.engine.byType("aws:ec2/securityGroupRule:SecurityGroupRule").filter((r) => r.inputs.type !== "egress").map((r) => `${r.type} ${r.name} (${r.inputs.type})`),
            ...run.engine.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => `${r.type} ${r.name}`),
        ];
        assert.deepEqual(inbound, []);
        // ...and every workstation is in those groups only: one left out of vpcSecurityGroupIds gets the VPC's default
        // group, whose AWS-made rule admits all traffic from its other members (every other researcher's workstation).
        const checked = new Set(groups.map((g) => g.id));
        for (const id of ids()) {
            const sgs: string[] = one(run, "aws:ec2/instance:Instance", id).inputs.vpcSecurityGroupIds ?? [];
            assert.ok(sgs.length > 0, `${id}'s workstation names its security groups (else the VPC's default group applies)`);
            for (const sg of sgs) assert.ok(checked.has(sg), `${id}'s workstation is in ${sg}, a group this test did not check`);
        }
    });

    it("daily snapshots of every workspace by tag, kept as configured", () => {
        const dlm = run.engine.one("aws:dlm/lifecyclePolicy:LifecyclePolicy");
        const tag = dlm.inputs.policyDetails.targetTags;
        assert.equal(dlm.inputs.policyDetails.schedules[0].retainRule.count, 21);
        assert.equal(dlm.inputs.policyDetails.schedules[0].crossRegionCopyRules, undefined);
        for (const id of ids()) for (const [k, v] of Object.entries(tag)) assert.equal(one(run, "aws:ebs/volume:Volume", id).inputs.tags[k], v);
    });

    it("outputs: per researcher the commands (with their profile), the AWS CLI profile, and the tokens as one secret", () => {
        const out = run.outputs as any;
        assert.deepEqual(Object.keys(out.researchers).sort(), [...ids()].sort());
        const pi = out.researchers.pi;
        assert.match(pi.awsProfile, /^\[profile archaeo-pi\]\nrole_arn = arn:aws:iam::123456789012:role\/archaeo-uni-archaeology-uni-archaeology-researcher-pi\nrole_session_name = pi\n/);
        // uni-archaeology's researchers come from an Identity Center role: assuming theirs is role chaining, and STS
        // fails any DurationSeconds over one hour for a chained role (STS AssumeRole reference, DurationSeconds).
        const duration = /^duration_seconds\s*=\s*(\d+)/m.exec(pi.awsProfile);
        assert.ok(!duration || Number(duration[1]) <= 3600, `duration_seconds ${duration?.[1]} fails for a role-chained session`);
        // The AWS CLI (botocore configloader) reads ~/.aws/config with Python's configparser.RawConfigParser, which keeps an
        // inline "# comment" in the value: read the snippet the same way, with this machine's Python.
        const read = spawnSync(PYTHON, ["-c", "import configparser,json,sys; c=configparser.RawConfigParser(); c.read_string(sys.stdin.read()); print(json.dumps(dict(c['profile archaeo-pi'])))"], { input: pi.awsProfile, encoding: "utf8" });
        assert.equal(read.status, 0, read.stderr);
        const profile = JSON.parse(read.stdout);
        assert.equal(profile.source_profile, "default", "no inline comment in a value");
        assert.deepEqual([profile.role_arn, profile.role_session_name, profile.region], [pi.roleArn, "pi", "us-east-1"]);
        assert.match(pi.connect.ssh, /^ssh -p 2222 -o ProxyCommand="aws --profile archaeo-pi --region us-east-1 ssm start-session --target %h --document-name AWS-StartSSHSession/);
        assert.match(pi.connect.start, new RegExp(`ec2 start-instances --instance-ids ${pi.instanceId}$`));
        assert.match(pi.connect.upload, /s3 sync \.\/my-images s3:\/\/archaeo-uni-archaeology-uni-archaeology-data-[0-9a-f]{8}\/researchers\/pi\/my-images\//);
        // The researcher CLI's setup line (`archaeo setup`, infra/cli.ts) carries the facts these commands are made of.
        const facts = JSON.parse(Buffer.from(/^archaeo setup archaeo1\.([A-Za-z0-9_-]+)$/.exec(pi.cliSetup)![1], "base64url").toString("utf8"));
        assert.deepEqual([facts.mode, facts.id, facts.instanceId, facts.roleArn, facts.profile, facts.region], ["instance", "pi", pi.instanceId, pi.roleArn, "archaeo-pi", "us-east-1"]);
        assert.ok(pi.connect.token.includes(`--name ${facts.ssmPath}/jupyter-token `), facts.ssmPath);
        assert.ok(pi.connect.upload.includes(` s3://${facts.bucket}/${facts.dataPrefix}my-images/`), `${facts.bucket} ${facts.dataPrefix}`);
        assert.deepEqual(Object.keys(out.jupyterTokens).sort(), [...ids()].sort());
    });
});

describe("instance mode: what a redeploy touches", () => {
    // A change of user data replaces the workstation (userDataReplaceOnChange: cloud-init reads it on first boot
    // only), and the replacement stops the running instance to move its workspace volume (VolumeAttachment
    // stopInstanceBeforeDetaching): a rebuilt image or a new key must reach it through the SSM parameters
    // archaeo-prepare reads at each boot, never through user data.
    it("a rebuilt image and a new SSH key change two SSM parameters, not the workstation's user data", async () => {
        const s = readStack("example");
        const before = await runStack("example");
        const raw = structuredClone(s.raw);
        raw["archaeo-workbench:baseImageDigest"] = `sha256:${"c".repeat(64)}`;
        const alice = (raw["archaeo-workbench:researchers"] as any[])[0];
        alice.sshPublicKeys = [...alice.sshPublicKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH alice@new-laptop"];
        const after = await runProgram(parseConfig(raw, { stack: "example", region: s.region }));
        const pick = (run: ProgramRun, type: string, name: string) => run.engine.one(type, name).inputs;
        assert.notEqual(pick(after, "docker:index/image:Image", "archaeo-registry-image").imageName, pick(before, "docker:index/image:Image", "archaeo-registry-image").imageName, "the image is rebuilt");
        for (const p of ["archaeo-ws-alice-image", "archaeo-ws-alice-ssh-keys"]) {
            assert.notEqual(pick(after, "aws:ssm/parameter:Parameter", p).value, pick(before, "aws:ssm/parameter:Parameter", p).value, p);
        }
        const [a, b] = [before, after].map((run) => pick(run, "aws:ec2/instance:Instance", "archaeo-ws-alice-instance"));
        assert.equal(b.userDataBase64, a.userDataBase64, "user data unchanged: the running workstation is not replaced");
        assert.equal(b.userDataReplaceOnChange, true);
    });
});

describe("instance mode: names from values", () => {
    it("reordering researchers replaces nothing: the URNs are the same set", async () => {
        const s = readStack("uni-archaeology");
        const reversed = parseConfig({ ...s.raw, "archaeo-workbench:researchers": [...(s.raw["archaeo-workbench:researchers"] as unknown[])].reverse() }, { stack: "uni-archaeology", region: s.region });
        const a = (await runStack("uni-archaeology")).resources.map((r) => r.urn).sort();
        const b = (await runProgram(reversed)).resources.map((r) => r.urn).sort();
        assert.deepEqual(b, a);
    });

    it("two stacks of one institution share no physical name (IAM, S3 and ECR names are account- or world-wide)", async () => {
        const s = readStack("example");
        const names = async (stack: string) => {
            const run = await runProgram(parseConfig(s.raw, { stack, region: s.region }));
            const physical = new Set<string>();
            for (const r of run.resources) {
                for (const k of ["name", "bucket"]) if (typeof r.inputs[k] === "string" && r.custom) physical.add(`${r.type}:${r.inputs[k]}`);
            }
            return physical;
        };
        const prod = await names("prod");
        const test = await names("test");
        const shared = [...prod].filter((n) => test.has(n));
        assert.deepEqual(shared, []);
        assert.ok(prod.size > 10, `named resources: ${[...prod]}`);
    });

    it("an existing key is used everywhere and the provider accepts only its account", async () => {
        const s = readStack("example");
        const existing = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
        const run = await runProgram(parseConfig({ ...s.raw, "archaeo-workbench:kmsKeyArn": existing, "archaeo-workbench:researchers": [researcher("alice"), researcher("bob")] }, { stack: "example", region: s.region }));
        assert.equal(run.engine.byType("aws:kms/key:Key").length, 0);
        assert.equal(run.engine.byType("aws:kms/alias:Alias").length, 0);
        assert.equal(run.outputs.kmsKeyArn, existing);
        for (const v of run.engine.byType("aws:ebs/volume:Volume")) assert.equal(v.inputs.kmsKeyId, existing);
        for (const p of run.engine.byType("aws:ssm/parameter:Parameter").filter((x) => x.inputs.type === "SecureString")) assert.equal(p.inputs.keyId, existing);
        assert.equal(run.engine.one("aws:ecr/repository:Repository").inputs.encryptionConfigurations[0].kmsKey, existing);
        assert.deepEqual(run.engine.one("pulumi:providers:aws").inputs.allowedAccountIds, JSON.stringify([ACCOUNT]));
    });

    // Issue 17: the workstation's zone was <region>a whatever it offered, with no way out of a zone without capacity but
    // hand work. A researcher moved to another zone (researchers[].zone) gets a subnet there at the zone's own /24;
    // nobody else's subnet, workstation or volume moves; a zone not offering the type is warned about, naming the researcher.
    it("a researcher's own zone: their workstation and volume there, in a subnet of that zone; the others untouched", async () => {
        const s = readStack("example");
        const moved = await runProgram(parseConfig({ ...s.raw, "archaeo-workbench:researchers": [researcher("alice"), researcher("bob", { zone: "us-east-1b" })] }, { stack: "example", region: s.region }));
        const offerings = moved.engine.invokes.filter((i) => i.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings");
        assert.deepEqual(offerings.map((i) => [i.args.locationType, i.args.filters]), [["availability-zone", [{ name: "instance-type", values: ["g5.xlarge"] }]]]);
        const subnet = moved.engine.one("aws:ec2/subnet:Subnet", "archaeo-network-public-us-east-1b");
        assert.deepEqual([subnet.inputs.cidrBlock, subnet.inputs.availabilityZone], ["10.42.2.0/24", "us-east-1b"]);
        assert.equal(one(moved, "aws:ec2/instance:Instance", "bob").inputs.subnetId, subnet.id);
        assert.deepEqual([one(moved, "aws:ec2/instance:Instance", "bob").inputs.availabilityZone, one(moved, "aws:ebs/volume:Volume", "bob").inputs.availabilityZone], ["us-east-1b", "us-east-1b"]);
        // Alice and the stack's own subnet stay as they were: the VPC's first /24 in availabilityZone.
        const own = moved.engine.one("aws:ec2/subnet:Subnet", "archaeo-network-public");
        assert.deepEqual([own.inputs.cidrBlock, own.inputs.availabilityZone], ["10.42.0.0/24", "us-east-1a"]);
        assert.deepEqual([one(moved, "aws:ec2/instance:Instance", "alice").inputs.subnetId, one(moved, "aws:ebs/volume:Volume", "alice").inputs.availabilityZone], [own.id, "us-east-1a"]);
        assert.equal(moved.engine.byType("aws:ec2/routeTableAssociation:RouteTableAssociation").length, 2, "the new subnet routes like the first");
        // A zone not offering the type warns (naming bob and how to move him) and does not stop the up: an existing
        // workstation there is untouched by EC2, and RunInstances refuses a new one itself (review of issue 17, defect 4).
        const unoffered = await runProgram(parseConfig({ ...s.raw, "archaeo-workbench:researchers": [researcher("alice"), researcher("bob", { zone: "us-east-1d" })] }, { stack: "example", region: s.region }));
        assert.ok(unoffered.engine.warnings.some((w) => /researchers\[1\]\.zone: researcher 'bob': us-east-1d does not offer g5\.xlarge in this account; zones of us-east-1 offering it: us-east-1a, us-east-1b, us-east-1c\..*To move 'bob'/.test(w)), unoffered.engine.warnings.join("\n"));
    });

    it("a key in another account fails before any cloud resource is registered, naming the key", async () => {
        const s = readStack("example");
        const foreign = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        await assert.rejects(
            runProgram(parseConfig({ ...s.raw, "archaeo-workbench:kmsKeyArn": foreign }, { stack: "example", region: s.region })),
            /kmsKeyArn: the key is in account 999999999999 but the stack deploys to 123456789012/,
        );
    });
});

describe("instance mode: city-museum (cidr access, two researchers, cross-region backup copies)", () => {
    let run: ProgramRun;
    before(async () => { run = await runStack("city-museum"); });

    it("cidr opens SSH alone to each listed CIDR, named by the CIDR (Jupyter and TensorBoard never listen on the address)", () => {
        const ingress = run.engine.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        assert.deepEqual(ingress.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4]).sort(), [[2222, 2222, "198.51.100.64/26"], [2222, 2222, "203.0.113.0/24"]]);
        assert.ok(ingress.every((r) => r.name.includes(r.inputs.cidrIpv4.replace(/[./]/g, "-"))));
    });

    it("snapshots are copied to the second region, encrypted with its key, and the DLM role may use both keys through EC2 only", () => {
        const dlm = run.engine.one("aws:dlm/lifecyclePolicy:LifecyclePolicy");
        const copy = dlm.inputs.policyDetails.schedules[0].crossRegionCopyRules[0];
        assert.deepEqual([copy.target, copy.encrypted, copy.cmkArn, copy.retainRule.interval], ["eu-west-1", true, "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 30]);
        const kms = doc(run.engine.byType("aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "archaeo-snapshots-kms")!.inputs.policy);
        assert.deepEqual(kms.Statement.map((s: any) => [s.Resource.split(":")[3], s.Condition.StringEquals["kms:ViaService"]]), [
            ["eu-west-2", "ec2.eu-west-2.amazonaws.com"], ["eu-west-2", "ec2.eu-west-2.amazonaws.com"], ["eu-west-1", "ec2.eu-west-1.amazonaws.com"], ["eu-west-1", "ec2.eu-west-1.amazonaws.com"],
        ]);
    });

    it("ARNs and names are in the stack's own region and stack (the mock engine is reconfigured per run)", () => {
        assert.match(String(run.outputs.kmsKeyArn), /^arn:aws:kms:eu-west-2:/);
        assert.equal(run.engine.one("pulumi:providers:aws").inputs.region, "eu-west-2");
    });
});
