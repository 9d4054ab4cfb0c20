/**
 * The workstation's on-host scripts, run for real with stub `aws`, `docker`, `nsenter`, `nvidia-smi`,
 * `systemctl`, `sleep`, `mount-s3`, `curl`, `gpg`, `apt-get` on PATH and a stub Jupyter REST API.
 * The scripts run are the ones the instance gets: taken from the rendered user data (gzip, base64,
 * decoded back), compacted as cloud-init writes them, with the modes user data gives them.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import * as YAML from "yaml";
import { decodeUserDataBase64, renderUserDataBase64, SCRIPT_NAMES, UserDataParams, workbenchEnv } from "../infra/instance/userdata";
import { PYTHON, stubDir, tmpDir } from "./helpers/tools";

const TOKEN = "t".repeat(48);
const IMAGE = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo/x/pytorch-cuda@sha256:" + "b".repeat(64);
const KEYS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk7Kw0 c@d";
const params: UserDataParams = {
    researcherId: "alice", region: "eu-west-2",
    workspaceVolumeId: "vol-0123456789abcdef0", ssmPath: "/archaeo/x/prod/researchers/alice",
    dataBucket: "archaeo-x-123456789012-eu-west-2", kmsKeyArn: "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    accessMode: "ssm",
    memoryGiB: 16, vcpus: 4, gpus: 1, idleMinutes: 45, gpuIdlePercent: 5,
};

/** The host scripts as the instance gets them: name -> content and mode, from the user data EC2 receives. */
const installed = new Map<string, Record<string, { content: string; mode: number }>>();
function installedScripts(p: UserDataParams): Record<string, { content: string; mode: number }> {
    const key = JSON.stringify(p);
    if (!installed.has(key)) installed.set(key, readInstalledScripts(p));
    return installed.get(key)!;
}
function readInstalledScripts(p: UserDataParams): Record<string, { content: string; mode: number }> {
    const files: Array<{ path: string; content: string; permissions: string }> = YAML.parse(decodeUserDataBase64(renderUserDataBase64(p))).write_files;
    const out: Record<string, { content: string; mode: number }> = {};
    for (const name of SCRIPT_NAMES) {
        const f = files.find((x) => x.path === `/usr/local/sbin/${name}`);
        assert.ok(f, `user data installs /usr/local/sbin/${name}`);
        out[name] = { content: f.content, mode: parseInt(f.permissions, 8) };
    }
    return out;
}

/** Stubs read their behaviour from files in $STUB_STATE and append every call to $STUB_LOG. */
const STUBS: Record<string, string> = {
    aws: `printf 'aws %s\n' "$(printf '%s ' "$@" | tr '\n' '|' | sed 's/ $//')" >> "$STUB_LOG"
if [ "$1 $2" = "ssm get-parameter" ]; then
  name=""; prev=""; for a in "$@"; do [ "$prev" = --name ] && name="$a"; prev="$a"; done
  leaf="\${name##*/}"
  n="$(cat "$STUB_STATE/aws-failures" 2>/dev/null || echo 0)"
  if [ "$n" -gt 0 ]; then echo $((n - 1)) > "$STUB_STATE/aws-failures"; echo "An error occurred (ThrottlingException) when calling the GetParameter operation" >&2; exit 255; fi
  if [ -f "$STUB_STATE/fail-$leaf" ]; then echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2; exit 254; fi
  if [ -f "$STUB_STATE/value-$leaf" ]; then cat "$STUB_STATE/value-$leaf"; exit 0; fi
  case "$leaf" in
    image) echo "${IMAGE}" ;;
    ssh-keys) printf '%s\n' "${KEYS}" ;;
    *) echo "${TOKEN}" ;;
  esac
fi`,
    docker: `echo "docker $*" >> "$STUB_LOG"
case "$1" in
  image) exit 0 ;;
  images) cat "$STUB_STATE/images" 2>/dev/null || true ;;
  rmi) [ -f "$STUB_STATE/rmi-refuse" ] && exit 1; exit 0 ;;
  inspect) f="$STUB_STATE/$4.$(case "$3" in *Running*) echo running ;; *) echo pid ;; esac)"; [ -f "$f" ] || exit 1; cat "$f" ;;
  stats) cat "$STUB_STATE/\${*: -1}.cpu" 2>/dev/null || echo "0.04%" ;;
esac`,
    nsenter: `echo "nsenter $*" >> "$STUB_LOG"; cat "$STUB_STATE/ss" 2>/dev/null || true`,
    "nvidia-smi": `cat "$STUB_STATE/gpu" 2>/dev/null || printf '0, 0\\n'`,
    systemctl: `echo "systemctl $*" >> "$STUB_LOG"`,
    sleep: `echo "sleep $*" >> "$STUB_LOG"`,
    "mount-s3": `if [ "$1" = --version ]; then echo "mount-s3 $(cat "$STUB_STATE/mount-s3-version" 2>/dev/null || echo 1.23.0)"; exit 0; fi
echo "mount-s3 $*" >> "$STUB_LOG"; exit "$(cat "$STUB_STATE/mount-s3-rc" 2>/dev/null || echo 0)"`,
    curl: `echo "curl $*" >> "$STUB_LOG"; while [ "$#" -gt 0 ]; do if [ "$1" = -o ]; then echo "payload of $3" > "$2"; fi; shift; done`,
    gpg: `echo "gpg $*" >> "$STUB_LOG"; case "$*" in *--verify*) cat "$STUB_STATE/gpg-status" 2>/dev/null ;; esac; exit 0`,
    "apt-get": `echo "apt-get $*" >> "$STUB_LOG"; case "$*" in *install*) cat "$STUB_STATE/after-install-version" > "$STUB_STATE/mount-s3-version" ;; esac`,
};

interface Host { dir: string; state: string; stub: string; log: string; env: NodeJS.ProcessEnv }

function makeHost(p: UserDataParams = params): Host {
    const dir = tmpDir("archaeo-host-");
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    stubDir(STUBS, bin);
    for (const [name, { content, mode }] of Object.entries(installedScripts(p))) {
        fs.writeFileSync(path.join(bin, name), content);
        fs.chmodSync(path.join(bin, name), mode);
    }
    const state = path.join(dir, "run");
    const stub = path.join(dir, "stub");
    fs.mkdirSync(state);
    fs.mkdirSync(stub);
    fs.writeFileSync(path.join(dir, "workbench.env"), workbenchEnv(p));
    const log = path.join(dir, "calls.log");
    fs.writeFileSync(log, "");
    return {
        dir, state, stub, log,
        env: {
            PATH: `${bin}:${process.env.PATH}`, HOME: dir, ARCHAEO_ENV_FILE: path.join(dir, "workbench.env"), ARCHAEO_STATE_DIR: state,
            ARCHAEO_CONSOLE: "/dev/null", STUB_LOG: log, STUB_STATE: stub, ARCHAEO_ROOT: dir,
        },
    };
}

function runScript(h: Host, name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
        // Python scripts run with the system interpreter, as on the host (a pyenv shim would reorder PATH).
        const file = path.join(h.dir, "bin", name);
        const python = fs.readFileSync(file, "utf8").startsWith("#!/usr/bin/env python3");
        execFile(python ? PYTHON : file, python ? [file, ...args] : args, { env: { ...h.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout + stderr });
        });
    });
}

const calls = (h: Host, prefix: string) => fs.readFileSync(h.log, "utf8").split("\n").filter((l) => l.startsWith(prefix));

describe("host scripts (run for real against stubs)", function () {
    // Real bash and python3 processes with stubs; each script run is itself capped at 60 s.
    this.timeout(120_000);
    describe("archaeo-prepare: this boot's image, keys and token from SSM, with retries and a reported failure (issue 8 item 13)", () => {
        it("three throttled reads, then the image, the keys and the token: image.env for the units, authorized_keys for sshd, the token in tmpfs 0400, OK reported", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "aws-failures"), "3");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 0, r.out);
            const reads = calls(h, "aws ssm get-parameter").map((c) => /--name (\S+)/.exec(c)![1]);
            assert.deepEqual(reads, [...Array(4).fill(`${params.ssmPath}/image`), `${params.ssmPath}/ssh-keys`, `${params.ssmPath}/jupyter-token`]);
            assert.ok(calls(h, "aws ssm get-parameter").at(-1)!.includes("--with-decryption"), "the token is a SecureString");
            assert.deepEqual(calls(h, "sleep"), ["sleep 5", "sleep 10", "sleep 20"], "exponential backoff from 5 s");
            assert.equal(fs.readFileSync(path.join(h.state, "image.env"), "utf8"), `IMAGE_REF=${IMAGE}\nREGISTRY=123456789012.dkr.ecr.eu-west-2.amazonaws.com\n`);
            assert.equal(fs.readFileSync(path.join(h.state, "authorized_keys"), "utf8"), KEYS + "\n");
            assert.equal(fs.statSync(path.join(h.state, "authorized_keys")).mode & 0o777, 0o644);
            assert.ok(calls(h, "docker").some((c) => c === `docker image inspect ${IMAGE}`), "the image of this boot is the one checked and pulled");
            const token = path.join(h.state, "jupyter-token");
            assert.equal(fs.readFileSync(token, "utf8"), TOKEN);
            assert.equal(fs.statSync(token).mode & 0o777, 0o400);
            assert.ok(calls(h, "aws ssm put-parameter").some((c) => c.includes(`--name ${params.ssmPath}/status/prepare`) && /--value OK/.test(c)), r.out);
        });

        it("SSM never answers: 8 tries over about 5 minutes of backoff, exit 1, FAIL reported to <ssmPath>/status/prepare, nothing written", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "aws-failures"), "1000");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 1, r.out);
            assert.equal(calls(h, "aws ssm get-parameter").length, 8);
            assert.deepEqual(calls(h, "sleep").map((c) => Number(c.split(" ")[1])), [5, 10, 20, 40, 60, 60, 60]);
            const report = calls(h, "aws ssm put-parameter");
            assert.equal(report.length, 1, r.out);
            assert.ok(report[0].includes(`--name ${params.ssmPath}/status/prepare`) && report[0].includes("--value FAIL: cannot read the image reference"), report[0]);
            for (const f of ["image.env", "authorized_keys", "jupyter-token"]) assert.ok(!fs.existsSync(path.join(h.state, f)), f);
        });

        it("the token alone unreadable: image and keys in place, FAIL names the token and the fix", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "fail-jupyter-token"), "");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 1, r.out);
            const report = calls(h, "aws ssm put-parameter");
            assert.ok(report[0].includes("--value FAIL: cannot read the Jupyter token") && report[0].includes("ssm:GetParameter, kms:Decrypt"), report[0]);
            assert.ok(fs.existsSync(path.join(h.state, "image.env")) && !fs.existsSync(path.join(h.state, "jupyter-token")));
        });

        it("keeps only this boot's image of the repository: earlier digests are removed, one still in use stays", async () => {
            const h = makeHost();
            const repo = IMAGE.split("@")[0];
            const older = [`${repo}@sha256:${"1".repeat(64)}`, `${repo}@sha256:${"2".repeat(64)}`];
            fs.writeFileSync(path.join(h.stub, "images"), [older[0], IMAGE, older[1], `${repo}@<none>`].join("\n") + "\n");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 0, r.out);
            assert.ok(calls(h, "docker images").some((c) => c === `docker images --digests --format {{.Repository}}@{{.Digest}} ${repo}`), calls(h, "docker").join("\n"));
            assert.deepEqual(calls(h, "docker rmi"), older.map((o) => `docker rmi ${o}`));
            fs.writeFileSync(path.join(h.stub, "rmi-refuse"), "");
            fs.writeFileSync(h.log, "");
            assert.equal((await runScript(h, "archaeo-prepare")).code, 0, "an image in use is left alone, and preparing still succeeds");
        });

        it("an image parameter that is not pinned by digest is refused, never pulled", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "value-image"), "docker.io/pytorch/pytorch:latest\n");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 1, r.out);
            assert.match(r.out, /image is 'docker\.io\/pytorch\/pytorch:latest', not repository@sha256:<digest>/);
            assert.ok(!calls(h, "docker").some((c) => c.includes("pull")));
            assert.ok(!fs.existsSync(path.join(h.state, "image.env")));
        });
    });

    describe("archaeo-workspace: waits for the workspace volume, reports when it never comes", () => {
        // A replacement starts before the old instance has stopped and released the volume: the wait must outlast that.
        it("waits up to an hour by default (720 x 5 s), then fails and reports to <ssmPath>/status/workspace", async () => {
            assert.match(installedScripts(params)["archaeo-workspace"].content, /seq 1 "\$\{ARCHAEO_WORKSPACE_WAIT_TRIES:-720\}"/);
            const h = makeHost();
            const r = await runScript(h, "archaeo-workspace", [], { ARCHAEO_WORKSPACE_WAIT_TRIES: "3" });
            assert.equal(r.code, 1, r.out);
            assert.deepEqual(calls(h, "sleep"), ["sleep 5", "sleep 5", "sleep 5"]);
            assert.match(r.out, /volume vol-0123456789abcdef0 never appeared/);
            const report = calls(h, "aws ssm put-parameter");
            assert.ok(report.some((c) => c.includes(`--name ${params.ssmPath}/status/workspace`) && c.includes("--value FAIL: volume vol-0123456789abcdef0 was not attached within an hour")), report.join("\n"));
        });
    });

    describe("archaeo-autostop: never stops while the researcher's work runs (issue 8 item 11)", () => {
        // A stub Jupyter REST API; every request is recorded so the test can check no_track_activity.
        const jupyterState = { down: false, kernels: [] as object[], lastActivity: "", activity: { active: false, reasons: [] as string[] } };
        const requests: Array<{ url: string; auth: string }> = [];
        let server: http.Server;
        let url = "";
        before(async () => {
            server = http.createServer((req, res) => {
                requests.push({ url: req.url ?? "", auth: String(req.headers.authorization) });
                const p = (req.url ?? "").split("?")[0];
                const body = jupyterState.down ? undefined : ({
                    "/api/kernels": jupyterState.kernels,
                    "/api/status": { last_activity: jupyterState.lastActivity, started: jupyterState.lastActivity, kernels: jupyterState.kernels.length, connections: 0 },
                    "/api/archaeo/activity": jupyterState.activity,
                } as Record<string, unknown>)[p];
                res.writeHead(body === undefined ? (jupyterState.down ? 500 : 404) : 200, { "content-type": "application/json" });
                res.end(body === undefined ? "{}" : JSON.stringify(body));
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        after(() => server.close());

        const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
        /** A workstation idle by every measure since two hours ago; `tweak` makes one thing busy. */
        async function autostop(tweak: (h: Host) => void = () => undefined, idleSinceMinutes: number | null = 120) {
            Object.assign(jupyterState, { down: false, kernels: [{ id: "k1", execution_state: "idle" }], lastActivity: ago(120), activity: { active: false, reasons: [] } });
            const h = makeHost();
            fs.writeFileSync(path.join(h.state, "jupyter-token"), TOKEN);
            fs.writeFileSync(path.join(h.stub, "archaeo-jupyter.running"), "true");
            fs.writeFileSync(path.join(h.stub, "archaeo-sshd.pid"), "4242");
            if (idleSinceMinutes !== null) fs.writeFileSync(path.join(h.state, "idle-since"), String(Math.round(Date.now() / 1000 - idleSinceMinutes * 60)));
            tweak(h);
            const r = await runScript(h, "archaeo-autostop", [], { JUPYTER_URL: url });
            return { ...r, stopped: calls(h, "systemctl").includes("systemctl poweroff"), h };
        }

        it("control: idle for two hours by every measure -> powers off and reports it", async () => {
            const r = await autostop();
            assert.equal(r.code, 0, r.out);
            assert.ok(r.stopped, r.out);
            assert.ok(calls(r.h, "aws ssm put-parameter").some((c) => c.includes(`${params.ssmPath}/status/autostop`)), r.out);
        });

        it("a busy kernel with an idle GPU (a silent 150 s cell started two hours ago) -> not stopped, idle clock reset", async () => {
            const r = await autostop(() => { jupyterState.kernels = [{ id: "k1", execution_state: "busy" }]; });
            assert.equal(r.code, 0, r.out);
            assert.ok(!r.stopped, r.out);
            assert.match(r.out, /busy: kernel k1 busy/);
            assert.ok(Math.abs(Number(fs.readFileSync(path.join(r.h.state, "idle-since"), "utf8")) - Date.now() / 1000) < 30, "idle clock restarted");
        });

        const busyCases: Array<[string, (h: Host) => void, RegExp]> = [
            ["an open SSH session", (h) => fs.writeFileSync(path.join(h.stub, "ss"), "ESTAB 0 0 172.17.0.2:2222 172.17.0.1:51234\n"), /1 ssh session/],
            ["a GPU at 80%", (h) => fs.writeFileSync(path.join(h.stub, "gpu"), "0, 80\n"), /gpu 0 at 80%/],
            ["`nohup python train.py &` over SSH burning CPU", (h) => fs.writeFileSync(path.join(h.stub, "archaeo-sshd.cpu"), "151.20%\n"), /archaeo-sshd at 151% CPU/],
            ["a terminal running a command (seen by the image's activity extension)", () => { jupyterState.activity = { active: true, reasons: ["terminal 1 runs python"] }; }, /jupyter: terminal 1 runs python/],
            ["Jupyter active 10 minutes ago", () => { jupyterState.lastActivity = ago(10); }, /idle for 10 of 45 minutes/],
            ["Jupyter not answering while its container runs", () => { jupyterState.down = true; }, /does not answer while its container runs/],
        ];
        for (const [title, tweak, expected] of busyCases) {
            it(`${title} -> not stopped`, async () => {
                const r = await autostop(tweak);
                assert.equal(r.code, 0, r.out);
                assert.ok(!r.stopped, r.out);
                assert.match(r.out, expected);
            });
        }

        it("first idle check only starts the clock; Jupyter down with its container stopped does not hold the machine", async () => {
            const first = await autostop(() => undefined, null);
            assert.ok(!first.stopped, first.out);
            assert.match(first.out, /idle for 0 of 45 minutes/);
            const dead = await autostop((h) => { jupyterState.down = true; fs.writeFileSync(path.join(h.stub, "archaeo-jupyter.running"), "false"); });
            assert.ok(dead.stopped, dead.out);
        });

        it("every Jupyter read carried ?no_track_activity=1 and the token (reads are not activity)", () => {
            assert.ok(requests.length >= 20, `${requests.length} requests`);
            for (const r of requests) {
                assert.match(r.url, /[?&]no_track_activity=1(&|$)/, r.url);
                assert.equal(r.auth, `token ${TOKEN}`);
            }
        });
    });

    describe("archaeo-mount: Mountpoint for Amazon S3 on the host (issue 11 item 1)", () => {
        it("data: the datasets/ prefix read-only for uid 1000 with a local cache, reported OK", async () => {
            const h = makeHost();
            fs.mkdirSync(path.join(h.dir, "run/lock"), { recursive: true });
            const r = await runScript(h, "archaeo-mount", ["data"]);
            assert.equal(r.code, 0, r.out);
            const cache = path.join(h.dir, "var/cache/archaeo/mountpoint/data");
            assert.deepEqual(calls(h, "mount-s3"), [
                `mount-s3 ${params.dataBucket} ${h.dir}/data --read-only --prefix datasets/ --cache ${cache} --max-cache-size 20480 --max-memory-target 1024 ` +
                "--region eu-west-2 --allow-other --uid 1000 --gid 1000",
            ]);
            assert.equal(fs.statSync(cache).mode & 0o777, 0o700, "cached objects are plaintext: root only");
            assert.ok(calls(h, "aws ssm put-parameter").some((c) => c.includes("/status/mount-data") && c.includes("--value OK: s3://")), r.out);
            assert.deepEqual(calls(h, "curl"), [], "the pinned version is installed: no download");
        });

        it("mydata: the researcher's prefix read-write, new objects SSE-KMS with the stack key", async () => {
            const h = makeHost();
            fs.mkdirSync(path.join(h.dir, "run/lock"), { recursive: true });
            const r = await runScript(h, "archaeo-mount", ["mydata"]);
            assert.equal(r.code, 0, r.out);
            assert.deepEqual(calls(h, "mount-s3"), [
                `mount-s3 ${params.dataBucket} ${h.dir}/mydata --prefix researchers/alice/ --sse aws:kms --sse-kms-key-id ${params.kmsKeyArn} ` +
                "--allow-delete --allow-overwrite --max-memory-target 512 --region eu-west-2 --allow-other --uid 1000 --gid 1000",
            ]);
        });

        it("a failed mount exits non-zero (systemd retries) and is reported", async () => {
            const h = makeHost();
            fs.mkdirSync(path.join(h.dir, "run/lock"), { recursive: true });
            fs.writeFileSync(path.join(h.stub, "mount-s3-rc"), "1");
            const r = await runScript(h, "archaeo-mount", ["mydata"]);
            assert.equal(r.code, 1, r.out);
            assert.ok(calls(h, "aws ssm put-parameter").some((c) => c.includes("/status/mount-mydata") && c.includes("--value FAIL: mount-s3 could not mount")), r.out);
        });

        const install = async (gpgStatus: string, env: NodeJS.ProcessEnv = {}) => {
            const h = makeHost();
            fs.mkdirSync(path.join(h.dir, "run/lock"), { recursive: true });
            fs.writeFileSync(path.join(h.stub, "mount-s3-version"), "1.19.0");
            fs.writeFileSync(path.join(h.stub, "after-install-version"), "1.23.0");
            fs.writeFileSync(path.join(h.stub, "gpg-status"), gpgStatus);
            return { h, r: await runScript(h, "archaeo-mount", ["data"], env) };
        };

        it("installs the pinned release only with a signature from a key whose fingerprint AWS publishes", async () => {
            const good = "[GNUPG:] GOODSIG 6F1C3B3AEF4B030B Mountpoint for Amazon S3 <mountpoint-s3@amazon.com>\n" +
                "[GNUPG:] VALIDSIG 0123456789ABCDEF0123456789ABCDEF01234567 2026-07-20 0 4 0 1 10 00 8AEFE705EBE329C0948C75A66F1C3B3AEF4B030B\n";
            const { h, r } = await install(good);
            assert.equal(r.code, 0, r.out);
            const base = "https://s3.amazonaws.com/mountpoint-s3-release";
            const urls = calls(h, "curl").map((c) => c.split(" ").pop());
            assert.deepEqual(urls, [`${base}/1.23.0/x86_64/mount-s3-1.23.0-x86_64.deb`, `${base}/1.23.0/x86_64/mount-s3-1.23.0-x86_64.deb.asc`, `${base}/public_keys/KEYS`]);
            assert.ok(calls(h, "apt-get").some((c) => /install .*mount-s3-1\.23\.0-x86_64\.deb$/.test(c)), r.out);
            assert.ok(calls(h, "aws ssm put-parameter").some((c) => c.includes("/status/mount-s3") && /installed 1\.23\.0 \(sha256 [0-9a-f]{64}, signed by 8AEFE705/.test(c)), r.out);
            assert.equal(calls(h, "mount-s3").length, 1);
        });

        it("refuses a package without a valid signature from a published key, or with the wrong pinned SHA-256", async () => {
            const unknownKey = "[GNUPG:] VALIDSIG 0123456789ABCDEF0123456789ABCDEF01234567 2026-07-20 0 4 0 1 10 00 0123456789ABCDEF0123456789ABCDEF01234567\n";
            for (const [status, env, why] of [
                ["[GNUPG:] BADSIG 6F1C3B3AEF4B030B Mountpoint\n", {}, /not signed by a published Mountpoint key/],
                [unknownKey, {}, /not signed by a published Mountpoint key/],
                [unknownKey.replace(/0123456789ABCDEF0123456789ABCDEF01234567\n$/, "673FE4061506BB469A0EF857BE397A52B086DA5A\n"), { MOUNT_S3_SHA256: "0".repeat(64) }, /expected MOUNT_S3_SHA256=0000/],
            ] as const) {
                const { h, r } = await install(status, env);
                assert.equal(r.code, 1, r.out);
                assert.match(r.out, why);
                assert.deepEqual(calls(h, "apt-get").filter((c) => c.includes("install")), [], "nothing installed");
                assert.deepEqual(calls(h, "mount-s3"), [], "nothing mounted");
            }
        });
    });

    describe("archaeo-smoke-report", () => {
        it("reports PASS or FAIL with the output's tail, and passes the exit code on", async () => {
            const h = makeHost();
            const ok = await runScript(h, "archaeo-smoke-report", ["bash", "-c", "echo smoke: PASS"]);
            assert.equal(ok.code, 0, ok.out);
            const bad = await runScript(h, "archaeo-smoke-report", ["bash", "-c", "echo 'smoke: FAIL: /dev/shm'; exit 1"]);
            assert.equal(bad.code, 1, bad.out);
            const reports = calls(h, "aws ssm put-parameter");
            assert.ok(reports[0].includes(`${params.ssmPath}/status/smoke`) && reports[0].includes("--value PASS"), reports[0]);
            assert.ok(reports[1].includes("--value FAIL") && reports[1].includes("smoke: FAIL: /dev/shm"), reports[1]);
        });
    });
});
