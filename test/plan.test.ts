import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { diffManifests } from "../tools/manifest";
import { parseArgs, plan, PlanResult } from "../tools/plan";
import { listStacks, readStack } from "../tools/stacks";
import { decodeBase64UserData } from "../policies/lib/userdata";
import { tmpFile } from "./helpers/tools";

const exampleFile = path.join(__dirname, "..", "stacks", "Pulumi.example.yaml");
const example = fs.readFileSync(exampleFile, "utf8");
const variant = (edit: (s: string) => string) => tmpFile("Pulumi.example.yaml", edit(example));
const ids = (stack: string) => (readStack(stack).raw["archaeo-workbench:researchers"] as Array<{ id: string }>).map((r) => r.id);

/**
 * The plan's policy verdict:
 * the mandatory violations that are not one of them, and the exit code the plan must then give.
 */
function verdict(r: PlanResult): { others: string[]; known: number; exitCode: 0 | 1 } {
    const all = (r.manifest?.policies.violations ?? []).filter((v) => v.enforcementLevel === "mandatory" && !v.deferred);
    const others = all.map((v) => `${v.policyName} ${v.resourceName ?? "(stack)"}: ${v.message}`);
    return { others, known: all.length - others.length, exitCode: all.length ? 1 : 0 };
}
/** Clean but for the known program defects: the exit code and the last line follow from them. */
function assertClean(r: PlanResult, stack: string): void {
    const v = verdict(r);
    assert.deepEqual(v.others, [], `${stack}: mandatory violations`);
    assert.equal(r.exitCode, v.exitCode, r.output.slice(-2000));
    assert.match(r.output, v.known ? new RegExp(`FAILED: ${v.known} mandatory policy violation\\(s\\)\\.`) : /OK: the stack is clean/);
}

describe("offline plan (npm run plan)", function () {
    // Each test starts `npm run plan` (tsx compiles and evaluates the program): about 5 s when idle.
    this.timeout(180_000);
    it("prints tree, policies and cost for every stack, and exits 0 when clean", async () => {
        for (const stack of listStacks()) {
            // A fixed date (the plan judges EKS support windows on it): 54 days before 1.35 leaves standard support.
            const r = await plan({ stack, today: "2027-02-01" });
            assertClean(r, stack);
            assert.match(r.output, /^Resources: \d+ \(\d+ components, \d+ cloud\/provider resources\)$/m);
            if (/cluster mode/.test(r.output)) {
                assert.match(r.output, /archaeo:cluster:EksCluster {2}archaeo-eks/);
                assert.match(r.output, /[├└]─ kubernetes:karpenter.sh\/v1:NodePool {2}archaeo-gpu-pool-gpu/);
                assert.match(r.output, /[├└]─ kubernetes:helm.sh\/v3:Release {2}archaeo-hub-release/);
                for (const id of ids(stack)) assert.match(r.output, new RegExp(`archaeo:cluster:Researcher {2}archaeo-researcher-${id}\\b`));
            } else {
                for (const id of ids(stack)) {
                    assert.match(r.output, new RegExp(`archaeo:instance:ResearcherWorkstation {2}archaeo-ws-${id}$`, "m"));
                    assert.match(r.output, new RegExp(`[├└]─ aws:ec2/instance:Instance {2}archaeo-ws-${id}-instance`));
                    assert.match(r.output, new RegExp(`researcher ${id}: \\$\\d+\\.\\d{3}/hour running, \\$\\d+\\.\\d{2}/month stopped`));
                }
                assert.match(r.output, /jupyterTokens: \[secret\]/);
            }
            assert.match(r.output, /^Policies: archaeo-workbench-security, \d+ policies run: \d+ mandatory and 0 advisory violation\(s\), 0 check\(s\) deferred to `up`$/m);
            assert.match(r.output, /total: \$\d+\.\d{3}\/hour with every researcher's (workstation|server) running, \$\d+\.\d{2}\/month with all stopped/);
            // The quota table (tools/quotas.ts): the binding ones with their codes, whatever the mode.
            assert.match(r.output, /^AWS quotas this stack needs/m);
            for (const code of ["L-DB2E81BA", "L-7A658B76", "L-FE177D64", "L-F678F1CE"]) assert.match(r.output, new RegExp(`\\[(ec2|ebs|iam|vpc) ${code}\\]`), `${stack}: ${code}`);
            assert.match(r.output, /IPv4 addresses of the subnet\(s\), per subnet: needs [\d,]+ of [\d,]+ addresses/);
            if (/cluster mode/.test(r.output)) assert.match(r.output, /Access entries per cluster.*\n.*\n?.*Pod Identity associations per cluster/);
            // Issue 20: the time-to-notebook model for the stack's mode (tools/ttn.ts), with its sources; in cluster mode the
            // image cache and, when the image changed since the snapshot, its rebuild.
            assert.match(r.output, /^Time to notebook \(model: tools\/ttn\.ts; P50 \/ P90; (instance|cluster) mode, [a-z0-9]+\.[a-z0-9]+, image [\d.]+ GiB compressed\):$/m);
            assert.match(r.output, /^ {4}\{coldboot\} brevdev\/ec2-coldboot-research/m);
            if (/cluster mode/.test(r.output)) {
                assert.match(r.output, /^ {2}[▶ ] Cluster server on a new GPU node, no image cache: P50 [\d.]+ min, P90 [\d.]+ min/m);
                assert.match(r.output, /^Image cache: /m);
            } else {
                assert.match(r.output, /^ {2}▶ Workstation restart \(stopped, image on its root volume\): P50 \d+ s, P90 [\d.]+ (s|min) {2}\(this stack\)$/m);
                assert.doesNotMatch(r.output, /^Image cache: /m);
            }
            if (stack === "national-heritage") {
                // Its cache holds ctx-0000000000000000, not the deployed tag: STALE, so its new nodes take the pull (issue 20
                // review, defect 1); the <= 2.5 min done-when is asserted on a current cache in test/ttn.test.ts.
                assert.match(r.output, /^ {2}▶ Cluster server on a new GPU node, image cache \(imageCacheSnapshotId\) STALE \(holds another image tag\): P50 [\d.]+ min/m);
                assert.match(r.output, /^ {4}Cluster server on a new GPU node, image cache \(imageCacheSnapshotId\): P50 [\d.]+ min, P90 [\d.]+ min {2}— not this stack's: its cache is STALE/m);
                assert.match(r.output, /^Image cache: GPU node class data volume \/dev\/xvdb from snap-0a1b2c3d4e5f60718 \(gp3 60 GiB, initialization 300 MiB\/s\), encrypted under the stack key, mounted at \/var\/lib\/containerd: holds ctx-0000000000000000, but this stack deploys ctx-[0-9a-f]{16}: STALE, new nodes pull the whole image \(no layer reuse assumed: tools\/ttn\.ts cl-cold-stale\)\. Rebuild:$/m);
                // Issue 20 review, defect 2: the plan reminds to check the snapshot in the account and flags the example's placeholder.
                assert.match(r.output, /^ {2}Before pulumi up: npx tsx tools\/preflight\.ts --stack national-heritage --image-cache \(the snapshot is this account's, completed, encrypted under the stack key, tagged ctx-0000000000000000\)/m);
                assert.match(r.output, /^ {2}PLACEHOLDER: snap-0a1b2c3d4e5f60718 \/ ctx-0000000000000000 is the example's stand-in/m);
                assert.match(r.output, /^ {2}- .*imageCacheSnapshotId snap-0a1b2c3d4e5f60718: a PLACEHOLDER .*run npx tsx tools\/preflight\.ts --stack national-heritage --image-cache before up$/m);
                assert.match(r.output, /^ {2}3\. aws ec2 create-snapshot --region us-west-2 /m);
                assert.match(r.output, /^ {2}4\. pulumi config set --stack national-heritage imageCacheSnapshotId snap-\.\.\.; pulumi config set --stack national-heritage imageCacheImageTag ctx-[0-9a-f]{16}; npx tsx tools\/preflight\.ts --stack national-heritage --image-cache \(.*\); pulumi up/m);
            }
            // Issue 17: the support-window warning 60 days ahead, and the Spot service-linked role a spot stack needs.
            if (stack === "national-heritage") {
                assert.match(r.output, /^ {2}- archaeo-workbench:kubernetesVersion: Kubernetes 1\.35 leaves EKS standard support on 2027-03-27, in 54 day\(s\)/m);
                assert.match(r.output, /^ {2}- AWSServiceRoleForEC2Spot must exist in the account .*preflight\.ts --stack national-heritage --service-linked-roles/m);
            }
        }
    });

    it("exits 1 and names policy, resource and fix for a stack that violates a mandatory policy", async () => {
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("protectData: true", "protectData: false")) });
        assert.equal(r.exitCode, 1);
        assert.match(r.output, /✘ mandatory {2}stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-ws-alice-workspace/);
        assert.match(r.output, /must be protected \(protectData: true sets protect and retainOnDelete\)/);
        // The workspace, both buckets and the key; nothing else is unprotected. And what a teardown sets so that
        // `pulumi destroy` completes (buckets emptied, images deleted: tools/lifecycle.ts), refused without allowTeardown.
        assert.deepEqual(verdict(r).others.map((x) => x.split(":")[0]).sort(), [
            "stateful-data-survives-destroy archaeo-audit-logs", "stateful-data-survives-destroy archaeo-datasets", "stateful-data-survives-destroy archaeo-registry-repo",
            "stateful-resources-protected archaeo-audit-logs", "stateful-resources-protected archaeo-datasets",
            "stateful-resources-protected archaeo-key-cmk", "stateful-resources-protected archaeo-ws-alice-workspace",
        ]);
        assert.match(r.output, new RegExp(`FAILED: ${7 + verdict(r).known} mandatory policy violation\\(s\\)\\.`));
    });

    it("--preview shows, for a first preview, every check deferred to `up` and what it waits for, and exits 0", async () => {
        const r = await plan({ stack: "example", preview: true });
        assert.equal(r.exitCode, 0, r.output);
        assert.match(r.output, /^Mode: first preview of a new stack/m);
        // test/preview.test.ts lists the 23 (17 policies) and why each waits.
        assert.match(r.output, /^Policies: archaeo-workbench-security, \d+ policies run: 0 mandatory and 0 advisory violation\(s\), 25 check\(s\) deferred to `up`$/m);
        assert.match(r.output, /^Deferred to `pulumi up` \(unknown until resources exist; re-checked on resolved values there, where they are mandatory\):$/m);
        assert.match(r.output, /… ebs-volumes-encrypted-cmk {2}aws:ebs\/volume:Volume archaeo-ws-alice-workspace\n {6}EBS volume 'archaeo-ws-alice-workspace': kmsKeyId is unknown until the resources it depends on exist; this check is deferred to `pulumi up`/);
        assert.match(r.output, /… ec2-user-data-no-secrets {2}aws:ec2\/instance:Instance archaeo-ws-alice-instance\n {6}EC2 instance 'archaeo-ws-alice-instance': userDataBase64 is unknown/);
        assert.match(r.output, /… kms-key-references-stack-key {2}\(stack\)\n {6}this stack: .*Volume 'archaeo-ws-alice-workspace'\.kmsKeyId/);
        assert.match(r.output, /… workstation-image-from-stack-ecr {2}\(stack\)\n {6}this stack: Instance 'archaeo-ws-alice-instance'\.userDataBase64 is unknown/);
        assert.match(r.output, /kmsKeyArn: \[unknown until up\]/);
        assert.match(r.output, /OK at preview: no violation among the values known now; 25 check\(s\) deferred to `up` \(listed above\), never passed silently\./);
        const resolved = await plan({ stack: "example" });
        assert.doesNotMatch(resolved.output, /Deferred to `pulumi up`/);
        assert.match(resolved.output, /0 check\(s\) deferred to `up`/);
    });

    it("--preview still fails on a violation that is known at preview", async () => {
        const r = await plan({ stack: "example", preview: true, stackFile: variant((s) => s.replace("protectData: true", "protectData: false")) });
        assert.equal(r.exitCode, 1);
        assert.match(r.output, /✘ mandatory {2}stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-ws-alice-workspace/);
    });

    it("--policy-config takes the CLI's --policy-pack-config format (one policy advisory, one configured: README's teardown)", async () => {
        const unprotected = variant((s) => s.replace("protectData: true", "protectData: false"));
        const cfg = tmpFile("policy-config.json", JSON.stringify({ "stateful-resources-protected": "advisory", "stateful-data-survives-destroy": { allowTeardown: true } }));
        const r = await plan({ stack: "example", policyConfig: cfg, stackFile: unprotected });
        assertClean(r, "example");
        assert.match(r.output, /! advisory +stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-ws-alice-workspace/);
        assert.match(r.output, /policies run: \d+ mandatory and 4 advisory violation\(s\)/);
        // "all": advisory turns every policy advisory: the plan then passes whatever the pack finds.
        const all = await plan({ stack: "example", policyConfig: tmpFile("all.json", JSON.stringify({ all: "advisory" })), stackFile: unprotected });
        assert.equal(all.exitCode, 0, all.output);
        assert.match(all.output, /policies run: 0 mandatory and \d+ advisory violation\(s\)/);
    });

    it("exits 2 naming every bad key for an invalid config, before evaluating anything", async () => {
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("g5.xlarge", "t3.micro").replace("workspaceSizeGiB: 500", "workspaceSizeGiB: 5").replace("accessCidrs: []", "accessCidrs: [0.0.0.0/0]")) });
        assert.equal(r.exitCode, 2);
        for (const k of ["instanceType", "workspaceSizeGiB", "accessCidrs"]) assert.match(r.output, new RegExp(`- archaeo-workbench:${k}`));
        assert.doesNotMatch(r.output, /Resources:/);
    });

    it("plans the institution's real account: the mock account is the one the stack's ARNs name, and resources carry it", async () => {
        // Every ARN of the example in an institution's own account, its existing key (kmsKeyArn) included: the pack takes
        // the one key every reference names as the stack's when the stack defines none (policies/lib/keys.ts stackKeyArns;
        // before, researcher-roles-scoped refused the researchers' own grants on it, in any account).
        const real = variant((s) => s.replaceAll("123456789012", "210987654321").replace("# archaeo-workbench:kmsKeyArn:", "archaeo-workbench:kmsKeyArn:"));
        assert.match(fs.readFileSync(real, "utf8"), /^ {2}archaeo-workbench:kmsKeyArn: arn:aws:kms:us-east-1:210987654321:key\//m);
        assert.match(fs.readFileSync(real, "utf8"), /iamPrincipalArn: arn:aws:iam::210987654321:role\//m);
        const r = await plan({ stack: "example", stackFile: real });
        assertClean(r, "example (account 210987654321)");
        assert.equal(r.exitCode, 0, r.output.slice(-3000));
        const text = JSON.stringify(r.manifest);
        assert.match(text, /arn:aws:iam::210987654321:role\//, "roles the program creates are in the stack's account");
        assert.doesNotMatch(text, /123456789012/, "nothing left in the mock account");
        // --account agreeing with the ARNs is the same plan.
        const given = await plan({ stack: "example", stackFile: real, account: "210987654321" });
        assert.equal(given.exitCode, 0);
        assert.equal(JSON.stringify(given.manifest), text);
    });

    it("exits 2 with one config error naming every ARN of another account (by researcher id), no stack trace", async () => {
        const real = (s: string) => s.replaceAll("123456789012", "210987654321");
        const bob = "    - id: bob\n      iamPrincipalArn: arn:aws:iam::333344445555:user/bob\n      sshPublicKeys:\n        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0jueYI/Il8QADw9oe2ZYKhw6YinCpUzeykdgdbmWQK b@c\n";
        const mixed = variant((s) => real(s).replace("\n  # Default GPU type", `\n${bob}\n  # Default GPU type`).replace("workspaceSizeGiB: 500", "workspaceSizeGiB: 5"));
        const r = await plan({ stack: "example", stackFile: mixed });
        assert.equal(r.exitCode, 2, r.output);
        assert.match(r.output, /^Stack 'example': Invalid stack config \(2 problems\):$/m, "the account conflict comes with every other problem");
        assert.match(r.output, /- archaeo-workbench:workspaceSizeGiB: must be 50-16384 GiB, got 5/);
        assert.match(r.output, /- archaeo-workbench:researchers\[1\]\.iamPrincipalArn: researcher 'bob': is in account 333344445555, but researchers\[0\]\.iamPrincipalArn is in 210987654321; a stack deploys to one account: use an ARN of 210987654321 here \(or, if 333344445555 is the account you deploy to, run the plan with --account 333344445555/);
        assert.doesNotMatch(r.output, /^\s+at /m, "no stack trace");
        // --account names the deploying account: every ARN of another is named, by researcher id.
        const other = await plan({ stack: "example", stackFile: mixed, account: "333344445555" });
        assert.equal(other.exitCode, 2);
        assert.match(other.output, /- archaeo-workbench:researchers\[0\]\.iamPrincipalArn: researcher 'alice': is in account 210987654321 but the stack deploys to 333344445555/);
        assert.doesNotMatch(other.output, /researchers\[1\]\.iamPrincipalArn/);
        // From the shell: exit 2, the message on stdout, nothing on stderr but progress.
        const cli = spawnSync("npx", ["tsx", "tools/plan.ts", "--stack", "example", "--stack-file", mixed], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
        assert.equal(cli.status, 2, cli.stderr);
        assert.match(cli.stdout, /researcher 'bob': is in account 333344445555/);
        assert.doesNotMatch(cli.stderr, /\bat .*\.ts:\d+/, "no stack trace");
    });

    it("exits 2 with usage for an unknown stack or argument", async () => {
        const r = await plan({ stack: "nowhere" });
        assert.equal(r.exitCode, 2);
        assert.match(r.output, /No stack file stacks\/Pulumi.nowhere.yaml; stacks: .*example/);
        assert.equal(parseArgs(["--stack"]), "--stack needs a value");
        assert.equal(parseArgs(["--bogus"]), "unknown argument '--bogus'");
        assert.deepEqual(parseArgs(["--stack", "x", "--json", "m.json"]), { stack: "x", json: "m.json" });
        assert.deepEqual(parseArgs(["--stack", "x", "--preview"]), { stack: "x", preview: true });
        assert.deepEqual(parseArgs(["--stack", "x", "--account", "210987654321"]), { stack: "x", account: "210987654321" });
        assert.equal(parseArgs(["--stack", "x", "--account", "2109876"]), "--account must be a 12-digit AWS account id, got '2109876'");
        assert.equal(parseArgs(["--stack", "x", "--help"]), "help");
    });

    it("writes a canonical manifest that is byte-identical across runs, with secrets redacted", async () => {
        const a = tmpFile("a.json", "");
        const b = tmpFile("b.json", "");
        await plan({ stack: "example", json: a });
        await plan({ stack: "example", json: b });
        const text = fs.readFileSync(a, "utf8");
        assert.equal(text, fs.readFileSync(b, "utf8"));
        const m = JSON.parse(text);
        const param = m.resources.find((r: any) => r.type === "aws:ssm/parameter:Parameter");
        assert.equal(param.inputs.value, "[secret]");
        assert.equal(m.outputs.jupyterTokens, "[secret]", "the per-researcher token map is a secret output");
        assert.doesNotMatch(text, /mock-[0-9a-f]{40}/, "no token value anywhere in the manifest");
        const urns = m.resources.map((r: any) => r.urn);
        assert.deepEqual(urns, [...urns].sort());
        // Cluster mode: the hub's Helm values carry the OAuth client secret, so the whole values block is secret.
        const c = tmpFile("c.json", "");
        await plan({ stack: "national-heritage", json: c });
        const ctext = fs.readFileSync(c, "utf8");
        const release = JSON.parse(ctext).resources.find((r: any) => r.name === "archaeo-hub-release");
        assert.equal(release.inputs.values, "[secret]");
        assert.equal(release.inputs.chart, "jupyterhub", "the rest of the release stays visible");
        assert.doesNotMatch(ctext, /mock-secret-[0-9a-f]+/, "no client secret anywhere in the manifest");
    });

    it("--diff reports exactly the properties a config change touches", async () => {
        const base = tmpFile("base.json", "");
        await plan({ stack: "example", json: base });
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("workspaceSizeGiB: 500", "workspaceSizeGiB: 800")), diff: base });
        assert.match(r.output, /~ aws:ebs\/volume:Volume {2}archaeo-ws-alice-workspace\n {6}~ size: 500 => 800\n/);
        assert.match(r.output, /0 to create, 0 to delete, 1 to update, 0 to replace, \d+ unchanged/);
        const baseManifest = JSON.parse(fs.readFileSync(base, "utf8"));
        const d = diffManifests(baseManifest, r.manifest!);
        assert.deepEqual(d.changed.map((c) => [c.name, c.changes.map((x) => x.path)]), [["archaeo-ws-alice-workspace", ["size"]]]);

        const cidr = await plan({ stack: "example", stackFile: variant((s) => s.replace("accessMode: ssm", "accessMode: cidr").replace("accessCidrs: []", "accessCidrs: [203.0.113.0/24]")), diff: base });
        assert.match(cidr.output, /\+ aws:vpc\/securityGroupIngressRule:SecurityGroupIngressRule {2}archaeo-network-in-ssh-203-0-113-0-24/);
        assert.match(cidr.output, /1 to create, 0 to delete/);
        assert.match(cidr.output, /\+- aws:ec2\/instance:Instance {2}archaeo-ws-alice-instance {2}\(replace: userDataBase64\)/, "user data changes replace the workstation (userDataReplaceOnChange)");
        // The user data is gzip+base64 in the manifest: what changed inside is the SSH bind address (Jupyter stays on loopback).
        const ws = (m: any) => m.resources.find((x: any) => x.name === "archaeo-ws-alice-instance").inputs.userDataBase64;
        const lines = (m: any) => { const t = decodeBase64UserData(ws(m)); assert.ok("text" in t); return t.text.split("\n"); };
        const [before, after] = [lines(baseManifest), lines(cidr.manifest)];
        assert.deepEqual([before.filter((l) => !after.includes(l)).map((l) => l.trim()), after.filter((l) => !before.includes(l)).map((l) => l.trim())],
            [["SSH_BIND_ADDRESS=127.0.0.1"], ["SSH_BIND_ADDRESS=0.0.0.0"]]);
        // ... and the rendered diff shows it as the script, not as opaque base64.
        assert.match(cidr.output, / {6}~ userDataBase64 \(decoded\): 1 line\(s\) removed, 1 added\n {10}- SSH_BIND_ADDRESS=127\.0\.0\.1\n {10}\+ SSH_BIND_ADDRESS=0\.0\.0\.0\n/);
    });

    it("--diff marks replacements and warns when a protected resource would be replaced", async () => {
        const base = tmpFile("base.json", "");
        await plan({ stack: "example", json: base });
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("availabilityZone: us-east-1a", "availabilityZone: us-east-1b")), diff: base });
        assert.match(r.output, /\+- aws:ebs\/volume:Volume {2}archaeo-ws-alice-workspace {2}\(replace: availabilityZone\)\n {6}! archaeo-ws-alice-workspace is protected: Pulumi will refuse this replacement/);
        assert.match(r.output, /\+- aws:ec2\/subnet:Subnet {2}archaeo-network-public {2}\(replace: availabilityZone\)/);
        assert.match(r.output, /\+- aws:ec2\/instance:Instance {2}archaeo-ws-alice-instance {2}\(replace: availabilityZone\)/);
        assert.doesNotMatch(r.output, /\+- aws:ec2\/securityGroup/);
        assert.match(r.output, /0 to create, 0 to delete, 0 to update, 3 to replace/);
    });

    it("runs as the npm script from a shell with the documented exit code", async () => {
        const r = spawnSync("npx", ["tsx", "tools/plan.ts", "--stack", "example"], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
        // 0 when clean; 1 while a known program defect stands (the in-process plan says which).
        const expected = verdict(await plan({ stack: "example" })).exitCode;
        assert.equal(r.status, expected, r.stderr);
        assert.match(r.stdout, expected ? /FAILED: \d+ mandatory policy violation/ : /OK: the stack is clean/);
    });
});

describe("runbooks: the offline plans of docs/runbooks.md, run in order with the section's other offline steps", function () {
    this.timeout(180_000);
    // test/runbooks.test.ts runs and checks everything else in the runbooks; the plans need the SDKs this file loads anyway.
    const { rehearse, runbookSections } = require("./helpers/runbooks") as typeof import("./helpers/runbooks");
    const { tmpDir } = require("./helpers/tools") as typeof import("./helpers/tools");
    const planner = async (args: string[], stackFile: string, cwd: string) => {
        const opts = parseArgs(args);
        assert.ok(typeof opts === "object", `npm run plan -- ${args.join(" ")}: ${opts}`);
        const at = (f?: string) => (f ? path.resolve(cwd, f) : undefined);
        const r = await plan({ ...opts, stackFile, json: at(opts.json), diff: at(opts.diff) });
        return { code: r.exitCode, output: r.output };
    };

    for (const section of runbookSections().filter((s) => s.commands.some((c) => c.argv[2] === "plan"))) {
        it(`${section.title}: each plan exits 0${section.text.length ? ", and the diff shows what the runbook says" : ""}`, async () => {
            const done = await rehearse(section, tmpDir("archaeo-runbook-plan-"), planner);
            const plans = done.filter((d) => d.kind === "plan");
            assert.ok(plans.length > 0);
            for (const d of done) assert.equal(d.code, 0, `${d.command.line}\n${d.output.slice(-3000)}`);
            for (const block of section.text) {
                const out = plans.at(-1)!.output.split("\n").map((l) => l.trim());
                for (const line of block) assert.ok(out.some((o) => o.includes(line)), `${section.title}: the runbook shows\n  ${line}\nbut the plan printed\n${plans.at(-1)!.output.split("\nDiff against")[1]}`);
            }
            if (section.title.startsWith("Restore a workspace")) {
                // Nothing of anyone's but alice's volume, its attachment and her workstation, and no other change.
                const diff = plans.at(-1)!.output.split(/\nDiff against [^\n]*\n/)[1];
                assert.match(diff, /0 to create, 0 to delete, 0 to update, 3 to replace, \d+ unchanged/);
            }
        });
    }
});
