/**
 * Every command in docs/runbooks.md is executed or checked: the restore commands run against recorded AWS
 * responses (test/restore.test.ts checks those against botocore), `pulumi config set` is applied to a copy of
 * the stack file and the result must pass the stack config, the offline plans run in test/plan.test.ts, every
 * `aws` command's operation and parameters are checked against AWS's service models (botocore), and the
 * `pulumi`, `kubectl` and `docker` commands against the flags their reference documents list, with every
 * URN one the program registers and every name, tag and value the one the stack uses.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import * as YAML from "yaml";
import { checkSshPublicKey, ConfigError, parseConfig } from "../infra/config";
import { bucketName, COST_TAG, researcherTags, resourcePrefix } from "../infra/tags";
import { parseArgs as planArgs } from "../tools/plan";
import { homeNames, jupyterTokenUrn, workspaceVolumeUrn } from "../tools/restore";
import { readStack, ROOT } from "../tools/stacks";
import { checkAwsCommands, CommandCheck, loadRecorded } from "./helpers/recorded-aws";
import { checkRecording, fakeAws } from "./helpers/fake-aws";
import { JOB_STATES, runWithFakeKubectl } from "./helpers/fake-kubectl";
import { HUB_NAMESPACE, karpenterObjects, researcherNamespace } from "../infra/cluster/manifests";
import { applyConfigSet, npmScript, rehearse, RunbookCommand, runbookSections, shellWords } from "./helpers/runbooks";
import { tmpDir } from "./helpers/tools";

const sections = runbookSections();
const commands = sections.flatMap((s) => s.commands);
const MOCK_ACCOUNT = "123456789012";
const cfgOf = (stack: string) => { const f = readStack(stack); return parseConfig(f.raw, { stack, region: f.region }); };

/**
 * The flags each Pulumi CLI command documents (pulumi.com/docs/iac/cli/commands/pulumi_<command>/: "Options",
 * and the inherited -s/--stack where a parent command has it), with whether each takes a value.
 */
const PULUMI: Record<string, { flags: Record<string, boolean>; args: [number, number] }> = {
    // pulumi_state_unprotect: --all, -s/--stack, -y/--yes; [resource-urn]...
    "state unprotect": { flags: { "--all": false, "--stack": true, "-s": true, "--yes": false, "-y": false }, args: [1, 99] },
    // pulumi_stack: -o/--output, -i/--show-ids, --show-name, --show-secrets, -u/--show-urns, -s/--stack
    "stack": { flags: { "--output": true, "-o": true, "--show-ids": false, "-i": false, "--show-name": false, "--show-secrets": false, "--show-urns": false, "-u": false, "--stack": true, "-s": true }, args: [0, 0] },
    // pulumi_stack_output: -j/--json, --shell, --show-secrets, -s/--stack; [property-name]
    "stack output": { flags: { "--json": false, "-j": false, "--shell": false, "--show-secrets": false, "--stack": true, "-s": true }, args: [0, 1] },
    // pulumi_config_set: --path, --plaintext, --secret, --type; -s/--stack from pulumi config; <key> [value]
    "config set": { flags: { "--path": false, "--plaintext": false, "--secret": false, "--type": true, "--stack": true, "-s": true }, args: [1, 2] },
    // pulumi_preview / pulumi_up: --diff, --policy-pack, --policy-pack-config, --replace, --target, --refresh, --expect-no-changes, -s/--stack; up: -y/--yes, -f/--skip-preview
    "preview": { flags: { "--diff": false, "--policy-pack": true, "--policy-pack-config": true, "--replace": true, "--target": true, "--refresh": false, "--expect-no-changes": false, "--stack": true, "-s": true }, args: [0, 0] },
    "up": { flags: { "--diff": false, "--policy-pack": true, "--policy-pack-config": true, "--replace": true, "--target": true, "--refresh": false, "--expect-no-changes": false, "--stack": true, "-s": true, "--yes": false, "-y": false, "--skip-preview": false, "-f": false }, args: [0, 0] },
};
/** kubectl's (kubernetes.io/docs/reference/kubectl/generated/kubectl_<verb>/): the flags these runbooks use. */
const KUBECTL: Record<string, { flags: Record<string, boolean>; args: [number, number] }> = {
    apply: { flags: { "-f": true, "--filename": true, "-n": true, "--namespace": true }, args: [0, 0] },
    delete: { flags: { "-f": true, "--filename": true, "-n": true, "--namespace": true }, args: [0, 1] },
    wait: { flags: { "--for": true, "--timeout": true, "-n": true, "--namespace": true }, args: [1, 1] },
    logs: { flags: { "-n": true, "--namespace": true, "-f": false, "--follow": false }, args: [1, 1] },
    get: { flags: { "-n": true, "--namespace": true, "-o": true, "--output": true }, args: [1, 2] },
};

/**
 * The restore Job's wait step, `until kubectl ... | grep -E 'A|B'; do sleep N; done`: its kubectl argv, or undefined
 * for any other shape. (kubectl waits for one condition only: kubernetes/kubernetes#100248.)
 */
function untilKubectl(c: RunbookCommand): string[] | undefined {
    const m = /^until (kubectl .+) \| grep -E '([A-Za-z|]+)'; do sleep \d+; done$/.exec(c.line);
    return m && c.argv[1] === "kubectl" ? c.argv.slice(1) : undefined;
}

/** Splits `--flag=value` and checks flags and positional counts against a table; returns the positional arguments. */
function checkFlags(what: string, words: readonly string[], spec: { flags: Record<string, boolean>; args: [number, number] }): { positional: string[]; values: Map<string, string> } {
    const positional: string[] = [];
    const values = new Map<string, string>();
    for (let i = 0; i < words.length; i++) {
        const [flag, inline] = words[i].startsWith("-") ? words[i].split(/=(.*)/s, 2) : [words[i], undefined];
        if (!words[i].startsWith("-")) { positional.push(words[i]); continue; }
        assert.ok(flag in spec.flags, `${what}: ${flag} is not a documented flag (${Object.keys(spec.flags).join(", ")})`);
        if (spec.flags[flag]) values.set(flag, inline ?? words[++i]);
        else assert.equal(inline, undefined, `${what}: ${flag} takes no value`);
    }
    assert.ok(positional.length >= spec.args[0] && positional.length <= spec.args[1], `${what}: ${positional.length} argument(s), expected ${spec.args.join("-")}`);
    return { positional, values };
}

describe("runbooks (docs/runbooks.md): every command run or checked", function () {
    this.timeout(120_000);

    it("has the sections issue 19 and issue 17 ask for, each with commands, and README's operations section links it", () => {
        assert.deepEqual(sections.map((s) => s.title), [
            "Restore a workspace from a snapshot", "Restore a home from AWS Backup", "Restore a researcher's S3 area", "Rotate a Jupyter token", "Rotate an SSH key",
            "Upgrade PyTorch and CUDA", "A researcher leaves: unprotect and delete their data", "Actual spend per researcher",
        ]);
        for (const s of sections) assert.ok(s.commands.length > 0, s.title);
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        assert.match(readme, /\(docs\/runbooks\.md\)/);
    });

    it("every command is one of the kinds this test runs or checks", () => {
        const known = (c: RunbookCommand) => {
            const npm = npmScript(c.argv);
            if (npm) return ["restore", "plan"].includes(npm[0]);
            if (c.argv[0] === "until") return untilKubectl(c) !== undefined;
            return ["aws", "pulumi", "kubectl", "docker", "npx"].includes(c.argv[0]) && c.pipedTo.length === 0;
        };
        assert.deepEqual(commands.filter((c) => !known(c)).map((c) => c.line), []);
        assert.throws(() => shellWords("npm run restore -- --image \"$(pulumi stack output imageUri)\""), /spell values out/);
    });

    it("the restore commands run against the recorded AWS responses, each exit 0, and the kubectl steps name the Job and file the tool wrote", async () => {
        let ran = 0;
        for (const s of sections) {
            if (!s.commands.some((c) => npmScript(c.argv)?.[0] === "restore")) continue;
            const cwd = tmpDir("archaeo-runbook-");
            const done = await rehearse(s, cwd);
            for (const r of done.filter((x) => x.kind === "restore")) {
                assert.equal(r.code, 0, `${r.command.line}\n${r.output}`);
                ran++;
            }
            for (const k of s.commands.filter((c) => c.argv[0] === "kubectl" || untilKubectl(c)).map((c) => ({ ...c, argv: untilKubectl(c) ?? c.argv }))) {
                const file = k.argv[k.argv.indexOf("-f") + 1];
                if (k.argv.includes("-f")) assert.ok(fs.existsSync(path.join(cwd, file)), `${k.line}: the restore wrote no ${file}`);
                const job = k.argv.find((a) => a.startsWith("job/"));
                if (job) {
                    const written = fs.readdirSync(cwd).filter((f) => f.startsWith("restore-home-")).flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(cwd, f), "utf8")).map((d) => d.toJS()));
                    assert.ok(written.some((o) => o.kind === "Job" && `job/${o.metadata.name}` === job && o.metadata.namespace === k.argv[k.argv.indexOf("-n") + 1]), `${k.line}: no such Job in the manifest`);
                }
            }
        }
        assert.equal(ran, 6, "workspace (list, restore), home (list, restore), prefix (dry run, run)");
    });

    it("a leaver's delete loop, run as written against a bucket of 2,275 versions and delete markers: every DeleteObjects call at most 1,000 keys, and it ends empty", function () {
        // DeleteObjects takes at most 1,000 keys a request (Amazon S3 API Reference, DeleteObjects: "up to 1,000
        // keys"); botocore's ParamValidator does not check it, so this test does. `--max-items` is botocore's
        // PageIterator.build_full_result: it counts and truncates only the first result key (paginators-1.json
        // ListObjectVersions result_key [Versions, DeleteMarkers, CommonPrefixes]; paginate.py _truncate_response),
        // so the delete markers of every page read come on top; S3's pages hold MaxKeys (1,000) of both together.
        const section = sections.find((s) => /leaves/.test(s.title))!;
        const list = section.commands.find((c) => c.argv[2] === "list-object-versions")!;
        const del = section.commands.find((c) => c.argv[2] === "delete-objects")!;
        type Entry = { Key: string; VersionId: string; marker: boolean };
        // In key order, as S3 lists them: 1,300 keys, each with one version, every other one a second, every fourth a delete marker on top.
        let bucket: Entry[] = [];
        for (let i = 0; i < 1300; i++) {
            const Key = `researchers/alice/runs/${String(i).padStart(4, "0")}.pt`;
            if (i % 4 === 0) bucket.push({ Key, VersionId: `dm${i}`, marker: true });
            if (i % 2 === 0) bucket.push({ Key, VersionId: `v2-${i}`, marker: false });
            bucket.push({ Key, VersionId: `v1-${i}`, marker: false });
        }
        const total = bucket.length;
        const listed = (maxItems: number) => {
            const Versions: object[] = [];
            const DeleteMarkers: object[] = [];
            for (let page = 0; page < bucket.length && Versions.length < maxItems; page += 1000) {
                for (const e of bucket.slice(page, page + 1000)) {
                    const common = { Key: e.Key, VersionId: e.VersionId, IsLatest: false, LastModified: "2026-11-19T03:05:12.000Z" };
                    if (e.marker) DeleteMarkers.push(common); else Versions.push({ ...common, ETag: "\"9b2cf535f27731c974343645a3985328\"", Size: 1024, StorageClass: "STANDARD" });
                }
            }
            return { ...(Versions.length ? { Versions: Versions.slice(0, maxItems) } : {}), ...(DeleteMarkers.length ? { DeleteMarkers } : {}) };
        };
        const maxItems = Number(list.argv[list.argv.indexOf("--max-items") + 1]);
        const first = { service: "s3api", operation: "list-object-versions", responses: [{ output: listed(maxItems) }] };
        assert.deepEqual(checkRecording([{ ...first, service: "s3" }]), [], "a ListObjectVersions output (botocore's s3 model; the CLI's s3api)");
        const versions = (first.responses[0].output as any).Versions.length;
        const markers = (first.responses[0].output as any).DeleteMarkers.length;
        assert.ok(versions + markers > 1000, `the first listing is over DeleteObjects' limit (${versions} versions, ${markers} delete markers)`);
        const aws = fakeAws({ rules: [first] });
        const cwd = tmpDir("archaeo-leaver-");
        const sizes: number[] = [];
        try {
            for (let round = 0; round < 10; round++) {
                aws.setRules([{ service: "s3api", operation: "list-object-versions", responses: [{ output: listed(maxItems) }] }, { service: "s3api", operation: "delete-objects", responses: [{ output: {} }] }]);
                const l = spawnSync("bash", ["-c", list.line], { cwd, env: aws.env(), encoding: "utf8" });
                assert.equal(l.status, 0, l.stderr);
                const batch = JSON.parse(fs.readFileSync(path.join(cwd, "delete.json"), "utf8")) as { Objects: Array<{ Key: string; VersionId: string }> };
                if (batch.Objects.length === 0) break;
                sizes.push(batch.Objects.length);
                assert.ok(batch.Objects.length <= 1000, `DeleteObjects call ${round + 1}: ${batch.Objects.length} keys (at most 1,000)`);
                const d = spawnSync("bash", ["-c", del.line], { cwd, env: aws.env(), encoding: "utf8" });
                assert.equal(d.status, 0, d.stderr);
                const gone = new Set(batch.Objects.map((o) => `${o.Key} ${o.VersionId}`));
                bucket = bucket.filter((e) => !gone.has(`${e.Key} ${e.VersionId}`));
            }
            assert.deepEqual(aws.unmatched(), []);
            assert.equal(bucket.length, 0, "the loop ends with every version and delete marker deleted");
            assert.equal(sizes.reduce((a, b) => a + b, 0), total);
        } finally {
            aws.cleanup();
        }
    });

    it("spend per researcher says what it can and cannot show: tags activated only from the payer account, and cluster nodes never carry a researcher's tag", () => {
        const md = fs.readFileSync(path.join(ROOT, "docs", "runbooks.md"), "utf8");
        const spend = md.slice(md.indexOf("## Actual spend per researcher"));
        const prose = spend.replace(/```[\s\S]*?```/g, "").replace(/\s+/g, " ");
        // AWS Billing user guide, "Activating user-defined cost allocation tags": only the management account (or a
        // standalone account) can activate them; UpdateCostAllocationTagsStatus is that action.
        assert.ok(commands.some((c) => c.argv[2] === "update-cost-allocation-tags-status"));
        assert.match(prose, /update-cost-allocation-tags-status`?\)? works only from the management \(payer\) account/);
        // Karpenter launches every cluster node with the EC2NodeClass's tags: the stack's, never a researcher's.
        const cfg = cfgOf("national-heritage");
        if (cfg.mode !== "cluster") assert.fail("national-heritage is a cluster stack");
        const tagKey = Object.keys(researcherTags("x"))[0];
        const { nodeClasses } = karpenterObjects({ ...cfg.cluster, clusterName: "c", nodeRoleName: "r", keyArn: "k", securityGroupId: "sg", tags: { [COST_TAG]: resourcePrefix(cfg) } });
        for (const nc of nodeClasses) assert.ok(!(tagKey in nc.spec.tags), `${nc.metadata.name} nodes carry ${tagKey}`);
        assert.match(prose, /Cluster mode: .*Karpenter's, launched with the stack's tags only.* lands in `researcher\$`/);
        // AWS Data Exports user guide, "Split cost allocation data" and "Using Kubernetes labels for cost allocation in EKS".
        assert.match(prose, /split cost allocation data for Amazon EKS/);
        assert.match(prose, new RegExp(`batch jobs run in \`${researcherNamespace("<id>")}\`, every server in \`${HUB_NAMESPACE}\``));
    });

    it("the home restore's wait step ends when the Job fails as when it completes, and the Job is chosen again by delete and apply, never `set env`", () => {
        const section = sections.find((s) => s.commands.some((c) => untilKubectl(c)))
            ?? assert.fail("no step waits for the restore Job to complete or fail (`kubectl wait --for=condition=complete` sits out its timeout on a failed Job)");
        const wait = section.commands.find((c) => untilKubectl(c))!;
        for (const [end, word] of [["failed", "Failed"], ["complete", "Complete"]] as const) {
            const w = runWithFakeKubectl(wait.line, [JOB_STATES.running, JOB_STATES[end]]);
            assert.equal(w.status, 0, `${wait.line}\n${w.stdout}${w.stderr}`);
            assert.match(w.stdout, new RegExp(`\\b${word}\\b`));
        }
        // A Job's spec.template is immutable (Kubernetes API: batch/v1 Job validation, "field is immutable").
        const md = fs.readFileSync(path.join(ROOT, "docs", "runbooks.md"), "utf8");
        assert.doesNotMatch(md.replace(/`kubectl set env` is refused/, ""), /set env/);
        assert.match(md.replace(/\s+/g, " "), /add `RESTORE_DIR` .* to the Job's `env` in the manifest, then `kubectl delete -f` and `kubectl apply -f` the file again/);
    });

    it("after a replacement or a token rotation the researcher is told what archaeo does and runs; the old volume's fate follows protectData", () => {
        const md = fs.readFileSync(path.join(ROOT, "docs", "runbooks.md"), "utf8").replace(/\s+/g, " ");
        // test/cli.test.ts runs both: archaeo finds a replaced workstation by its tags, and open refuses a token newer than the boot.
        assert.match(md, /`archaeo` finds it by its tags \(`researcher`, `workbench`\) the next time they run `archaeo status` or `archaeo open`/);
        assert.match(md, /they run `archaeo ssh-config` again/);
        assert.match(md, /the researcher runs `archaeo stop --wait` and then `archaeo open`/);
        // infra/instance/workstation.ts: the workspace volume is retainOnDelete only when protected, and finalSnapshot always.
        const ws = fs.readFileSync(path.join(ROOT, "infra", "instance", "workstation.ts"), "utf8");
        assert.match(ws, /finalSnapshot: true,[\s\S]{0,200}retainOnDelete: args\.protect/);
        assert.match(md, /with `protectData: false` it is deleted, after a final snapshot of it/);
    });

    it("`pulumi config set` commands give a stack config the config accepts, at a path that exists", () => {
        const sets = commands.filter((c) => c.argv[0] === "pulumi" && c.argv[1] === "config");
        assert.equal(sets.length, 2);
        for (const c of sets) {
            const stack = c.argv[c.argv.indexOf("--stack") + 1];
            const r = applyConfigSet(fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8"), c.argv);
            if (c.argv.includes("--path")) assert.notEqual(r.previous, undefined, `${c.line}: ${r.path.join(".")} is not set in the stack now`);
            const raw = (YAML.parse(r.text).config ?? {}) as Record<string, unknown>;
            const region = raw["aws:region"] as string;
            delete raw["aws:region"];
            try { parseConfig(raw, { stack, region }); } catch (e) { assert.fail(`${c.line}: ${e instanceof ConfigError ? e.message : e}`); }
            if (r.path.includes("sshPublicKeys")) assert.equal(checkSshPublicKey(c.argv.at(-3)!), undefined);
        }
    });

    it("`npm run plan` commands are plan's own options (test/plan.test.ts runs them)", () => {
        const plans = commands.filter((c) => npmScript(c.argv)?.[0] === "plan");
        assert.ok(plans.length >= 3);
        for (const c of plans) assert.equal(typeof planArgs(npmScript(c.argv)![1]), "object", c.line);
    });

    /**
     * One botocore process for every AWS CLI call the runbooks and the restore tool make: the runbooks' `aws` commands,
     * the recorded calls and responses the restore tool is rehearsed against (test/restore.test.ts), and three controls.
     */
    let models: ReturnType<typeof checkAwsCommands>;
    let byId: Map<string, CommandCheck>;
    const aws = commands.filter((c) => c.argv[0] === "aws");
    const recorded = loadRecorded().flatMap((c, i) => (c.responses ?? [c]).map((r, j) => ({
        id: `recorded ${i}.${j}: aws ${c.argv.slice(0, 2).join(" ")}`, argv: c.argv, stdout: r.stdout === undefined ? undefined : JSON.stringify(r.stdout),
    })));
    before(() => {
        // delete-objects reads delete.json, which list-object-versions --query wrote: evaluated on a recorded listing.
        const writer = aws.find((c) => c.redirect === "delete.json")!;
        const listing = loadRecorded().find((r) => r.argv[1] === "list-object-versions")!.stdout;
        models = checkAwsCommands([
            ...aws.map((c, i) => ({
                id: `runbook ${i}`, argv: c.argv.slice(1),
                ...(c.argv.includes("file://delete.json") ? { feed: { expression: writer.argv[writer.argv.indexOf("--query") + 1], data: listing } } : {}),
            })),
            ...recorded,
            // Controls: a parameter the operation lacks, a wrong type in a response, a missing required member, an enum value AWS lacks.
            { id: "control-param", argv: ["ec2", "describe-snapshots", "--snapshot-id", "snap-0a1b2c3d4e5f60789"] },
            { id: "control-output", argv: ["ec2", "describe-snapshots", "--snapshot-ids", "snap-0a1b2c3d4e5f60789"], stdout: JSON.stringify({ Snapshots: [{ SnapshotId: "snap-0a1b2c3d4e5f60789", VolumeSize: "500" }] }) },
            { id: "control-required", argv: ["efs", "describe-file-systems"], stdout: JSON.stringify({ FileSystems: [{ FileSystemId: "fs-1" }] }) },
            { id: "control-enum", argv: ["ce", "get-cost-and-usage", "--time-period", "Start=2026-11-01,End=2026-12-01", "--granularity", "MONTH", "--metrics", "UnblendedCost", "--group-by", "Type=TAGS,Key=researcher"] },
        ]);
        byId = new Map(models.results.map((r) => [r.id, r]));
    });

    it("the checker against botocore catches a parameter AWS lacks, a wrong type or a missing member in a response, and a value outside an enum (controls)", () => {
        assert.match(byId.get("control-param")!.problems.join("\n"), /--snapshot-id is not a parameter of DescribeSnapshots/);
        assert.match(byId.get("control-output")!.problems.join("\n"), /output: .*VolumeSize/s);
        assert.match(byId.get("control-required")!.problems.join("\n"), /output: .*Missing required parameter.*OwnerId/s);
        assert.deepEqual(byId.get("control-enum")!.problems, ["Granularity: 'MONTH' is not one of DAILY, MONTHLY, HOURLY", "GroupBy[0].Type: 'TAGS' is not one of DIMENSION, TAG, COST_CATEGORY"]);
    });

    it("the restore tool's recorded calls are operations with parameters AWS takes, and each response has its operation's output shape", () => {
        for (const c of recorded) assert.deepEqual(byId.get(c.id)!.problems, [], `${c.id} (botocore ${models.botocore}, ${models.data})`);
        assert.deepEqual([...new Set(recorded.map((c) => `${byId.get(c.id)!.service}:${byId.get(c.id)!.operation}`))].sort(), [
            "backup:DescribeRestoreJob", "backup:ListRecoveryPointsByBackupVault", "backup:StartRestoreJob", "ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes",
            "efs:DescribeFileSystems", "s3:CopyObject", "s3:DeleteObject", "s3:GetBucketEncryption", "s3:ListObjectVersions", "sts:GetCallerIdentity",
        ]);
    });

    it("every `aws` command is an operation with parameters AWS's service models have (botocore), and what one writes the next reads", () => {
        assert.ok(aws.length >= 14, `${aws.length}`);
        aws.forEach((c, i) => assert.deepEqual(byId.get(`runbook ${i}`)!.problems, [], `${c.line} (botocore ${models.botocore})`));
        const ops = aws.map((_, i) => `${byId.get(`runbook ${i}`)!.service}:${byId.get(`runbook ${i}`)!.operation}`);
        for (const op of ["ec2:DeleteVolume", "ec2:DeleteSnapshot", "s3:DeleteObjects", "ce:GetCostAndUsage", "ce:UpdateCostAllocationTagsStatus", "cognito-idp:AdminResetUserPassword"]) assert.ok(ops.includes(op), op);
        const del = byId.get(`runbook ${aws.findIndex((c) => c.argv.includes("file://delete.json"))}`)!;
        assert.ok(((del.params as any).Delete.Objects as unknown[]).length >= 10, "the --query output is DeleteObjects' Delete: every version and delete marker");
    });

    it("the names, tags and values in the `aws` commands are the stack's own (tags.ts, the bucket and vault names)", () => {
        const example = cfgOf("example");
        const tagKey = Object.keys(researcherTags("x"))[0];
        const spend = commands.find((c) => c.argv[2] === "get-cost-and-usage")!;
        assert.equal(spend.argv[spend.argv.indexOf("--group-by") + 1], `Type=TAG,Key=${tagKey}`);
        assert.deepEqual(JSON.parse(spend.argv[spend.argv.indexOf("--filter") + 1]), { Tags: { Key: COST_TAG, Values: [resourcePrefix(example)] } });
        const activate = commands.find((c) => c.argv[2] === "update-cost-allocation-tags-status")!;
        assert.deepEqual(activate.argv.slice(4, 6), [`TagKey=${tagKey},Status=Active`, `TagKey=${COST_TAG},Status=Active`]);
        for (const c of commands.filter((x) => x.argv[0] === "aws")) {
            for (const f of c.argv.filter((a) => a.startsWith("Name=tag:"))) {
                const [key, value] = /^Name=tag:([^,]+),Values=(.+)$/.exec(f)!.slice(1);
                if (key === COST_TAG) assert.equal(value, resourcePrefix(example), c.line);
                else if (key === tagKey) assert.equal(value, "alice", c.line);
                else assert.equal(key, "Name", c.line);
            }
            const b = c.argv.indexOf("--bucket");
            if (b >= 0) assert.equal(c.argv[b + 1], bucketName(example, "data", MOCK_ACCOUNT), c.line);
        }
        assert.equal(homeNames(cfgOf("national-heritage")).vault, "archaeo-national-heritage-natio-aaf7350a-homes");
    });

    it("every `pulumi` command uses documented flags, and every URN is one the program registers for that stack and researcher", () => {
        const protectedUrns: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "protected-urns.json"), "utf8"));
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const pulumi = commands.filter((c) => c.argv[0] === "pulumi");
        assert.ok(pulumi.length >= 12);
        for (const c of pulumi) {
            const name = c.argv[1] === "stack" && c.argv[2] === "output" ? "stack output" : ["state", "config"].includes(c.argv[1]) ? `${c.argv[1]} ${c.argv[2]}` : c.argv[1];
            const spec = PULUMI[name];
            assert.ok(spec, `${c.line}: pulumi ${name} is not in the table`);
            const { positional, values } = checkFlags(c.line, c.argv.slice(1 + name.split(" ").length), spec);
            const stack = values.get("--stack") ?? values.get("-s");
            assert.ok(stack && readStack(stack), `${c.line}: names no stack of stacks/`);
            if (values.get("--policy-pack")) assert.equal(values.get("--policy-pack"), "policies");
            const cfg = cfgOf(stack!);
            for (const urn of [...positional, values.get("--replace")].filter((u): u is string => !!u && u.startsWith("urn:"))) {
                const ids = cfg.researchers.map((r) => r.id);
                assert.ok(ids.some((id) => urn === workspaceVolumeUrn(stack!, id) || urn === jupyterTokenUrn(stack!, id)), `${c.line}: not a URN of ${stack}`);
                if (urn.includes("aws:ebs/volume:Volume")) assert.ok(protectedUrns[stack!].includes(urn), `${urn} is not a protected URN the program registers`);
            }
            if (name === "stack output") assert.match(readme, new RegExp(`\`${positional[0]}\``), `${c.line}: README's outputs table has no ${positional[0]}`);
        }
    });

    it("the `kubectl`, `docker` and `npx` commands: documented flags, the image the Dockerfile pins, a test file the suite runs", () => {
        for (const c of commands.filter((x) => x.argv[0] === "kubectl" || untilKubectl(x))) {
            // -n/--namespace may come before the verb (a global flag).
            const words = (untilKubectl(c) ?? c.argv).slice(1);
            const lead = words[0] === "-n" || words[0] === "--namespace" ? 2 : 0;
            const verb = words[lead];
            checkFlags(c.line, [...words.slice(0, lead), ...words.slice(lead + 1)], KUBECTL[verb] ?? assert.fail(`${c.line}: kubectl ${verb} is not in the table`));
        }
        const image = JSON.parse(fs.readFileSync(path.join(ROOT, "images", "pytorch-cuda", "image.json"), "utf8"));
        const docker = commands.filter((c) => c.argv[0] === "docker");
        assert.deepEqual(docker.map((c) => c.argv.slice(0, 4).concat(c.argv.slice(5))), [["docker", "buildx", "imagetools", "inspect", "--format", "{{json .Manifest.Digest}}"]]);
        assert.equal(docker[0].argv[4], `${image.baseImage}:${image.baseTag}`, "the runbook pins the base the Dockerfile builds FROM");
        const mocharc = JSON.parse(fs.readFileSync(path.join(ROOT, ".mocharc.json"), "utf8"));
        for (const c of commands.filter((x) => x.argv[0] === "npx")) {
            assert.deepEqual(c.argv.slice(0, 2), ["npx", "mocha"]);
            const file = c.argv.at(-1)!;
            assert.ok(fs.existsSync(path.join(ROOT, file)) && mocharc.spec.includes(file), `${c.line}: ${file} is not a test of the suite`);
        }
    });
});
