/**
 * The image's archaeo_activity extension inside a real jupyter-server (Debian's python3-jupyter-server
 * 1.23): a real kernel runs a silent cell, a real terminal runs a command, a real process burns CPU, a
 * real TCP connection is open on the SSH port (no longer activity by itself: test/idle.test.ts judges real SSH
 * sessions); a stub nvidia-smi reports GPU load.
 *
 * Why 1.23 is a faithful stand-in for the image's 2.17: the mechanism used is
 * `web_app.settings["last_activity_times"]`, which `ServerApp.web_app.last_activity()` folds in
 * identically in both (jupyter_server serverapp.py `last_activity`, tags v1.23.3 and v2.17.0), and
 * `?no_track_activity=1` is honoured by `APIHandler.update_api_activity` in both (base/handlers.py).
 * JupyterHub 5.5.0's singleuser extension reports exactly `web_app.last_activity()` to the hub
 * (singleuser/extension.py `notify_activity`); that hop is not run here (no jupyterhub package).
 */
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { PYTHON, requireTool } from "./helpers/tools";

const ACTIVITY = path.join(__dirname, "..", "images", "pytorch-cuda", "activity");

const DRIVER = String.raw`
import asyncio, json, os, socket, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime
act, mode = sys.argv[1], sys.argv[2]
TOK = "t" * 40
d = tempfile.mkdtemp(prefix="archaeo-activity-")
os.makedirs(d + "/bin"); os.makedirs(d + "/cfg")
with open(d + "/bin/nvidia-smi", "w") as f:
    f.write("#!/bin/sh\ncat " + d + "/gpu\n")
os.chmod(d + "/bin/nvidia-smi", 0o755)
def gpu(text):
    with open(d + "/gpu", "w") as f: f.write(text)
gpu("0, 0\n")
if mode == "with":
    json.dump({"ServerApp": {"jpserver_extensions": {"archaeo_activity": True}}}, open(d + "/cfg/jupyter_server_config.json", "w"))
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(4); ssh_port = listener.getsockname()[1]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, PYTHONPATH=act, JUPYTER_CONFIG_DIR=d + "/cfg", JUPYTER_DATA_DIR=d + "/data", JUPYTER_RUNTIME_DIR=d + "/rt", HOME=d,
           PATH=d + "/bin:" + os.environ["PATH"], ARCHAEO_ACTIVITY_INTERVAL="0.25", ARCHAEO_ACTIVITY_ROOT_PID=str(os.getpid()),
           ARCHAEO_SSH_PORT=str(ssh_port), ARCHAEO_CPU_BUSY_PERCENT="30", PYDEVD_DISABLE_FILE_VALIDATION="1")
server = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                           f"--ServerApp.token={TOK}", f"--ServerApp.root_dir={d}"], env=env, stdout=subprocess.DEVNULL, stderr=open(d + "/server.log", "w"))
base = f"http://127.0.0.1:{port}"
def api(path, method="GET", body=None, track=False):
    url = base + path + ("" if track else ("&" if "?" in path else "?") + "no_track_activity=1")
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "token " + TOK, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return json.loads(text) if text else None
def last():
    return datetime.fromisoformat(api("/api/status")["last_activity"].replace("Z", "+00:00")).timestamp()
def reasons():
    return api("/api/archaeo/activity")["reasons"] if mode == "with" else []
# Every observation waits for its state instead of sleeping a fixed time, so a loaded machine (a slow
# kernel start, a late extension tick) changes how long it takes, never what it finds. A state that
# never comes is what the assertions then see.
def until(pred, timeout=30.0):
    end = time.time() + timeout
    while True:
        r = reasons()
        if pred(r) or time.time() > end:
            return r
        time.sleep(0.2)
def kernel_state(kid):
    return next((k["execution_state"] for k in api("/api/kernels") if k["id"] == kid), None)
def wait_state(kid, state, timeout=60.0):
    end = time.time() + timeout
    while kernel_state(kid) != state and time.time() < end:
        time.sleep(0.1)
    return kernel_state(kid) == state
obs = {}
try:
    for _ in range(100):
        try:
            api("/api/status"); break
        except OSError:
            time.sleep(0.1)
    time.sleep(0.8)
    # Polling with no_track_activity is not activity; without it, it is (the control).
    t0 = last()
    for _ in range(4):
        api("/api/kernels"); api("/api/terminals"); api("/api/status")
        if mode == "with": api("/api/archaeo/activity")
        time.sleep(0.1)
    obs["polling_moved"] = last() - t0
    api("/api/kernels", track=True)
    obs["tracked_moved"] = last() - t0

    # A silent cell: no output at all while the kernel is busy (it sleeps until interrupted).
    from jupyter_client import BlockingKernelClient
    kid = api("/api/kernels", "POST", {"name": "python3"})["id"]
    # No heartbeat check: under load a slow kernel start would read as a dead kernel.
    kc = BlockingKernelClient(connection_file=d + "/rt/kernel-" + kid + ".json"); kc.load_connection_file(); kc.start_channels(hb=False)
    kc.wait_for_ready(timeout=120)
    wait_state(kid, "idle")
    obs["idle_kernel_reasons"] = until(lambda r: r == [])
    kc.execute("import time; time.sleep(600)")
    obs["cell_busy"] = wait_state(kid, "busy")
    obs["cell_reasons"] = until(lambda r: any(x.startswith("kernel ") for x in r)) if mode == "with" else []
    # While the cell runs silently: does last_activity move at all? (Its direction, not by how much.)
    # With the extension it moves within a few of its 0.25 s ticks; without, it never does.
    # The same window for both: the control (no extension) gets as long to move as the real case.
    l0 = last(); end = time.time() + 10.0; moved = False
    while time.time() < end and not moved:
        time.sleep(0.25); moved = last() > l0
    obs["cell_moved"] = moved
    obs["cell_still_busy"] = kernel_state(kid) == "busy"
    api("/api/kernels/" + kid + "/interrupt", "POST")
    kc.get_shell_msg(timeout=120)
    kc.stop_channels()
    if mode == "with":
        # Idle again: the clock stops and stays stopped (unchanged over 4 s in a row, read every second), however
        # long the last messages take to drain: a clock bumped every 2 or 3 s while idle does not pass.
        wait_state(kid, "idle")
        obs["idle_reasons"] = until(lambda r: r == [])
        obs["idle_settled"] = False
        for _ in range(30):
            l1 = last(); still = True
            for _ in range(4):
                time.sleep(1.0)
                if last() != l1: still = False; break
            if still:
                obs["idle_settled"] = True; break

        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        obs["cpu_reasons"] = until(lambda r: any(x.startswith("process ") and x.endswith("% CPU") for x in r))
        busy.kill(); busy.wait()
        until(lambda r: r == [])

        # A connection alone: sampled for a second (4 ticks) - nothing may appear.
        client = socket.create_connection(("127.0.0.1", ssh_port)); conn, _ = listener.accept()
        seen = []
        for _ in range(10):
            time.sleep(0.1); seen += reasons()
        obs["ssh_reasons"] = seen
        client.close(); conn.close()

        gpu("0, 80\n")
        obs["gpu_reasons"] = until(lambda r: r == ["gpu 0 at 80%"])
        gpu("0, 2\n")
        obs["gpu_low_reasons"] = until(lambda r: r == [])

        from tornado.websocket import websocket_connect
        name = api("/api/terminals", "POST")["name"]
        async def term():
            ws = await websocket_connect(f"ws://127.0.0.1:{port}/terminals/websocket/{name}?token={TOK}")
            await ws.write_message(json.dumps(["stdin", "sleep 600\r"]))
            # The state asserted, not the first terminal reason: between the shell's fork and the exec of sleep, the child is still "sh".
            obs["terminal_reasons"] = await asyncio.to_thread(until, lambda r: any(x.startswith("terminal ") and x.endswith(" runs sleep") for x in r))
            await ws.write_message(json.dumps(["stdin", "\x03"]))
            obs["terminal_idle_reasons"] = await asyncio.to_thread(until, lambda r: r == [])
            ws.close()
        asyncio.run(term())
        obs["model"] = api("/api/archaeo/activity")
finally:
    server.terminate(); server.wait(timeout=20)
print(json.dumps(obs))
`;

function drive(mode: "with" | "without"): Promise<Record<string, any>> {
    return new Promise((resolve, reject) => {
        // No byte-code written into the source tree (the build context).
        const child = spawn(PYTHON, ["-c", DRIVER, ACTIVITY, mode], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1" } });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => { out += d; });
        child.stderr.on("data", (d) => { err += d; });
        child.on("close", (code) => {
            if (code !== 0) return reject(new Error(`driver (${mode}) exited ${code}:\n${err}\n${out}`));
            resolve(JSON.parse(out.trim().split("\n").pop()!));
        });
    });
}

describe("archaeo_activity in a real jupyter-server (1.23): real work is activity, polling is not", function () {
    // Two jupyter-servers with kernels at once: about 25 s on an idle machine; sized for a loaded 2-core one.
    this.timeout(300_000);
    let withExt: Record<string, any>;
    let without: Record<string, any>;
    before(async () => {
        requireTool(PYTHON, "python3-jupyter-server python3-terminado python3-ipykernel");
        [withExt, without] = await Promise.all([drive("with"), drive("without")]);
    });

    it("a silent cell keeps last_activity moving while it runs (and without the extension it does not: the culled-mid-cell bug)", () => {
        // Whether the clock moved while the cell ran, not by how much: the amount depends on the machine's load.
        for (const o of [withExt, without]) assert.ok(o.cell_busy && o.cell_still_busy, "the kernel was busy with the cell throughout the observation");
        assert.ok(withExt.cell_reasons.some((r: string) => /^kernel \w+ busy$/.test(r)), JSON.stringify(withExt.cell_reasons));
        assert.equal(withExt.cell_moved, true, "with the extension, last_activity moved while the silent cell ran");
        assert.equal(without.cell_moved, false, "without the extension, last_activity stood still while the silent cell ran");
    });

    it("reads with ?no_track_activity=1 - including the extension's own endpoint - do not move last_activity; a tracked read does", () => {
        for (const o of [withExt, without]) {
            assert.equal(o.polling_moved, 0);
            assert.ok(o.tracked_moved > 0, "the control read is counted");
        }
    });

    it("an idle kernel, an idle terminal and an idle GPU are not activity; last_activity stops moving", () => {
        assert.deepEqual(withExt.idle_kernel_reasons, []);
        assert.deepEqual(withExt.idle_reasons, []);
        assert.equal(withExt.idle_settled, true, "last_activity stopped moving once everything was idle");
        assert.deepEqual(withExt.gpu_low_reasons, []);
        assert.deepEqual(withExt.terminal_idle_reasons, []);
    });

    it("a CPU-busy process in the container (e.g. `nohup python train.py &` over SSH) is activity", () => {
        assert.ok(withExt.cpu_reasons.some((r: string) => /^process \d+ \(python3?\) at \d+% CPU$/.test(r)), JSON.stringify(withExt.cpu_reasons));
    });

    it("an open TCP connection to the SSH port is not activity by itself (an idle `ssh -L` tunnel; what runs in a session is: test/idle.test.ts)", () => {
        assert.deepEqual(withExt.ssh_reasons, []);
    });

    it("GPU utilisation at or over the threshold is activity", () => {
        assert.deepEqual(withExt.gpu_reasons, ["gpu 0 at 80%"]);
    });

    it("a terminal running a command is activity", () => {
        assert.ok(withExt.terminal_reasons.some((r: string) => /^terminal \w+ runs sleep$/.test(r)), JSON.stringify(withExt.terminal_reasons));
    });

    it("GET /api/archaeo/activity reports its verdict for the host's auto-stop", () => {
        assert.deepEqual(Object.keys(withExt.model).sort(), ["active", "checked", "interval_seconds", "last_active", "last_input", "reasons", "session_limit", "ssh_sessions"]);
        assert.equal(withExt.model.session_limit, null, "no maximum session without ARCHAEO_MAX_SESSION_HOURS");
        assert.equal(withExt.model.interval_seconds, 0.25);
        assert.match(withExt.model.last_active, /Z$/);
    });
});
