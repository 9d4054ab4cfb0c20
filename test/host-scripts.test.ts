/**
 * The workstation's on-host scripts, run for real with stub `aws`, `docker`, `nsenter`, `nvidia-smi`,
 * `systemctl`, `sleep`, `mount-s3`, `curl`, `gpg`, `apt-get` on PATH and a stub Jupyter REST API.
 * The scripts run are the ones the instance gets: taken from the rendered user data (gzip, base64,
 * decoded back), compacted as cloud-init writes them, with the modes user data gives them.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { spawnSync } from "child_process";
import { calls, Host, IMAGE, installedScripts, KEYS, makeHost, params, runScript, TOKEN } from "./helpers/host";
import { containerFlags, systemdUnits } from "../infra/instance/userdata";
import { PYTHON, tmpDir } from "./helpers/tools";

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
            assert.equal(report.length, 2, r.out);
            assert.ok(report[0].includes("--value STAGE 1/3: reading this boot's image reference and SSH keys"), report[0]);
            assert.ok(report[1].includes(`--name ${params.ssmPath}/status/prepare`) && report[1].includes("--value FAIL: cannot read the image reference"), report[1]);
            for (const f of ["image.env", "authorized_keys", "jupyter-token"]) assert.ok(!fs.existsSync(path.join(h.state, f)), f);
        });

        it("the token alone unreadable: image and keys in place, FAIL names the token and the fix", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "fail-jupyter-token"), "");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 1, r.out);
            const report = calls(h, "aws ssm put-parameter");
            assert.ok(report.at(-1)!.includes("--value FAIL: cannot read the Jupyter token") && report.at(-1)!.includes("ssm:GetParameter, kms:Decrypt"), report.join("\n"));
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

        // Issue 20, item 3: the stages `archaeo open` shows, and a restart that never waits on the network for the image.
        const prepareReports = (h: Host) => calls(h, "aws ssm put-parameter").map((c) => /--value (.*?) \(\d{4}-/.exec(c)?.[1] ?? c);
        it("a restart: the image is on the root volume, so no ECR login and no pull; stages 1-3 reported in order, OK last", async () => {
            const h = makeHost();
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 0, r.out);
            assert.deepEqual(prepareReports(h), [
                "STAGE 1/3: reading this boot's image reference and SSH keys",
                "STAGE 2/3: the workbench image is already on this workstation: no download",
                "STAGE 3/3: reading your Jupyter token",
                `OK: image ${IMAGE} present, SSH keys and Jupyter token in place`,
            ]);
            assert.deepEqual(calls(h, "aws ecr"), [], "no ECR login");
            assert.deepEqual(calls(h, "docker").filter((c) => /^docker (login|pull)/.test(c)), [], "no docker login or pull");
            // Only the three SSM reads touch the network; the reports go in the background.
            assert.deepEqual(calls(h, "aws ssm get-parameter").map((c) => /--name \S+\/(\S+)/.exec(c)![1]), ["image", "ssh-keys", "jupyter-token"]);
        });

        it("a first start: stage 2 says the image is downloading, then ECR login and the pull by digest, then OK", async () => {
            const h = makeHost();
            fs.writeFileSync(path.join(h.stub, "no-image"), "");
            const r = await runScript(h, "archaeo-prepare");
            assert.equal(r.code, 0, r.out);
            assert.deepEqual(prepareReports(h).slice(1, 2), ["STAGE 2/3: downloading the workbench image (the first start, or a new image: a few minutes)"]);
            assert.equal(prepareReports(h).at(-1), `OK: image ${IMAGE} present, SSH keys and Jupyter token in place`);
            assert.deepEqual(calls(h, "aws ecr"), ["aws ecr get-login-password --region eu-west-2"]);
            assert.ok(calls(h, "docker").some((c) => c === `docker pull ${IMAGE}`), calls(h, "docker").join("\n"));
            assert.match(r.out, new RegExp(`archaeo-prepare: pulled ${IMAGE.replace(/[.]/g, "\\.")} in \\d+ s`));
        });

        it("Jupyter starts once prepare is done, not after the S3 mounts (they appear inside through the rslave binds)", () => {
            const units = systemdUnits({ idleMinutes: 60, gpus: 1, researcherId: "alice", dataBucket: "b", maxSessionHours: 0 });
            const jupyter = units["archaeo-jupyter.service"];
            const after = /^After=(.*)$/m.exec(jupyter)![1].split(" ");
            assert.deepEqual(after, ["archaeo-workspace.service", "archaeo-prepare.service", "docker.service"]);
            assert.match(jupyter, /^Wants=archaeo-data\.service archaeo-mydata\.service$/m, "the mounts are still started with it");
            assert.ok(containerFlags({ gpus: 1 }).includes("-v /data:/data:ro,rslave") && containerFlags({ gpus: 1 }).includes("-v /mydata:/mydata:rslave"));
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
        const jupyterState = { down: false, kernels: [] as object[], lastActivity: "", activity: { active: false, reasons: [] as string[] } as { active: boolean; reasons: string[] } | undefined };
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

        const sshConnection = (h: Host) => fs.writeFileSync(path.join(h.stub, "ss"), "ESTAB 0 0 172.17.0.2:2222 172.17.0.1:51234\n");
        const busyCases: Array<[string, (h: Host) => void, RegExp]> = [
            ["an open SSH connection with an image whose Jupyter lacks the activity extension (the TCP check, as before)", (h) => { sshConnection(h); jupyterState.activity = undefined; }, /1 ssh session/],
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

        describe("maximum session (maxSessionHours): stops at boot + hours + recorded extensions, even while work runs", () => {
            const ACTIVITY = path.join(__dirname, "..", "images", "pytorch-cuda", "activity");
            // A boot ten hours ago, whatever this machine's uptime (a CI machine booted an hour ago made the session's
            // end lie before its boot): a proc(5) root (ARCHAEO_PROC) with that btime and this boot's id, read by the
            // script and the image's extension alike.
            const BTIME = Math.floor(Date.now() / 1000) - 10 * 3600;
            const bootedLongAgo = (h: Host) => {
                const proc = path.join(h.dir, "proc");
                fs.mkdirSync(path.join(proc, "sys", "kernel", "random"), { recursive: true });
                fs.writeFileSync(path.join(proc, "stat"), fs.readFileSync("/proc/stat", "utf8").replace(/^btime \d+$/m, `btime ${BTIME}`));
                fs.copyFileSync("/proc/sys/kernel/random/boot_id", path.join(proc, "sys", "kernel", "random", "boot_id"));
                h.env.ARCHAEO_PROC = proc;
            };
            /** A maximum session (hours, fractional) whose end is `fromNowMinutes` away. */
            const hoursEndingIn = (fromNowMinutes: number) => (Date.now() / 1000 - BTIME + fromNowMinutes * 60) / 3600;
            const withMax = (hours: number) => (h: Host) => {
                bootedLongAgo(h);
                fs.appendFileSync(h.env.ARCHAEO_ENV_FILE!, `MAX_SESSION_HOURS=${hours}\n`);
                jupyterState.kernels = [{ id: "k1", execution_state: "busy" }];
            };
            const sessionStatus = (h: Host) => calls(h, "aws ssm put-parameter").filter((c) => c.includes(`--name ${params.ssmPath}/status/session`));
            /** The image's own archaeo-extend (archaeo_activity.session), as the researcher runs it in a terminal. */
            const extend = (h: Host, hours: number, ...args: string[]) => spawnSync(PYTHON, ["-m", "archaeo_activity.session", "extend", ...args], {
                encoding: "utf8",
                env: { PATH: process.env.PATH, PYTHONPATH: ACTIVITY, PYTHONDONTWRITEBYTECODE: "1", USER: "alice", ARCHAEO_SESSION_DIR: h.env.ARCHAEO_SESSION_DIR, ARCHAEO_PROC: h.env.ARCHAEO_PROC, ARCHAEO_MAX_SESSION_HOURS: String(hours), ARCHAEO_SESSION_LIMIT_BY: "host" },
            });

            it("warned an hour ahead once; archaeo-extend (the image's command) moves the stop and is reported once with who and why; records of another boot and a records file that is a link are not read; then stopped although a kernel is busy", async () => {
                // The session ended 90 minutes ago; the researcher's 2 h extension moves its end to 30 minutes from now.
                const hours = hoursEndingIn(-90);
                const r = await autostop((h) => {
                    withMax(hours)(h);
                    const ext = extend(h, hours, "2h", "epoch", "40", "of", "60");
                    assert.equal(ext.status, 0, ext.stderr);
                    assert.match(ext.stdout, /extended by 2 h 00 min, recorded\. The workstation now stops at \d{4}-/);
                    fs.appendFileSync(path.join(h.env.ARCHAEO_SESSION_DIR!, "session-extensions.jsonl"), JSON.stringify({ boot_id: "another-boot", seconds: 86400, by: "x" }) + "\n");
                });
                assert.ok(!r.stopped, r.out);
                const reports = sessionStatus(r.h);
                assert.equal(reports.length, 2, r.out);
                assert.match(reports[0], /session extended by 2 h by alice \(no terminal\): epoch 40 of 60; the workstation now stops at/);
                assert.match(reports[1], /warned: the workstation stops at .*maximum session \([\d.]+ h \+ 2 h extended\); archaeo-extend moves it/);
                const again = await runScript(r.h, "archaeo-autostop", [], { JUPYTER_URL: url });
                assert.ok(!/warned:|extended by/.test(again.out), again.out);
                assert.equal(sessionStatus(r.h).length, 2, "each extension and each stop time's warning reported once");
                // The records file is the researcher's: a link there is not followed by the root script, so no extension counts.
                const records = path.join(r.h.env.ARCHAEO_SESSION_DIR!, "session-extensions.jsonl");
                fs.renameSync(records, path.join(r.h.dir, "elsewhere.jsonl"));
                fs.symlinkSync(path.join(r.h.dir, "elsewhere.jsonl"), records);
                const linked = await runScript(r.h, "archaeo-autostop", [], { JUPYTER_URL: url });
                assert.match(linked.out, /stopping the workstation: its maximum session \([\d.]+ h\) ended at \d{4}-\d\d-\d\dT/);
                assert.ok(calls(r.h, "systemctl").includes("systemctl poweroff"), "stopped although a kernel is busy");
                assert.ok(!/busy: kernel/.test(linked.out), "the limit is judged before activity");
                assert.equal(sessionStatus(r.h).length, 3);
            });

            it("archaeo-extend takes 15m-24h as 2h, 90m or 1h30m; without a maximum, or under the hub's, it records nothing", () => {
                const dir = tmpDir("archaeo-session-");
                // One process for every case (each Python start costs a tenth of a second).
                const r = spawnSync(PYTHON, ["-c", `import contextlib, io, os
from archaeo_activity.session import extend_main, parse_duration
for d in ["2h", "90m", "1h30m", "24h", "5m", "25h", "3d", "2"]:
    try: print(d, parse_duration(d))
    except ValueError as e: print(d, "refused:", e)
for hours, by in [("0", "host"), ("12", "hub")]:
    os.environ.update(ARCHAEO_MAX_SESSION_HOURS=hours, ARCHAEO_SESSION_LIMIT_BY=by)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = extend_main(["2h"])
    print(code, out.getvalue().strip())
print(os.listdir(os.environ["ARCHAEO_SESSION_DIR"]))`], { encoding: "utf8", env: { PATH: process.env.PATH, PYTHONPATH: ACTIVITY, PYTHONDONTWRITEBYTECODE: "1", ARCHAEO_SESSION_DIR: dir } });
                const lines = r.stdout.trim().split("\n");
                assert.deepEqual(lines.slice(0, 8), ["2h 7200", "90m 5400", "1h30m 5400", "24h 86400", "5m refused: '5m' is outside 15m-24h; extend again later for more",
                    "25h refused: '25h' is outside 15m-24h; extend again later for more", "3d refused: '3d' is not a duration; write it like 2h, 90m or 1h30m",
                    "2 refused: '2' is not a duration; write it like 2h, 90m or 1h30m"], r.stderr);
                assert.equal(lines[8], "0 archaeo-extend: this workbench has no maximum session (maxSessionHours is 0): nothing to extend.");
                assert.match(lines[9], /^1 archaeo-extend: JupyterHub stops this server 12 h after it started \(maxSessionHours\) and cannot be asked to wait/);
                assert.equal(lines[10], "[]", "nothing recorded");
            });
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
