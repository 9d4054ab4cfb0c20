/**
 * `npm run restore -- <workspace|home|prefix> --stack <name> --researcher <id> ...`: one command per restore
 * (docs/runbooks.md), each through the AWS CLI (an injectable runner, as preflight --quotas reads quotas).
 *
 * - workspace (instance mode): lists a researcher's workspace snapshots, or checks the chosen one (completed,
 *   encrypted, taken of this researcher's volume in this stack, no bigger than their workspace) and sets
 *   `restoreFromSnapshot` in stacks/Pulumi.<stack>.yaml. The program makes it the volume's snapshotId: the
 *   next `up` replaces the protected volume once it is unprotected in state (the engine refuses to replace
 *   a resource protected in both state and program: pulumi/pulumi pkg/resource/deploy/step_generator.go),
 *   creates the new volume from the snapshot under the stack key in the workstation's zone, and keeps the old one
 *   in AWS (retainOnDelete). Nothing here touches the volume: Pulumi does, so its state stays true.
 * - home (cluster mode): lists the AWS Backup recovery points of the EFS homes, or restores the researcher's
 *   home from one (StartRestoreJob, item-level: AWS Backup writes it to aws-backup-restore_<datetime>/ at
 *   the file system's root, never over the live home), waits for it, and writes the Kubernetes Job that
 *   moves it into their home as ~/restored-<time>/.
 * - prefix: puts s3://<bucket>/researchers/<id>/[path] back as it was at a time, from S3 versions: each
 *   object whose current version differs from the one current then gets that version copied over it (a new
 *   version: nothing is deleted), under the bucket's KMS key.
 *
 * `--help` prints at once: no Pulumi SDK is loaded (test/help.test.ts).
 * Exit: 0 done (or listed), 1 refused or failed (the reason and the fix are printed), 2 usage or stack config.
 */
import * as fs from "fs";
import * as path from "path";
import { execFile } from "child_process";
import * as YAML from "yaml";
import { ConfigError, PROJECT, SNAPSHOT_ID, StackConfig, parseConfig } from "../infra/config";
import { bucketName, COST_TAG, physicalName, researcherPrefix, resourcePrefix } from "../infra/tags";
import { standardLabels } from "../infra/cluster/manifests";
import { POOLS } from "../infra/constants";
import { readStack, STACKS_DIR } from "./stacks";
import type { AwsCli } from "./quotas";

export const USAGE = `usage: npm run restore -- <workspace|home|prefix> --stack <name> --researcher <id> [options]

Restores one researcher's data through the AWS CLI (your credentials). docs/runbooks.md walks through each.

  workspace   instance mode: their /workspace volume from an EBS snapshot
      (no --snapshot)       list their snapshots, newest first
      --snapshot snap-ID    check it (completed, encrypted, theirs, fits workspaceSizeGiB) and set
                            researchers[].restoreFromSnapshot in the stack file; then, as printed:
                            pulumi state unprotect <volume URN>, pulumi preview --diff, pulumi up
  home        cluster mode: their EFS home from an AWS Backup recovery point
      (no --recovery-point/--at)  list the recovery points, newest first
      --recovery-point ARN | --at TIME   restore it (the newest at or before TIME) next to the live home,
                            wait, and write the Job that moves it to ~/restored-<time>/ (needs --image)
      --image URI           the workbench image (pulumi stack output imageUri) the Job runs
      --job ID              follow a restore job started before (with --no-wait)
      --no-wait             start the restore job and return
      --out FILE            the Job manifest (default restore-home-<id>-<time>.yaml)
  prefix      s3://<bucket>/researchers/<id>/ as it was at --at, from S3 object versions
      --at TIME             ISO 8601 with a zone (2026-11-20T09:00:00Z) or a date (its 00:00 UTC)
      --path SUB/           only this part of their area
      --delete-newer        also hide objects that did not exist at TIME (a delete marker; versions stay)
      --dry-run             print what would change, change nothing
      --bucket NAME         the dataset bucket (default: its name in this account, from sts get-caller-identity)

  --stack NAME          stacks/Pulumi.NAME.yaml (read; workspace writes restoreFromSnapshot into it)
  --stack-file FILE     read and write this stack file instead
  --help, -h            this text

Exit: 0 done or listed, 1 refused or failed (with the reason and the fix), 2 usage or stack config.`;

/** What the tool does to the world: the AWS CLI, output, the clock, files. Tests inject recorded responses. */
export interface RestoreIo {
    readonly aws: AwsCli;
    readonly out: (line: string) => void;
    readonly now: () => Date;
    readonly sleep: (ms: number) => Promise<void>;
    /** Working directory for relative --out paths. */
    readonly cwd: string;
}

/** The AWS CLI on PATH with the caller's environment (AWS_PROFILE, SSO cache); outputs can be large (object versions). */
export const awsCliOnPath = (env: NodeJS.ProcessEnv = process.env): AwsCli => (args) => new Promise((resolve) => {
    execFile("aws", [...args], { timeout: 300_000, maxBuffer: 512 << 20, env }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
        const code = e ? (typeof e.code === "number" ? e.code : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: e?.code === "ENOENT" ? "the AWS CLI (aws) is not installed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html" : String(stderr) });
    });
});

// ------------------------------------------------------------------------------------------- pure names

/** A resource's URN as the engine builds it: the ancestors' types joined with `$`, then the name. */
export function resourceUrn(stack: string, types: readonly string[], name: string): string {
    return `urn:pulumi:${stack}::${PROJECT}::${types.join("$")}::${name}`;
}
const WORKSTATION = "archaeo:instance:ResearcherWorkstation";
/** The researcher's workspace volume (infra/instance: ResearcherWorkstation `archaeo-ws-<id>`, child `-workspace`). */
export const workspaceVolumeUrn = (stack: string, id: string) => resourceUrn(stack, [WORKSTATION, "aws:ebs/volume:Volume"], `archaeo-ws-${id}-workspace`);
/** The researcher's Jupyter token (random.RandomPassword): `pulumi up --replace` it to rotate the token. */
export const jupyterTokenUrn = (stack: string, id: string) => resourceUrn(stack, [WORKSTATION, "random:index/randomPassword:RandomPassword"], `archaeo-ws-${id}-jupyter-token`);

/** The Name tag of a researcher's workspace volume (infra/instance: `<namePrefix>-workspace`). */
export const workspaceVolumeName = (cfg: StackConfig, id: string) => `${physicalName(cfg, [id], 200)}-workspace`;

/** Cluster mode: the homes' file system (Name tag), AWS Backup vault and backup role, as infra/cluster names them. */
export function homeNames(cfg: StackConfig): { fileSystemName: string; vault: string; backupRole: string } {
    const namePrefix = physicalName(cfg, [], 40);
    return { fileSystemName: `${namePrefix}-homes`, vault: `${namePrefix}-homes`, backupRole: `${namePrefix}-backup` };
}

/**
 * Waits until the Job has finished either way, printing its final condition(s): `Complete` or `Failed` (with
 * `SuccessCriteriaMet` / `FailureTarget` before them from Kubernetes 1.31). `kubectl wait --for=condition=complete`
 * would wait out its whole timeout on a failed Job: kubectl waits for one condition only (kubernetes/kubernetes#100248,
 * closed unimplemented), and a jsonpath of two expressions is refused ("given jsonpath expression matches more than
 * one list", kubectl's wait/json.go).
 */
export function jobWaitCommand(job: string): string {
    return `until kubectl -n ${RESTORE_NAMESPACE} get job/${job} -o jsonpath='{.status.conditions[?(@.status=="True")].type}' | grep -E 'Complete|Failed'; do sleep 10; done`;
}

/** Karpenter's CPU NodePool (infra/cluster/manifests.ts karpenterObjects: `archaeo/pool: cpu`, amd64, no taints). */
export const CPU_POOL = "cpu";

/** The namespace the home restore Job runs in: the admins', never a researcher's (no researcher may mount the file system's root). */
export const RESTORE_NAMESPACE = "archaeo-restore";

/** `2026-11-20T03:12:45.123Z` -> `2026-11-20T0312Z`: a directory name and a Kubernetes name part. */
export function stamp(d: Date): string {
    return `${d.toISOString().slice(0, 10)}T${d.toISOString().slice(11, 13)}${d.toISOString().slice(14, 16)}Z`;
}

/** --at: ISO 8601 with a zone, or a date (its 00:00 UTC); undefined when unreadable or zoneless (the machine's zone would decide). */
export function parseTime(s: string): Date | undefined {
    if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s)) return undefined;
    const d = new Date(s.length === 10 ? `${s}T00:00:00Z` : s);
    return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * The script the home restore Job runs, as root (the recovery directory and its `researchers/` are not the
 * researcher's; AWS Backup keeps each item's owner): it moves the one restored copy of the researcher's home
 * (or RESTORE_DIR's) into their home as TARGET (a rename on one file system: instant, no second copy), and
 * removes the recovery directories it emptied. It never overwrites: an existing TARGET stops it.
 */
export const HOME_RESTORE_SCRIPT = `set -eu
cd /efs
dest="researchers/\${RESEARCHER}/\${TARGET}"
if [ -n "\${RESTORE_DIR:-}" ]; then
  src="\${RESTORE_DIR}/researchers/\${RESEARCHER}"
else
  set -- aws-backup-restore_*/researchers/"\${RESEARCHER}"
  if [ "$#" -ne 1 ] || [ ! -d "$1" ]; then
    echo "expected one restored copy of researchers/\${RESEARCHER} under aws-backup-restore_*/, found: $*" >&2
    echo "choose one: add RESTORE_DIR (its aws-backup-restore_... directory) to the Job's env in the manifest, then kubectl delete -f and kubectl apply -f it again (a Job's pod template cannot be changed once created); or remove the others" >&2
    exit 1
  fi
  src="$1"
fi
if [ ! -d "$src" ]; then echo "$src is not a directory" >&2; exit 1; fi
if [ ! -d "researchers/\${RESEARCHER}" ]; then echo "researchers/\${RESEARCHER} (the live home) does not exist" >&2; exit 1; fi
if [ -e "$dest" ]; then echo "$dest exists already: nothing moved" >&2; exit 1; fi
mv "$src" "$dest"
if rmdir "$(dirname "$src")" 2>/dev/null; then rmdir "$(dirname "$(dirname "$src")")" 2>/dev/null || true; fi
echo "restored: ~/\${TARGET} in \${RESEARCHER}'s home (from $src)"
`;

export interface HomeJobParams {
    institution: string;
    stack: string;
    researcher: string;
    fileSystemId: string;
    image: string;
    /** The directory in the researcher's home: restored-<recovery point time>. */
    target: string;
}

/**
 * The Kubernetes objects that move a restored home into place: a namespace of the admins' (baseline Pod
 * Security: the Job runs as root with only CHOWN, DAC_OVERRIDE and FOWNER), a static PersistentVolume of
 * the file system's root (EFS CSI volumeHandle `<fs id>`, TLS) bound to one claim there, and the Job.
 * Pure; validated against the Kubernetes OpenAPI schemas and shellcheck in test/restore.test.ts.
 */
export function homeRestoreManifests(p: HomeJobParams): Record<string, unknown>[] {
    const labels = { ...standardLabels(p.institution, p.stack, "home-restore"), "archaeo/researcher": p.researcher };
    const name = `restore-${p.researcher}-${p.target.replace(/^restored-/, "").toLowerCase()}`.slice(0, 63).replace(/-+$/, "");
    const pv = `${RESTORE_NAMESPACE}.${name}`;
    return [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: RESTORE_NAMESPACE, labels: { ...labels, "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest" } } },
        {
            apiVersion: "v1", kind: "PersistentVolume",
            metadata: { name: pv, labels },
            spec: {
                capacity: { storage: "1Ti" }, accessModes: ["ReadWriteMany"], persistentVolumeReclaimPolicy: "Retain", storageClassName: "",
                claimRef: { namespace: RESTORE_NAMESPACE, name }, mountOptions: ["tls"],
                csi: { driver: "efs.csi.aws.com", volumeHandle: p.fileSystemId },
            },
        },
        {
            apiVersion: "v1", kind: "PersistentVolumeClaim",
            metadata: { name, namespace: RESTORE_NAMESPACE, labels },
            spec: { accessModes: ["ReadWriteMany"], storageClassName: "", volumeName: pv, resources: { requests: { storage: "1Ti" } } },
        },
        {
            apiVersion: "batch/v1", kind: "Job",
            metadata: { name, namespace: RESTORE_NAMESPACE, labels },
            spec: {
                backoffLimit: 0,
                template: {
                    metadata: { labels },
                    spec: {
                        restartPolicy: "Never",
                        automountServiceAccountToken: false,
                        securityContext: { runAsUser: 0, runAsGroup: 0, seccompProfile: { type: "RuntimeDefault" } },
                        // The workbench image is linux/amd64 only (infra/foundation: platform) and the system node
                        // group is arm64 (AL2023_ARM_64_STANDARD): unpinned, the scheduler may put the Job there and
                        // it fails with `exec format error`. Karpenter's CPU NodePool (amd64, untainted) launches a
                        // node for it and consolidates it away once empty.
                        nodeSelector: { [POOLS.label]: CPU_POOL, "kubernetes.io/arch": "amd64" },
                        containers: [{
                            name: "move",
                            image: p.image,
                            command: ["/bin/sh", "-c", HOME_RESTORE_SCRIPT],
                            env: [{ name: "RESEARCHER", value: p.researcher }, { name: "TARGET", value: p.target }],
                            securityContext: {
                                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false,
                                capabilities: { drop: ["ALL"], add: ["CHOWN", "DAC_OVERRIDE", "FOWNER"] },
                            },
                            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
                            volumeMounts: [{ name: "efs", mountPath: "/efs" }],
                        }],
                        volumes: [{ name: "efs", persistentVolumeClaim: { claimName: name } }],
                    },
                },
            },
        },
    ];
}

// ------------------------------------------------------------------------------------------- the stack file

/**
 * Sets (or replaces) researchers[<id>].restoreFromSnapshot in a stack file, keeping its comments and layout
 * (yaml's Document API). Returns the previous value. Throws when the researcher is not in the file.
 */
export function setRestoreSnapshot(text: string, id: string, snapshot: string): { text: string; previous?: string } {
    const doc = YAML.parseDocument(text);
    const list = doc.getIn(["config", `${PROJECT}:researchers`]);
    if (!YAML.isSeq(list)) throw new Error(`${PROJECT}:researchers is not a list in the stack file`);
    const entry = list.items.find((item) => YAML.isMap(item) && item.get("id") === id);
    if (!entry || !YAML.isMap(entry)) throw new Error(`no researcher '${id}' in the stack file`);
    const previous = entry.get("restoreFromSnapshot");
    entry.set("restoreFromSnapshot", snapshot);
    return { text: doc.toString({ lineWidth: 0 }), previous: typeof previous === "string" ? previous : undefined };
}

// ------------------------------------------------------------------------------------------- the tool

class Refused extends Error { constructor(message: string, public readonly code: 1 | 2 = 1) { super(message); } }

interface Args {
    command?: string;
    options: Map<string, string>;
    flags: Set<string>;
}
const VALUED = ["--stack", "--stack-file", "--researcher", "--snapshot", "--recovery-point", "--at", "--image", "--job", "--out", "--path", "--bucket"];
const FLAGS = ["--no-wait", "--delete-newer", "--dry-run"];

function parseArgs(argv: string[]): Args {
    const a: Args = { options: new Map(), flags: new Set() };
    for (let i = 0; i < argv.length; i++) {
        const x = argv[i];
        if (VALUED.includes(x)) {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new Refused(`${x} needs a value`, 2);
            a.options.set(x, v);
        } else if (FLAGS.includes(x)) a.flags.add(x);
        else if (!x.startsWith("-") && a.command === undefined) a.command = x;
        else throw new Refused(`unknown argument ${x}`, 2);
    }
    return a;
}

interface Context {
    io: RestoreIo;
    args: Args;
    cfg: StackConfig;
    id: string;
    stackFile: string;
    region: string;
}

/** One AWS CLI call with JSON output in the stack's region; a failure is refused with the CLI's own message. */
async function aws(c: Context, what: string, args: string[]): Promise<any> {
    const r = await c.io.aws([...args, "--region", c.region, "--output", "json"]);
    if (r.code !== 0) throw new Refused(`${what} failed (aws ${args.slice(0, 2).join(" ")}): ${r.stderr.trim() || `exit ${r.code}`}`);
    try { return r.stdout.trim() ? JSON.parse(r.stdout) : {}; } catch { throw new Refused(`${what}: the AWS CLI printed something that is not JSON`); }
}

const tagsOf = (tags: Array<{ Key: string; Value: string }> | undefined): Record<string, string> => Object.fromEntries((tags ?? []).map((t) => [t.Key, t.Value]));
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

async function workspace(c: Context): Promise<number> {
    const { io, cfg, id } = c;
    if (cfg.mode !== "instance") throw new Refused(`stack '${cfg.stack}' is in cluster mode: homes are on EFS; use \`npm run restore -- home\``);
    const r = cfg.researchers.find((x) => x.id === id)!;
    const stackTag = resourcePrefix(cfg);
    const mine = ["--filters", `Name=tag:researcher,Values=${id}`, `Name=tag:${COST_TAG},Values=${stackTag}`];
    const snapshot = c.args.options.get("--snapshot");
    if (!snapshot) {
        const { Snapshots = [] } = await aws(c, `listing ${id}'s snapshots`, ["ec2", "describe-snapshots", "--owner-ids", "self", ...mine]);
        const sorted = [...Snapshots].sort((a: any, b: any) => Date.parse(b.StartTime) - Date.parse(a.StartTime));
        io.out(`${sorted.length} snapshot(s) of ${id}'s workspace in ${c.region} (stack ${cfg.stack}), newest first:`);
        for (const s of sorted) io.out(`  ${s.SnapshotId}  ${s.StartTime}  ${s.VolumeSize} GiB  ${s.State}  of ${s.VolumeId}${s.Encrypted ? "" : "  UNENCRYPTED"}`);
        if (sorted.length) io.out(`Restore one: npm run restore -- workspace --stack ${cfg.stack} --researcher ${id} --snapshot ${sorted[0].SnapshotId}`);
        return 0;
    }
    if (!SNAPSHOT_ID.test(snapshot)) throw new Refused(`--snapshot ${snapshot} is not an EBS snapshot id (snap- and 8 or 17 hex digits)`, 2);

    // Only this account's own snapshots: one another account shares carries none of this stack's tags (tags are per account).
    const { Snapshots = [] } = await aws(c, `reading ${snapshot}`, ["ec2", "describe-snapshots", "--owner-ids", "self", "--snapshot-ids", snapshot]);
    const s = Snapshots[0];
    if (!s) throw new Refused(`${snapshot} is not one of this account's snapshots in ${c.region} (one shared by another account is never a workspace snapshot of this stack)`);
    const tags = tagsOf(s.Tags);
    const problems: string[] = [];
    if (s.State !== "completed") problems.push(`it is ${s.State}, not completed: wait for it (aws ec2 wait snapshot-completed --snapshot-ids ${snapshot})`);
    if (s.Encrypted !== true) problems.push("it is not encrypted: every workspace snapshot of this stack is; this one is not the stack's");
    if (tags.researcher !== id) {
        problems.push(tags.researcher
            ? `it is a snapshot of ${tags.researcher}'s workspace: restoring it would give ${id} another researcher's data`
            : "it carries no researcher tag: it is not a snapshot of a workspace of this stack");
    }
    if (tags[COST_TAG] !== stackTag) problems.push(`it belongs to ${tags[COST_TAG] ? `stack ${tags[COST_TAG]}` : "no stack of this project"}, not ${stackTag}`);
    if (typeof s.VolumeSize === "number" && s.VolumeSize > r.workspaceSizeGiB) {
        const i = cfg.researchers.findIndex((x) => x.id === id);
        problems.push(`it is ${s.VolumeSize} GiB and ${id}'s workspace is ${r.workspaceSizeGiB} GiB (a volume is never smaller than its snapshot): ` +
            `set researchers[${i}].workspaceSizeGiB to at least ${s.VolumeSize} first`);
    }
    if (problems.length) throw new Refused(`${snapshot} cannot restore ${id}'s workspace:\n${problems.map((p) => `  - ${p}`).join("\n")}`);

    // The volume(s) named as theirs: the one attached now, and any kept by an earlier restore (detached, retained).
    const volumeName = workspaceVolumeName(cfg, id);
    const { Volumes = [] } = await aws(c, `finding ${id}'s workspace volume`, ["ec2", "describe-volumes", ...mine, `Name=tag:Name,Values=${volumeName}`]);
    const attached = Volumes.find((v: any) => (v.Attachments ?? []).length > 0);
    io.out(`${snapshot}: ${s.VolumeSize} GiB of ${s.VolumeId}, taken ${s.StartTime}, encrypted, ${id}'s (stack ${cfg.stack}): it can restore ${id}'s workspace.`);
    for (const v of Volumes) if (v !== attached) io.out(`  kept from an earlier restore: ${v.VolumeId} (${v.State}, ${v.Size} GiB${v.SnapshotId ? `, from ${v.SnapshotId}` : ""})`);
    if (attached) {
        const instanceId = attached.Attachments[0].InstanceId;
        io.out(`  current workspace: ${attached.VolumeId} (${attached.AvailabilityZone}, ${attached.Size} GiB), attached to ${instanceId}`);
        // The researcher's own zone where the config gives them one (a moved workstation), else the stack's.
        const zone = "zone" in r && typeof r.zone === "string" && r.zone ? r.zone : cfg.availabilityZone;
        if (attached.AvailabilityZone !== zone) io.out(`  ! it is in ${attached.AvailabilityZone} but the config puts ${id}'s workspace in ${zone}: the restored volume is made there, and the preview shows that move too`);
        const { Reservations = [] } = await aws(c, `reading ${instanceId}`, ["ec2", "describe-instances", "--instance-ids", instanceId]);
        const state = Reservations[0]?.Instances?.[0]?.State?.Name;
        if (state && state !== "stopped") io.out(`  ! ${instanceId} is ${state}: the swap stops it and replaces it; ask ${id} to save and stop first`);
    } else if (Volumes.length === 0) io.out(`  ! no volume tagged as ${id}'s workspace (Name ${volumeName}) was found in ${c.region}`);

    const before = fs.readFileSync(c.stackFile, "utf8");
    const { text, previous } = setRestoreSnapshot(before, id, snapshot);
    if (previous === snapshot) io.out(`${path.relative(c.io.cwd, c.stackFile)}: researcher ${id} already has restoreFromSnapshot: ${snapshot}`);
    else {
        fs.writeFileSync(c.stackFile, text);
        io.out(`${path.relative(c.io.cwd, c.stackFile)}: researcher ${id}: restoreFromSnapshot: ${snapshot}${previous ? ` (was ${previous})` : ""}`);
    }
    const urn = workspaceVolumeUrn(cfg.stack, id);
    io.out("");
    io.out(`Next, with the stack's Pulumi state (the workstation is replaced and stops: tell ${id}):`);
    io.out(`  pulumi state unprotect '${urn}' --stack ${cfg.stack} --yes`);
    io.out(`  pulumi preview --diff --stack ${cfg.stack} --policy-pack policies`);
    io.out("      expect: +- the workspace volume (replace: snapshotId), +- its attachment, +- the workstation (its user data names the volume); nothing else of anyone's");
    io.out(`  pulumi up --stack ${cfg.stack} --policy-pack policies`);
    io.out(`The new volume is protected again by that up. The old one${attached ? ` (${attached.VolumeId})` : ""} stays in AWS with everything written since ${s.StartTime} (retainOnDelete):`);
    io.out(`delete it only when ${id} has checked the restore (docs/runbooks.md, "Restore a workspace"). Leave restoreFromSnapshot set.`);
    return 0;
}

async function home(c: Context): Promise<number> {
    const { io, cfg, id } = c;
    if (cfg.mode !== "cluster") throw new Refused(`stack '${cfg.stack}' is in instance mode: workspaces are EBS volumes; use \`npm run restore -- workspace\``);
    const names = homeNames(cfg);
    const wantsRestore = c.args.options.has("--recovery-point") || c.args.options.has("--at") || c.args.options.has("--job");
    const image = c.args.options.get("--image");
    if (wantsRestore && !image) throw new Refused(`--image is needed for the Job that moves the restored home into place: --image "$(pulumi stack output imageUri --stack ${cfg.stack})"`, 2);
    let at: Date | undefined;
    if (c.args.options.has("--at")) {
        at = parseTime(c.args.options.get("--at")!);
        if (!at) throw new Refused(`--at ${c.args.options.get("--at")}: use ISO 8601 with a zone (2026-11-20T09:00:00Z) or a date`, 2);
    }

    const { FileSystems = [] } = await aws(c, "finding the homes' file system", ["efs", "describe-file-systems"]);
    const fsys = FileSystems.filter((f: any) => { const t = tagsOf(f.Tags); return t.Name === names.fileSystemName && t[COST_TAG] === resourcePrefix(cfg); });
    if (fsys.length !== 1) throw new Refused(`expected one EFS file system named ${names.fileSystemName} of stack ${resourcePrefix(cfg)} in ${c.region}, found ${fsys.length}`);
    const efs = fsys[0];
    if (efs.Encrypted !== true || !efs.KmsKeyId) throw new Refused(`${efs.FileSystemId} is not encrypted with a KMS key: it is not this stack's homes file system`);

    const { RecoveryPoints = [] } = await aws(c, `listing the recovery points in ${names.vault}`, ["backup", "list-recovery-points-by-backup-vault", "--backup-vault-name", names.vault, "--by-resource-arn", efs.FileSystemArn]);
    const points = RecoveryPoints.filter((p: any) => p.Status === "COMPLETED").sort((a: any, b: any) => Date.parse(b.CreationDate) - Date.parse(a.CreationDate));
    if (!wantsRestore) {
        io.out(`${points.length} recovery point(s) of ${efs.FileSystemId} (the homes) in ${names.vault}, newest first:`);
        for (const p of points) io.out(`  ${p.CreationDate}  ${p.RecoveryPointArn}${p.BackupSizeInBytes !== undefined ? `  ${gib(p.BackupSizeInBytes)}` : ""}`);
        if (points.length) io.out(`Restore ${id}'s home from one: npm run restore -- home --stack ${cfg.stack} --researcher ${id} --recovery-point ${points[0].RecoveryPointArn} --image <imageUri>`);
        return 0;
    }

    let jobId = c.args.options.get("--job");
    let point: any;
    if (!jobId) {
        const arn = c.args.options.get("--recovery-point");
        point = arn ? points.find((p: any) => p.RecoveryPointArn === arn) : points.find((p: any) => new Date(p.CreationDate).getTime() <= at!.getTime());
        if (!point) {
            throw new Refused(arn
                ? `${arn} is not a completed recovery point of ${efs.FileSystemId} in ${names.vault}; list them with: npm run restore -- home --stack ${cfg.stack} --researcher ${id}`
                : `no completed recovery point of ${efs.FileSystemId} at or before ${at!.toISOString()} (the oldest kept is ${points.at(-1)?.CreationDate ?? "none"})`);
        }
        const arnParts = /^arn:([^:]+):backup:[^:]*:(\d{12}):/.exec(point.RecoveryPointArn);
        if (!arnParts) throw new Refused(`cannot read the partition and account of ${point.RecoveryPointArn}`);
        const role = `arn:${arnParts[1]}:iam::${arnParts[2]}:role/${names.backupRole}`;
        // AWS Backup StartRestoreJob, EFS metadata (botocore backup StartRestoreJob Metadata): restored next to the live
        // home, never over it; ItemsToRestore is a JSON list of paths from the file system's root.
        const metadata = {
            "file-system-id": efs.FileSystemId,
            newFileSystem: "false",
            Encrypted: "true",
            KmsKeyId: efs.KmsKeyId,
            PerformanceMode: efs.PerformanceMode ?? "generalPurpose",
            CreationToken: `archaeo-restore-${id}-${stamp(new Date(point.CreationDate))}`,
            ItemsToRestore: JSON.stringify([`/researchers/${id}`]),
        };
        const started = await aws(c, "starting the restore job", [
            "backup", "start-restore-job", "--recovery-point-arn", point.RecoveryPointArn, "--iam-role-arn", role,
            "--metadata", JSON.stringify(metadata), "--idempotency-token", metadata.CreationToken, "--resource-type", "EFS",
        ]);
        jobId = String(started.RestoreJobId);
        io.out(`restore job ${jobId}: ${id}'s home (/researchers/${id}) from the recovery point of ${point.CreationDate}, next to the live home`);
        if (c.args.flags.has("--no-wait")) {
            io.out(`Follow it, then write the Job: npm run restore -- home --stack ${cfg.stack} --researcher ${id} --job ${jobId} --image ${image}`);
            return 0;
        }
    }
    let job: any;
    for (let polls = 0; ; polls++) {
        job = await aws(c, `reading restore job ${jobId}`, ["backup", "describe-restore-job", "--restore-job-id", jobId]);
        if (job.Status === "COMPLETED") break;
        if (job.Status === "FAILED" || job.Status === "ABORTED") throw new Refused(`restore job ${jobId} ${job.Status}: ${job.StatusMessage ?? "no message"}; the live home is untouched`);
        if (polls >= 720) throw new Refused(`restore job ${jobId} still ${job.Status} after 6 hours; follow it with --job ${jobId}`);
        io.out(`  ${job.Status}${job.PercentDone ? ` ${job.PercentDone}` : ""} ...`);
        await io.sleep(30_000);
    }
    const pointTime = new Date((point ?? (await pointOf(c, names.vault, job.RecoveryPointArn))).CreationDate);
    const target = `restored-${stamp(pointTime)}`;
    const objects = homeRestoreManifests({ institution: cfg.institution, stack: cfg.stack, researcher: id, fileSystemId: efs.FileSystemId, image: image!, target });
    const out = path.resolve(io.cwd, c.args.options.get("--out") ?? `restore-home-${id}-${stamp(pointTime)}.yaml`);
    fs.writeFileSync(out, objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join("---\n"));
    const job0 = (objects[3] as any).metadata.name as string;
    io.out(`restore job ${jobId} COMPLETED: the copy is in aws-backup-restore_<time>/researchers/${id} at the root of ${efs.FileSystemId}.`);
    io.out(`Move it into ${id}'s home as ~/${target} (cluster admin; ${RESTORE_NAMESPACE} is the admins' namespace, never a researcher's):`);
    io.out(`  kubectl apply -f ${path.relative(io.cwd, out)}`);
    io.out(`  ${jobWaitCommand(job0)}`);
    io.out(`  kubectl -n ${RESTORE_NAMESPACE} logs job/${job0}`);
    io.out(`  kubectl delete -f ${path.relative(io.cwd, out)}`);
    return 0;
}

async function pointOf(c: Context, vault: string, arn: string): Promise<any> {
    return aws(c, `reading ${arn}`, ["backup", "describe-recovery-point", "--backup-vault-name", vault, "--recovery-point-arn", arn]);
}

/** S3 CopyObject copies at most 5 GB in one request (botocore s3 CopyObject: "up to 5 GB in size in a single atomic action"). */
const COPY_LIMIT_BYTES = 5 * 1024 ** 3;

export interface PrefixAction { key: string; action: "copy" | "hide" | "keep-newer" | "unchanged" | "too-big"; versionId?: string; size?: number }

/**
 * What `prefix` does to each key, from ListObjectVersions: the version current at `at` (the newest with
 * LastModified <= at, delete markers included) against the current one. Pure.
 */
export function prefixPlan(listing: { Versions?: any[]; DeleteMarkers?: any[] }, at: Date, deleteNewer: boolean): PrefixAction[] {
    const byKey = new Map<string, Array<{ versionId: string; time: number; latest: boolean; marker: boolean; size?: number }>>();
    for (const [list, marker] of [[listing.Versions ?? [], false], [listing.DeleteMarkers ?? [], true]] as const) {
        for (const v of list) {
            const arr = byKey.get(v.Key) ?? [];
            arr.push({ versionId: v.VersionId, time: new Date(v.LastModified).getTime(), latest: v.IsLatest === true, marker, size: v.Size });
            byKey.set(v.Key, arr);
        }
    }
    const out: PrefixAction[] = [];
    for (const key of [...byKey.keys()].sort()) {
        const vs = byKey.get(key)!.sort((a, b) => b.time - a.time || Number(b.latest) - Number(a.latest));
        const current = vs.find((v) => v.latest) ?? vs[0];
        const then = vs.find((v) => v.time <= at.getTime());
        if (!then || then.marker) {
            if (current.marker) out.push({ key, action: "unchanged" });
            else out.push({ key, action: deleteNewer ? "hide" : "keep-newer" });
        } else if (!current.marker && current.versionId === then.versionId) out.push({ key, action: "unchanged" });
        else if ((then.size ?? 0) > COPY_LIMIT_BYTES) out.push({ key, action: "too-big", versionId: then.versionId, size: then.size });
        else out.push({ key, action: "copy", versionId: then.versionId, size: then.size });
    }
    return out;
}

async function prefix(c: Context): Promise<number> {
    const { io, cfg, id } = c;
    const atText = c.args.options.get("--at");
    if (!atText) throw new Refused("--at TIME is needed: the time the area is put back to (ISO 8601 with a zone, or a date)", 2);
    const at = parseTime(atText);
    if (!at) throw new Refused(`--at ${atText}: use ISO 8601 with a zone (2026-11-20T09:00:00Z) or a date`, 2);
    if (at.getTime() > io.now().getTime()) throw new Refused(`--at ${atText} is in the future`, 2);
    const sub = (c.args.options.get("--path") ?? "").replace(/^\/+/, "");
    if (sub.split("/").some((p) => p === ".." || p === ".")) throw new Refused(`--path ${sub}: a path inside researchers/${id}/, without . or ..`, 2);
    let bucket = c.args.options.get("--bucket");
    if (!bucket) {
        const who = await aws(c, "reading the account (sts get-caller-identity)", ["sts", "get-caller-identity"]);
        bucket = bucketName(cfg, "data", String(who.Account));
    }
    const enc = await aws(c, `reading ${bucket}'s default encryption`, ["s3api", "get-bucket-encryption", "--bucket", bucket]);
    const rule = enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
    if (rule?.SSEAlgorithm !== "aws:kms" || !rule.KMSMasterKeyID) throw new Refused(`${bucket} is not encrypted by default with a KMS key (SSE-KMS): it is not this stack's dataset bucket`);
    const where = `${researcherPrefix(id)}${sub}`;
    const listing = await aws(c, `listing the versions under s3://${bucket}/${where}`, ["s3api", "list-object-versions", "--bucket", bucket, "--prefix", where]);
    const plan = prefixPlan(listing, at, c.args.flags.has("--delete-newer"));
    const count = (a: PrefixAction["action"]) => plan.filter((p) => p.action === a).length;
    io.out(`s3://${bucket}/${where} as at ${at.toISOString()}: ${count("copy")} to put back, ${count("hide")} to hide (did not exist then), ` +
        `${count("keep-newer")} newer kept${c.args.flags.has("--delete-newer") ? "" : " (--delete-newer hides them)"}, ${count("unchanged")} unchanged, ${count("too-big")} over 5 GB`);
    for (const p of plan.filter((x) => x.action !== "unchanged")) io.out(`  ${p.action.padEnd(10)} ${p.key}${p.versionId ? `  (version ${p.versionId})` : ""}`);
    if (c.args.flags.has("--dry-run")) { io.out("--dry-run: nothing changed"); return 0; }
    for (const p of plan) {
        if (p.action === "copy") {
            // The CLI URL-encodes the key of CopySource itself (botocore handlers.py handle_copy_source_param); the
            // copy is a new version under the bucket's key, named explicitly rather than left to the default.
            await aws(c, `putting back ${p.key}`, ["s3api", "copy-object", "--bucket", bucket, "--key", p.key, "--copy-source", `${bucket}/${p.key}?versionId=${p.versionId}`,
                "--server-side-encryption", "aws:kms", "--ssekms-key-id", rule.KMSMasterKeyID]);
        } else if (p.action === "hide") {
            await aws(c, `hiding ${p.key}`, ["s3api", "delete-object", "--bucket", bucket, "--key", p.key]);
        }
    }
    const big = plan.filter((p) => p.action === "too-big");
    for (const p of big) {
        io.out(`  ! ${p.key} (${gib(p.size ?? 0)}) is over CopyObject's 5 GB: put it back by hand: aws s3api get-object --bucket ${bucket} --key '${p.key}' --version-id ${p.versionId} restored.bin, then upload it`);
    }
    io.out(`done: ${count("copy")} put back as new versions${count("hide") ? `, ${count("hide")} hidden behind delete markers` : ""}; every earlier version is still there.`);
    return big.length ? 1 : 0;
}

/** The tool: parses argv, reads the stack, runs one command. Never throws for what a user can fix: it prints why and returns 1 or 2. */
export async function restore(argv: string[], io: RestoreIo): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) { io.out(USAGE); return 0; }
    try {
        const args = parseArgs(argv);
        const commands: Record<string, (c: Context) => Promise<number>> = { workspace, home, prefix };
        if (!args.command || !(args.command in commands)) throw new Refused(`${args.command ? `unknown command '${args.command}'` : "which restore?"}: workspace, home or prefix\n${USAGE.split("\n")[0]}`, 2);
        const stack = args.options.get("--stack");
        const id = args.options.get("--researcher");
        if (!stack || !id) throw new Refused(`--stack and --researcher are needed\n${USAGE.split("\n")[0]}`, 2);
        const stackFile = path.resolve(io.cwd, args.options.get("--stack-file") ?? path.join(STACKS_DIR, `Pulumi.${stack}.yaml`));
        let file;
        try { file = readStack(stack, stackFile); } catch (e) { throw new Refused((e as Error).message, 2); }
        let cfg: StackConfig;
        try { cfg = parseConfig(file.raw, { stack, region: file.region }); } catch (e) {
            if (e instanceof ConfigError) throw new Refused(`Stack '${stack}': ${e.message}`, 2);
            throw e;
        }
        if (!cfg.researchers.some((r) => r.id === id)) throw new Refused(`no researcher '${id}' in stack ${stack} (researchers: ${cfg.researchers.map((r) => r.id).join(", ")})`, 2);
        return await commands[args.command]({ io, args, cfg, id, stackFile, region: cfg.region });
    } catch (e) {
        if (e instanceof Refused) { io.out(`restore: ${e.message}`); return e.code; }
        throw e;
    }
}

if (require.main === module) {
    restore(process.argv.slice(2), {
        aws: awsCliOnPath(), out: (l) => console.log(l), now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), cwd: process.cwd(),
    }).then((code) => { process.exitCode = code; }, (e) => { console.error(`restore failed: ${e?.stack ?? e}`); process.exitCode = 1; });
}

