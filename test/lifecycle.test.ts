/**
 * The lifecycle rehearsal (issue 17 item 1): a stack's life as a sequence of `pulumi up`s and a `pulumi destroy`,
 * each planned against the state the previous one left (tools/lifecycle.ts), with the providers' own
 * replace-on-change rules (tools/replace-rules/replace-rules.json, generated from terraform-provider-aws v6.58.0's
 * schemas, terraform-provider-random, pulumi-kubernetes' diff.go and pulumi-docker's Diff; the table records each
 * source commit). Every step asserts the EXACT sets of resources created, updated, replaced and deleted.
 *
 * Two small stacks: instance mode from stacks/Pulumi.city-museum.yaml (conservator, imaging; a researcher
 * `registrar` joins, leaves and returns), cluster mode from stacks/Pulumi.national-heritage.yaml without its third
 * researcher (imaging-lead, ml-engineer; `archivist` joins, leaves and returns: the stack file itself).
 * Provider-side events come through the mock engine's world (a new AMI behind an SSM parameter, new EKS add-on
 * defaults). Each scenario is written against the behaviour issue 17 asks for; the README's "Day two" section says,
 * for each, the command and what the researcher sees.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as crypto from "crypto";
import { parseConfig, StackConfig } from "../infra/config";
import { claimsHeldByServers, EMPTY_STATE, karpenterDisruption, label, pendingClaims, planDestroy, planUp, StackState, StateResource, StepPlan } from "../tools/lifecycle";
import { REPLACE_RULES } from "../tools/replacements";
import { renderDiff, diffManifests, manifestResources, Manifest } from "../tools/manifest";
import type { ReplaceRulesTable } from "../tools/replace-rules/generate";
import { nestedShape, resourceArgs } from "../tools/replace-rules/dts";
import { readStack } from "../tools/stacks";
import { ProgramRun, runProgram, runStack } from "./helpers/program";

const P = "archaeo-workbench:";
const README = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");

/** A stack file's config with edits (the raw YAML values, as the CLI hands them to the program). */
function config(stack: string, edit: (raw: Record<string, any>) => void, today?: string): StackConfig {
    const f = readStack(stack);
    const raw = structuredClone(f.raw) as Record<string, any>;
    edit(raw);
    return parseConfig(raw, { stack, region: f.region, ...(today ? { today } : {}) });
}
const researchers = (raw: Record<string, any>) => raw[`${P}researchers`] as Array<Record<string, any>>;
const sorted = (xs: readonly string[]) => [...xs].sort();
const only = (plan: StepPlan) => ({ created: plan.created, updated: plan.updated, replaced: plan.replaced, deleted: plan.deleted, retained: plan.retained });
const NONE = { created: [], updated: [], replaced: [], deleted: [], retained: [] };
const find = (s: StackState, l: string): StateResource => {
    const r = [...s.resources.values()].find((x) => label(x) === l);
    assert.ok(r, `${l} is in the state`);
    return r;
};
const changed = (plan: StepPlan, l: string) => { const s = plan.steps.get(l); assert.ok(s, `${l} has a step`); return s; };

/** Everything a researcher has of their own in instance mode (infra/instance/workstation.ts, foundation/researcher.ts). */
const WORKSTATION = (id: string) => sorted([
    `Instance:archaeo-ws-${id}-instance`, `InstanceProfile:archaeo-ws-${id}-profile`, `InstanceState:archaeo-ws-${id}-stopped`,
    `Parameter:archaeo-ws-${id}-image`, `Parameter:archaeo-ws-${id}-jupyter-token`, `Parameter:archaeo-ws-${id}-ssh-keys`,
    `RandomPassword:archaeo-ws-${id}-jupyter-token`, `Role:archaeo-researcher-${id}-role`, `Role:archaeo-ws-${id}-role`,
    `RolePolicy:archaeo-researcher-${id}-policy`, `RolePolicy:archaeo-ws-${id}-policy`, `RolePolicyAttachment:archaeo-ws-${id}-ssm-core`,
    `Volume:archaeo-ws-${id}-workspace`, `VolumeAttachment:archaeo-ws-${id}-workspace-attachment`,
]);
/** Their workstation's replacement: the instance, then what holds its id (terraform-provider-aws: volume attachment and instance state `instance_id` ForceNew). */
const REPLACED_WORKSTATION = (id: string) => [`Instance:archaeo-ws-${id}-instance`, `InstanceState:archaeo-ws-${id}-stopped`, `VolumeAttachment:archaeo-ws-${id}-workspace-attachment`];

/** Everything a researcher has of their own in cluster mode (infra/cluster/researchers.ts, storage.ts, jupyterhub.ts). */
const SERVER_SIDE = (id: string) => sorted([
    `AccessEntry:archaeo-researcher-${id}-access`, `AccessPoint:archaeo-storage-home-${id}`, `ConfigMap:archaeo-researcher-${id}-ssh-keys`,
    `Namespace:archaeo-researcher-${id}-namespace`, ...["default-deny", "dns", "own-pods", "web"].map((n) => `NetworkPolicy:archaeo-researcher-${id}-np-${n}`),
    ...["jobs", "server"].flatMap((w) => ["datasets", "home", "mydata"].flatMap((v) => [`PersistentVolume:archaeo-researcher-${id}-pv-${w}-${v}`, `PersistentVolumeClaim:archaeo-researcher-${id}-pvc-${w}-${v}`])),
    `PodIdentityAssociation:archaeo-researcher-${id}-pods-jobs`, `PodIdentityAssociation:archaeo-researcher-${id}-pods-server`, `ResourceQuota:archaeo-researcher-${id}-quota`,
    `Role:archaeo-researcher-${id}-hub-role`, `Role:archaeo-researcher-${id}-identity-role`, `Role:archaeo-researcher-${id}-pods-role`, `Role:archaeo-researcher-${id}-role`,
    `RoleBinding:archaeo-researcher-${id}-hub-binding`, `RoleBinding:archaeo-researcher-${id}-role-binding`,
    `RolePolicy:archaeo-researcher-${id}-identity-policy`, `RolePolicy:archaeo-researcher-${id}-pods-policy`,
    `ServiceAccount:archaeo-researcher-${id}-jobs-sa`, `ServiceAccount:archaeo-researcher-${id}-server-sa`, `User:archaeo-hub-user-${id}`,
]);

/**
 * A cluster researcher's budget (national-heritage sets researcherBudgetMonthlyUsd): the budget, its action, role and
 * deny policy, and their part of the budget enforcer (topic, its policy and subscription, the invoke permission, the
 * enforcer's Role and RoleBinding in their namespace, the admission binding reading their stop quota).
 */
const BUDGET_SIDE = (id: string) => sorted([
    `Budget:archaeo-budget-${id}-budget`, `BudgetAction:archaeo-budget-${id}-deny-action`, `Policy:archaeo-budget-${id}-deny`, `Role:archaeo-budget-${id}-role`, `RolePolicy:archaeo-budget-${id}-policy`,
    `Permission:archaeo-budget-enforcer-invoke-${id}`, `Role:archaeo-budget-enforcer-role-${id}`, `RoleBinding:archaeo-budget-enforcer-binding-${id}`,
    `Topic:archaeo-budget-enforcer-topic-${id}`, `TopicPolicy:archaeo-budget-enforcer-topic-${id}-policy`, `TopicSubscription:archaeo-budget-enforcer-topic-${id}-subscription`,
    `ValidatingAdmissionPolicyBinding:archaeo-budget-enforcer-admission-${id}`,
]);
/** What a cluster researcher joining or leaving updates besides the hub's allow-list: the enforcer's package (topics.json) and its hub Role's server names. */
const ENFORCER_UPDATED = ["Function:archaeo-budget-enforcer-function", "Release:archaeo-hub-release", "Role:archaeo-budget-enforcer-hub-role"];

/** A rule table with one resource type's rules edited: to prove an assertion reads the rule it claims to. */
function flipped(type: string, edit: (r: { forceNew: string[]; conditional: any[] }) => void): ReplaceRulesTable {
    const t = structuredClone(REPLACE_RULES) as any;
    const r = t.resources[type];
    r.conditional ??= [];
    edit(r);
    return t;
}

/** The manifest the offline plan writes, for `--diff`'s rendering of a step. */
const manifestOf = (run: ProgramRun): Manifest => ({ format: "archaeo-plan/v1", project: "archaeo-workbench", stack: run.cfg.stack, config: {}, resources: manifestResources(run.resources), outputs: {}, policies: { mandatory: 0, advisory: 0, violations: [] }, cost: {} });

// A new registrar: an IAM user of the stack's account, with the conservator's key shape (a key of their own).
const REGISTRAR = {
    id: "registrar", iamPrincipalArn: "arn:aws:iam::123456789012:user/registrar",
    sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINqXh0m5R2u8wqS2ZV0wq1t7u3lJm3o1q0v6r6m3pQ9c registrar@city-museum.example"],
};
const NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBUZ0S2S3V1W+8Yq1X0d5T0m0bJxhCkq0Ykq0d0nQe2y conservator@new-laptop";
const BASE_DIGEST = `sha256:${"ab".repeat(32)}`;

describe("lifecycle rehearsal: an instance stack's life (city-museum: conservator, imaging)", () => {
    let base: ProgramRun;
    let created: StepPlan, noChange: StepPlan, join: StepPlan, leave: StepPlan, leaveUnprotected: StepPlan, returnRestored: StepPlan, park: StepPlan, unpark: StepPlan;
    let rotate: StepPlan, rebuild: StepPlan, autostop: StepPlan, teardownUp: StepPlan;
    let autostopRun: ProgramRun, laterRun: ProgramRun, rotateRun: ProgramRun;
    let snapshotOfKept = "";

    before(async () => {
        base = await runStack("city-museum");
        created = planUp(EMPTY_STATE, base.resources);
        // AWS publishes a new Deep Learning AMI: the SSM parameter the workstations' AMI is read from moves.
        const amiParameter = (base.cfg as { ami: { ssmParameter: string } }).ami.ssmParameter;
        laterRun = await runProgram(base.cfg, { world: { ssmParameters: { [amiParameter]: "ami-0f00dfeed0000b00b" } } });
        noChange = planUp(created.state, laterRun.resources);
        const withRegistrar = await runProgram(config("city-museum", (raw) => { researchers(raw).push(REGISTRAR); }));
        join = planUp(created.state, withRegistrar.resources);
        leave = planUp(join.state, base.resources);
        // Leaving, keeping their data (issue 21's parked): their compute goes, their workspace stays where it is.
        const parkedRun = await runProgram(config("city-museum", (raw) => { researchers(raw).push({ ...REGISTRAR, parked: true }); }));
        park = planUp(join.state, parkedRun.resources);
        unpark = planUp(park.state, withRegistrar.resources);
        // README's procedure today: unprotect their volume, then `up` (it stays in AWS: retainOnDelete) ...
        const volume = find(join.state, "Volume:archaeo-ws-registrar-workspace");
        leaveUnprotected = planUp(join.state, base.resources, { unprotected: [volume.urn] });
        // ... and on their return, their workspace from the retained volume's latest daily snapshot (DLM keeps
        // snapshotting it: it keeps its archaeo-snapshot tag), with restoreFromSnapshot.
        snapshotOfKept = `snap-${crypto.createHash("sha256").update(volume.tokens[0]).digest("hex").slice(0, 17)}`;
        const back = await runProgram(config("city-museum", (raw) => { researchers(raw).push({ ...REGISTRAR, restoreFromSnapshot: snapshotOfKept }); }));
        returnRestored = planUp(leaveUnprotected.state, back.resources);
        rotateRun = await runProgram(config("city-museum", (raw) => { researchers(raw)[0].sshPublicKeys = [NEW_KEY]; }));
        rotate = planUp(created.state, rotateRun.resources);
        rebuild = planUp(created.state, (await runProgram(config("city-museum", (raw) => { raw[`${P}baseImageDigest`] = BASE_DIGEST; }))).resources);
        autostopRun = await runProgram(config("city-museum", (raw) => { raw[`${P}autoStopIdleMinutes`] = 90; }));
        autostop = planUp(created.state, autostopRun.resources);
        teardownUp = planUp(created.state, (await runProgram(config("city-museum", (raw) => { raw[`${P}protectData`] = false; }))).resources);
    });

    it("a first up creates every resource; a no-change up after AWS releases a new AMI changes nothing", () => {
        assert.ok(created.ok);
        assert.deepEqual(created.created, sorted(base.resources.filter((r) => r.custom).map(label)));
        assert.deepEqual(only(noChange), NONE, "nothing to create, update, replace or delete");
        assert.deepEqual(noChange.optionsChanged, []);
        // The instance's AMI is held (ignoreChanges: ["ami"]): its recorded value is the first one, not the new release.
        const ami = find(noChange.state, "Instance:archaeo-ws-conservator-instance").inputs.ami;
        assert.notEqual(ami, "ami-0f00dfeed0000b00b", "the workstation keeps the AMI it was created from");
        // Proof the hold is what keeps it: without ignoreChanges the new AMI replaces every workstation (aws_instance ami ForceNew).
        const unheld = planUp(created.state, laterRun.resources.map((r) => ({ ...r, ignoreChanges: [] })));
        assert.deepEqual(unheld.replaced.filter((l) => l.startsWith("Instance:")), ["Instance:archaeo-ws-conservator-instance", "Instance:archaeo-ws-imaging-instance"]);
    });

    it("a researcher joins: only their resources are created; nobody else's workstation is touched", () => {
        assert.ok(join.ok);
        assert.deepEqual(only(join), { ...NONE, created: WORKSTATION("registrar") });
    });

    it("a researcher leaves (parked: true): their compute is deleted in one up; their workspace stays, the same volume, protected and retained", () => {
        assert.deepEqual(park.refused, [], "the up completes");
        // Their instance and what holds it go; their own role stays (it reaches only their S3 area while parked).
        const compute = WORKSTATION("registrar").filter((l) => !/^(Volume|Role|RolePolicy):archaeo-(ws-registrar-workspace|researcher-registrar-)/.test(l));
        assert.deepEqual(only(park), { ...NONE, deleted: compute, updated: ["RolePolicy:archaeo-researcher-registrar-policy", "Volume:archaeo-ws-registrar-workspace"] });
        assert.deepEqual(changed(park, "Volume:archaeo-ws-registrar-workspace").paths, ["iops", "throughput", "type"], "moved to Cold HDD in place (gp3's IOPS and throughput dropped: sc1 takes neither), never replaced");
        const volume = find(park.state, "Volume:archaeo-ws-registrar-workspace");
        assert.ok(volume.protect && volume.retainOnDelete, "their workspace volume is protected and retained");
        // Removed outright instead, the engine refuses: a line deleted from the config never deletes a workspace.
        assert.deepEqual(leave.refused.map((r) => r.name), ["Volume:archaeo-ws-registrar-workspace"]);
    });

    it("they return (parked: false): the same volume (same id, generation 0) attached to a new workstation; nobody else touched", () => {
        assert.ok(unpark.ok);
        assert.deepEqual(unpark.replaced, []);
        assert.deepEqual(unpark.deleted, []);
        assert.ok(unpark.created.every((l) => l.includes("-registrar-")), unpark.created.join(", "));
        assert.ok(unpark.created.includes("VolumeAttachment:archaeo-ws-registrar-workspace-attachment"));
        const volume = find(unpark.state, "Volume:archaeo-ws-registrar-workspace");
        assert.equal(volume.generation, 0, "the workspace they left, not a copy");
        assert.equal(volume.inputs.type, "gp3");
        assert.equal(find(unpark.state, "VolumeAttachment:archaeo-ws-registrar-workspace-attachment").inputs.volumeId, volume.tokens[0]);
    });

    it("an entry removed outright: unprotect, up (the volume stays in AWS, still snapshotted); on return, restore it from its snapshot", () => {
        assert.ok(!leave.ok && leave.refused.length === 1 && leave.refused[0].name === "Volume:archaeo-ws-registrar-workspace", "the first up stops, naming only the volume");
        assert.ok(leaveUnprotected.ok);
        assert.deepEqual(only(leaveUnprotected), { ...NONE, deleted: WORKSTATION("registrar").filter((l) => !l.startsWith("Volume:")), retained: ["Volume:archaeo-ws-registrar-workspace"] });
        // Kept in AWS with its snapshot tag, which the (unchanged) DLM policy targets: its daily snapshots go on.
        const kept = leaveUnprotected.state.kept.find((k) => k.name === "archaeo-ws-registrar-workspace");
        assert.ok(kept);
        const dlm = find(leaveUnprotected.state, "LifecyclePolicy:archaeo-snapshots-daily").inputs as any;
        for (const [k, v] of Object.entries(dlm.policyDetails.targetTags)) assert.equal((kept.inputs.tags as Record<string, string>)[k], v, `the retained volume keeps ${k}, which DLM targets`);
        // Return: the same resources as a first join, the workspace created from the retained volume's snapshot and attached.
        assert.deepEqual(only(returnRestored), { ...NONE, created: WORKSTATION("registrar") });
        const ws = find(returnRestored.state, "Volume:archaeo-ws-registrar-workspace");
        assert.equal(ws.inputs.snapshotId, snapshotOfKept, "their workspace comes back from their retained volume's snapshot");
        assert.ok(String(find(returnRestored.state, "VolumeAttachment:archaeo-ws-registrar-workspace-attachment").inputs.volumeId).startsWith("vol-"));
    });

    it("an SSH key rotated: one SSM parameter updated, no workstation replaced or stopped", () => {
        assert.deepEqual(only(rotate), { ...NONE, updated: ["Parameter:archaeo-ws-conservator-ssh-keys"] });
        assert.deepEqual(changed(rotate, "Parameter:archaeo-ws-conservator-ssh-keys").paths, ["value"]);
        // Proof it reads the rule: were an SSM parameter's value ForceNew, the rotation would replace it.
        const strict = flipped("aws:ssm/parameter:Parameter", (r) => r.forceNew.push("value"));
        assert.deepEqual(planUp(created.state, rotateRun.resources, { rules: strict }).replaced, ["Parameter:archaeo-ws-conservator-ssh-keys"]);
    });

    it("the image rebuilt: the image and each workstation's image parameter updated, no workstation replaced", () => {
        assert.deepEqual(only(rebuild), { ...NONE, updated: ["Image:archaeo-registry-image", "Parameter:archaeo-ws-conservator-image", "Parameter:archaeo-ws-imaging-image"] });
        // pulumi-docker's native Image Diff reports updates only (never Replaces): a rebuild is a push of a new tag.
        assert.deepEqual(changed(rebuild, "Image:archaeo-registry-image").paths, ["build.args.BASE_DIGEST", "imageName"]);
    });

    it("auto-stop minutes changed: every workstation replaced (user data), and the plan says so; the README says when to run it", () => {
        // Unavoidable while the idle minutes are in user data (userDataReplaceOnChange): terraform-provider-aws
        // resourceInstance CustomizeDiff ForceNewIf("user_data_base64", user_data_replace_on_change). The new
        // instance's id reaches its volume attachment and stop-once-created resource (instance_id ForceNew) and
        // the researcher's role policy (their instance's ARN): updated in place.
        assert.deepEqual(only(autostop), {
            ...NONE,
            replaced: sorted([...REPLACED_WORKSTATION("conservator"), ...REPLACED_WORKSTATION("imaging")]),
            updated: ["RolePolicy:archaeo-researcher-conservator-policy", "RolePolicy:archaeo-researcher-imaging-policy"],
        });
        assert.deepEqual(changed(autostop, "Instance:archaeo-ws-imaging-instance").replaceBecause, ["userDataBase64"]);
        assert.equal(changed(autostop, "VolumeAttachment:archaeo-ws-imaging-workspace-attachment").via, "Instance:archaeo-ws-imaging-instance");
        // The offline plan's --diff names each replacement and its cause.
        const text = renderDiff(diffManifests(manifestOf(base), manifestOf(autostopRun)));
        assert.match(text, /\+- aws:ec2\/instance:Instance {2}archaeo-ws-conservator-instance {2}\(replace: userDataBase64\)/);
        assert.match(README, /auto-stop[^\n]*\n?[^\n]*replaces the workstation/i, "the README says auto-stop changes replace the workstation");
        // Proofs: without the ForceNewIf evaluator the instance is an in-place update; without instance_id ForceNew the
        // attachment is updated, not replaced.
        const noCond = flipped("aws:ec2/instance:Instance", (r) => { r.conditional = r.conditional.filter((c: any) => c.path !== "userDataBase64"); });
        assert.deepEqual(planUp(created.state, autostopRun.resources, { rules: noCond }).replaced, []);
        const noCascade = flipped("aws:ec2/volumeAttachment:VolumeAttachment", (r) => { r.forceNew = r.forceNew.filter((p) => p !== "instanceId"); });
        assert.ok(!planUp(created.state, autostopRun.resources, { rules: noCascade }).replaced.includes("VolumeAttachment:archaeo-ws-imaging-workspace-attachment"));
    });

    it("destroy with protectData: true refuses, naming what it keeps", () => {
        const d = planDestroy(created.state);
        assert.ok(!d.ok);
        assert.deepEqual(sorted(d.refused.map((r) => r.name)), [
            "Bucket:archaeo-audit-logs", "Bucket:archaeo-datasets", "Key:archaeo-key-cmk", "Repository:archaeo-registry-repo",
            "Volume:archaeo-ws-conservator-workspace", "Volume:archaeo-ws-imaging-workspace",
        ]);
        assert.deepEqual(d.failures, [], "nothing unprotected fails to delete");
    });

    it("protectData: false then destroy completes: buckets emptied, images deleted; snapshots and the pending key left", () => {
        // The `up` that unprotects: in-place updates only (forceDestroy and forceDelete are not ForceNew), no replacement.
        assert.ok(teardownUp.ok);
        assert.deepEqual(only(teardownUp), { ...NONE, updated: ["Bucket:archaeo-audit-logs", "Bucket:archaeo-datasets", "Repository:archaeo-registry-repo"] });
        assert.deepEqual(teardownUp.optionsChanged, sorted(["Key:archaeo-key-cmk", "Volume:archaeo-ws-conservator-workspace", "Volume:archaeo-ws-imaging-workspace"]));
        const d = planDestroy(teardownUp.state);
        assert.deepEqual({ refused: d.refused, failures: d.failures, retained: d.retained }, { refused: [], failures: [], retained: [] });
        assert.ok(d.ok);
        // Left behind by design: the key pending deletion, a final snapshot per workspace, DLM's daily snapshots.
        assert.deepEqual(sorted(d.leftBehind.map((l) => l.name)), ["Key:archaeo-key-cmk", "LifecyclePolicy:archaeo-snapshots-daily", "Volume:archaeo-ws-conservator-workspace", "Volume:archaeo-ws-imaging-workspace"]);
        // Proof the preconditions are read: the protected stack's buckets (forceDestroy false) would fail to delete.
        const unprotected: StackState = { ...created.state, resources: new Map([...created.state.resources].map(([u, r]) => [u, { ...r, protect: false, retainOnDelete: false }])) };
        assert.deepEqual(sorted(planDestroy(unprotected).failures.map((f) => f.name)), ["Bucket:archaeo-audit-logs", "Bucket:archaeo-datasets", "Repository:archaeo-registry-repo"]);
    });
});

describe("lifecycle rehearsal: a cluster stack's life (national-heritage: imaging-lead, ml-engineer; archivist joins)", () => {
    let two: ProgramRun, three: ProgramRun;
    let created: StepPlan, noChange: StepPlan, join: StepPlan, leave: StepPlan, back: StepPlan, dayToDay: StepPlan, upgrade: StepPlan, teardownUp: StepPlan;
    let upgradeFrom: StackState;
    const twoResearchers = (raw: Record<string, any>) => { raw[`${P}researchers`] = researchers(raw).slice(0, 2); };

    before(async () => {
        two = await runProgram(config("national-heritage", twoResearchers));
        three = await runStack("national-heritage");
        created = planUp(EMPTY_STATE, two.resources);
        // AWS moves on: new default versions of every EKS add-on, a new AL2023 AMI behind every SSM parameter the program reads.
        const invoked = (token: string) => two.engine.invokes.filter((i) => i.token === token);
        const world = {
            addonVersions: Object.fromEntries(invoked("aws:eks/getAddonVersion:getAddonVersion").map((i) => [`${i.args.addonName}@${i.args.kubernetesVersion}`, "v9.9.9-eksbuild.9"])),
            ssmParameters: Object.fromEntries(invoked("aws:ssm/getParameter:getParameter").map((i) => [i.args.name as string, "ami-0f00dfeed0000b00b"])),
        };
        noChange = planUp(created.state, (await runProgram(two.cfg, { world })).resources);
        join = planUp(created.state, three.resources);
        leave = planUp(join.state, two.resources);
        back = planUp(leave.state, three.resources);
        dayToDay = planUp(created.state, (await runProgram(config("national-heritage", (raw) => {
            twoResearchers(raw);
            researchers(raw)[0].sshPublicKeys = [NEW_KEY];
            raw[`${P}baseImageDigest`] = BASE_DIGEST;
            raw[`${P}autoStopIdleMinutes`] = 90;
        }))).resources);
        // A stack on 1.34 before its standard support ended (2026-12-02) upgrades to 1.35 (the two-researcher stack).
        const on134 = await runProgram(config("national-heritage", (raw) => { twoResearchers(raw); raw[`${P}kubernetesVersion`] = "1.34"; }, "2026-11-01"));
        upgradeFrom = planUp(EMPTY_STATE, on134.resources).state;
        upgrade = planUp(upgradeFrom, two.resources);
        teardownUp = planUp(created.state, (await runProgram(config("national-heritage", (raw) => { twoResearchers(raw); raw[`${P}protectData`] = false; }))).resources);
    });

    it("a no-change up after AWS ships new add-on defaults and a new AMI changes nothing, and evicts no server", () => {
        assert.ok(created.ok);
        assert.deepEqual(only(noChange), NONE);
        // Karpenter: the node classes' alias is a pinned release, so a new AMI drifts no node (Karpenter disruption.md, Drift).
        const k = karpenterDisruption(noChange.state, "new-ami");
        assert.deepEqual({ drifting: k.drifting, serversEvicted: k.serversEvicted }, { drifting: [], serversEvicted: false }, k.why);
    });

    it("a researcher joins: only their resources are created, and the hub's allow-list gains them (no server touched)", () => {
        assert.ok(join.ok);
        assert.deepEqual(only(join), { ...NONE, created: sorted([...SERVER_SIDE("archivist"), ...BUDGET_SIDE("archivist")]), updated: ENFORCER_UPDATED });
        // The hub's values change only in its login allow-list: no singleuser (server) setting moves.
        assert.deepEqual(changed(join, "Release:archaeo-hub-release").paths.map((p) => p.replace(/\[\d+\]/g, "[]")), ["values.hub.config.Authenticator.allowed_users[]"]);
    });

    it("a researcher leaves: their compute and identity are deleted; their home (EFS) and prefix (S3) stay protected", () => {
        assert.ok(leave.ok);
        assert.deepEqual(only(leave), { ...NONE, deleted: sorted([...SERVER_SIDE("archivist"), ...BUDGET_SIDE("archivist")]), updated: ENFORCER_UPDATED });
        for (const l of ["FileSystem:archaeo-storage-efs", "Bucket:archaeo-datasets", "Vault:archaeo-storage-vault"]) {
            const r = find(leave.state, l);
            assert.ok(r.protect && r.retainOnDelete, `${l} protected and retained`);
        }
        // AWS Backup still covers the file system that holds their home.
        assert.ok(!leave.steps.has("Selection:archaeo-storage-backup") || leave.steps.get("Selection:archaeo-storage-backup")!.action === "update");        // Their claims go with them: while their server runs, pvc-protection keeps each Terminating and the up waits out
        // pulumi-kubernetes' delete timeout (issue 17 review, defect 3). The rehearsal names each claim and the command.
        const held = claimsHeldByServers(join.state, leave, ["archivist"]);
        assert.deepEqual(sorted(held.map((h) => h.claim)), SERVER_SIDE("archivist").filter((l) => l.startsWith("PersistentVolumeClaim:") && l.includes("-pvc-server-")), "the server's claims (the jobs' claims are in their own namespace)");
        assert.ok(held.length > 0 && held.every((h) => h.researcher === "archivist" && /pvc-protection .*kubectl -n \S+ delete pod jupyter-archivist --wait/.test(h.why)), held.map((h) => h.why).join("\n"));
        // Nobody else's server holds them, and with no server running nothing is held.
        assert.deepEqual(claimsHeldByServers(join.state, leave, ["imaging-lead", "ml-engineer"]), []);
        assert.deepEqual(claimsHeldByServers(join.state, leave, []), []);
    });

    it("a researcher returns: the same home (access point path), claims bound to fresh volumes", () => {
        assert.ok(back.ok);
        assert.deepEqual(only(back), { ...NONE, created: sorted([...SERVER_SIDE("archivist"), ...BUDGET_SIDE("archivist")]), updated: ENFORCER_UPDATED });
        const home = (s: StackState) => (find(s, "AccessPoint:archaeo-storage-home-archivist").inputs as any).rootDirectory.path;
        assert.equal(home(back.state), home(join.state), "their home directory is the same path on the same file system");
        // No PersistentVolume is re-created over one left Released with the old claim's uid (issue 17's Pending claims).
        assert.deepEqual(pendingClaims(back), []);
        // Proof: with the PersistentVolumes retained on delete (as before issue 17), the return meets all six, Released.
        const retainPVs = (rs: ProgramRun["resources"]) => rs.map((r) => (r.type === "kubernetes:core/v1:PersistentVolume" ? { ...r, retainOnDelete: true } : r));
        const joined = planUp(created.state, retainPVs(three.resources));
        const left = planUp(joined.state, retainPVs(two.resources));
        assert.equal(left.retained.length, 6);
        assert.deepEqual(sorted(pendingClaims(planUp(left.state, retainPVs(three.resources))).map((p) => p.pv)), SERVER_SIDE("archivist").filter((l) => l.startsWith("PersistentVolume:")));
    });

    it("an SSH key, the image and the culling time change: the key's ConfigMap replaced, the hub upgraded, no server evicted", () => {
        // pulumi-kubernetes diff.go: a ConfigMap's data replaces it (enableConfigMapMutable is off); the release updates.
        assert.deepEqual(only(dayToDay), { ...NONE, replaced: ["ConfigMap:archaeo-researcher-imaging-lead-ssh-keys"], updated: ["Image:archaeo-registry-image", "Release:archaeo-hub-release"] });
        const release = changed(dayToDay, "Release:archaeo-hub-release").paths;
        assert.ok(release.includes("values.cull.timeout") && release.includes("values.singleuser.image.tag"), release.join(", "));
    });

    it("Kubernetes upgraded one minor version (1.34 -> 1.35): control plane, pinned add-ons and system nodes updated in place; servers not evicted", () => {
        assert.ok(upgrade.ok);
        assert.deepEqual(upgrade.replaced, []);
        assert.deepEqual(changed(upgrade, "Cluster:archaeo-eks-cluster").paths, ["version"]);
        // The system node group follows the control plane (aws_eks_node_group `version`, updated in place; unset, as
        // before this rehearsal, it stayed on 1.34's kubelet through the upgrade).
        assert.deepEqual(upgrade.updated, ["Addon:archaeo-eks-coredns", "Addon:archaeo-eks-kube-proxy", "Cluster:archaeo-eks-cluster", "NodeGroup:archaeo-eks-system"]);
        const k = karpenterDisruption(upgrade.state, "kubernetes-upgrade");
        assert.deepEqual(sorted(k.drifting.map((d) => d.nodeClass)), ["cpu", "gpu"], "every Karpenter node drifts to the new version's AMI");
        assert.equal(k.serversEvicted, false, k.why);
        assert.deepEqual(sorted(k.windowed), ["cpu", "gpu", "gpu-batch-spot"], "drift only inside the upgrade window");
    });

    it("a new AMI behind an unpinned alias, or servers without do-not-disrupt, would evict running servers (the model's proofs)", () => {
        const edit = (s: StackState, f: (r: StateResource) => StateResource): StackState => ({ ...s, resources: new Map([...s.resources].map(([u, r]) => [u, f(r)])) });
        const floating = edit(created.state, (r) => r.type.endsWith(":EC2NodeClass") ? { ...r, inputs: { ...r.inputs, spec: { ...(r.inputs.spec as object), amiSelectorTerms: [{ alias: "al2023@latest" }] } } } : r);
        assert.deepEqual(karpenterDisruption(floating, "new-ami").drifting.length, 2);
        assert.equal(karpenterDisruption(floating, "new-ami").serversEvicted, false, "do-not-disrupt still holds the servers' nodes");
        const bare = edit(floating, (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "jupyterhub"
            ? { ...r, inputs: { ...r.inputs, values: { ...(r.inputs.values as any), singleuser: { ...(r.inputs.values as any).singleuser, extraAnnotations: {} } } } } : r);
        assert.equal(karpenterDisruption(bare, "new-ami").serversEvicted, true);
    });

    it("destroy with protectData: true refuses, naming what it keeps", () => {
        const d = planDestroy(created.state);
        assert.deepEqual(sorted(d.refused.map((r) => r.name)), [
            "Bucket:archaeo-audit-logs", "Bucket:archaeo-datasets", "FileSystem:archaeo-storage-efs", "Key:archaeo-key-cmk",
            "Repository:archaeo-hub-tunnel-repo", "Repository:archaeo-registry-repo", "UserPool:archaeo-hub-users", "Vault:archaeo-storage-vault",
        ]);
        assert.deepEqual(d.failures, []);
    });

    it("protectData: false then destroy completes: vault and buckets emptied, user pool unprotected, images deleted", () => {
        assert.ok(teardownUp.ok);
        assert.deepEqual(teardownUp.replaced, []);
        assert.deepEqual(teardownUp.updated, sorted([
            "Bucket:archaeo-audit-logs", "Bucket:archaeo-datasets", "Repository:archaeo-hub-tunnel-repo", "Repository:archaeo-registry-repo",
            "UserPool:archaeo-hub-users", "Vault:archaeo-storage-vault",
        ]));
        const d = planDestroy(teardownUp.state);
        assert.deepEqual({ refused: d.refused, failures: d.failures }, { refused: [], failures: [] });
        assert.ok(d.ok);
    });
});

describe("the replace-rule table", () => {
    it("records its sources and covers every resource type the rehearsal's stacks create", async () => {
        const src = REPLACE_RULES.sources["terraform-provider-aws"];
        assert.equal(src.version, "v6.58.0");
        assert.match(src.commit, /^[0-9a-f]{40}$/);
        for (const s of Object.values(REPLACE_RULES.sources)) assert.match(s.commit, /^[0-9a-f]{40}$/);
        const types = new Set([...(await runStack("city-museum")).resources, ...(await runStack("national-heritage")).resources]
            .filter((r) => r.custom && !r.type.startsWith("pulumi:providers:")).map((r) => r.type));
        assert.deepEqual([...types].filter((t) => !REPLACE_RULES.resources[t]), [], "every created type has rules");
    });

    it("names properties as the installed SDKs do (the bridge's names, checked against @pulumi/aws 7.48.0 and @pulumi/random)", () => {
        const missing: string[] = [];
        for (const [type, r] of Object.entries(REPLACE_RULES.resources)) {
            if (!/^(aws|random):/.test(type)) continue;
            for (const p of [...r.forceNew, ...(r.conditional ?? []).map((c) => c.path)]) {
                let shape: ReturnType<typeof nestedShape> = resourceArgs(type);
                for (const seg of p.split(".")) {
                    const t = shape?.props.get(seg);
                    if (t === undefined) { missing.push(`${type} ${p}`); break; }
                    shape = nestedShape(type.split(":")[0], t);
                }
            }
        }
        assert.deepEqual(missing, []);
    });

    it("agrees with the upstream schemas it cites (spot checks, read at the table's commits)", () => {
        const r = REPLACE_RULES.resources;
        // terraform-provider-aws internal/service/ec2/ebs_volume.go (resourceEBSVolume): ForceNew on availability_zone,
        // encrypted, kms_key_id, multi_attach_enabled, outpost_arn, snapshot_id; size, iops, type, throughput modify in place.
        assert.deepEqual(r["aws:ebs/volume:Volume"].forceNew, ["availabilityZone", "encrypted", "kmsKeyId", "multiAttachEnabled", "outpostArn", "snapshotId"]);
        // ec2_instance_state.go: instance_id ForceNew; state and force update.
        assert.deepEqual(r["aws:ec2transitgateway/instanceState:InstanceState"].forceNew, ["instanceId"]);
        // pulumi-docker provider.go: the native Image never replaces.
        assert.deepEqual(r["docker:index/image:Image"].forceNew, []);
        // pulumi-kubernetes diff.go: a RoleBinding's roleRef, a PVC's storageClassName and a StatefulSet's selector replace.
        assert.ok(r["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"].forceNew.includes("roleRef"));
        assert.ok(r["kubernetes:core/v1:PersistentVolumeClaim"].forceNew.includes("spec.storageClassName"));
        assert.ok(r["kubernetes:apps/v1:StatefulSet"].forceNew.includes("spec.selector"));
        // The instance's user data replaces it only with userDataReplaceOnChange (a conditional rule, evaluated).
        assert.ok(r["aws:ec2/instance:Instance"].conditional!.some((c) => c.path === "userDataBase64" && c.kind === "ForceNewIf"));
    });
});
