/**
 * Parked researchers (issue 21, item 2): `parked: true` plans no compute for them and keeps their data at the
 * cheapest safe tier; the lifecycle rehearsal parks and unparks alice and gets back the same workspace; the plan's
 * cost lines show the parked price; `npm run report` lists stopped workstations, parked researchers and
 * month-to-date spend from recorded AWS CLI answers checked against botocore's models.
 *
 * Why the workspace stays one volume, moved in place to Cold HDD (sc1), rather than a snapshot and no volume:
 * - nothing is copied or deleted, so nothing can be lost: the volume stays protected, retained and in the daily
 *   snapshot policy (its tag), and unparking is the same volume (same id: an update, never a replacement);
 * - `type` is not a replace-on-change input of aws_ebs_volume (tools/replace-rules: forceNew is availabilityZone,
 *   encrypted, kmsKeyId, multiAttachEnabled, outpostArn, snapshotId), so park and unpark are ModifyVolume calls;
 * - "a final snapshot, then the volume removed" cannot be one safe `up`: the engine refuses to delete a protected
 *   volume (the leaver's unprotect-and-delete steps again), and with retainOnDelete it would stay billed anyway;
 * - sc1 is 0.015 $/GiB-month against snapshots' 0.05 (infra/data/prices.json): cheaper unless the workspace is
 *   under 30% full. A volume under sc1's 125 GiB minimum (botocore ec2 ModifyVolume Size: "st1 and sc1: 125 -
 *   16,384 GiB") stays gp3: growing it would be one-way ("target volume size must be greater than or equal").
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { ACCOUNT, clusterOverrides, ED25519, parse, problems, researcher } from "./helpers/config";
import { runProgram, ProgramRun } from "./helpers/program";
import { checkAwsCommands, loadRecorded, recordedAws } from "./helpers/recorded-aws";
import { tmpDir } from "./helpers/tools";
import { PACK } from "./helpers/policy";
import { estimateCost } from "../infra/cost";
import { checkApiRules, renderFinding } from "../tools/api-rules/check";
import { runPolicies } from "../tools/policy-runner";
import { EMPTY_STATE, planUp } from "../tools/lifecycle";
import { researcherCostHeading } from "../tools/plan";
import { report } from "../tools/report";
import { STACKS_DIR } from "../tools/stacks";

const VOLUME = "Volume:archaeo-ws-alice-workspace";
const two = (aliceParked: boolean) => parse({ researchers: [researcher("alice", { parked: aliceParked }), researcher("bob")] });
const ofAlice = (run: ProgramRun) => run.resources.filter((r) => r.name.startsWith("archaeo-ws-alice") || r.name.startsWith("archaeo-researcher-alice"));

describe("parked researchers: config", () => {
    it("parked is a researcher's boolean, false by default, wrong values named with their key", () => {
        assert.deepEqual(two(true).researchers.map((r) => [r.id, r.parked]), [["alice", true], ["bob", false]]);
        assert.deepEqual(problems({ researchers: [researcher("alice", { parked: "yes" })] }), { "archaeo-workbench:researchers[0].parked": "researcher 'alice': must be true or false, got \"yes\"" });
    });
});

describe("parked researchers: instance mode, alice parked, bob working", () => {
    let working: ProgramRun;
    let parked: ProgramRun;
    before(async () => { working = await runProgram(two(false)); parked = await runProgram(two(true)); });

    it("no compute for alice: no instance, instance role, profile, token or boot parameters; her role reaches only her data", () => {
        assert.deepEqual(ofAlice(parked).filter((r) => r.custom).map((r) => `${r.type.split(":").pop()}:${r.name}`).sort(),
            [VOLUME, "Role:archaeo-researcher-alice-role", "RolePolicy:archaeo-researcher-alice-policy"].sort());
        const policy = JSON.parse(parked.resources.find((r) => r.name === "archaeo-researcher-alice-policy")!.inputs.policy);
        assert.ok(policy.Statement.every((s: any) => [s.Action].flat().every((a: string) => a.startsWith("s3:") || a.startsWith("kms:"))), "S3 and the key through S3 only");
        assert.deepEqual(parked.outputs.researchers && Object.keys((parked.outputs.researchers as any).alice).sort(), ["awsProfile", "parked", "roleArn", "workspaceVolumeId"]);
        assert.ok((parked.outputs.researchers as any).bob.instanceId, "bob keeps his workstation");
        assert.deepEqual(Object.keys((parked.outputs.jupyterTokens as object)), ["bob"]);
    });

    it("her workspace stays the same protected, retained volume, moved to Cold HDD; bob's stays gp3", () => {
        const vol = (run: ProgramRun, id: string) => run.resources.find((r) => r.type === "aws:ebs/volume:Volume" && r.name === `archaeo-ws-${id}-workspace`)!;
        const [before, after] = [vol(working, "alice"), vol(parked, "alice")];
        assert.equal(after.urn, before.urn, "same URN: the same resource");
        assert.deepEqual([before.inputs.type, after.inputs.type, vol(parked, "bob").inputs.type], ["gp3", "sc1", "gp3"]);
        assert.ok(after.protect && after.retainOnDelete);
        assert.equal(after.inputs.tags["archaeo-snapshot"], before.inputs.tags["archaeo-snapshot"], "still in the daily snapshot policy");
        const small = parse({ researchers: [researcher("alice", { parked: true, workspaceSizeGiB: 100 })] });
        assert.equal(require("../infra/constants").workspaceVolumeType(small.researchers[0]), "gp3", "under sc1's 125 GiB it stays gp3 (never grown)");
    });

    it("the policies over volumes, backups, roles and isolation pass it, and AWS's API rules take the Cold HDD volume", async () => {
        const judges = ["ebs-volumes-encrypted-cmk", "stateful-data-backed-up", "stateful-resources-protected", "researcher-isolation", "researcher-roles-scoped", "iam-policies-scoped", "pack-judges-every-type", "required-tags"];
        const res = await runPolicies(parked.resources, { resource: PACK.resource.filter((p) => judges.includes(p.name)), stack: PACK.stack.filter((p) => judges.includes(p.name)) }, {});
        assert.deepEqual(res.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => `${v.policyName}: ${v.message}`), []);
        assert.deepEqual(checkApiRules(parked.resources.filter((r) => r.name === "archaeo-ws-alice-workspace" || r.type === "pulumi:providers:aws")).findings.map(renderFinding), []);
    });

    it("lifecycle rehearsal: park then unpark updates the one volume in place and gets back the same workspace", () => {
        const created = planUp(EMPTY_STATE, working.resources);
        const park = planUp(created.state, parked.resources);
        assert.ok(park.ok, JSON.stringify(park.refused));
        assert.ok(park.updated.includes(VOLUME) && !park.replaced.includes(VOLUME) && !park.deleted.includes(VOLUME), "parked: the volume is updated, never replaced or deleted");
        // Type, and gp3's IOPS and throughput left out: sc1 takes neither (botocore ec2 ModifyVolume Iops "valid only for
        // gp3, io1, and io2", Throughput "valid only for gp3"); still an update in place.
        assert.deepEqual(park.steps.get([...park.steps.keys()].find((k) => k.endsWith("archaeo-ws-alice-workspace"))!)!.paths, ["iops", "throughput", "type"]);
        assert.ok(park.deleted.includes("Instance:archaeo-ws-alice-instance") && park.deleted.includes("VolumeAttachment:archaeo-ws-alice-workspace-attachment"));
        assert.deepEqual([...park.replaced, ...park.created], [], "nothing of bob's or the stack's changes");
        assert.ok(park.deleted.every((n) => n.includes("-alice-")), park.deleted.join(", "));
        const unpark = planUp(park.state, working.resources);
        assert.ok(unpark.ok && unpark.updated.includes(VOLUME) && !unpark.replaced.includes(VOLUME));
        assert.ok(unpark.created.includes("Instance:archaeo-ws-alice-instance") && unpark.created.includes("VolumeAttachment:archaeo-ws-alice-workspace-attachment"));
        const volume = [...unpark.state.resources.values()].find((r) => r.name === "archaeo-ws-alice-workspace")!;
        assert.equal(volume.generation, 0, "the same volume (same id) from the first up to the last");
        assert.equal(volume.inputs.type, "gp3");
        // Unparked, the volume says gp3's IOPS and throughput itself: on a type change to gp3 terraform-provider-aws
        // sends ModifyVolume Iops = the iops it holds (ebs_volume.go update), which for sc1 is none (botocore ec2
        // Volume.Iops covers gp3, io1, io2, gp2), i.e. 0, below gp3's 3,000 (ModifyVolume Iops): the unpark would be refused.
        assert.deepEqual([volume.inputs.iops, volume.inputs.throughput], [3000, 125]);
        const parkedVolume = [...park.state.resources.values()].find((r) => r.name === "archaeo-ws-alice-workspace")!;
        assert.deepEqual([parkedVolume.inputs.type, parkedVolume.inputs.iops, parkedVolume.inputs.throughput], ["sc1", undefined, undefined]);
    });

    it("the plan's cost lines: alice's parked price against what she costs stopped", () => {
        const c = estimateCost(two(true));
        assert.deepEqual(c.perResearcher.alice.lines.map((l) => [l.item, l.monthly]), [
            ["parked: EBS sc1 (Cold HDD) workspace 500 GiB, detached", 7.5],
            ["parked: EBS snapshots (daily, unchanged while parked: ~one full copy)", 25],
        ]);
        assert.equal(c.perResearcher.alice.stoppedPerMonth, 32.5);
        assert.deepEqual(c.perResearcher.alice.parked, { unparkedStoppedPerMonth: c.perResearcher.bob.stoppedPerMonth });
        assert.equal(c.perResearcher.bob.stoppedPerMonth, 84, "stopped: root 150 GiB + workspace 500 GiB gp3 + snapshots");
        assert.equal(c.perResearcher.alice.lines.reduce((s, l) => s + l.hourly, 0), 0, "no compute");
        // As `npm run plan` prints them.
        assert.equal(researcherCostHeading("alice", c.perResearcher.alice), "  researcher alice (parked): $32.50/month parked ($84.00/month stopped once unparked)");
        assert.equal(researcherCostHeading("bob", c.perResearcher.bob), "  researcher bob: $1.126/hour running, $84.00/month stopped");
    });
});

describe("parked researchers: cluster mode", () => {
    it("not among the hub's users (no server), a zero GPU quota for their jobs, their home and claims kept", async () => {
        const run = await runProgram(parse(clusterOverrides({
            researchers: ["alice", "bob"].map((id) => ({ id, iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/${id}`, email: `${id}@example.org`, sshPublicKeys: [ED25519], ...(id === "alice" ? { parked: true } : {}) })),
        })));
        const hub = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "jupyterhub")!;
        const values = hub.inputs.values.value ?? hub.inputs.values;
        assert.deepEqual(values.hub.config.Authenticator.allowed_users, ["bob"]);
        const quota = (id: string) => run.engine.byType("kubernetes:core/v1:ResourceQuota").find((r) => r.inputs.metadata.namespace === `researcher-${id}`)!.inputs.spec.hard;
        assert.deepEqual([quota("alice")["requests.nvidia.com/gpu"], quota("bob")["requests.nvidia.com/gpu"]], ["0", "2"]);
        assert.ok(run.engine.byType("aws:efs/accessPoint:AccessPoint").some((a) => a.name.includes("alice")), "her home's access point stays");
        assert.ok(run.engine.byType("kubernetes:core/v1:PersistentVolumeClaim").some((c) => c.inputs.metadata.name === "home-alice"), "her claims stay bound to her data");
        const c = estimateCost(run.cfg);
        assert.equal(c.perResearcher.alice.runningPerHour, 0);
    });
});

describe("npm run report (recorded AWS CLI answers)", () => {
    const stackText = fs.readFileSync(path.join(STACKS_DIR, "Pulumi.example.yaml"), "utf8").replace(
        /( {2}archaeo-workbench:researchers:\n)[\s\S]*?\n\n/,
        `$1    - { id: alice, iamPrincipalArn: "arn:aws:iam::123456789012:user/alice", sshPublicKeys: ["${ED25519}"], parked: true }\n` +
        `    - { id: bob, iamPrincipalArn: "arn:aws:iam::123456789012:user/bob", sshPublicKeys: ["${ED25519}"], budgetMonthlyUsd: 300 }\n` +
        `    - { id: carol, iamPrincipalArn: "arn:aws:iam::123456789012:user/carol", sshPublicKeys: ["${ED25519}"] }\n\n`,
    );
    const run = async (argv: string[]) => {
        const cwd = tmpDir("archaeo-report-");
        fs.writeFileSync(path.join(cwd, "Pulumi.example.yaml"), stackText);
        const { aws, made } = recordedAws(loadRecorded(path.join(__dirname, "fixtures", "report", "aws-responses.json")));
        const lines: string[] = [];
        const code = await report([...argv, "--stack-file", path.join(cwd, "Pulumi.example.yaml")], { aws, out: (l) => lines.push(l), now: () => new Date("2026-12-07T09:00:00Z"), cwd });
        return { code, out: lines.join("\n"), made };
    };

    it("lists workstations stopped over N days, parked researchers with what is kept, and month-to-date spend per researcher with budgets", async () => {
        const r = await run(["--stack", "example"]);
        assert.equal(r.code, 0, r.out);
        assert.equal(r.out, [
            "Stack example", "",
            "Workstations stopped for more than 14 days:",
            "  (untagged)           i-0d0d0d0d0d0d0d0d0  stopped, since unknown",
            "  bob                  i-0b0b0b0b0b0b0b0b0  stopped since 2026-11-02 (34 days)",
            "", "Parked researchers:",
            "  alice                workspace vol-0a11ce0a11ce0a11c (sc1, 500 GiB, available)",
            "", "Spend this month (2026-12-01 to 2026-12-07, Cost Explorer, UnblendedCost USD):",
            "  alice                     $5.42",
            "  bob                     $187.55  of $300 budget (63%)",
            "  carol                     $0.00",
            "  dora (not in the stack)      $3.10",
            "  (shared)                 $41.20",
        ].join("\n"));
        assert.equal(r.made.length, 4, "instances, volumes, and both Cost Explorer pages");
        const json = JSON.parse((await run(["--stack", "example", "--stopped-days", "1", "--json"])).out);
        assert.deepEqual(json.stopped.map((s: any) => s.researcher), ["(untagged)", "bob", "carol"], "--stopped-days 1 lists carol's 2-day stop too");
    });

    it("refuses bad usage (exit 2) and reports a failed AWS call (exit 1)", async () => {
        assert.equal((await run(["--stopped-days", "2"])).code, 2);
        assert.match((await run(["--stack", "example", "--stopped-days", "two"])).out, /--stopped-days takes a whole number of days/);
        const cwd = tmpDir("archaeo-report-");
        fs.writeFileSync(path.join(cwd, "Pulumi.example.yaml"), stackText);
        const lines: string[] = [];
        const code = await report(["--stack", "example", "--stack-file", path.join(cwd, "Pulumi.example.yaml")], {
            aws: async () => ({ code: 254, stdout: "", stderr: "aws: [ERROR]: An error occurred (UnauthorizedOperation) when calling the DescribeInstances operation: You are not authorized" }),
            out: (l) => lines.push(l), now: () => new Date("2026-12-07T09:00:00Z"), cwd,
        });
        assert.equal(code, 1);
        assert.match(lines.join("\n"), /^report: aws ec2 describe-instances failed: .*UnauthorizedOperation/);
    });

    it("every recorded call and answer is valid for botocore's models (operation, options, output shape)", () => {
        const calls = loadRecorded(path.join(__dirname, "fixtures", "report", "aws-responses.json"));
        const { results } = checkAwsCommands(calls.map((c, i) => ({ id: String(i), argv: c.argv, stdout: JSON.stringify(c.stdout) })));
        assert.deepEqual(results.filter((r) => r.problems.length).map((r) => `${r.service} ${r.operation}: ${r.problems.join("; ")}`), []);
        assert.deepEqual(results.map((r) => `${r.service}:${r.operation}`), ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ce:GetCostAndUsage", "ce:GetCostAndUsage"]);
    });
});
