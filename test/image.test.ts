import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { validate } from "dockerfile-utils";
import image from "../images/pytorch-cuda/image.json";
import { compareVersions, DEFAULT_AMI_SSM_PARAMETER, HOST_AMIS } from "../infra/data/amis";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { CONFIG_KEYS } from "../infra/config";
import { IMAGE_CONTEXT } from "../infra/workbench";
import { dockerfileRuleViolations } from "./helpers/dockerfile-rules";
import { run, shellcheck, tmpFile } from "./helpers/tools";

const dir = path.join(__dirname, "..", "images", "pytorch-cuda");
const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
const dockerfile = read("Dockerfile");
const expectedBase = `${image.baseImage}:${image.baseTag}`;

describe("image: images/pytorch-cuda", () => {
    describe("Dockerfile", () => {
        it("parses and validates cleanly with dockerfile-utils", () => {
            const diags = validate(dockerfile);
            assert.deepEqual(diags.map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
        });

        it("dockerfile-utils is live: it reports a broken instruction", () => {
            assert.ok(validate("FROM\nEXPOSE notaport\n").length > 0);
        });

        it("follows the project rules", () => {
            assert.deepEqual(dockerfileRuleViolations(dockerfile, { expectedBase }), []);
        });

        const mutations: Array<[string, (s: string) => string, RegExp]> = [
            ["base not pinned by digest", (s) => s.replace("FROM ${BASE_IMAGE}${BASE_DIGEST:+@}${BASE_DIGEST} AS base", "FROM ${BASE_IMAGE} AS base"), /pinned|first FROM/],
            ["latest tag", (s) => s.replaceAll(expectedBase, "pytorch/pytorch:latest"), /latest|BASE_IMAGE must default/],
            ["root user last", (s) => s.replace("USER 1000:1000", "USER root"), /must not be root/],
            ["RUN after USER", (s) => s.replace("WORKDIR /workspace\n", "WORKDIR /workspace\nRUN echo hi\n"), /RUN after the last USER/],
            ["secret in ENV", (s) => s.replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 JUPYTER_TOKEN=abc123"), /must not carry a secret/],
            ["ADD of a URL", (s) => s.replace("COPY requirements.txt", "ADD https://example.org/requirements.txt"), /ADD of a URL/],
            ["apt lists kept", (s) => s.replace(" /var/lib/apt/lists/*", ""), /remove \/var\/lib\/apt\/lists/],
            ["pip in final stage", (s) => s.replace("# The project's own files", "RUN pip install rich\n# The project's own files"), /no pip installs/],
            ["no healthcheck", (s) => s.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, ""), /HEALTHCHECK/],
            ["no tini", (s) => s.replace('"/usr/bin/tini", "--", ', ""), /tini/],
        ];
        for (const [title, mutate, expected] of mutations) {
            it(`rules catch: ${title}`, () => {
                const mutated = mutate(dockerfile);
                assert.notEqual(mutated, dockerfile, "mutation did not apply");
                const v = dockerfileRuleViolations(mutated, { expectedBase });
                assert.ok(v.some((m) => expected.test(m)), `expected ${expected}, got ${JSON.stringify(v)}`);
            });
        }

        it("keeps big, rarely-changing layers first and the project's files last", () => {
            const order = ["FROM base AS final", "apt-get install", "useradd", "COPY --from=builder", "COPY --chmod=0755 entrypoint.sh"];
            const at = order.map((s) => dockerfile.indexOf(s));
            assert.ok(at.every((x) => x >= 0), JSON.stringify(at));
            assert.deepEqual([...at].sort((a, b) => a - b), at);
        });

        it("carries OCI labels for source, version, torch and CUDA", () => {
            for (const l of ["org.opencontainers.image.source", "org.opencontainers.image.version", `io.archaeo.torch="${image.torch}"`, `io.archaeo.cuda="${image.cuda}"`,
                `io.archaeo.min-nvidia-driver="${image.minNvidiaDriver}"`]) assert.ok(dockerfile.includes(l), l);
        });

        it("is the build context the stack's docker.Image uses", () => {
            assert.equal(path.resolve(IMAGE_CONTEXT), path.resolve(dir));
            assert.ok(fs.existsSync(path.join(IMAGE_CONTEXT, "Dockerfile")));
        });
    });

    describe("requirements", () => {
        const reqs = read("requirements.txt").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
        it("pins every package with == and leaves out torchaudio / torchtext", () => {
            for (const r of reqs) assert.match(r, /^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$/, r);
            for (const banned of ["torchaudio", "torchtext", "torch=="]) assert.ok(!reqs.some((r) => r.startsWith(banned)), banned);
            for (const needed of ["jupyterlab", "tensorboard", "pillow", "matplotlib", "pandas", "scikit-learn"]) assert.ok(reqs.some((r) => r.startsWith(`${needed}==`)), needed);
        });
    });

    describe("entrypoint and scripts", () => {
        it("pass shellcheck", () => {
            for (const f of ["entrypoint.sh", "config/profile.sh"]) {
                const r = shellcheck(path.join(dir, f));
                assert.equal(r.status, 0, `${f}:\n${r.output}`);
            }
        });

        it("refuses to run as root", function () {
            if (process.getuid && process.getuid() !== 0) this.skip();
            const r = spawnSync("bash", [path.join(dir, "entrypoint.sh"), "tensorboard"], { encoding: "utf8" });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /refusing to run as root/);
        });

        it("jupyter role refuses to start without a token", () => {
            // Run as a non-root shell by faking id: the check order is root first, then token.
            const script = read("entrypoint.sh").replace('[ "$(id -u)" -ne 0 ] || die', 'true || die');
            const r = spawnSync("bash", [tmpFile("entrypoint.sh", script), "jupyter"], { encoding: "utf8", env: { PATH: process.env.PATH } });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /no Jupyter token/);
        });
    });

    describe("sshd_config", () => {
        const conf = Object.fromEntries(read("config/sshd_config").split("\n").filter((l) => /^[A-Z]/.test(l)).map((l) => l.split(/\s+/, 2)));
        it("is key-only, no root, no passwords, unprivileged port, local forwarding only", () => {
            assert.deepEqual(
                ["Port", "PasswordAuthentication", "KbdInteractiveAuthentication", "PermitRootLogin", "PubkeyAuthentication", "PermitEmptyPasswords",
                    "AllowTcpForwarding", "X11Forwarding", "AllowAgentForwarding", "PermitTunnel", "GatewayPorts", "AllowUsers"].map((k) => conf[k]),
                ["2222", "no", "no", "no", "yes", "no", "local", "no", "no", "no", "no", "researcher"],
            );
            assert.equal(conf.AuthorizedKeysFile, "/etc/archaeo/authorized_keys");
        });
        it("host keys are generated into the persistent SSH_HOST_KEY_DIR", () => {
            assert.match(read("entrypoint.sh"), /keydir="\$\{SSH_HOST_KEY_DIR:-\/workspace\/.archaeo\/ssh-host-keys\}"/);
        });
    });

    describe("jupyter_server_config.py", () => {
        const loader = (tokenFile?: string) => {
            const py = `
import os, runpy, sys, json
class N:
    def __getattr__(self, k):
        v = N(); object.__setattr__(self, k, v); return v
c = N()
try:
    runpy.run_path(sys.argv[1], init_globals={"get_config": lambda: c})
except SystemExit as e:
    print(json.dumps({"exit": str(e)})); sys.exit(0)
print(json.dumps({"token": c.IdentityProvider.token, "ip": c.ServerApp.ip, "root": c.ServerApp.allow_root, "cull": c.MappingKernelManager.cull_idle_timeout, "busy": c.MappingKernelManager.cull_busy}))
`;
            const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
            if (tokenFile) env.JUPYTER_TOKEN_FILE = tokenFile;
            const res = spawnSync("python3", ["-c", py, path.join(dir, "config/jupyter_server_config.py")], { encoding: "utf8", env });
            assert.equal(res.status, 0, res.stderr);
            return JSON.parse(res.stdout);
        };
        it("reads the token from JUPYTER_TOKEN_FILE, never runs as root, culls idle kernels but not busy ones", () => {
            const token = "t".repeat(48);
            const out = loader(tmpFile("token", token + "\n"));
            assert.deepEqual(out, { token, ip: "0.0.0.0", root: false, cull: 3600, busy: false });
        });
        it("refuses to start without a token", () => {
            assert.match(loader().exit, /refusing to start Jupyter without a token/);
            assert.match(loader(tmpFile("short", "abc")).exit, /at least 32 characters/);
        });
    });

    describe("smoke test", () => {
        const smoke = path.join(dir, "smoke.py");
        it("compiles", () => {
            const r = run("python3", ["-m", "py_compile", smoke]);
            assert.equal(r.status, 0, r.output);
        });
        it("runs its CPU path here, or skips cleanly with a message when torch is absent", () => {
            const r = spawnSync("python3", [smoke], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
            assert.equal(r.status, 0, r.stdout + r.stderr);
            assert.match(r.stdout, /smoke: (skip: torch is not installed|PASS)/);
        });
        it("fails when a GPU is expected but unavailable", () => {
            const r = spawnSync("python3", [smoke], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ARCHAEO_EXPECT_GPU: "1", CUDA_VISIBLE_DEVICES: "" } });
            assert.equal(r.status, 1, r.stdout);
            assert.match(r.stdout, /FAIL/);
        });
    });

    describe("idle-stop (cluster mode sidecar)", () => {
        const script = path.join(dir, "idle_stop.py");
        it("compiles and is copied into the image", () => {
            assert.equal(run("python3", ["-m", "py_compile", script]).status, 0);
            assert.match(dockerfile, /COPY --chmod=0644 smoke\.py idle_stop\.py \/opt\/archaeo\//);
        });
        it("reads Jupyter activity and busy kernels over HTTP, and treats a stale SSH heartbeat as no session", () => {
            const py = `
import importlib.util, json, sys, threading, time, datetime as dt
from http.server import BaseHTTPRequestHandler, HTTPServer
spec = importlib.util.spec_from_file_location("idle", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
last = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=7)).isoformat().replace("+00:00", "Z")
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "token t0k": self.send_response(403); self.end_headers(); return
        body = {"/api/status": {"last_activity": last}, "/api/kernels": [{"execution_state": "busy"}, {"execution_state": "idle"}]}[self.path]
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps(body).encode())
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H); threading.Thread(target=srv.serve_forever, daemon=True).start()
since, busy = m.jupyter_activity(f"http://127.0.0.1:{srv.server_port}", "t0k")
down = m.jupyter_activity("http://127.0.0.1:9", "t0k")
open(sys.argv[2], "w").write(f"{time.time()} 2")
fresh = m.ssh_sessions(sys.argv[2], 900)
open(sys.argv[2], "w").write(f"{time.time() - 3600} 2")
stale = m.ssh_sessions(sys.argv[2], 900)
print(json.dumps({"minutes": round(since / 60), "busy": busy, "down": list(down), "fresh": fresh, "stale": stale, "missing": m.ssh_sessions("/nonexistent", 900)}))
`;
            const r = spawnSync("python3", ["-c", py, script, tmpFile("hb", "")], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(JSON.parse(r.stdout), { minutes: 7, busy: 1, down: [null, 0], fresh: 2, stale: 0, missing: 0 });
        });
    });

    describe("driver compatibility and size", () => {
        it("every host AMI ships a driver new enough for the image's CUDA", () => {
            for (const ami of HOST_AMIS) {
                assert.ok(compareVersions(ami.minNvidiaDriver, image.minNvidiaDriver) >= 0, `${ami.os}: ${ami.minNvidiaDriver} < ${image.minNvidiaDriver}`);
                assert.ok(ami.nvidiaContainerToolkit && ami.awsCli, ami.os);
            }
            assert.ok(HOST_AMIS.some((a) => a.ssmParameter === DEFAULT_AMI_SSM_PARAMETER));
            assert.equal(CONFIG_KEYS.amiSsmParameter.default, DEFAULT_AMI_SSM_PARAMETER);
        });
        it("the driver comparison is numeric", () => {
            assert.equal(compareVersions("570.26", "580.105.08"), -1);
            assert.equal(compareVersions("595.91.07", "595.9"), 1);
            assert.equal(compareVersions("570.26", "570.26.0"), 0);
        });
        it("the pinned wheel has kernels for every supported GPU", () => {
            for (const [t, g] of Object.entries(GPU_INSTANCE_TYPES)) assert.ok(image.cudaArchs.includes(g.computeCapability), `${t} sm_${g.computeCapability}`);
        });
        it("the layer plan adds up and stays within 3.5 GB compressed", () => {
            const total = image.layerPlan.layers.reduce((s, l) => s + l.compressedMiB, 0);
            assert.equal(Math.round((total / 1024) * 100) / 100, image.estimatedCompressedGiB);
            assert.ok(image.estimatedCompressedGiB <= 3.5);
            assert.ok(image.baseTag.startsWith(`${image.torch}-cuda${image.cuda}-cudnn${image.cudnn}-runtime`));
        });
    });
});
