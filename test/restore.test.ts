/**
 * The restore tool (tools/restore.ts, docs/runbooks.md) against recorded AWS CLI responses
 * (test/fixtures/restore/aws-responses.json). test/runbooks.test.ts checks every recorded call and response
 * against AWS's service models (botocore: the input shape of the operation the argv names, the output shape
 * of what the CLI printed) in the one botocore process it runs, so the rehearsal is of calls AWS would take
 * and answers it could give.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parseConfig } from "../infra/config";
import { karpenterObjects } from "../infra/cluster/manifests";
import { readStack, STACKS_DIR } from "../tools/stacks";
import {
    awsCliOnPath, HOME_RESTORE_SCRIPT, homeRestoreManifests, jupyterTokenUrn, parseTime, prefixPlan, restore, RESTORE_NAMESPACE, setRestoreSnapshot, stamp, workspaceVolumeUrn,
} from "../tools/restore";
import { loadRecorded, recordedAws, runRestore } from "./helpers/recorded-aws";
import { shellcheck, tmpDir, tmpFile } from "./helpers/tools";
import { JOB_STATES, runWithFakeKubectl } from "./helpers/fake-kubectl";

const EXAMPLE_TEXT = fs.readFileSync(path.join(STACKS_DIR, "Pulumi.example.yaml"), "utf8");

const SNAP = "snap-0a1b2c3d4e5f60789";
const IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/archaeo/national-heritage/national-heritage/pytorch-cuda@sha256:5e1c0c54b8c6c6f8d3d2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a99887766";

describe("restore workspace (instance mode)", function () {
    this.timeout(60_000);

    it("lists the researcher's snapshots of this stack, newest first, with the command to restore one", async () => {
        const r = await runRestore(["workspace", "--stack", "example", "--researcher", "alice"]);
        assert.equal(r.code, 0, r.out);
        assert.deepEqual(r.made.map((a) => a.slice(0, 2).join(" ")), ["ec2 describe-snapshots"]);
        assert.deepEqual(r.made[0].slice(2), ["--owner-ids", "self", "--filters", "Name=tag:researcher,Values=alice", "Name=tag:workbench,Values=archaeo-example-lab-example", "--region", "us-east-1", "--output", "json"]);
        assert.deepEqual([...r.out.matchAll(/^ {2}(snap-\S+)/gm)].map((m) => m[1]), ["snap-0c3d4e5f607182901", SNAP, "snap-0b2c3d4e5f6071890"]);
        assert.match(r.out, /--snapshot snap-0c3d4e5f607182901$/m);
    });

    it("checks the snapshot, sets restoreFromSnapshot in the stack file (nothing else changes) and prints the Pulumi steps with the volume's URN", async () => {
        const r = await runRestore(["workspace", "--stack", "example", "--researcher", "alice", "--snapshot", SNAP]);
        assert.equal(r.code, 0, r.out);
        assert.deepEqual(r.made.map((a) => a.slice(0, 2).join(" ")), ["ec2 describe-snapshots", "ec2 describe-volumes", "ec2 describe-instances"]);
        // Comments and layout kept: the one new line, in alice's entry.
        const before = EXAMPLE_TEXT.split("\n");
        const after = r.stackText.split("\n");
        assert.deepEqual(after.filter((l) => !before.includes(l)), [`      restoreFromSnapshot: ${SNAP}`]);
        assert.equal(after.length, before.length + 1);
        const f = readStack("example", r.stackFile);
        const cfg = parseConfig(f.raw, { stack: "example", region: f.region });
        assert.ok(cfg.mode === "instance");
        assert.equal(cfg.researchers[0].restoreFromSnapshot, SNAP);
        assert.match(r.out, /current workspace: vol-0123456789abcdef0 \(us-east-1a, 500 GiB\), attached to i-0fedcba9876543210/);
        assert.ok(r.out.includes(`pulumi state unprotect '${workspaceVolumeUrn("example", "alice")}' --stack example --yes`), r.out);
        assert.match(r.out, /pulumi up --stack example --policy-pack policies/);
        assert.match(r.out, /The old one \(vol-0123456789abcdef0\) stays in AWS/);
        // Again: nothing to change, the file untouched.
        const again = await runRestore(["workspace", "--stack", "example", "--researcher", "alice", "--snapshot", SNAP], { stackText: r.stackText });
        assert.equal(again.code, 0);
        assert.match(again.out, /already has restoreFromSnapshot: snap-0a1b2c3d4e5f60789/);
        assert.equal(again.stackText, r.stackText);
    });

    const refusals: Array<[string, string[], 1 | 2, RegExp]> = [
        ["another researcher's snapshot", ["--snapshot", "snap-0d4e5f60718293a12"], 1, /is a snapshot of bob's workspace: restoring it would give alice another researcher's data/],
        ["a snapshot bigger than the workspace", ["--snapshot", "snap-0e5f60718293a4b23"], 1, /it is 800 GiB and alice's workspace is 500 GiB .*set researchers\[0\]\.workspaceSizeGiB to at least 800 first/],
        ["an unfinished, unencrypted snapshot of no stack", ["--snapshot", "snap-0f60718293a4b5c34"], 1, /it is pending, not completed[\s\S]*it is not encrypted[\s\S]*belongs to no stack of this project/],
        ["an unknown snapshot", ["--snapshot", "snap-0123456789abcdef1"], 1, /InvalidSnapshot\.NotFound/],
        ["a snapshot another account shared", ["--snapshot", "snap-0a9b8c7d6e5f40312"], 1, /is not one of this account's snapshots in us-east-1 \(one shared by another account/],
        ["a volume id for a snapshot id", ["--snapshot", "vol-0123456789abcdef0"], 2, /is not an EBS snapshot id/],
    ];
    for (const [what, extra, code, reason] of refusals) {
        it(`refuses ${what}, leaving the stack file as it was`, async () => {
            const r = await runRestore(["workspace", "--stack", "example", "--researcher", "alice", ...extra]);
            assert.equal(r.code, code, r.out);
            assert.match(r.out, reason);
            assert.equal(r.stackText, EXAMPLE_TEXT);
        });
    }

    it("refuses a researcher the stack does not have, and a cluster-mode stack", async () => {
        const nobody = await runRestore(["workspace", "--stack", "example", "--researcher", "mallory", "--snapshot", SNAP]);
        assert.equal(nobody.code, 2);
        assert.match(nobody.out, /no researcher 'mallory' in stack example \(researchers: alice\)/);
        assert.deepEqual(nobody.made, []);
        const cluster = await runRestore(["workspace", "--stack", "national-heritage", "--researcher", "imaging-lead", "--snapshot", SNAP]);
        assert.equal(cluster.code, 1);
        assert.match(cluster.out, /cluster mode: homes are on EFS; use `npm run restore -- home`/);
    });

    it("setRestoreSnapshot replaces an earlier restore's snapshot and names it", () => {
        const once = setRestoreSnapshot(EXAMPLE_TEXT, "alice", SNAP);
        const twice = setRestoreSnapshot(once.text, "alice", "snap-0c3d4e5f607182901");
        assert.equal(twice.previous, SNAP);
        assert.equal(YAML.parse(twice.text).config["archaeo-workbench:researchers"][0].restoreFromSnapshot, "snap-0c3d4e5f607182901");
        assert.throws(() => setRestoreSnapshot(EXAMPLE_TEXT, "bob", SNAP), /no researcher 'bob' in the stack file/);
    });
});

describe("restore home (cluster mode, AWS Backup)", function () {
    this.timeout(60_000);
    const ARGS = ["home", "--stack", "national-heritage", "--researcher", "imaging-lead"];

    it("lists the recovery points of this stack's homes file system (not another stack's of the same name)", async () => {
        const r = await runRestore(ARGS);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /^3 recovery point\(s\) of fs-0a1b2c3d4e5f60789 \(the homes\) in archaeo-national-heritage-natio-aaf7350a-homes, newest first:/);
        assert.deepEqual([...r.out.matchAll(/^ {2}(\S+) {2}arn:/gm)].map((m) => m[1].slice(0, 10)), ["2026-11-20", "2026-11-19", "2026-11-18"]);
    });

    it("restores only their home from the newest point at or before --at, next to the live home, waits, and writes the Job that moves it into place", async () => {
        const r = await runRestore([...ARGS, "--at", "2026-11-19T12:00:00Z", "--image", IMAGE]);
        assert.equal(r.code, 0, r.out);
        assert.equal(r.sleeps, 1, "polled RUNNING once, then COMPLETED");
        const start = r.made.find((a) => a[1] === "start-restore-job")!;
        const opt = (k: string) => start[start.indexOf(k) + 1];
        assert.match(opt("--recovery-point-arn"), /recovery-point:5d3f6a2b-/);
        assert.equal(opt("--iam-role-arn"), "arn:aws:iam::123456789012:role/archaeo-national-heritage-natio-aaf7350a-backup");
        assert.deepEqual(JSON.parse(opt("--metadata")), {
            "file-system-id": "fs-0a1b2c3d4e5f60789", newFileSystem: "false", Encrypted: "true", KmsKeyId: "arn:aws:kms:us-west-2:123456789012:key/2a3b4c5d-6e7f-4089-9a1b-2c3d4e5f6a7b",
            PerformanceMode: "generalPurpose", CreationToken: "archaeo-restore-imaging-lead-2026-11-19T0305Z", ItemsToRestore: "[\"/researchers/imaging-lead\"]",
        });
        const file = path.join(r.cwd, "restore-home-imaging-lead-2026-11-19T0305Z.yaml");
        assert.ok(fs.existsSync(file), r.out);
        const objects = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS());
        // Kubernetes' OpenAPI schemas (kubernetes-models), loaded per kind: the whole core group costs a second more.
        const kinds: Record<string, new (o: any) => { validate(): void }> = {
            Namespace: (await import("kubernetes-models/v1/Namespace")).Namespace, PersistentVolume: (await import("kubernetes-models/v1/PersistentVolume")).PersistentVolume,
            PersistentVolumeClaim: (await import("kubernetes-models/v1/PersistentVolumeClaim")).PersistentVolumeClaim, Job: (await import("kubernetes-models/batch/v1/Job")).Job,
        };
        for (const o of objects) new kinds[o.kind](o).validate();
        assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), [
            `Namespace/${RESTORE_NAMESPACE}`, `PersistentVolume/${RESTORE_NAMESPACE}.restore-imaging-lead-2026-11-19t0305z`,
            "PersistentVolumeClaim/restore-imaging-lead-2026-11-19t0305z", "Job/restore-imaging-lead-2026-11-19t0305z",
        ]);
        assert.equal(objects[1].spec.csi.volumeHandle, "fs-0a1b2c3d4e5f60789", "the file system's root, read and written only by this Job");
        const pod = objects[3].spec.template.spec;
        assert.equal(pod.containers[0].image, IMAGE);
        assert.deepEqual(pod.containers[0].env, [{ name: "RESEARCHER", value: "imaging-lead" }, { name: "TARGET", value: "restored-2026-11-19T0305Z" }]);
        assert.deepEqual(pod.containers[0].securityContext.capabilities, { drop: ["ALL"], add: ["CHOWN", "DAC_OVERRIDE", "FOWNER"] });
        assert.equal(pod.automountServiceAccountToken, false);
        assert.match(r.out, /^ {2}kubectl apply -f restore-home-imaging-lead-2026-11-19T0305Z\.yaml$/m);
    });

    it("the printed wait step ends when the Job fails as when it completes (a fake kubectl answering as kubectl does)", async () => {
        // `kubectl wait --for=condition=complete` waits out its whole --timeout on a failed Job: kubectl waits for one
        // condition (kubernetes/kubernetes#100248) and refuses a jsonpath of two expressions (kubectl wait/json.go,
        // "given jsonpath expression matches more than one list").
        const r = await runRestore([...ARGS, "--at", "2026-11-19T12:00:00Z", "--image", IMAGE]);
        const lines = r.out.split("\n").map((l) => l.trim());
        const apply = lines.findIndex((l) => l.startsWith("kubectl apply -f"));
        const wait = lines[apply + 1];
        assert.match(wait, /job\/restore-imaging-lead-2026-11-19t0305z/);
        for (const [end, word] of [["failed", "Failed"], ["complete", "Complete"]] as const) {
            const w = runWithFakeKubectl(wait, [JOB_STATES.running, JOB_STATES.running, JOB_STATES[end]]);
            assert.equal(w.status, 0, `${wait}\n${w.stdout}${w.stderr}`);
            assert.match(w.stdout, new RegExp(`\\b${word}\\b`), `a ${end} Job: the step says so`);
        }
    });

    it("needs --image to restore, refuses a time before every recovery point, and reports a failed job without writing a Job", async () => {
        const noImage = await runRestore([...ARGS, "--at", "2026-11-19T12:00:00Z"]);
        assert.equal(noImage.code, 2);
        assert.match(noImage.out, /--image is needed .*pulumi stack output imageUri --stack national-heritage/);
        const early = await runRestore([...ARGS, "--at", "2026-11-01", "--image", IMAGE]);
        assert.equal(early.code, 1);
        assert.match(early.out, /no completed recovery point of fs-0a1b2c3d4e5f60789 at or before 2026-11-01T00:00:00\.000Z \(the oldest kept is 2026-11-18/);
        const failing = loadRecorded().map((c) => c.argv[1] !== "describe-restore-job" ? c : { ...c, responses: [{ stdout: { ...(c.responses![0].stdout as object), Status: "FAILED", StatusMessage: "Access denied to KMS key" } }] });
        const failed = await runRestore([...ARGS, "--at", "2026-11-19T12:00:00Z", "--image", IMAGE], { calls: failing });
        assert.equal(failed.code, 1);
        assert.match(failed.out, /restore job 7d6b4c1e-2a3f-4b5c-9d8e-0f1a2b3c4d5e FAILED: Access denied to KMS key; the live home is untouched/);
        assert.deepEqual(fs.readdirSync(failed.cwd).filter((f) => f.endsWith(".yaml") && f.startsWith("restore-home")), []);
    });

    it("the Job's script passes shellcheck, moves the one restored copy into the home, and never overwrites or guesses", () => {
        const script = tmpFile("move.sh", `#!/bin/sh\n${HOME_RESTORE_SCRIPT}`);
        const sc = shellcheck(script);
        assert.equal(sc.status, 0, sc.output);
        const run = (efs: string, env: Record<string, string> = {}) => spawnSync("sh", ["-c", HOME_RESTORE_SCRIPT.replace("cd /efs", `cd '${efs}'`)], {
            encoding: "utf8", env: { PATH: process.env.PATH, RESEARCHER: "imaging-lead", TARGET: "restored-2026-11-19T0305Z", ...env },
        });
        const efs = tmpDir("archaeo-efs-");
        const mk = (p: string, file?: string) => { fs.mkdirSync(path.join(efs, p), { recursive: true }); if (file) fs.writeFileSync(path.join(efs, p, file), file); };
        mk("researchers/imaging-lead", "live.txt");
        mk("researchers/archivist", "theirs.txt");
        mk("aws-backup-restore_2026-11-20T14-02-11/researchers/imaging-lead/runs", "model.pt");
        const ok = run(efs);
        assert.equal(ok.status, 0, ok.stderr);
        assert.ok(fs.existsSync(path.join(efs, "researchers/imaging-lead/restored-2026-11-19T0305Z/runs/model.pt")));
        assert.ok(fs.existsSync(path.join(efs, "researchers/imaging-lead/live.txt")), "the live home untouched");
        assert.ok(!fs.existsSync(path.join(efs, "aws-backup-restore_2026-11-20T14-02-11")), "the emptied recovery directory removed");
        assert.deepEqual(fs.readdirSync(path.join(efs, "researchers/archivist")), ["theirs.txt"]);
        // Once more with a new copy: the target exists, nothing moves.
        mk("aws-backup-restore_2026-11-21T09-00-00/researchers/imaging-lead", "again.txt");
        const exists = run(efs);
        assert.equal(exists.status, 1);
        assert.match(exists.stderr, /restored-2026-11-19T0305Z exists already: nothing moved/);
        // Two copies waiting: it names them and waits for RESTORE_DIR.
        mk("aws-backup-restore_2026-11-22T09-00-00/researchers/imaging-lead", "third.txt");
        const two = run(efs, { TARGET: "restored-b" });
        assert.equal(two.status, 1);
        assert.match(two.stderr, /expected one restored copy .*found: aws-backup-restore_2026-11-21T09-00-00\/researchers\/imaging-lead aws-backup-restore_2026-11-22T09-00-00/);
        // A Job's spec.template is immutable once created (Kubernetes API, batch/v1 Job: "field is immutable";
        // ValidateJobSpecUpdate), so `kubectl set env job/...` cannot choose: the hint is to edit, delete and re-apply.
        assert.doesNotMatch(two.stderr, /set env/);
        assert.match(two.stderr, /add RESTORE_DIR .* to the Job's env in the manifest, then kubectl delete -f and kubectl apply -f it again/);
        const chosen = run(efs, { TARGET: "restored-b", RESTORE_DIR: "aws-backup-restore_2026-11-22T09-00-00" });
        assert.equal(chosen.status, 0, chosen.stderr);
        assert.ok(fs.existsSync(path.join(efs, "researchers/imaging-lead/restored-b/third.txt")));
    });

    it("the Job runs on an amd64 node the cluster has: its nodeSelector matches only Karpenter's CPU pool, never the arm64 system nodes", () => {
        // The workbench image is built for linux/amd64 only (infra/foundation/index.ts) and the system node group is
        // AL2023_ARM_64_STANDARD (infra/cluster/eks.ts): a pod there fails with `exec format error`. A pod goes only to
        // a node whose labels match every nodeSelector entry and whose NoSchedule taints it tolerates (kubernetes.io
        // docs, "Assigning Pods to Nodes" and "Taints and Tolerations"); Karpenter launches a node for it only from a
        // NodePool whose template labels or single-valued `In` requirements satisfy it (karpenter.sh docs, "Scheduling").
        assert.match(fs.readFileSync(path.join(__dirname, "..", "infra", "foundation", "index.ts"), "utf8"), /context: IMAGE_CONTEXT,\s+platform: "linux\/amd64",/);
        assert.match(fs.readFileSync(path.join(__dirname, "..", "infra", "cluster", "eks.ts"), "utf8"), /amiType: "AL2023_ARM_64_STANDARD"/);
        const f = readStack("national-heritage");
        const cfg = parseConfig(f.raw, { stack: "national-heritage", region: f.region });
        const pod = (homeRestoreManifests({ institution: "x", stack: "s", researcher: "imaging-lead", fileSystemId: "fs-1", image: IMAGE, target: "restored-x" })[3] as any).spec.template.spec;
        const selector: Record<string, string> = pod.nodeSelector ?? {};
        const tolerated = (t: { key: string; value?: string; effect: string }) => (pod.tolerations ?? []).some((o: any) => o.key === t.key && (o.operator === "Exists" || o.value === t.value) && (!o.effect || o.effect === t.effect));
        const nodeLabels = (labels: Record<string, string>, req: Array<{ key: string; operator: string; values: string[] }>) =>
            (k: string, v: string) => labels[k] === v || req.some((r) => r.key === k && r.operator === "In" && r.values.includes(v));
        const system = { "archaeo/pool": "system", "kubernetes.io/arch": "arm64" };
        assert.ok(!Object.entries(selector).every(([k, v]) => system[k as keyof typeof system] === v), `the Job's nodeSelector ${JSON.stringify(selector)} lets it onto the arm64 system node`);
        if (cfg.mode !== "cluster") assert.fail("national-heritage is a cluster stack");
        const pools = karpenterObjects({ ...cfg.cluster, clusterName: "c", nodeRoleName: "r", keyArn: "k", securityGroupId: "sg", tags: {} }).pools;
        const fits = pools.filter((p) => {
            const has = nodeLabels(p.spec.template.metadata.labels, p.spec.template.spec.requirements);
            return Object.entries(selector).every(([k, v]) => has(k, v)) && p.spec.template.spec.taints.every(tolerated);
        });
        assert.deepEqual(fits.map((p) => p.metadata.name), ["cpu"], "only the CPU pool, not a GPU node");
        for (const p of fits) assert.deepEqual(p.spec.template.spec.requirements.find((r) => r.key === "kubernetes.io/arch")?.values, ["amd64"]);
    });

    it("homeRestoreManifests names a Job under Kubernetes' 63 characters for the longest researcher id", () => {
        const objects = homeRestoreManifests({ institution: "x", stack: "s", researcher: "a".repeat(20), fileSystemId: "fs-1", image: IMAGE, target: `restored-${stamp(new Date("2026-11-19T03:05:12Z"))}` });
        assert.ok((objects[3] as any).metadata.name.length <= 63);
    });
});

describe("restore prefix (S3 versions)", function () {
    this.timeout(60_000);
    const ARGS = ["prefix", "--stack", "example", "--researcher", "alice", "--at", "2026-11-19T12:00:00Z"];
    const B = "archaeo-example-lab-example-data-eb805c6c";

    it("--dry-run: what would be put back, hidden, kept and left, changing nothing", async () => {
        const r = await runRestore([...ARGS, "--dry-run"]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`^s3://${B}/researchers/alice/ as at 2026-11-19T12:00:00\\.000Z: 3 to put back, 0 to hide \\(did not exist then\\), 1 newer kept \\(--delete-newer hides them\\), 2 unchanged, 0 over 5 GB$`, "m"));
        assert.deepEqual(r.made.map((a) => a.slice(0, 2).join(" ")), ["sts get-caller-identity", "s3api get-bucket-encryption", "s3api list-object-versions"]);
    });

    it("copies the version current then over each changed object (keys as they are: the CLI encodes CopySource), under the bucket's KMS key", async () => {
        const r = await runRestore(ARGS);
        assert.equal(r.code, 0, r.out);
        const copies = r.made.filter((a) => a[1] === "copy-object").map((a) => a[a.indexOf("--copy-source") + 1]);
        assert.deepEqual(copies, [
            `${B}/researchers/alice/masks/sherd-017.png?versionId=Kq8Vj2f0m1Hc4uWQ6dYtN9bZpRaLxE3s`,
            `${B}/researchers/alice/runs/exp1/model.pt?versionId=Vw2Xy3Za4Bc5De6Fg7Hi8Jk9Lm0No1Pq`,
            `${B}/researchers/alice/瓦当/图 1.png?versionId=Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk`,
        ]);
        for (const a of r.made.filter((x) => x[1] === "copy-object")) {
            assert.deepEqual(a.slice(a.indexOf("--server-side-encryption"), a.indexOf("--server-side-encryption") + 4), ["--server-side-encryption", "aws:kms", "--ssekms-key-id", "arn:aws:kms:us-east-1:123456789012:key/1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"]);
        }
        assert.equal(r.made.filter((a) => a[1] === "delete-object").length, 0, "nothing hidden without --delete-newer");
        const hide = await runRestore([...ARGS, "--delete-newer"]);
        assert.equal(hide.code, 0, hide.out);
        assert.deepEqual(hide.made.filter((a) => a[1] === "delete-object").map((a) => a[a.indexOf("--key") + 1]), ["researchers/alice/new-after.txt"]);
    });

    it("prefixPlan: a version over 5 GB is named for a hand restore; --at needs a zone and must be past", async () => {
        const plan = prefixPlan({ Versions: [
            { Key: "k", VersionId: "new", LastModified: "2026-11-20T00:00:00Z", IsLatest: true, Size: 1 },
            { Key: "k", VersionId: "old", LastModified: "2026-11-01T00:00:00Z", IsLatest: false, Size: 6 * 1024 ** 3 },
        ] }, new Date("2026-11-10T00:00:00Z"), false);
        assert.deepEqual(plan.map((p) => [p.key, p.action, p.versionId]), [["k", "too-big", "old"]]);
        assert.equal(parseTime("2026-11-19T12:00"), undefined, "no zone: the machine's would decide");
        assert.equal(parseTime("2026-11-19")?.toISOString(), "2026-11-19T00:00:00.000Z");
        const future = await runRestore(["prefix", "--stack", "example", "--researcher", "alice", "--at", "2027-01-01"]);
        assert.equal(future.code, 2);
        assert.match(future.out, /is in the future/);
        assert.deepEqual(future.made, []);
    });
});

describe("restore: the AWS CLI itself (test/helpers/fake-aws.ts: a fake `aws` executable on PATH)", function () {
    this.timeout(60_000);

    it("runs `aws` from PATH with the caller's environment and reads the JSON it prints", async () => {
        const { checkRecording, fakeAws } = require("./helpers/fake-aws") as typeof import("./helpers/fake-aws");
        const listing = loadRecorded()[0];
        const rules = [{
            service: "ec2", operation: "describe-snapshots", region: "us-east-1",
            args: { "--owner-ids": "self", "--filters": "Name=tag:researcher,Values=alice Name=tag:workbench,Values=archaeo-example-lab-example" },
            responses: [{ output: listing.stdout }],
        }];
        assert.deepEqual(checkRecording(rules), []);
        const fake = fakeAws({ rules });
        try {
            const lines: string[] = [];
            const cwd = tmpDir();
            fs.copyFileSync(path.join(STACKS_DIR, "Pulumi.example.yaml"), path.join(cwd, "Pulumi.example.yaml"));
            const code = await restore(["workspace", "--stack", "example", "--researcher", "alice", "--stack-file", path.join(cwd, "Pulumi.example.yaml")], {
                aws: awsCliOnPath(fake.env()), out: (l) => lines.push(l), now: () => new Date(), sleep: async () => undefined, cwd,
            });
            assert.equal(code, 0, lines.join("\n"));
            assert.match(lines.join("\n"), /^3 snapshot\(s\) of alice's workspace in us-east-1/);
            assert.deepEqual(fake.unmatched(), []);
            assert.equal(fake.calls().length, 1);
        } finally { fake.cleanup(); }
    });
});

describe("restore: URNs and usage", () => {
    it("builds the URNs the runbooks name (checked against the program's in test/protected-urns.test.ts)", () => {
        assert.equal(workspaceVolumeUrn("example", "alice"), "urn:pulumi:example::archaeo-workbench::archaeo:instance:ResearcherWorkstation$aws:ebs/volume:Volume::archaeo-ws-alice-workspace");
        assert.equal(jupyterTokenUrn("example", "alice"), "urn:pulumi:example::archaeo-workbench::archaeo:instance:ResearcherWorkstation$random:index/randomPassword:RandomPassword::archaeo-ws-alice-jupyter-token");
    });

    it("no command, an unknown one, or a missing --stack is a usage error naming the commands", async () => {
        for (const argv of [[], ["rewind", "--stack", "example", "--researcher", "alice"], ["workspace", "--researcher", "alice"]]) {
            const lines: string[] = [];
            const code = await restore(argv, { aws: recordedAws([]).aws, out: (l) => lines.push(l), now: () => new Date(), sleep: async () => undefined, cwd: tmpDir() });
            assert.equal(code, 2, argv.join(" "));
            assert.match(lines.join("\n"), /usage: npm run restore -- <workspace\|home\|prefix>/);
        }
    });
});
