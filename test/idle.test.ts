/**
 * Idle that means idle (issue 21, item 3), end to end with real processes: the image's sshd (Debian's
 * OpenSSH through the entrypoint, test/helpers/sshd.ts) and a real jupyter-server (Debian's 1.23) with the
 * image's archaeo_activity extension run side by side under one subreaper that plays the containers' shared
 * PID namespace (test/helpers/pod.py); real SSH sessions with real terminals, a real tmux server, ssh-agent,
 * `nohup`, `setsid` and a CPU-burning python; and the workstation's real archaeo-autostop, from the user data,
 * deciding with stub docker/aws/systemctl (test/helpers/host.ts). Why jupyter-server 1.23 stands in for 2.17:
 * test/activity.test.ts. The idle period is 3 s here (IDLE_MINUTES=0.05) and the extension samples every 0.5 s.
 *
 * Signals and their sources (archaeo_activity/probe.py has the detail): a keystroke is the terminal's atime
 * (procps w.c `idletime`; the kernel sets it on a read that returns data, drivers/tty/tty_io.c `tty_read`, and
 * at most every 8 s, so a test ages it with utime first), a running process is one in a session or left behind
 * by one, CPU is the utime+stime delta; an SSH connection by itself is nothing.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { calls, Host, makeHost, runScript, TOKEN } from "./helpers/host";
import { prepareSshd, Sshd } from "./helpers/sshd";
import { freePort, PYTHON, requireTool } from "./helpers/tools";

const ACTIVITY = path.join(__dirname, "..", "images", "pytorch-cuda", "activity");
const POD = path.join(__dirname, "helpers", "pod.py");
const IDLE_SECONDS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Session { child: ChildProcess; out: () => string; type: (text: string) => void; close: () => void }

describe("idle that means idle: auto-stop with a real sshd, real sessions and the activity extension in a real jupyter-server", function () {
    // A jupyter-server, an sshd and a few ssh sessions: about 15 s on an idle 2-core machine.
    this.timeout(120_000);
    let sshd: Sshd;
    let pod: ChildProcess;
    let podPid = 0;
    let url = "";
    let host: Host;
    let s1: Session;
    let s1Pty = "";
    const sessions: Session[] = [];
    // The maximum session ends in 30 minutes: inside the hour in which the extension warns.
    const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))![1]);
    const maxHours = (Date.now() / 1000 - btime + 1800) / 3600;

    async function api(p: string, method = "GET"): Promise<any> {
        const r = await fetch(`${url}${p}${p.includes("?") ? "&" : "?"}no_track_activity=1`, { method, headers: { Authorization: `token ${TOKEN}` } });
        assert.ok(r.ok, `${method} ${p}: ${r.status}`);
        const text = await r.text();
        return text ? JSON.parse(text) : null;
    }
    const activity = () => api("/api/archaeo/activity");
    const lastActivity = async () => Date.parse((await api("/api/status")).last_activity);
    /** Waits (a state, not a fixed time) until the extension's verdict passes `pred`; returns the last verdict. */
    async function until(pred: (a: any) => boolean, timeoutMs = 20_000): Promise<any> {
        const end = Date.now() + timeoutMs;
        for (;;) {
            const a = await activity();
            if (pred(a) || Date.now() > end) return a;
            await sleep(100);
        }
    }
    const hasReason = (re: RegExp) => (a: any) => a.reasons.some((r: string) => re.test(r));
    async function autostop(env: NodeJS.ProcessEnv = {}) {
        const before = calls(host, "systemctl poweroff").length;
        const r = await runScript(host, "archaeo-autostop", [], { JUPYTER_URL: url, ...env });
        return { ...r, stopped: calls(host, "systemctl poweroff").length > before };
    }
    function open(args = sshd.session()): Session {
        const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        child.stdout!.on("data", (d) => { out += d; });
        child.stderr!.on("data", (d) => { out += d; });
        const s = { child, out: () => out, type: (t: string) => { child.stdin!.write(t); }, close: () => { child.kill(); } };
        sessions.push(s);
        return s;
    }
    async function waitFor(s: Session, re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
        const end = Date.now() + timeoutMs;
        while (Date.now() < end) {
            const m = re.exec(s.out());
            if (m) return m;
            await sleep(50);
        }
        throw new Error(`session output never matched ${re}:\n${s.out()}`);
    }
    const ssh = (cmd: string) => spawnSync("ssh", [...sshd.client, cmd], { encoding: "utf8", timeout: 20_000 });
    /** The keystroke clock of s1's terminal set back an hour (utime on the pty, like no input since). */
    const ageInput = () => { const old = Date.now() / 1000 - 3600; fs.utimesSync(s1Pty, old, old); };

    before(async () => {
        requireTool("/usr/bin/tmux", "tmux");
        requireTool(PYTHON, "python3");
        sshd = await prepareSshd({
            // What a session's `archaeo-extend` needs: the package, and the container environment's session settings.
            PYTHONPATH: ACTIVITY, PYTHONDONTWRITEBYTECODE: "1",
            ARCHAEO_MAX_SESSION_HOURS: String(maxHours), ARCHAEO_SESSION_LIMIT_BY: "host",
        });
        const dir = path.join(sshd.base, "jupyter");
        const sessionDir = path.join(sshd.base, "workspace-archaeo");
        for (const d of [dir, path.join(dir, "cfg"), sessionDir]) fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(dir, "cfg", "jupyter_server_config.json"), JSON.stringify({ ServerApp: { jpserver_extensions: { archaeo_activity: true } } }));
        if (sshd.root) for (const d of [dir, path.join(dir, "cfg"), sessionDir]) fs.chownSync(d, sshd.uid, sshd.gid);
        sshd.env.ARCHAEO_SESSION_DIR = sessionDir;
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        const spec = [
            { argv: sshd.argv, env: sshd.env, log: path.join(sshd.base, "sshd.log") },
            {
                argv: sshd.asUser([PYTHON, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", `--port=${port}`, `--ServerApp.token=${TOKEN}`, `--ServerApp.root_dir=${dir}`]),
                env: {
                    PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PYTHONPATH: ACTIVITY, PYTHONDONTWRITEBYTECODE: "1", SHELL: "/bin/bash",
                    JUPYTER_CONFIG_DIR: path.join(dir, "cfg"), JUPYTER_DATA_DIR: path.join(dir, "data"), JUPYTER_RUNTIME_DIR: path.join(dir, "rt"),
                    ARCHAEO_ACTIVITY_INTERVAL: "0.5", ARCHAEO_ACTIVITY_ROOT_PID: "{POD}", ARCHAEO_SESSION_DIR: sessionDir,
                    ARCHAEO_MAX_SESSION_HOURS: String(maxHours), ARCHAEO_SESSION_LIMIT_BY: "host",
                },
                log: path.join(dir, "server.log"),
            },
        ];
        pod = spawn(PYTHON, [POD, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "inherit"] });
        podPid = pod.pid!;
        const log = () => ["sshd.log", "jupyter/server.log"].map((f) => { try { return fs.readFileSync(path.join(sshd.base, f), "utf8"); } catch { return ""; } }).join("\n");
        const deadline = Date.now() + 30_000;
        for (;;) {
            const up = await Promise.all([
                new Promise<boolean>((res) => { const c = net.connect(sshd.port, "127.0.0.1", () => { c.destroy(); res(true); }); c.on("error", () => res(false)); }),
                fetch(`${url}/api/status?no_track_activity=1`, { headers: { Authorization: `token ${TOKEN}` } }).then((r) => r.ok, () => false),
            ]);
            if (up.every(Boolean)) break;
            if (Date.now() > deadline) throw new Error(`sshd or jupyter-server did not start:\n${log()}`);
            await sleep(100);
        }

        host = makeHost();
        fs.appendFileSync(host.env.ARCHAEO_ENV_FILE!, `IDLE_MINUTES=${IDLE_SECONDS / 60}\n`);
        host.env.ARCHAEO_SESSION_DIR = sessionDir;
        fs.writeFileSync(path.join(host.state, "jupyter-token"), TOKEN);
        fs.writeFileSync(path.join(host.stub, "archaeo-jupyter.running"), "true");
        fs.writeFileSync(path.join(host.stub, "archaeo-sshd.pid"), "4242");
        // The session's TCP connection is there, as on the workstation: `ss` would report it.
        fs.writeFileSync(path.join(host.stub, "ss"), "ESTAB 0 0 127.0.0.1:2222 127.0.0.1:51234\n");
        // Idle by every other measure since two hours ago: Jupyter's last activity decides.
        fs.writeFileSync(path.join(host.state, "idle-since"), String(Math.round(Date.now() / 1000 - 7200)));

        // The researcher's SSH session, with an ssh-agent and a detached tmux server (an idle shell in its pane).
        s1 = open();
        s1.type("eval $(ssh-agent -s) >/dev/null; tmux -S ~/.tmux-sock new-session -d; echo PTY=$(readlink /proc/$$/fd/0) PID=$$\n");
        const m = await waitFor(s1, /PTY=(\/dev\/pts\/\d+) PID=(\d+)/);
        s1Pty = `/proc/${m[2]}/fd/0`;
    });

    after(async () => {
        for (const s of sessions) s.close();
        if (pod?.pid && pod.exitCode === null) {
            // The pod ends everything below it (sshd, jupyter-server, what sessions left) before it exits.
            const exited = new Promise((r) => pod.once("exit", r));
            pod.kill("SIGTERM");
            await exited;
        }
        sshd?.cleanup();
    });

    it("an idle SSH session - its shell, ssh-agent and a tmux server waiting - does not keep the workstation up: stopped after the idle period", async () => {
        const seen = await until((a) => a.ssh_sessions.length === 1 && a.ssh_sessions[0].tty !== null && a.reasons.length === 0);
        assert.deepEqual(seen.reasons, [], "a waiting shell, ssh-agent, tmux server and its idle pane are not work");
        assert.match(seen.ssh_sessions[0].tty, /^pts\/\d+$/);
        // Nothing moves Jupyter's clock: wait until its last activity (the last keystroke at most) is older than the idle period.
        const end = Date.now() + 20_000;
        while (Date.now() - (await lastActivity()) < IDLE_SECONDS * 1000 + 300 && Date.now() < end) await sleep(200);
        const r = await autostop();
        assert.ok(r.stopped, r.out);
        assert.match(r.out, /stopping the workstation after 0\.05 idle minutes/);
        assert.deepEqual(calls(host, "nsenter"), [], "the open connection is not counted: the extension judged the session");
    });

    it("a keystroke in that session is input: Jupyter's last activity moves to it, not stopped", async () => {
        ageInput();
        const before = (await activity()).last_input;
        const typed = Date.now();
        s1.type(" \x15"); // a space, then ^U erases it: read by the shell, nothing run
        const seen = await until((a) => a.last_input !== before && Date.parse(a.last_input) >= typed - 1500);
        assert.ok(Date.parse(seen.last_input) >= typed - 1500, `last_input ${seen.last_input}`);
        assert.deepEqual(seen.reasons, [], "input is a time, not a reason");
        const r = await autostop();
        assert.ok(!r.stopped, r.out);
        assert.match(r.out, /idle for 0 of 0\.05 minutes/);
    });

    it("a command running in the session counts; a foreground program waiting on its terminal (an editor, less, cat) does not", async () => {
        s1.type("sleep 300 &\n");
        const bg = await until(hasReason(/^process \d+ \(sleep\) running in ssh session pts\/\d+/));
        assert.ok(hasReason(/^process \d+ \(sleep\) running in ssh session pts\/\d+/)(bg), JSON.stringify(bg.reasons));
        s1.type("kill %1; cat\n");
        const fg = await until((a) => a.reasons.length === 0 && spawnSync("pgrep", ["-u", sshd.user, "-x", "cat"]).status === 0);
        assert.equal(spawnSync("pgrep", ["-u", sshd.user, "-x", "cat"]).status, 0, "cat runs in the foreground");
        assert.deepEqual(fg.reasons, [], "a foreground program waiting on an SSH terminal is judged by input, CPU and GPU only");
        s1.type("\x03");
    });

    it("what a closed session left behind (`nohup`, `setsid`) keeps counting: reparented to the container's init; an editor's server (VS Code's) does not", async () => {
        // VS Code Remote-SSH's server by its path (~/.vscode-server/bin/<commit>/node): here a copy of sleep under that name.
        const r = ssh("mkdir -p ~/.vscode-server/bin/c0ffee && cp /bin/sleep ~/.vscode-server/bin/c0ffee/node; nohup ~/.vscode-server/bin/c0ffee/node 302 >/dev/null 2>&1 & "
            + "nohup sleep 300 >/dev/null 2>&1 & setsid sleep 301 >/dev/null 2>&1 < /dev/null &");
        assert.equal(r.status, 0, `${r.status} ${r.error ?? ""} ${r.stderr}`);
        const seen = await until((a) => a.reasons.filter((x: string) => /^process \d+ \(sleep\) running detached from any session/.test(x)).length === 2);
        const left = seen.reasons.filter((x: string) => /\(sleep\) running detached/.test(x)).map((x: string) => Number(/^process (\d+)/.exec(x)![1]));
        assert.equal(left.length, 2, JSON.stringify(seen.reasons));
        for (const pid of left) {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            assert.equal(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]), podPid, "reparented to the init");
            process.kill(pid, "SIGKILL");
        }
        assert.ok(!seen.reasons.some((x: string) => /\(node\)/.test(x)), JSON.stringify(seen.reasons));
        assert.deepEqual((await until((a) => a.reasons.length === 0)).reasons, [], "VS Code's server alone: idle");
        spawnSync("pkill", ["-u", sshd.user, "-f", "vscode-server/bin/c0ffee/node"]);
    });

    it("`nohup python train.py &` with an idle shell keeps the workstation up: a running process, using CPU", async () => {
        // Two fifths of a core, until killed: training's CPU without spending a core of the test machine's.
        const train = "import time\\nwhile True:\\n    t = time.time()\\n    while time.time() - t < 0.04: pass\\n    time.sleep(0.06)";
        s1.type(`nohup python3 -c "$(printf '${train}')" >/dev/null 2>&1 &\n`);
        // Both rules see it: CPU (the utime+stime delta between samples, noisy over 0.5 s: seen at some sample) and running.
        const cpu = await until(hasReason(/^process \d+ \(python3\) at \d+% CPU$/));
        assert.ok(hasReason(/^process \d+ \(python3\) at \d+% CPU$/)(cpu), JSON.stringify(cpu.reasons));
        // The shell waits at its prompt. Busy is judged on what runs, whatever the input: the auto-stop says why.
        const r = await autostop();
        assert.ok(!r.stopped, r.out);
        assert.match(r.out, /busy: .*jupyter: process \d+ \(python3\) running in ssh session pts\/\d+/);
        s1.type("kill %1\n");
        await until((a) => a.reasons.length === 0);
    });

    it("the maximum session: its warning reaches the SSH terminal and a Jupyter terminal, once each; archaeo-extend in a session moves the stop, and the host reports it", async () => {
        // Warned at the extension's first tick after the session opened (the stop is 30 minutes away).
        const text = /\*\*\* archaeo: this workstation stops at \S+Z \(in \d+ min\): its maximum session of [\d.]+ h ends\. Save your work, or extend the session: archaeo-extend 2h\. \*\*\*/;
        await waitFor(s1, text);
        const term = await api("/api/terminals", "POST");
        const before = (await activity()).session_limit;
        await until((a) => a.session_limit.warned_terminals > before.warned_terminals);
        assert.equal(s1.out().split("archaeo: this workstation stops at").length - 1, 1, "once per terminal and stop time");
        // What the browser's terminal tab shows: terminado replays the terminal's output to a new websocket.
        const read = spawnSync(PYTHON, ["-c", `import asyncio, json, sys
from tornado.websocket import websocket_connect
async def main():
    ws = await websocket_connect(sys.argv[1])
    out = ""
    while "ends." not in out:
        msg = await asyncio.wait_for(ws.read_message(), 10)
        if msg is None: break
        kind, *rest = json.loads(msg)
        if kind == "stdout": out += rest[0]
    print(out)
asyncio.run(main())`, `${url.replace("http", "ws")}/terminals/websocket/${term.name}?token=${TOKEN}`], { encoding: "utf8", timeout: 30_000 });
        assert.match(read.stdout, /archaeo: this workstation stops at \S+Z \(in \d+ min\): its maximum session/, read.stderr);

        const r = ssh("python3 -m archaeo_activity.session extend 2h checkpoint at epoch 40");
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /extended by 2 h 00 min, recorded\. The workstation now stops at/);
        const moved = await until((a) => a.session_limit.extended_seconds === 7200);
        assert.equal(Date.parse(moved.session_limit.stops_at) - Date.parse(before.stops_at), 7200_000);
        fs.appendFileSync(host.env.ARCHAEO_ENV_FILE!, `MAX_SESSION_HOURS=${maxHours}\n`);
        const reported = await autostop();
        assert.ok(!reported.stopped, reported.out);
        assert.match(reported.out, new RegExp(`session extended by 2 h by ${sshd.user} \\(no terminal\\): checkpoint at epoch 40; the workstation now stops at ${moved.session_limit.stops_at}`));
    });
});
