/**
 * The researcher CLI (cli/, `archaeo`) and the researcher's guide (docs/researcher-guide.md), run for real:
 * Debian's Python runs the CLI, a fake `aws` first on PATH answers with recorded AWS responses
 * (test/helpers/fake-aws.ts; every recorded answer checked against botocore's service models), and the
 * workbench image's own sshd (test/helpers/image-sshd.ts) stands in for the workstation, reached by the real
 * `ssh`, `scp` and `rsync` through the ssh config `archaeo ssh-config` wrote. The guide's laptop commands run
 * as written, in order, in a scratch home; the CLI's AWS calls are compared with connectInfo's commands
 * (infra/instance/connect.ts) and with what the researcher's role allows (infra/iam.ts).
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { clusterCliFacts, InstanceCliFacts, instanceCliFacts, setupCode, TRAIN_LOG } from "../infra/cli";
import { HUB_NAMESPACE, HUB_TUNNEL, serverPodName } from "../infra/cluster/manifests";
import { PORTS, RESEARCHER_USER } from "../infra/constants";
import { awsProfileSnippet } from "../infra/foundation/profile";
import { researcherInstancePolicy, SESSION_DOCUMENTS } from "../infra/iam";
import { connectInfo } from "../infra/instance/connect";
import { COST_TAG, physicalName, researcherSsmPath, researcherTags, resourcePrefix } from "../infra/tags";
import { AwsCall, AwsRule, botocoreDataDir, checkCalls, checkRecording, fakeAws, FakeAws, modelOperation } from "./helpers/fake-aws";
import { ImageSshd, startImageSshd } from "./helpers/image-sshd";
import { freePort, PYTHON, requireTool, tmpDir } from "./helpers/tools";

// Light imports only (no Pulumi SDK): this file's CPU counts against the suite's budget.
const ROOT = path.join(__dirname, "..");
const CLI = path.join(ROOT, "cli");
const GUIDE = fs.readFileSync(path.join(ROOT, "docs", "researcher-guide.md"), "utf8");
const [PARTITION, REGION, ACCOUNT] = ["aws", "eu-west-2", "123456789012"];
const STACK = { institution: "uni-archaeology", stack: "prod" };
const INSTANCE = "i-0a11ce00000000001";
const alice = {
    instanceArn: `arn:${PARTITION}:ec2:${REGION}:${ACCOUNT}:instance/${INSTANCE}`,
    roleArn: `arn:${PARTITION}:iam::${ACCOUNT}:role/${physicalName(STACK, ["researcher", "alice"], 64)}`,
    ssmPath: researcherSsmPath(STACK, "alice"),
};
const BUCKET = "archaeo-uni-archaeology-prod-data-0a1b2c3d";
const bucketArn = `arn:${PARTITION}:s3:::${BUCKET}`;
const keyArn = `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b`;
const FACTS = instanceCliFacts({ id: "alice", region: REGION, roleArn: alice.roleArn, bucket: BUCKET, instanceId: INSTANCE, ssmPath: alice.ssmPath });
const CONNECT = connectInfo({ id: "alice", instanceId: INSTANCE, region: REGION, accessMode: "ssm", ssmPath: alice.ssmPath, bucketName: BUCKET, gpus: 1 });
const TOKEN = "3f9c2a".repeat(8);

// ---- recorded responses: botocore output shapes (checked in the first test) ----
const LAUNCHED = "2026-12-07T09:00:05+00:00";
const instance = (state: string, code: number, launch = "2026-12-01T08:00:00+00:00") => ({
    output: { Reservations: [{ ReservationId: "r-0123456789abcdef0", OwnerId: ACCOUNT, Instances: [{ InstanceId: INSTANCE, InstanceType: "g5.xlarge", State: { Code: code, Name: state }, LaunchTime: launch }] }] },
});
const parameter = (name: string, value: string, modified: string, type = "String") => ({
    output: { Parameter: { Name: name, Type: type, Value: value, Version: 3, LastModifiedDate: modified, ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`, DataType: "text" } },
});
const notFound = { error: { code: "ParameterNotFound", message: "" } };
const status = (name: string) => `${alice.ssmPath}/status/${name}`;
const prepared = (when: string) => parameter(status("prepare"), `OK: image 123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo/x@sha256:${"c".repeat(64)} present, SSH keys and Jupyter token in place (${when.slice(0, 19)}Z)`, when);
const stageReport = (text: string, when: string) => parameter(status("prepare"), `${text} (${when.slice(0, 19)}Z)`, when);
const token = parameter(`${alice.ssmPath}/jupyter-token`, TOKEN, "2026-11-02T10:00:00+00:00", "SecureString");
// What AWS CLI v2 prints when the Identity Center token has expired: botocore TokenRetrievalError ("Error when retrieving
// token from {provider}: {error_msg}", awscli/botocore/tokens.py "Token has expired and refresh failed"), exit 255.
const expiredSso = { fail: { stderr: "\naws: [ERROR]: Error when retrieving token from sso: Token has expired and refresh failed\n", rc: 255 } };
const stopping = { output: { StoppingInstances: [{ InstanceId: INSTANCE, CurrentState: { Code: 64, Name: "stopping" }, PreviousState: { Code: 16, Name: "running" } }] } };

const rule = (service: string, operation: string, args: AwsRule["args"], ...responses: AwsRule["responses"]): AwsRule => ({ service, operation, args, profile: "archaeo-alice", region: REGION, responses });
const describeRule = (...responses: AwsRule["responses"]) => rule("ec2", "describe-instances", { "--instance-ids": INSTANCE }, ...responses);

/**
 * A new researcher's first day, as the guide walks it: the workstation stopped and never booted for them (no
 * prepare report yet), started, pending, running; Session Manager refusing the tunnel until the agent connects
 * (TargetNotConnected: session-manager-plugin#5; jupyter-deploy#176 saw it for >90 s after a start); then SSH
 * sessions, an upload, the boot reports, a stop.
 */
const GUIDE_RULES: AwsRule[] = [
    describeRule(instance("stopped", 80), instance("pending", 0, LAUNCHED), instance("running", 16, LAUNCHED)),
    rule("ec2", "start-instances", { "--instance-ids": INSTANCE }, { output: { StartingInstances: [{ InstanceId: INSTANCE, CurrentState: { Code: 0, Name: "pending" }, PreviousState: { Code: 80, Name: "stopped" } }] } }),
    // Issue 20: archaeo-prepare's stages of this boot (infra/instance/files/archaeo-prepare), then its OK.
    rule("ssm", "get-parameter", { "--name": status("prepare") }, notFound,
        stageReport("STAGE 1/3: reading this boot's image reference and SSH keys", "2026-12-07T09:01:30.120000+00:00"),
        stageReport("STAGE 2/3: downloading the workbench image (the first start, or a new image: a few minutes)", "2026-12-07T09:01:32.410000+00:00"),
        stageReport("STAGE 3/3: reading your Jupyter token", "2026-12-07T09:04:02.877000+00:00"),
        prepared("2026-12-07T09:11:41.093000+00:00")),
    rule("ssm", "start-session", { "--target": INSTANCE, "--document-name": "AWS-StartPortForwardingSession" },
        { error: { code: "TargetNotConnected", message: `${INSTANCE} is not connected.` } }, { session: true }),
    rule("ssm", "start-session", { "--target": INSTANCE, "--document-name": "AWS-StartSSHSession", "--parameters": `portNumber=${PORTS.ssh}` }, { session: true }),
    rule("ssm", "get-parameter", { "--name": `${alice.ssmPath}/jupyter-token`, "--with-decryption": true }, token),
    rule("ssm", "get-parameter", { "--name": status("smoke") }, parameter(status("smoke"), "PASS\ncuda: True (2026-12-07T09:14:00Z)", "2026-12-07T09:14:00+00:00")),
    rule("ssm", "get-parameter", { "--name": status("autostop") }, parameter(status("autostop"), "stopping the workstation after 60 idle minutes (2026-12-06T18:00:00Z)", "2026-12-06T18:00:00+00:00")),
    rule("ssm", "get-parameter", {}, notFound),
    // The guide's upload names only the profile: the region is the profile's.
    { ...rule("s3", "sync", {}, { stdout: `upload: sherd-photos/amphora-01.jpg to s3://${BUCKET}/researchers/alice/sherd-photos/amphora-01.jpg\n` }), region: undefined },
    rule("ec2", "stop-instances", { "--instance-ids": INSTANCE }, stopping),
];

/**
 * `archaeo ARGS` as the installed console script runs it (`from archaeo_cli.main import main`), with Debian's Python
 * without site-packages (-S), which also proves the CLI needs the standard library only.
 */
const ARCHAEO = [PYTHON, "-S", "-c", "import sys; from archaeo_cli.main import main; sys.argv[0] = 'archaeo'; sys.exit(main())"];
function archaeo(args: string[], env: NodeJS.ProcessEnv) {
    const r = spawnSync(ARCHAEO[0], [...ARCHAEO.slice(1), ...args], { env, encoding: "utf8", timeout: 60_000 });
    return { status: r.status, out: r.stdout, err: r.stderr };
}

/**
 * Which part of a call the researcher's role does not allow (undefined: all allowed): every action the call needs,
 * each on its resource with the request context IAM evaluates its conditions against (StringEquals, StringLike,
 * Bool; a key the context lacks fails its condition, except with ...IfExists: IAM user guide, "IAM JSON policy
 * elements: Condition operators"). What a call needs, per the Service Authorization Reference
 * and the services' guides: GetParameter --with-decryption also kms:Decrypt on the parameter's key through SSM, with
 * the parameter's ARN as encryption context (Systems Manager user guide, "How AWS Systems Manager Parameter Store
 * uses AWS KMS"); `s3 sync` lists the destination first (ListObjectsV2: s3:ListBucket with s3:prefix; aws-cli
 * s3/subcommands.py SyncCommand) and each upload to a bucket whose default encryption is SSE-KMS needs
 * kms:GenerateDataKey through S3 (S3 user guide, "Using server-side encryption with AWS KMS keys").
 */
function roleRefuses(c: AwsCall, policy = researcherInstancePolicy({ partition: PARTITION, accountId: ACCOUNT, region: REGION, instanceArn: alice.instanceArn, bucketArn, keyArn, researcherId: "alice", researcherSsmPath: alice.ssmPath })): string | undefined {
    type Need = { action: string; resource: string; context?: Record<string, string> };
    const needs: Need[] = [];
    if (c.service === "ec2") needs.push({ action: `ec2:${modelOperation(c.service, c.operation)}`, resource: alice.instanceArn });
    else if (c.service === "s3") {
        const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(c.args[1])!;
        needs.push({ action: "s3:ListBucket", resource: `arn:${PARTITION}:s3:::${bucket}`, context: { "s3:prefix": prefix } },
            { action: "s3:PutObject", resource: `arn:${PARTITION}:s3:::${bucket}/${prefix}x.jpg` },
            { action: "kms:GenerateDataKey", resource: keyArn, context: { "kms:ViaService": `s3.${REGION}.amazonaws.com` } });
    } else if (c.operation === "get-parameter") {
        const parameterArn = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter${c.flags["--name"]}`;
        needs.push({ action: "ssm:GetParameter", resource: parameterArn });
        if (c.flags["--with-decryption"]) needs.push({ action: "kms:Decrypt", resource: keyArn, context: { "kms:ViaService": `ssm.${REGION}.amazonaws.com`, "kms:EncryptionContext:PARAMETER_ARN": parameterArn } });
    } else {
        for (const resource of [alice.instanceArn, `arn:${PARTITION}:ssm:${REGION}::document/${c.flags["--document-name"]}`]) needs.push({ action: `${c.service}:${modelOperation(c.service, c.operation)}`, resource });
    }
    const glob = (pattern: string, s: string) => new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.?+^$()[\]{}|\\]/g, "\\$&")).join(".*")}$`).test(s);
    const holds = (condition: Record<string, Record<string, string | string[]>> | undefined, context: Record<string, string>) => Object.entries(condition ?? {}).every(([op, keys]) =>
        Object.entries(keys).every(([key, values]) => {
            const base = op.replace(/IfExists$/, "");
            if (!(key in context)) return base !== op; // ...IfExists: true when the request lacks the key
            return [values].flat().some((v) => base === "StringLike" ? glob(v, context[key]) : base === "StringEquals" || base === "Bool" ? v === context[key] : false);
        }));
    for (const n of needs) {
        const ok = policy.Statement.some((st) => st.Effect === "Allow" && [st.Action].flat().includes(n.action) && [st.Resource ?? []].flat().some((r) => glob(String(r), n.resource)) && holds(st.Condition, n.context ?? {}));
        if (!ok) return `${n.action} on ${n.resource}${n.context ? ` (${JSON.stringify(n.context)})` : ""}`;
    }
    return undefined;
}

/** Output of a child until `marker` appears (or it exits), then Ctrl-C; resolves with its exit code and output. */
async function untilThenCtrlC(child: ChildProcess, marker: string, onReady?: (out: string) => Promise<void>): Promise<{ code: number | null; out: string; err: string }> {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => { out += d; });
    child.stderr!.on("data", (d) => { err += d; });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    for (let i = 0; i < 600 && !out.includes(marker) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes(marker), `'${marker}' never came:\n${out}\n${err}`);
    if (onReady) await onReady(out);
    child.kill("SIGINT");
    return { code: await exited, out, err };
}

const portOpen = (port: number) => new Promise<boolean>((r) => { const s = net.connect(port, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });

// ---- the guide, as blocks and commands ----
interface Block { tag: string; lang: string; body: string; section: string }
function guideBlocks(): Block[] {
    const out: Block[] = [];
    let section = "";
    const lines = GUIDE.split("\n");
    for (let i = 0; i < lines.length; i++) {
        if (lines[i].startsWith("## ")) section = lines[i].slice(3);
        const m = /^```(\S*)(?: (\S+))?$/.exec(lines[i]);
        if (!m || !m[1]) continue;
        const end = lines.indexOf("```", i + 1);
        out.push({ lang: m[1], tag: m[2] ?? "", body: lines.slice(i + 1, end).join("\n"), section });
        i = end;
    }
    return out;
}
/** A block's commands: one per line (a trailing backslash continues it), comments and blank lines left out. */
const commands = (body: string) => body.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

describe("the researcher's guide (docs/researcher-guide.md), every laptop command run as written, and the archaeo CLI", function () {
    this.timeout(120_000);
    let aws: FakeAws;
    let sshd: ImageSshd;
    let jupyter: http.Server;
    let home = "";
    let laptop = "";
    let workspace = "";
    let env: NodeJS.ProcessEnv = {};
    const guideCalls: AwsCall[] = [];
    const browserLog = () => path.join(home, "browser.log");
    const laptopCommands = (section: string) => guideBlocks().filter((b) => b.tag === "laptop" && b.section.startsWith(section)).flatMap((b) => commands(b.body));
    /**
     * What differs here from a researcher's laptop, and nothing else: the setup line (the guide shows it cut short),
     * and the workstation's /workspace and /mydata, which the stand-in keeps in its home.
     */
    const local = (cmd: string) => cmd.replace(/archaeo1\.\S*…/, setupCode({ ...FACTS, trainLog: FACTS.trainLog.replace("/workspace/", `${workspace}/`) } as InstanceCliFacts))
        .replace(/(?<![\w.])\/workspace\//g, `${workspace}/`).replace(/(?<![\w.])\/mydata\//g, `${workspace}/mydata/`);
    const sh = (cmd: string) => {
        const r = spawnSync("bash", ["-c", local(cmd)], { cwd: laptop, env, encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, `${cmd}\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
    };
    const shAsync = (cmd: string) => spawn("bash", ["-c", `exec ${local(cmd)}`], { cwd: laptop, env });

    before(async () => {
        requireTool(PYTHON, "python3");
        requireTool("/usr/bin/rsync", "rsync");
        sshd = await startImageSshd({
            stubs: {
                // The workstation's programs that need its GPU and image: the same command lines, answered here.
                "nvidia-smi": 'echo "| NVIDIA A10G   On | 00000000:00:1E.0 Off |   0MiB / 23028MiB |"',
                "archaeo-train": 'out=""; while [ $# -gt 0 ]; do [ "$1" = --output-dir ] && out="$2"; shift; done\nmkdir -p "$out"\nfor e in 1 2 3; do echo "epoch $e/3 val_acc 0.8$e"; done\necho \'{"model": "resnet50"}\' > "$out/run.json"',
            },
        });
        workspace = path.join(sshd.home, "workspace");
        fs.mkdirSync(path.join(workspace, "mydata"), { recursive: true });
        for (const p of [workspace, path.join(workspace, "mydata")]) sshd.own(p);
        // Jupyter as the tunnel reaches it: /api answers without a token (jupyter_server base/handlers.py APIVersionHandler, @allow_unauthenticated).
        jupyter = http.createServer((req, res) => {
            if (req.url === "/api") res.writeHead(200, { "Content-Type": "application/json" }).end('{"version": "2.17.0"}');
            else res.writeHead(404).end();
        });
        await new Promise<void>((r) => jupyter.listen(0, "127.0.0.1", r));
        aws = fakeAws({ rules: GUIDE_RULES, ports: { [PORTS.jupyter]: (jupyter.address() as net.AddressInfo).port, [PORTS.ssh]: sshd.port } });

        home = tmpDir("archaeo-cli-home-");
        laptop = path.join(home, "laptop");
        for (const d of [".aws", ".ssh", "laptop/sherd-photos", "bin"]) fs.mkdirSync(path.join(home, d), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(laptop, "sherd-photos", "amphora-01.jpg"), "jpeg bytes");
        // The researcher's Identity Center profile as `aws configure sso` writes it, their key, and ssh entries of their own.
        fs.writeFileSync(path.join(home, ".aws", "config"), "[default]\nregion = eu-west-2\n\n[profile uni-sso]\nsso_session = uni\nsso_account_id = 123456789012\nsso_role_name = Researcher\n\n[sso-session uni]\nsso_start_url = https://uni.awsapps.com/start\nsso_region = eu-west-2\n");
        fs.copyFileSync(sshd.key, path.join(home, ".ssh", "id_ed25519"));
        fs.chmodSync(path.join(home, ".ssh", "id_ed25519"), 0o600);
        fs.writeFileSync(path.join(home, ".ssh", "config"), "ServerAliveInterval 60\n\nHost github.com\n    User git\n\nHost *\n    User bob\n    Port 22\n", { mode: 0o600 });
        const bin = path.join(home, "bin");
        // The console script pip writes for [project.scripts] archaeo = "archaeo_cli.main:main", on Debian's Python without site.
        fs.writeFileSync(path.join(bin, "archaeo"), `#!${PYTHON} -S\nimport sys\nsys.path.insert(0, ${JSON.stringify(CLI)})\nfrom archaeo_cli.main import main\nsys.exit(main())\n`, { mode: 0o755 });
        // ssh reads ~/.ssh/config from the passwd home, not $HOME (so -F), and logs in as the stand-in's own account, not
        // `researcher` (so User; ssh-config's own User is checked with ssh -G below). The key exchange is curve25519: OpenSSH's
        // post-quantum default (sntrup761x25519) costs about 0.1 s of CPU a connection at each end, and the path is what is tested.
        const extra = `-F "$HOME/.ssh/config" -o User=${sshd.user} -o UserKnownHostsFile="$HOME/.ssh/known_hosts" -o BatchMode=yes -o KexAlgorithms=curve25519-sha256`;
        fs.writeFileSync(path.join(bin, "ssh"), `#!/bin/sh\nexec /usr/bin/ssh ${extra} "$@"\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "scp"), `#!/bin/sh\nexec /usr/bin/scp ${extra} "$@"\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "fake-browser"), `#!/bin/sh\necho "$1" >> ${JSON.stringify(browserLog())}\n`, { mode: 0o755 });
        env = aws.env({
            HOME: home, PATH: `${bin}:${aws.bin}:${process.env.PATH}`, ARCHAEO_HOME: path.join(home, "archaeo"), ARCHAEO_POLL_SECONDS: "0.02",
            BROWSER: path.join(bin, "fake-browser"), PYTHONPATH: CLI,
        });
        // PYTHONDONTWRITEBYTECODE off: the CLI's modules compile once into cli/archaeo_cli/__pycache__ (ignored by git), not at every run.
        for (const k of ["ARCHAEO_SSH_CONFIG", "ARCHAEO_NO_BROWSER", "ARCHAEO_SSH_ARGS", "AWS_CONFIG_FILE", "PYTHONDONTWRITEBYTECODE"]) delete env[k];
    });

    after(() => {
        jupyter?.close();
        sshd?.stop();
        aws?.cleanup();
        if (home) fs.rmSync(home, { recursive: true, force: true });
    });

    describe("docs/researcher-guide.md", () => {
        it("every command block says where it runs: laptop (run here, below), workstation or install (checked, not run: GPU, internet, a browser)", () => {
            const blocks = guideBlocks();
            assert.ok(blocks.length >= 10, "the guide's blocks were found");
            for (const b of blocks) assert.ok(["laptop", "workstation", "install"].includes(b.tag), `a block in '${b.section}' is tagged '${b.tag}'`);
            for (const b of blocks.filter((x) => x.lang === "sh")) {
                const r = spawnSync("bash", ["-n"], { input: b.body, encoding: "utf8" });
                assert.equal(r.status, 0, `bash -n: ${b.body}\n${r.stderr}`);
            }
            // Workstation commands name programs the image has: its Python package's scripts (pyproject [project.scripts]),
            // its apt packages (Dockerfile), Python, and the smoke test it copies to /opt/archaeo.
            const scripts = [...fs.readFileSync(path.join(ROOT, "images/pytorch-cuda/python/pyproject.toml"), "utf8").matchAll(/^(archaeo-[a-z-]+) = /gm)].map((m) => m[1]);
            const dockerfile = fs.readFileSync(path.join(ROOT, "images/pytorch-cuda/Dockerfile"), "utf8");
            const apt = /apt-get install -y --no-install-recommends (openssh-server [^\\\n]+)/.exec(dockerfile)![1].split(/\s+/);
            assert.ok(dockerfile.includes("COPY --chmod=0644 smoke.py /opt/archaeo/"));
            for (const cmd of blocks.filter((b) => b.tag === "workstation").flatMap((b) => commands(b.body))) {
                const program = cmd.split(/\s+/)[0];
                assert.ok(scripts.includes(program) || apt.includes(program) || program === "python", `${program} (${cmd}) is in the image`);
            }
            assert.ok(GUIDE.includes(CONNECT.tensorboardUrl), "TensorBoard's address as connectInfo gives it");
            assert.ok(GUIDE.includes(`archaeo-alice:${TRAIN_LOG.replace(/\/train\.log$/, "/")}`) || GUIDE.includes(`> ${TRAIN_LOG} 2>&1`), "the background run writes where archaeo logs reads");
        });

        it("commands a Windows laptop runs too give no native program a `~` path: PowerShell does not expand it (PowerShell/Win32-OpenSSH#2206)", () => {
            // PowerShell expands `~` only for its own provider cmdlets, never in an argument to a native executable, so
            // `ssh-keygen -f ~/.ssh/id_ed25519` writes to a directory named `~` (or fails). archaeo expands it itself
            // (os.path.expanduser, which reads USERPROFILE on Windows).
            const windows = guideBlocks().filter((b) => b.tag === "laptop" || (b.tag === "install" && b.lang === "sh" && !/^# (macOS|Linux)/.test(b.body)));
            const tilde = windows.flatMap((b) => commands(b.body)).filter((c) => c.split(/\s+/).slice(1).some((w) => w.startsWith("~")) && c.split(/\s+/)[0] !== "archaeo");
            assert.deepEqual(tilde, []);
            assert.ok(guideBlocks().some((b) => commands(b.body).includes("ssh-keygen -t ed25519")), "ssh-keygen's default path is ~/.ssh/id_ed25519 on every OS");
        });

        it("1. laptop: the tools answer; archaeo setup stores the workstation and writes the stack's awsProfile with the researcher's sign-in profile", () => {
            const cmds = laptopCommands("1.");
            assert.deepEqual(cmds.map((c) => c.split(" ").slice(0, 2).join(" ")), ["aws --version", "session-manager-plugin --version", "archaeo --version", `archaeo setup`]);
            const outs = cmds.map(sh);
            assert.match(outs[0], /^aws-cli\/2\./);
            assert.match(outs[2], /^archaeo \d/);
            assert.match(outs[3], /Identity Center profile 'uni-sso'/);
            const config = fs.readFileSync(path.join(home, ".aws", "config"), "utf8");
            const block = /\n# >>> archaeo-workbench alice: setup[^\n]*\n([\s\S]*?)\n# <<< archaeo-workbench alice: setup <<</.exec(config)?.[1];
            const snippet = awsProfileSnippet({ id: "alice", roleArn: alice.roleArn, region: REGION }).split("\n").filter((l) => !l.startsWith("#")).join("\n");
            assert.equal(block, snippet.replace("source_profile = default", "source_profile = uni-sso"), "the stack's awsProfile, with the sign-in profile filled in");
            assert.ok(config.startsWith("[default]\nregion = eu-west-2\n\n[profile uni-sso]"), "the researcher's own profiles untouched");
            // The AWS CLI reads the file with configparser.RawConfigParser (botocore configloader), which refuses a duplicate section.
            const read = spawnSync(PYTHON, ["-S", "-c", "import configparser,sys; c=configparser.RawConfigParser(); c.read(sys.argv[1]); print(c['profile archaeo-alice']['source_profile'])", path.join(home, ".aws", "config")], { encoding: "utf8" });
            assert.equal(read.stdout.trim(), "uni-sso", read.stderr);
        });

        it("2. archaeo open: starts the stopped workstation, shows its first boot, retries the tunnel until the agent connects, opens Jupyter with the token; Ctrl-C closes the tunnel", async () => {
            const [cmd] = laptopCommands("2.");
            assert.equal(cmd, "archaeo open");
            const before = aws.calls().length;
            let port = 0;
            const run = await untilThenCtrlC(shAsync(cmd), "Leave this window open", async (out) => {
                port = Number(/Jupyter: +http:\/\/localhost:(\d+)\/lab/.exec(out)![1]);
                // The tunnel is up and reaches the workstation's Jupyter.
                const api = await new Promise<string>((resolve, reject) => http.get(`http://127.0.0.1:${port}/api`, (res) => { let b = ""; res.on("data", (d) => { b += d; }); res.on("end", () => resolve(b)); }).on("error", reject));
                assert.match(api, /"version"/);
            });
            assert.equal(run.code, 0, run.err);
            const url = `http://localhost:${port}/lab?token=${TOKEN}`;
            const lines = run.out.split("\n");
            const order = ["is stopped", "Starting it", "instance is pending", "running", "Preparing: pulling the workbench image and fetching your token (the first start: 2-4 minutes).",
                "STAGE 1/3: reading this boot's image reference and SSH keys", "STAGE 2/3: downloading the workbench image", "STAGE 3/3: reading your Jupyter token", "Image ready",
                "Opening the tunnel", "not connected yet; retrying", `Jupyter:     ${url}`, `TensorBoard: http://localhost:${port}/tensorboard/`, "Closing the tunnel"];
            let at = -1;
            for (const step of order) {
                const i = lines.findIndex((l, j) => j > at && l.includes(step));
                assert.ok(i > at, `'${step}' after the previous step in:\n${run.out}`);
                at = i;
            }
            assert.equal(fs.readFileSync(browserLog(), "utf8").trim(), url, "the browser got the URL with the token (Python's webbrowser, BROWSER)");
            assert.ok(!(await portOpen(port)), "the tunnel is closed");

            const calls = aws.calls().slice(before);
            guideCalls.push(...calls);
            assert.deepEqual(aws.unmatched(), []);
            const ops = calls.map((c) => `${c.service} ${c.operation}`);
            assert.deepEqual([...new Set(ops)], ["ec2 describe-instances", "ec2 start-instances", "ssm get-parameter", "ssm start-session"]);
            assert.equal(ops.filter((o) => o === "ec2 start-instances").length, 1, "started once");
            assert.equal(ops.filter((o) => o === "ssm start-session").length, 2, "retried after TargetNotConnected");
            for (const c of calls) assert.deepEqual([c.profile, c.region], ["archaeo-alice", REGION], "the researcher's profile and region, as connectInfo's commands");
            // The commands connectInfo prints (README: connect.start, connect.token, connect.jupyterTunnel).
            const start = calls.find((c) => c.operation === "start-instances")!;
            assert.equal(`aws --profile ${start.profile} --region ${start.region} ${start.service} ${start.operation} --instance-ids ${start.flags["--instance-ids"]}`, CONNECT.start);
            const tokenCall = calls.find((c) => c.flags["--name"] === `${alice.ssmPath}/jupyter-token`)!;
            assert.ok(CONNECT.token.includes(`ssm get-parameter --with-decryption --name ${tokenCall.flags["--name"]} `) && tokenCall.flags["--with-decryption"] === true);
            const tunnel = calls.filter((c) => c.operation === "start-session").pop()!;
            const printed = /--target (\S+) --document-name (\S+) --parameters '([^']+)'/.exec(CONNECT.jupyterTunnel)!;
            assert.deepEqual([tunnel.flags["--target"], tunnel.flags["--document-name"]], [printed[1], printed[2]]);
            assert.ok((SESSION_DOCUMENTS as readonly string[]).includes(String(tunnel.flags["--document-name"])));
            assert.deepEqual(JSON.parse(String(tunnel.flags["--parameters"])), { ...JSON.parse(printed[3]), localPortNumber: [String(port)] });
            assert.equal(JSON.parse(printed[3]).portNumber[0], String(PORTS.jupyter));
        });

        it("3. archaeo ssh-config writes Host archaeo-alice first, as ssh reads it (ssh -G), idempotently, the researcher's entries untouched; ssh, a background run and archaeo logs go through it", async () => {
            const [config, sshCmd, background, logs] = laptopCommands("3.");
            const file = path.join(home, ".ssh", "config");
            const original = fs.readFileSync(file, "utf8");
            sh(config);
            const text = fs.readFileSync(file, "utf8");
            assert.ok(text.endsWith(original), "the researcher's lines follow, unchanged");
            sh(config);
            assert.equal(fs.readFileSync(file, "utf8"), text, "a second run replaces the block with itself");
            assert.equal(text.split("Host archaeo-alice").length, 2, "one entry");
            // ssh -G prints the configuration ssh would use (OpenSSH ssh(1)); an unknown keyword fails it.
            const g = spawnSync("/usr/bin/ssh", ["-G", "-F", file, "archaeo-alice"], { encoding: "utf8" });
            assert.equal(g.status, 0, g.stderr);
            const opt = (k: string) => new RegExp(`^${k} (.*)$`, "m").exec(g.stdout)?.[1];
            assert.equal(opt("user"), RESEARCHER_USER, "not the researcher's Host * User");
            assert.equal(opt("port"), String(PORTS.ssh));
            assert.equal(opt("hostname"), INSTANCE);
            assert.equal(opt("hostkeyalias"), "archaeo-alice");
            assert.equal(opt("identityfile"), path.join(home, ".ssh", "id_ed25519"));
            const github = spawnSync("/usr/bin/ssh", ["-G", "-F", file, "github.com"], { encoding: "utf8" }).stdout;
            assert.match(github, /^user git$/m, "the researcher's hosts keep their settings");
            assert.match(github, /^serveraliveinterval 60$/m, "global lines stay global");
            // The ProxyCommand is connect.ssh's, with the AWS CLI's full path (apps started from the desktop may lack it on PATH).
            assert.equal(opt("proxycommand"), /ProxyCommand="([^"]+)"/.exec(CONNECT.ssh)![1].replace(/^aws /, `${path.join(aws.bin, "aws")} `));
            assert.match(CONNECT.ssh, new RegExp(`-p ${opt("port")} .*${opt("user")}@${opt("hostname")}$`));

            const before = aws.calls().length;
            assert.match(sh(sshCmd), /NVIDIA A10G/);
            assert.match(fs.readFileSync(path.join(home, ".ssh", "known_hosts"), "utf8"), /^archaeo-alice ssh-ed25519 /m, "host key recorded under the alias (accept-new)");
            sh(background);
            const followed = await untilThenCtrlC(shAsync(logs), "epoch 3/3");
            assert.match(followed.out, /Following \S+train\.log on archaeo-alice[\s\S]*epoch 1\/3 val_acc 0\.81\nepoch 2\/3/);
            assert.equal(FACTS.trainLog, /> (\S+) 2>&1/.exec(CONNECT.train)![1], "archaeo logs reads where connect.train writes");
            const calls = aws.calls().slice(before);
            guideCalls.push(...calls);
            assert.ok(calls.length === 3 && calls.every((c) => c.operation === "start-session" && c.flags["--document-name"] === "AWS-StartSSHSession"), "each connection through Session Manager");
        });

        it("4. data in and out: s3 sync to the researcher's area, rsync both ways and scp through the ssh config", () => {
            const before = aws.calls().length;
            for (const cmd of laptopCommands("4.")) sh(cmd);
            assert.equal(fs.readFileSync(path.join(workspace, "sherd-photos", "amphora-01.jpg"), "utf8"), "jpeg bytes");
            assert.equal(fs.readFileSync(path.join(laptop, "results", "sherds", "run.json"), "utf8").trim(), '{"model": "resnet50"}');
            assert.equal(fs.readFileSync(path.join(laptop, "run.json"), "utf8").trim(), '{"model": "resnet50"}');
            const calls = aws.calls().slice(before);
            guideCalls.push(...calls);
            const sync = calls.find((c) => c.service === "s3")!;
            assert.deepEqual(sync.args, ["./sherd-photos", `s3://${BUCKET}/researchers/alice/sherd-photos/`]);
            assert.equal(sync.profile, "archaeo-alice");
            assert.ok(sync.args[1].startsWith(CONNECT.upload.split(" ").pop()!.replace(/my-images\/$/, "")), "the area connect.upload syncs to");
        });

        it("5. archaeo status shows this boot's reports (an earlier boot's marked) and the data area; archaeo stop the transition", () => {
            const [statusCmd, stopCmd] = laptopCommands("5.");
            const before = aws.calls().length;
            const s = sh(statusCmd);
            assert.match(s, new RegExp(`Workstation ${INSTANCE} \\(g5.xlarge\\): running since 2026-12-07 09:00 UTC`));
            assert.match(s, /\n {2}prepare {7}OK: image \S+ present, SSH keys and Jupyter token in place \(2026-12-07T09:11:41Z\)\n/);
            assert.match(s, /\n {2}smoke {9}PASS\n/);
            assert.match(s, /autostop +stopping the workstation after 60 idle minutes \(2026-12-06T18:00:00Z\) {2}\[an earlier boot\]/);
            assert.ok(CONNECT.upload.includes(` ${/Your data: (s3:\/\/\S+)/.exec(s)![1]}my-images/`), "the area connect.upload syncs to");
            assert.match(sh(stopCmd), new RegExp(`Workstation ${INSTANCE}: running -> stopping\\. Your files stay`));
            const calls = aws.calls().slice(before);
            guideCalls.push(...calls);
            const stop = calls.find((c) => c.operation === "stop-instances")!;
            assert.equal(`aws --profile ${stop.profile} --region ${stop.region} ec2 stop-instances --instance-ids ${stop.flags["--instance-ids"]}`, CONNECT.stop);
        });

        it("every AWS call of the guide's commands: a recorded answer, flags of the operation (botocore), allowed by the researcher's role", () => {
            assert.ok(guideCalls.length >= 15, `${guideCalls.length} calls`);
            assert.deepEqual(aws.unmatched(), []);
            assert.deepEqual(checkCalls(guideCalls), []);
            for (const c of guideCalls) assert.equal(roleRefuses(c), undefined, `the researcher's role allows aws ${c.argv.join(" ")} (status reads each report with GetParameter: no GetParametersByPath)`);
            // Controls: the token's decryption and the sync's listing are checked, not assumed.
            const full = researcherInstancePolicy({ partition: PARTITION, accountId: ACCOUNT, region: REGION, instanceArn: alice.instanceArn, bucketArn, keyArn, researcherId: "alice", researcherSsmPath: alice.ssmPath });
            const without = (sid: string) => ({ ...full, Statement: full.Statement.filter((st) => st.Sid !== sid) });
            const tokenCall = guideCalls.find((c) => c.flags["--with-decryption"])!;
            const syncCall = guideCalls.find((c) => c.service === "s3" && c.operation === "sync")!;
            assert.match(roleRefuses(tokenCall, without("DecryptOwnToken")) ?? "", /^kms:Decrypt on .*PARAMETER_ARN/);
            assert.match(roleRefuses(syncCall, without("ListSharedAndOwnPrefixes")) ?? "", /^s3:ListBucket on arn:aws:s3:::archaeo-uni-archaeology-prod-data-0a1b2c3d \(\{"s3:prefix":"researchers\/alice\/sherd-photos\/"\}\)/);
            assert.match(roleRefuses(syncCall, without("StackKeyThroughS3")) ?? "", /^kms:GenerateDataKey/);
            assert.deepEqual(checkRecording(GUIDE_RULES), []);
            // Control: a made-up state and member are caught.
            assert.equal(checkRecording([describeRule({ output: { Reservations: [{ Instances: [{ State: { Name: "asleep" }, Colour: "red" }] }] } })]).length, 2);
        });

        it("6. the troubleshooting table quotes what the tools print", async () => {
            const table = GUIDE.slice(GUIDE.indexOf("## 6."));
            // TargetNotConnected, and a workstation whose sshd is not up yet, as the real ssh reports them through the ProxyCommand.
            const closed = await freePort();
            const rules: AwsRule[] = [
                rule("ssm", "start-session", { "--target": INSTANCE }, { error: { code: "TargetNotConnected", message: `${INSTANCE} is not connected.` } }, { session: true }),
                describeRule(expiredSso), rule("ssm", "get-parameter", {}, notFound),
            ];
            // The same fake the ssh config's ProxyCommand names, its SSH port now a port where nothing listens.
            aws.setRules(rules, { [PORTS.ssh]: closed });
            {
                const down = spawnSync("ssh", ["archaeo-alice", "true"], { env, encoding: "utf8" }).stderr;
                assert.ok(down.includes(`An error occurred (TargetNotConnected) when calling the StartSession operation: ${INSTANCE} is not connected.`), down);
                const booting = spawnSync("ssh", ["archaeo-alice", "true"], { env, encoding: "utf8" }).stderr;
                for (const said of [down, booting]) assert.match(said, /kex_exchange_identification: Connection closed by remote host\r?\nConnection closed by UNKNOWN port 65535/);
                // An expired sign-in: archaeo names the command that renews it, with the researcher's own sign-in profile.
                const expired = spawnSync("archaeo", ["status"], { env, encoding: "utf8" });
                assert.equal(expired.status, 1);
                assert.equal(expired.stderr.trim(), "archaeo: your AWS sign-in has expired: run  aws sso login --profile uni-sso  and then this again");
                // The Session Manager plugin missing when the tunnel starts, as the AWS CLI says it: aws-cli
                // awscli/customizations/sessionmanager.py ERROR_MESSAGE, raised as a ValueError and printed alone, exit 255.
                const pluginMissing = "SessionManagerPlugin is not found. Please refer to SessionManager Documentation here: http://docs.aws.amazon.com/console/systems-manager/session-manager-plugin-not-found";
                aws.setRules([describeRule(instance("running", 16, LAUNCHED)), rule("ssm", "get-parameter", { "--name": status("prepare") }, prepared("2026-12-07T09:11:41.093000+00:00")),
                    rule("ssm", "get-parameter", { "--name": `${alice.ssmPath}/jupyter-token`, "--with-decryption": true }, token),
                    rule("ssm", "start-session", {}, { fail: { stderr: `\n${pluginMissing}\n`, rc: 255 } })], { [PORTS.ssh]: sshd.port });
                const plugin = spawnSync("archaeo", ["open", "--no-browser"], { env, encoding: "utf8" });
                assert.equal(plugin.status, 1, plugin.stdout);
                assert.match(plugin.stderr, /^archaeo: the Session Manager plugin is not installed, or not on PATH: install it \(https:/);
                // The profile gone from the AWS config: botocore's ProfileNotFound ("The config profile ({profile}) could not be found",
                // botocore/exceptions.py), printed alone, exit 255.
                const profileText = /fmt = '(The config profile \(\{profile\}\) could not be found)'/.exec(fs.readFileSync(path.join(botocoreDataDir(), "..", "exceptions.py"), "utf8"))![1].replace("{profile}", "archaeo-alice");
                aws.setRules([describeRule({ fail: { stderr: `\n${profileText}\n`, rc: 255 } })]);
                const profile = spawnSync("archaeo", ["status"], { env, encoding: "utf8" });
                assert.equal(profile.status, 1);
                assert.equal(profile.stderr.trim(), "archaeo: The config profile (archaeo-alice) could not be found (profile archaeo-alice is not in your AWS config: run archaeo setup again)");
                // A key the workstation does not know, through the written ssh config and a working session: OpenSSH's own words.
                aws.setRules([rule("ssm", "start-session", { "--target": INSTANCE }, { session: true })], { [PORTS.ssh]: sshd.port });
                const keyFile = path.join(home, ".ssh", "id_ed25519");
                const ours = fs.readFileSync(keyFile);
                let denied = "";
                try {
                    fs.rmSync(keyFile);
                    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile], { encoding: "utf8" }).status, 0);
                    denied = spawnSync("ssh", ["archaeo-alice", "true"], { env, encoding: "utf8" }).stderr;
                } finally {
                    fs.writeFileSync(keyFile, ours, { mode: 0o600 });
                    fs.rmSync(`${keyFile}.pub`, { force: true });
                }
                assert.match(denied, /Permission denied \(publickey\)/);
                const said = (text: string, quote: string) => assert.ok(text.includes(quote.replace(/…$/, "")), `the tools print: ${quote}\n${text}`);
                said(down, "An error occurred (TargetNotConnected) when calling the StartSession operation: i-…".replace("i-…", INSTANCE));
                said(plugin.stderr + pluginMissing, "SessionManagerPlugin is not found");
                said(profileText, "The config profile (archaeo-alice) could not be found");
                said(denied, "Permission denied (publickey)");
                const quoted = [
                    `An error occurred (TargetNotConnected) when calling the StartSession operation: i-… is not connected.`,
                    "kex_exchange_identification: Connection closed by remote host", "Connection closed by UNKNOWN port 65535",
                    expired.stderr.trim(), "Error when retrieving token from sso: Token has expired and refresh failed",
                    "SessionManagerPlugin is not found", profileText, "Permission denied (publickey)",
                    "archaeo: the workstation could not prepare the workbench: FAIL: …",
                ];
                for (const q of quoted) assert.ok(table.includes(`\`${q}\``), `the table quotes: ${q}`);
                // What the table says to do is what archaeo said: install the plugin; run archaeo setup again.
                assert.match(table, /`SessionManagerPlugin is not found` \| [^|]+ \| install it/);
                assert.match(table, /`The config profile \(archaeo-alice\) could not be found` \| [^|]+ \| run `archaeo setup`/);
            }
        });
    });

    describe("archaeo CLI, beyond the guide's path", () => {
        it("setup refuses what it cannot use, naming the fix: a damaged code, a newer format, a hand-written profile of the same name; a second setup changes nothing", () => {
            const code = setupCode(FACTS);
            // What `archaeo setup` prints for each (facts.decode's UserError), read in one process.
            const decode = spawnSync(PYTHON, ["-S", "-c", "import sys\nfrom archaeo_cli import facts\nfor c in sys.argv[1:]:\n    try:\n        facts.decode(c)\n        print('accepted')\n    except facts.UserError as e:\n        print(e)",
                code.slice(0, 60), setupCode({ ...FACTS, v: 2 } as unknown as InstanceCliFacts), setupCode({ ...FACTS, instanceId: "i-xyz" }), "AKIAEXAMPLE", code], { env, encoding: "utf8" });
            const [damaged, newer, badId, notCode, good] = decode.stdout.trim().split("\n");
            assert.match(damaged, /damaged \(cut short or wrapped over two lines\?\)/, decode.stderr);
            assert.match(newer, /format v2; this archaeo understands v1: upgrade it/);
            assert.match(badId, /has instance 'i-xyz', not an EC2 instance id/);
            assert.match(notCode, /'AKIAEXAMPLE\.\.\.' is not a setup code: it starts with archaeo1\./);
            assert.equal(good, "accepted");
            const other = path.join(home, "other-config");
            fs.writeFileSync(other, "[profile uni-sso]\nsso_session = uni\n\n[profile archaeo-alice]\nrole_arn = x\n");
            const r = archaeo(["setup", code, "--aws-config", other], env);
            assert.equal(r.status, 1);
            assert.match(r.err, /already has a \[profile archaeo-alice\] that archaeo did not write: delete that section/);
            const config = fs.readFileSync(path.join(home, ".aws", "config"), "utf8");
            assert.equal(archaeo(["setup", `archaeo setup ${code}`], env).status, 0, "the whole line pasted works too");
            assert.equal(fs.readFileSync(path.join(home, ".aws", "config"), "utf8"), config, "idempotent");
        });

        it("open stops at this boot's failed report (an earlier boot's OK does not count)", () => {
            aws.setRules([describeRule(instance("running", 16, LAUNCHED)),
                rule("ssm", "get-parameter", { "--name": status("prepare") }, prepared("2026-12-01T08:04:00.512000+00:00"),
                    parameter(status("prepare"), "FAIL: cannot pull 1234.dkr.ecr/x@sha256:c (2026-12-07T09:30:00Z)", "2026-12-07T09:30:00+00:00"))]);
            const failed = archaeo(["open", "--no-browser"], env);
            assert.equal(failed.status, 1, failed.out);
            assert.match(failed.err, /^archaeo: the workstation could not prepare the workbench: FAIL: cannot pull/);
            assert.match(failed.err, /archaeo status/);
            assert.deepEqual(aws.unmatched(), [], "no tunnel was tried on the earlier boot's OK");
        });

        it("a replaced workstation (restore, zone move, auto-stop change: a new instance id) is found by its tags, stored, and the ssh entry follows it", () => {
            // EC2 answers a describe of an id that no longer exists with InvalidInstanceID.NotFound (EC2 API reference,
            // "Error codes"), and of a recently terminated one with State terminated. The researcher's role may describe
            // any instance (infra/iam.ts SeeWorkstations, Resource *); the workstation carries researcher=<id> (tags.ts
            // researcherTags) and the stack's workbench=<resourcePrefix> (standardTags, the provider's default tags).
            const NEW = "i-0a11ce000000000ff";
            const replacement = { output: { Reservations: [{ ReservationId: "r-0fedcba9876543210", OwnerId: ACCOUNT, Instances: [{ InstanceId: NEW, InstanceType: "g5.xlarge", State: { Code: 16, Name: "running" }, LaunchTime: "2026-12-07T12:00:00+00:00" }] }] } };
            const stopped = { output: { StoppingInstances: [{ InstanceId: NEW, CurrentState: { Code: 64, Name: "stopping" }, PreviousState: { Code: 16, Name: "running" } }] } };
            const sshConfig = path.join(home, ".ssh", "config");
            const sshBefore = fs.readFileSync(sshConfig, "utf8");
            const factsFile = path.join(home, "archaeo", "alice.json");
            const factsBefore = fs.readFileSync(factsFile, "utf8");
            const filters = [`Name=tag:${Object.keys(researcherTags("alice"))[0]},Values=alice`, `Name=tag:${COST_TAG},Values=${resourcePrefix(STACK)}`, "Name=instance-state-name,Values=pending,running,stopping,stopped"].join(" ");
            const byTags = (...responses: AwsRule["responses"]) => rule("ec2", "describe-instances", { "--filters": filters }, ...responses);
            try {
                for (const [n, gone] of [{ error: { code: "InvalidInstanceID.NotFound", message: `The instance ID '${INSTANCE}' does not exist` } }, instance("terminated", 48)].entries()) {
                    fs.writeFileSync(factsFile, factsBefore);
                    fs.writeFileSync(sshConfig, sshBefore);
                    const rules = [describeRule(gone), byTags(replacement), rule("ec2", "describe-instances", { "--instance-ids": NEW }, replacement), rule("ec2", "stop-instances", { "--instance-ids": NEW }, stopped)];
                    if (n === 0) assert.deepEqual(checkRecording(rules), []);
                    aws.setRules(rules);
                    const r = archaeo(["stop"], env);
                    assert.equal(r.status, 0, r.err);
                    assert.match(r.out, new RegExp(`replaced .*: ${INSTANCE} is now ${NEW}`));
                    assert.match(r.out, new RegExp(`Workstation ${NEW}: running -> stopping`));
                    assert.equal(JSON.parse(fs.readFileSync(factsFile, "utf8")).instanceId, NEW, "stored for the next command");
                    assert.equal(fs.readFileSync(sshConfig, "utf8"), sshBefore.replace(`HostName ${INSTANCE}`, `HostName ${NEW}`), "the ssh entry's HostName (the ProxyCommand's %h), nothing else");
                    if (n > 0) continue;
                    const g = spawnSync("/usr/bin/ssh", ["-G", "-F", sshConfig, "archaeo-alice"], { encoding: "utf8" });
                    assert.match(g.stdout, new RegExp(`^hostname ${NEW}$`, "m"));
                    // The next command uses the stored new id at once.
                    const mark = aws.calls().length;
                    assert.equal(archaeo(["stop"], env).status, 0);
                    const calls = aws.calls().slice(mark);
                    assert.equal(calls[0].flags["--instance-ids"], NEW);
                    assert.ok(!calls.some((c) => c.flags["--filters"]), "no search when the stored one is there");
                    assert.deepEqual(aws.unmatched(), []);
                    assert.deepEqual(checkCalls(aws.calls().slice(mark - 3)), []);
                    for (const c of aws.calls().slice(mark - 3)) assert.equal(roleRefuses(c), undefined, c.argv.join(" "));
                }
                // Nothing of theirs left: say so, change nothing.
                fs.writeFileSync(factsFile, factsBefore);
                aws.setRules([describeRule(instance("terminated", 48)), byTags({ output: { Reservations: [] } })]);
                const none = archaeo(["stop"], env);
                assert.equal(none.status, 1);
                assert.match(none.err, new RegExp(`workstation ${INSTANCE} is terminated, and no other workstation of yours \\(tags researcher=alice, workbench=${resourcePrefix(STACK)}\\)`));
                assert.equal(fs.readFileSync(factsFile, "utf8"), factsBefore);
            } finally {
                fs.writeFileSync(factsFile, factsBefore);
                fs.writeFileSync(sshConfig, sshBefore);
            }
        });

        it("open after a token rotation: the token changed after the workstation started, so Jupyter still has the old one: stop, then open", () => {
            // The workstation reads its token at boot (archaeo-prepare); SSM's LastModifiedDate says when it changed, and
            // EC2's LaunchTime when the workstation last started (DescribeInstances).
            const rotated = parameter(`${alice.ssmPath}/jupyter-token`, "9".repeat(48), "2026-12-07T10:30:00+00:00", "SecureString");
            aws.setRules([describeRule(instance("running", 16, LAUNCHED)), rule("ssm", "get-parameter", { "--name": status("prepare") }, prepared("2026-12-07T09:11:41.093000+00:00")),
                rule("ssm", "get-parameter", { "--name": `${alice.ssmPath}/jupyter-token`, "--with-decryption": true }, rotated)]);
            const before = aws.calls().length;
            const r = archaeo(["open", "--no-browser"], env);
            assert.equal(r.status, 1, r.out);
            assert.match(r.err, /your Jupyter token was changed \(2026-12-07 10:30 UTC\) after the workstation started \(2026-12-07 09:00 UTC\): the running Jupyter still has the old one\. Run {2}archaeo stop --wait {2}and then {2}archaeo open/);
            assert.ok(!aws.calls().slice(before).some((c) => c.operation === "start-session"), "no tunnel to a Jupyter that would refuse the token");
            assert.deepEqual(aws.unmatched(), []);
        });

        it("logs before ssh-config says to run ssh-config", () => {
            const r = archaeo(["logs", "--config", path.join(home, "empty-config")], env);
            assert.equal(r.status, 1);
            assert.match(r.err, /has no Host archaeo-alice yet: run {2}archaeo ssh-config {2}first/);
        });

        it("cluster mode: open writes the kubeconfig context and port-forwards the hub tunnel as clusterConnect does, then opens /hub/spawn", async () => {
            const facts = clusterCliFacts({ id: "carol", region: REGION, roleArn: alice.roleArn.replace("alice", "carol"), bucket: BUCKET, clusterName: "archaeo-x", hubUrl: `http://localhost:${PORTS.hub}`, hubNamespace: HUB_NAMESPACE, serverPod: serverPodName("carol"), hubTunnel: { pod: HUB_TUNNEL.pod, port: HUB_TUNNEL.port } });
            const cenv = { ...env, ARCHAEO_HOME: path.join(home, "archaeo-carol") };
            assert.equal(archaeo(["setup", setupCode(facts), "--no-aws-profile"], cenv).status, 0);
            aws.setRules([{ service: "eks", operation: "update-kubeconfig", profile: "archaeo-carol", region: REGION, args: { "--name": "archaeo-x", "--alias": "archaeo-carol" }, responses: [{ stdout: "Added new context archaeo-carol to /home/carol/.kube/config\n" }] }]);
            // kubectl port-forward stand-in: records its arguments and listens on the local port it was given.
            const kubectlLog = path.join(home, "kubectl.log");
            fs.writeFileSync(path.join(aws.bin, "kubectl"), `#!/bin/sh\necho "$@" > ${JSON.stringify(kubectlLog)}\nport=$(echo "$@" | sed 's/.* \\([0-9]*\\):[0-9]*$/\\1/')\nexec ${PYTHON} -S -c "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)" "$port"\n`, { mode: 0o755 });
            const local = await freePort();
            const run = await untilThenCtrlC(spawn(ARCHAEO[0], [...ARCHAEO.slice(1), "open", "--port", String(local)], { env: { ...cenv, PYTHONPATH: CLI } }), "Leave this window open");
            assert.equal(run.code, 0, run.err);
            assert.match(run.out, new RegExp(`JupyterHub: http://localhost:${local}/hub/spawn`));
            assert.equal(fs.readFileSync(browserLog(), "utf8").trim().split("\n").pop(), `http://localhost:${local}/hub/spawn`);
            // clusterConnect's hubTunnel (infra/cluster/index.ts): kubectl --context <profile> -n <hub namespace> port-forward pod/<tunnel> <local>:<port>.
            assert.deepEqual(fs.readFileSync(kubectlLog, "utf8").trim().split(" "), ["--context", "archaeo-carol", "-n", HUB_NAMESPACE, "port-forward", `pod/${HUB_TUNNEL.pod}`, `${local}:${HUB_TUNNEL.port}`]);
            const kc = aws.calls().filter((c) => c.operation === "update-kubeconfig").pop()!;
            assert.deepEqual(checkCalls([kc]), []);
            // clusterConnect's kubeconfig: aws eks update-kubeconfig --profile <profile> --region <region> --name <cluster> --alias <profile>.
            assert.deepEqual([kc.profile, kc.region, kc.flags["--name"], kc.flags["--alias"]], ["archaeo-carol", REGION, "archaeo-x", "archaeo-carol"]);
        });
    });
});
