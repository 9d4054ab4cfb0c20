/** images/pytorch-cuda: Dockerfile rules, build context, entrypoint run for real, configs, build helpers, size. */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DockerfileParser } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import image from "../images/pytorch-cuda/image.json";
import { compareVersions, DEFAULT_AMI_SSM_PARAMETER, HOST_AMIS } from "../infra/data/amis";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { CONFIG_KEYS } from "../infra/config";
import { IMAGE_CONTEXT, PROJECT_ROOT } from "../infra/foundation";
import { dockerfileRuleViolations } from "./helpers/dockerfile-rules";
import { ok, pythonEnv, requirePython, runArchaeo } from "./helpers/python";
import { PYTHON, run, shellcheck, stubDir, tmpDir, tmpFile } from "./helpers/tools";

const dir = path.join(__dirname, "..", "images", "pytorch-cuda");
const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
const dockerfile = read("Dockerfile");
const expectedBase = `${image.baseImage}:${image.baseTag}`;
const finalStage = dockerfile.slice(dockerfile.indexOf("FROM base AS final"));

/**
 * Docker's .dockerignore matching, ported from moby/patternmatcher v0.6.1 (`Pattern.compile`,
 * `Pattern.match`, `MatchesOrParentMatches`) for patterns without "!" exceptions: paths are
 * relative to the context root; "**" at the start makes a suffix match, "*" and "?" stop at "/";
 * a path is excluded when it or any of its parent directories matches.
 */
function dockerignoreMatcher(lines: string[]): (file: string) => boolean {
    const patterns = lines.map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => path.posix.normalize(l).replace(/^\//, ""));
    const compiled = patterns.map((p) => {
        let re = "^";
        let type: "exact" | "prefix" | "suffix" | "regexp" = "exact";
        for (let i = 0, step = 0; i < p.length; i++, step++) {
            const ch = p[i];
            if (ch === "*" && p[i + 1] === "*") {
                i++;
                if (p[i + 1] === "/") i++;
                if (i + 1 >= p.length) {
                    if (type === "exact") type = "prefix";
                    else { re += ".*"; type = "regexp"; }
                } else {
                    re += "(.*/)?";
                    type = "regexp";
                }
                if (step === 0) type = "suffix";
            } else if (ch === "*") { re += "[^/]*"; type = "regexp"; }
            else if (ch === "?") { re += "[^/]"; type = "regexp"; }
            else if (".+()|{}$".includes(ch)) re += "\\" + ch;
            else if (ch === "[" || ch === "]") { re += ch; type = "regexp"; }
            else re += ch;
        }
        const regexp = new RegExp(re + "$");
        return (f: string): boolean => {
            switch (type) {
                case "exact": return f === p;
                case "prefix": return f.startsWith(p.slice(0, -2));
                case "suffix": { const s = p.slice(2); return f.endsWith(s) || (s[0] === "/" && f === s.slice(1)); }
                default: return regexp.test(f);
            }
        };
    });
    return (file: string) => {
        const parts = file.split("/");
        const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
        return compiled.some((m) => candidates.some((c) => m(c)));
    };
}

describe("image: images/pytorch-cuda", function () {
    // Real builds and runs (pip, Debian torchvision, the entrypoint): seconds each when idle, sized for a loaded 2-core machine.
    this.timeout(180_000);
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
            ["latest tag", (s) => s.replaceAll(expectedBase, "ubuntu:latest"), /latest|BASE_IMAGE must default/],
            ["root user last", (s) => s.replace("USER 1000:1000", "USER root"), /must not be root/],
            ["RUN after USER", (s) => s.replace("WORKDIR /workspace\n", "WORKDIR /workspace\nRUN echo hi\n"), /RUN after the last USER/],
            ["secret in ENV", (s) => s.replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 JUPYTER_TOKEN=abc123"), /must not carry a secret/],
            ["ADD of a URL", (s) => s.replace("COPY requirements.txt", "ADD https://example.org/requirements.txt"), /ADD of a URL/],
            ["apt lists kept", (s) => s.replace(" /var/lib/apt/lists/*", ""), /remove \/var\/lib\/apt\/lists/],
            ["pip in final stage", (s) => s.replace("# The project's own code", "RUN pip install rich\n# The project's own code"), /no pip installs/],
            ["no healthcheck", (s) => s.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, ""), /HEALTHCHECK/],
            ["no tini", (s) => s.replace('"/usr/bin/tini", "--", ', ""), /tini/],
            // The seed's bug: the base.name label was empty because BASE_IMAGE was not re-declared after FROM.
            ["BASE_IMAGE not re-declared after FROM", (s) => s.replace("ARG BASE_IMAGE\nARG BASE_DIGEST\n", ""), /LABEL uses \$\{BASE_IMAGE\} but this stage declares no ARG BASE_IMAGE/],
            ["uv image copied by tag only", (s) => s.replace(/(astral-sh\/uv:[0-9.]+)@sha256:[0-9a-f]{64}/, "$1"), /COPY --from=ghcr\.io\/astral-sh\/uv:[0-9.]+ must pin the image by @sha256 digest/],
            ["clang installed in the final stage", (s) => s.replace("rsync fonts-wqy-microhei", "rsync clang fonts-wqy-microhei"), /no pip installs or compilers in the final stage/],
        ];
        for (const [title, mutate, expected] of mutations) {
            it(`rules catch: ${title}`, () => {
                const mutated = mutate(dockerfile);
                assert.notEqual(mutated, dockerfile, "mutation did not apply");
                const v = dockerfileRuleViolations(mutated, { expectedBase });
                assert.ok(v.some((m) => expected.test(m)), `expected ${expected}, got ${JSON.stringify(v)}`);
            });
        }

        it("keeps big, rarely-changing layers first (Python + torch, then OS packages) and the project's files last", () => {
            const order = ["FROM base AS final", "COPY --from=torch /opt/python /opt/python", "apt-get install", "useradd", "COPY --from=weights", "COPY --from=builder /install /opt/python",
                "COPY --from=project /install /opt/python", "COPY notebooks", "COPY --chmod=0755 entrypoint.sh", "RUN --mount=type=bind,source=check_lean.py", "USER 1000:1000"];
            const at = order.map((s) => finalStage.indexOf(s));
            assert.ok(at.every((x) => x >= 0), JSON.stringify(at));
            assert.deepEqual([...at].sort((a, b) => a - b), at);
            // A rebuilt torch stage has new file timestamps, so its layer a new digest: the reuse needs the builder's cache.
            assert.match(read("README.md"), /That holds where the build finds the python\s+and torch stages in the builder's cache/);
        });

        it("carries OCI labels for source, version, base, torch and CUDA", () => {
            for (const l of ["org.opencontainers.image.source", "org.opencontainers.image.version", 'org.opencontainers.image.base.name="${BASE_IMAGE}"',
                `io.archaeo.torch="${image.torch}"`, `io.archaeo.cuda="${image.cuda}"`, `io.archaeo.min-nvidia-driver="${image.minNvidiaDriver}"`]) assert.ok(dockerfile.includes(l), l);
        });

        it("installs what researchers use: tmux, git, curl, less, nano, rsync (archaeo ssh-config's `rsync` needs it at both ends), sshd, tini", () => {
            const apt = /apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(finalStage)![1].split(/\s+/);
            for (const p of ["openssh-server", "tini", "tmux", "git", "curl", "less", "nano", "rsync"]) assert.ok(apt.includes(p), p);
        });

        it("builder: --prefix held to the torch stage's freeze by --constraint, duplicate dist-info fails the build, byte-compiled for /opt/python", () => {
            const builder = dockerfile.slice(dockerfile.indexOf("FROM torch AS builder"), dockerfile.indexOf("FROM torch AS weights"));
            for (const s of ["pip list --format=freeze > /tmp/build/torch-constraints.txt", "--prefix=/install", "--constraint /tmp/build/torch-constraints.txt",
                'check_dist_info.py --base "$site" "/install${site#/opt/python}"', "compileall -q -j 0 --invalidation-mode unchecked-hash -s /install -p /opt/python /install"]) {
                assert.ok(builder.includes(s), s);
            }
            assert.ok(builder.indexOf("check_dist_info.py --base") < builder.indexOf("compileall"), "checked before compiling");
        });

        it("project stage: the archaeo package and the activity extension, --no-deps --no-build-isolation, checked and compiled", () => {
            const project = dockerfile.slice(dockerfile.indexOf("FROM torch AS project"), dockerfile.indexOf("FROM base AS final"));
            assert.ok(project.includes('"/install${site#/opt/python}"') && project.includes("-p /opt/python /install"), "checked and compiled for /opt/python");
            assert.ok(project.includes("COPY python /tmp/build/python") && project.includes("COPY activity /tmp/build/activity"));
            assert.match(project, /pip install --no-cache-dir --no-compile --no-deps --no-build-isolation --prefix=\/install \\\n\s+\/tmp\/build\/python \/tmp\/build\/activity/);
            assert.ok(project.includes("check_dist_info.py --base") && project.includes("--invalidation-mode unchecked-hash"));
        });

        it("weights stage: BAKE_WEIGHTS defaults to resnet18,resnet50 and is baked with bake_weights.py", () => {
            assert.match(dockerfile, /^ARG BAKE_WEIGHTS=resnet18,resnet50$/m);
            assert.ok(dockerfile.includes('python /tmp/build/bake_weights.py --dest /weights/hub/checkpoints "${BAKE_WEIGHTS}"'));
            assert.ok(finalStage.includes("COPY --from=weights /weights /opt/archaeo/torch"));
        });

        it("one environment: HOME, SHELL, ~/.local/bin first on PATH, PYTHONUSERBASE, TORCH_HOME, HISTFILE, NCCL cuMem host off", () => {
            const env = /^ENV ([\s\S]*?)\n\n/m.exec(finalStage.slice(finalStage.indexOf("ENV HOME=")))![0];
            for (const kv of ["HOME=/home/researcher", "SHELL=/bin/bash", "PATH=/home/researcher/.local/bin:${PATH}", "PYTHONUSERBASE=/home/researcher/.local",
                "TORCH_HOME=/home/researcher/.cache/torch", "HISTFILE=/home/researcher/.bash_history", "NCCL_CUMEM_HOST_ENABLE=0", "TENSORBOARD_LOGDIR=/workspace/runs"]) {
                assert.ok(env.includes(kv), kv);
            }
            assert.match(dockerfile, /NVIDIA\/nccl#1838/, "the NCCL default cites its evidence");
            assert.match(dockerfile, /ray-project\/ray#64109/);
        });

        it("TensorBoard is not exposed (it is behind Jupyter's proxy); the extension's config and the notebooks are copied in", () => {
            assert.match(dockerfile, /^EXPOSE 2222 8888$/m);
            assert.doesNotMatch(dockerfile, /6006/);
            assert.ok(finalStage.includes("COPY --chmod=0644 config/jupyter_server_config.d/archaeo_activity.json /etc/jupyter/jupyter_server_config.d/archaeo_activity.json"));
            assert.ok(finalStage.includes("COPY notebooks /opt/archaeo/notebooks"));
        });

        it("is the build context the stack's docker.Image uses", () => {
            assert.equal(path.resolve(PROJECT_ROOT, IMAGE_CONTEXT), path.resolve(dir));
        });

        it("every COPY source exists in the context (python/ and notebooks/ come from the training package's branch)", () => {
            const sources = [...dockerfile.matchAll(/^COPY (?!--from)(?:--chmod=\S+ )?(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
            const elsewhere = ["notebooks", "python"];
            for (const s of sources) {
                if (elsewhere.includes(s)) continue;
                assert.ok(fs.existsSync(path.join(dir, s)), s);
            }
            assert.deepEqual(sources.filter((s) => elsewhere.includes(s)).sort(), elsewhere);
        });
    });

    describe("lean base (issue 20 item 4): Ubuntu + CPython 3.11 + the torch cu128 wheels, no torchaudio, no compiler", () => {
        /** The Dockerfile's stages, each with its instructions' text (comments are not instructions). */
        const stages = (() => {
            const df = DockerfileParser.parse(dockerfile);
            const froms = df.getFROMs();
            return froms.map((f, n) => {
                const start = f.getRange().start.line;
                const end = n + 1 < froms.length ? froms[n + 1].getRange().start.line : Number.MAX_SAFE_INTEGER;
                const [from, , name] = (f.getArgumentsContent() ?? "").split(/\s+/);
                const instructions = df.getInstructions().filter((i) => i.getRange().start.line >= start && i.getRange().start.line < end);
                return { name, from, instructions, text: instructions.map((i) => i.getTextContent()).join("\n") };
            });
        })();
        const stage = (name: string) => stages.find((x) => x.name === name) ?? assert.fail(`no stage ${name}`);
        const pins = (file: string) => new Map(read(file).split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
            .map((l) => { const [n, v] = l.split("=="); return [n.toLowerCase(), v] as [string, string]; }));
        const torchPins = pins("torch-requirements.txt");

        it("stages: base (Ubuntu) -> python -> torch -> builder / weights / project, and final FROM base", () => {
            assert.deepEqual(stages.map((x) => `${x.name}<-${x.from}`),
                ["base<-${BASE_IMAGE}${BASE_DIGEST:+@}${BASE_DIGEST}", "python<-base", "torch<-python", "builder<-torch", "weights<-torch", "project<-torch", "final<-base"]);
            assert.equal(expectedBase, "ubuntu:22.04", "image.json names the Ubuntu base the Dockerfile defaults to");
            assert.doesNotMatch(dockerfile, /^FROM (pytorch|nvidia)\//m);
        });

        it("torchaudio is in no stage's instructions and no requirement file any stage installs; nothing else is pip-installed", () => {
            for (const st of stages) assert.doesNotMatch(st.text, /torchaudio/i, `stage ${st.name}`);
            const installs = stages.flatMap((st) => st.instructions.filter((i) => /pip install/.test(i.getTextContent())).map((i) => [st.name, i.getTextContent()] as const));
            assert.deepEqual(installs.map(([n]) => n), ["torch", "builder", "project"]);
            for (const [n, text] of installs) {
                const targets = text.replace(/\\\n/g, " ").split("&&").filter((seg) => seg.includes("pip install")).join(" ").split(/\s+/).filter((w) => w && !w.startsWith("-") && !/^(RUN|python|-m|pip|install)$/.test(w));
                const files = [...text.matchAll(/--requirement (\S+)/g)].map((m) => m[1]);
                const urls = [...text.matchAll(/--(?:extra-)?index-url (\S+)/g)].map((m) => m[1]);
                const rest = targets.filter((w) => !files.includes(w) && !urls.includes(w) && !/^\/tmp\/build\/(python|activity)$/.test(w) && !/^\/tmp\/build\/torch-constraints\.txt$/.test(w));
                assert.deepEqual(rest, [], `stage ${n} installs only requirement files and the project's own packages`);
                for (const f of files) assert.doesNotMatch(read(path.basename(f)), /^\s*torchaudio/im, `${n}: ${f}`);
            }
        });

        it("python stage: CPython image.json python from the pinned uv image, relocated to /opt/python, pip --user not refused", () => {
            const py = stage("python").text;
            assert.ok(py.includes(`COPY --from=${image.pythonInstaller.image} /uv /usr/local/bin/uv`), "the uv image image.json names, by digest");
            assert.match(image.pythonInstaller.image, /^ghcr\.io\/astral-sh\/uv:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
            assert.ok(py.includes(`uv python install ${image.python} `) && py.includes(`mv /tmp/uv-python/cpython-${image.python}-linux-*-gnu /opt/python`), py);
            assert.match(image.python, /^3\.11\.\d+$/, "every pin in requirements.txt supports CPython 3.11");
            assert.ok(py.includes("/opt/python/lib/python3.11/EXTERNALLY-MANAGED"), "uv's PEP 668 marker removed: researchers' pip install --user must work");
            // uv 0.9.16 writes its install directory into _sysconfigdata (crates/uv-python/src/sysconfig/mod.rs update_sysconfig):
            // after the move it must name /opt/python, not the /tmp directory the build deleted.
            assert.ok(py.includes("grep -rlF --include='_sysconfigdata_*.py' /tmp/uv-python/ /opt/python/lib/python3.11")
                && py.includes("xargs -r sed -i 's|/tmp/uv-python/cpython-[A-Za-z0-9._+-]*|/opt/python|g'"), py);
            assert.ok(py.indexOf("sed -i") > py.indexOf("mv /tmp/uv-python/") && py.indexOf("sed -i") < py.indexOf("rm -rf /tmp/uv-python"), "rewritten after the move");
            assert.ok(dockerfile.includes(`io.archaeo.python="${image.python}"`));
        });

        it("the python stage's _sysconfigdata rewrite, run on a file as uv 0.9.16 leaves it: valid Python naming /opt/python, the .pyc untouched", () => {
            const py = stage("python").text.replace(/\\\n/g, " ");
            const m = /(grep -rlF --include='_sysconfigdata_\*\.py' \/tmp\/uv-python\/ )\/opt\/python\/lib\/python3\.11(\s*\|\s*xargs -r sed -i '[^']+')/.exec(py);
            assert.ok(m, py);
            const root = tmpDir("archaeo-sysconfig-");
            const uvDir = `/tmp/uv-python/cpython-${image.python}-linux-x86_64-gnu`;
            const data = path.join(root, "_sysconfigdata__linux_x86_64-linux-gnu.py");
            // uv's update_sysconfig writes the absolute install root over PBS's /install, one key per line (to_string_pretty).
            fs.writeFileSync(data, `build_time_vars = {'BINDIR': '${uvDir}/bin',\n 'CC': 'cc -pthread',\n 'LDFLAGS': '-L${uvDir}/lib -Wl,-rpath,${uvDir}/lib',\n 'LIBDIR': '${uvDir}/lib',\n 'prefix': '${uvDir}'}\n`);
            fs.mkdirSync(path.join(root, "__pycache__"));
            const pyc = path.join(root, "__pycache__", "_sysconfigdata__linux_x86_64-linux-gnu.cpython-311.pyc");
            fs.writeFileSync(pyc, `\0binary ${uvDir}\0`);
            const r = run("bash", ["-c", `${m[1]}${root}${m[2]}`]);
            assert.equal(r.status, 0, r.output);
            const vars = spawnSync(PYTHON, ["-c", "import json, runpy, sys; print(json.dumps(runpy.run_path(sys.argv[1])['build_time_vars']))", data], { encoding: "utf8" });
            assert.equal(vars.status, 0, vars.stderr);
            assert.deepEqual(JSON.parse(vars.stdout), { BINDIR: "/opt/python/bin", CC: "cc -pthread", LDFLAGS: "-L/opt/python/lib -Wl,-rpath,/opt/python/lib", LIBDIR: "/opt/python/lib", prefix: "/opt/python" });
            assert.equal(fs.readFileSync(pyc, "utf8"), `\0binary ${uvDir}\0`, "byte-code is not edited (the torch stage recompiles it)");
            assert.equal(run("bash", ["-c", `${m[1]}${tmpDir("archaeo-sysconfig-none-")}${m[2]} && echo next`]).output.trim(), "next", "nothing to rewrite: the && chain goes on");
        });

        it("the stages that download with Python's own ssl (weights: torch.hub's urllib) have the system CA store python-build-standalone's OpenSSL reads", () => {
            // PBS builds OpenSSL --openssldir=/etc/ssl (cpython-unix/build-openssl-3.5.sh); ubuntu:22.04 has no CA certificates
            // there until the ca-certificates package is installed. pip (certifi) and uv (webpki-roots) bring their own.
            const chain = (name: string): string[] => { const st = stage(name); return st.from && stages.some((x) => x.name === st.from) ? [...chain(st.from), name] : [name]; };
            assert.deepEqual(chain("weights"), ["base", "python", "torch", "weights"]);
            const py = stage("python").instructions.map((i) => i.getTextContent());
            const apt = py.findIndex((t) => /apt-get install -y --no-install-recommends ca-certificates/.test(t));
            assert.ok(apt >= 0, "the python stage installs ca-certificates");
            assert.ok(apt < py.findIndex((t) => t.includes("uv python install")), "before anything in the chain downloads");
            assert.match(stage("weights").text, /bake_weights\.py/);
            assert.doesNotMatch(stage("final").text, /COPY --from=(python|torch) \/etc/, "the final stage takes only /opt/python from these stages");
            assert.match(stage("final").text, /apt-get install[^\n]*ca-certificates/, "and installs its own CA store");
        });

        it("torch stage: torch-requirements.txt from the cu128 index, no pip cache, tests removed, byte-compiled hash-based; one layer copied first", () => {
            const t = stage("torch").text;
            for (const x of [`--index-url ${image.torchIndex} --extra-index-url https://pypi.org/simple`, "--no-cache-dir", "--requirement /tmp/build/torch-requirements.txt",
                "-name 'tests' -path '*/site-packages/*/tests'", "compileall -q -j 0 --invalidation-mode unchecked-hash /opt/python/lib/python3.11"]) assert.ok(t.includes(x), x);
            assert.equal(image.torchIndex, `https://download.pytorch.org/whl/cu${image.cuda.replace(".", "")}`);
            assert.equal(torchPins.get("torch"), `${image.torch}+cu${image.cuda.replace(".", "")}`);
            assert.equal(torchPins.get("torchvision"), `${image.torchvision}+cu${image.cuda.replace(".", "")}`);
            for (const [n, v] of torchPins) assert.match(`${n}==${v}`, /^[a-z0-9_.-]+==[0-9][0-9a-z.]*(\+cu\d+)?$/, n);
            for (const n of ["numpy", "pillow", "jinja2", "sympy", "networkx", "typing-extensions", "setuptools", "pip"]) assert.ok(torchPins.has(n), `${n} pinned in the torch stage`);
            const copies = stage("final").instructions.filter((i) => i.getKeyword() === "COPY").map((i) => i.getTextContent());
            assert.equal(copies[0], "COPY --from=torch /opt/python /opt/python", "the torch layer is the final stage's first");
            assert.equal(copies.filter((c) => /--from=torch\b/.test(c ?? "")).length, 1, "one layer");
        });

        it("GPU-driver check: the base stage sets the NVIDIA container toolkit's environment, NVIDIA_REQUIRE_CUDA = the wheels' CUDA, no forward-compat alternatives, no NVIDIA_VISIBLE_DEVICES default", () => {
            const env = stage("base").instructions.filter((i) => i.getKeyword() === "ENV").map((i) => i.getArgumentsContent()).join(" ");
            assert.equal(image.nvidiaRequireCuda, `cuda>=${image.cuda}`);
            assert.ok(env.includes(`NVIDIA_REQUIRE_CUDA="${image.nvidiaRequireCuda}"`), env);
            assert.doesNotMatch(env, /brand=/, "no cuda-compat libraries ship, so no brand/driver alternatives");
            assert.ok(env.includes("NVIDIA_DRIVER_CAPABILITIES=compute,utility"), env);
            // Not NVIDIA_VISIBLE_DEVICES=all: `docker run --gpus` sets it (moby daemon/nvidia_linux.go setNvidiaGPUs) and the device
            // plugin sets a pod's GPUs; an image default gives every GPU of a node to a pod that requested none (NVIDIA/k8s-device-plugin#61).
            assert.doesNotMatch(dockerfile, /^\s*(ENV\s+)?NVIDIA_VISIBLE_DEVICES[= ]/m, "no image default for the GPUs a container sees");
            assert.match(image.nvidiaVisibleDevices, /^not set in the image .*setNvidiaGPUs.*k8s-device-plugin#61/);
            assert.ok(env.includes("PATH=/opt/python/bin:${PATH}"), "the image's Python first on PATH");
            assert.ok(dockerfile.includes(`io.archaeo.min-nvidia-driver="${image.minNvidiaDriver}"`));
        });

        it("the driver check's reach is stated as the toolkit implements it: the hook (docker --gpus) checks NVIDIA_REQUIRE_*, jit-cdi (the cluster's runtime) does not", () => {
            // nvidia-container-toolkit: the hook passes NVIDIA_REQUIRE_* as --require; the nvidia runtime's auto mode is
            // jit-cdi from v1.18.0, which evaluates none (NVIDIA/nvidia-container-toolkit#1470, open).
            const checkedBy = image.nvidiaRequireCudaCheckedBy;
            assert.match(checkedBy.workstation, /^checked: `docker run --gpus all` runs nvidia-container-runtime-hook/);
            assert.match(checkedBy.cluster, /^not checked: .*jit-cdi.*#1470/);
            const readme = read("README.md");
            for (const s of ["`docker run --gpus all`", "`jit-cdi`", "NVIDIA/nvidia-container-toolkit#1470"]) assert.ok(readme.includes(s), s);
            assert.doesNotMatch(readme, /toolkit checks the image's `NVIDIA_REQUIRE_CUDA[^`]*`\s+against the host driver and refuses/, "no unconditional claim");
            assert.match(stage("base").instructions.map((i) => i.getTextContent()).join("\n") + dockerfile, /NVIDIA\/nvidia-container-toolkit#1470/);
            assert.doesNotMatch(image.baseChoice.why, /Every host this stack runs on/, "the AMI test covers the workstation AMIs only");
        });

        it("no /opt/conda left in the image's files", () => {
            for (const f of ["Dockerfile", "entrypoint.sh", "config/profile.sh", "config/sshd_config", "check_dist_info.py", "README.md", "requirements.txt"]) {
                assert.doesNotMatch(read(f), /opt\/conda/, f);
            }
            assert.match(read("config/profile.sh"), /^for d in \/opt\/python\/bin /m);
        });

        it("the final stage's last RUN is check_lean.py, bind-mounted, after every COPY and before USER", () => {
            const fin = stage("final").instructions;
            const at = fin.findIndex((i) => i.getKeyword() === "RUN" && i.getTextContent().includes("check_lean.py"));
            assert.ok(at > 0, "the final stage runs check_lean.py");
            assert.equal(fin[at].getTextContent(), "RUN --mount=type=bind,source=check_lean.py,target=/tmp/check_lean.py python -B /tmp/check_lean.py");
            assert.ok(fs.existsSync(path.join(dir, "check_lean.py")), "the bind-mounted script is in the context");
            assert.ok(fin.slice(at + 1).every((i) => i.getKeyword() !== "COPY" && i.getKeyword() !== "RUN"), "nothing is added after the check");
            assert.ok(fin.slice(at + 1).some((i) => i.getKeyword() === "USER"), "it runs before USER (as root, over the whole image)");
        });
    });

    describe("check_lean.py (the build's torchaudio and compiler refusal), on a fake tree", () => {
        const lean = (...args: string[]) => run(PYTHON, [path.join(dir, "check_lean.py"), ...args]);
        const site = (entries: Record<string, string | null>) => {
            const d = tmpDir("archaeo-lean-site-");
            for (const [name, meta] of Object.entries(entries)) {
                fs.mkdirSync(path.join(d, name));
                if (meta !== null) fs.writeFileSync(path.join(d, name, "METADATA"), meta);
                else fs.writeFileSync(path.join(d, name, "__init__.py"), "");
            }
            return d;
        };
        const bin = (names: string[], mode = 0o755) => {
            const d = tmpDir("archaeo-lean-bin-");
            for (const n of names) fs.writeFileSync(path.join(d, n), "#!/bin/sh\n", { mode });
            return d;
        };
        const clean = () => site({ "torch-2.9.1+cu128.dist-info": "Name: torch\nVersion: 2.9.1+cu128\n", "torchvision-0.24.1+cu128.dist-info": "Name: torchvision\nVersion: 0.24.1+cu128\n", torch: null });
        const tools = () => bin(["python3", "git", "ssh", "gcc-ar-11", "ccache", "distcc-config", "tmux"]);

        it("passes the image's packages and tools (torch, torchvision, python3, git, ...)", () => {
            const r = lean("--site", clean(), "--path", tools());
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, /check_lean: no torchaudio in .*; no compiler in 1 PATH directories/);
        });

        it("fails on torchaudio installed (metadata name, normalised) or importable without metadata", () => {
            const installed = lean("--site", clean(), "--site", site({ "TorchAudio-2.9.1+cu128.dist-info": "Name: TorchAudio\nVersion: 2.9.1+cu128\n" }), "--path", tools());
            assert.equal(installed.status, 1, installed.output);
            assert.match(installed.output, /check_lean: torchaudio is installed: .*TorchAudio-2\.9\.1\+cu128\.dist-info/);
            assert.match(installed.output, /must have no torchaudio and no compiler/);
            const bare = lean("--site", site({ torchaudio: null }), "--path", tools());
            assert.equal(bare.status, 1, bare.output);
            assert.match(bare.output, /torchaudio is importable/);
        });

        it("fails on a C/C++ compiler on PATH, plain, versioned or target-prefixed; a non-executable file is not one", () => {
            const compilers = bin(["gcc", "cc", "x86_64-linux-gnu-gcc-11", "clang++-18", "nvcc"]);
            const r = lean("--site", clean(), "--path", `${tools()}:${compilers}`);
            assert.equal(r.status, 1, r.output);
            for (const c of ["gcc", "cc", "x86_64-linux-gnu-gcc-11", "clang++-18", "nvcc"]) assert.ok(r.output.includes(`a compiler is on PATH: ${path.join(compilers, c)}\n`), `${c}: ${r.output}`);
            assert.equal(lean("--site", clean(), "--path", bin(["gcc", "g++"], 0o644)).status, 0, "not executable: not a compiler on PATH");
        });

        it("with no --path reads $PATH: on this machine, which has gcc, it fails as the image build would", function () {
            const gcc = ["/usr/bin/gcc", "/usr/bin/cc"].find((f) => fs.existsSync(f));
            if (!gcc) this.skip();
            const r = lean("--site", clean());
            assert.equal(r.status, 1, r.output);
            assert.match(r.output, /a compiler is on PATH: \/usr\/bin\/(gcc|cc)\n/);
        });

        it("usage errors exit 2", () => {
            assert.equal(lean("--bogus").status, 2);
            assert.equal(lean("--site", "/nonexistent/site-packages").status, 2);
        });
    });

    describe("archaeo-train --compile without a compiler (the image has none)", () => {
        const probe = (envPath: string, cc?: string) => {
            const r = spawnSync(PYTHON, ["-c", "import json, os, sys; from archaeo.train import compile_unavailable; print(json.dumps(compile_unavailable(json.loads(sys.argv[1]))))",
                JSON.stringify({ PATH: envPath, ...(cc ? { CC: cc } : {}) })], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", PYTHONPATH: path.join(dir, "python") } });
            assert.equal(r.status, 0, r.stderr);
            return JSON.parse(r.stdout) as string | null;
        };
        it("names why torch.compile cannot work when no compiler is on PATH, and trains eagerly instead", () => {
            assert.match(probe(stubDir({ git: "true" })) ?? "", /no C\/C\+\+ compiler on PATH/);
            const train = read("python/archaeo/train.py");
            assert.match(train, /why_not = compile_unavailable\(\)\n\s+if why_not:\n\s+say\(f"archaeo-train: warning: --compile ignored: \{why_not\}; training in eager mode"\)\n\s+else:\n\s+net = torch\.compile\(net\)/);
            assert.match(train, /"compiled": compiled,/, "run.json records whether it really compiled");
        });
        it("run for real on a PATH without a compiler: warns, trains one epoch eagerly, run.json records compiled: false", async () => {
            // Debian's torch 1.13 has no torch.compile: had the fallback not taken the eager path, the run would
            // fail with AttributeError instead of exiting 0.
            requirePython();
            const work = tmpDir("archaeo-compile-");
            const env = pythonEnv(work, { PATH: stubDir({ nothing: "true" }) });
            delete env.CC;
            const data = path.join(work, "data");
            ok(await runArchaeo("example_data", ["--output", data, "--per-class", "5", "--size", "32", "--seed", "0"], { env }), "archaeo-example-data");
            const out = path.join(work, "out");
            const r = ok(await runArchaeo("train", ["--data-dir", data, "--model", "resnet18", "--epochs", "1", "--batch-size", "8", "--no-pretrained",
                "--image-size", "32", "--workers", "0", "--compile", "--output-dir", out], { env }), "archaeo-train --compile");
            assert.match(r.stdout + r.stderr, /archaeo-train: warning: --compile ignored: no C\/C\+\+ compiler on PATH .*; training in eager mode/);
            const runJson = JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8"));
            assert.equal(runJson.status, "completed");
            assert.equal(runJson.training.compiled, false);
            assert.ok(runJson.command.argv.includes("--compile"), "the request is still recorded in argv");
            fs.rmSync(work, { recursive: true, force: true });
        });
        it("finds gcc, clang or $CC when there is one", () => {
            assert.equal(probe(stubDir({ gcc: "true" })), null);
            assert.equal(probe(stubDir({ "clang": "true" })), null);
            const own = stubDir({ "my-cc": "true" });
            assert.equal(probe(own, "my-cc"), null);
        });
    });

    describe(".dockerignore (moby/patternmatcher semantics)", () => {
        const ignored = dockerignoreMatcher(read(".dockerignore").split("\n"));

        it("uses only plain names and **/ globs, no exceptions", () => {
            for (const l of read(".dockerignore").split("\n").filter((x) => x.trim() && !x.startsWith("#"))) {
                assert.match(l, /^(\*\*\/)?[A-Za-z0-9_.~*/-]+$/, l);
                assert.ok(!l.startsWith("!"), l);
            }
        });

        it("excludes byte-code, caches, build leftovers and editor files anywhere in the context", () => {
            for (const f of ["__pycache__/smoke.cpython-311.pyc", "python/archaeo/__pycache__/train.cpython-311.pyc", "python/archaeo/train.pyc",
                "activity/archaeo_activity/__pycache__", ".pytest_cache/v/cache/lastfailed", "python/.pytest_cache", "notebooks/.ipynb_checkpoints/a-checkpoint.ipynb",
                "activity/archaeo_activity.egg-info/PKG-INFO", "python/build/lib/archaeo/train.py", "Dockerfile~", "config/.sshd_config.swp", ".DS_Store", ".vscode/settings.json"]) {
                assert.ok(ignored(f), `${f} should be excluded`);
            }
        });

        it("keeps every file git tracks here, and excludes everything git ignores here", () => {
            const tracked = run("git", ["-C", dir, "ls-files"]).output.split("\n").filter(Boolean);
            assert.ok(tracked.includes("Dockerfile") && tracked.includes("entrypoint.sh"), tracked.join(","));
            for (const f of tracked) assert.ok(!ignored(f), `${f} is tracked but excluded from the build context`);
            assert.ok(!tracked.some((f) => f.includes("__pycache__") || f.endsWith(".pyc")), "no byte-code is tracked (issue 8 item 9)");
            const gitIgnored = run("git", ["-C", dir, "check-ignore", "--no-index", "__pycache__/x.pyc", "python/archaeo/__pycache__/y.pyc", "z.pyc", ".pytest_cache/x"]).output.split("\n").filter(Boolean);
            assert.equal(gitIgnored.length, 4, gitIgnored.join(","));
            for (const f of gitIgnored) assert.ok(ignored(f), f);
        });

        it("the port is live: a root-only pattern misses nested directories (why **/ is needed)", () => {
            const rootOnly = dockerignoreMatcher(["__pycache__"]);
            assert.ok(rootOnly("__pycache__/a.pyc") && !rootOnly("python/archaeo/__pycache__/a.pyc"));
        });
    });

    describe("requirements", () => {
        const reqs = read("requirements.txt").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
        it("pins every package with ==", () => {
            for (const r of reqs) assert.match(r, /^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$/, r);
        });
        it("has what researchers use, jupyter-server-proxy for TensorBoard and JupyterHub 5.5.0's singleuser server", () => {
            for (const needed of ["jupyterlab", "jupyter-server", "jupyter-server-proxy", "tensorboard", "matplotlib", "pandas", "scikit-learn", "opencv-python-headless", "boto3"]) {
                assert.ok(reqs.some((r) => r.startsWith(`${needed}==`)), needed);
            }
            assert.ok(reqs.includes("jupyterhub==5.5.0"));
        });
        it("lists nothing the torch stage pins (its versions are kept by the constraints file), and no torchaudio", () => {
            const torchStage = read("torch-requirements.txt").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => l.split("==")[0].toLowerCase());
            assert.ok(torchStage.includes("torch") && torchStage.includes("numpy"), torchStage.join(","));
            for (const name of [...torchStage, "torchaudio"]) assert.ok(!reqs.some((r) => r.toLowerCase().startsWith(`${name}==`)), name);
        });
        it("pins what the pytorch/pytorch base used to bring and Jupyter needs: IPython, requests, PyYAML, psutil", () => {
            for (const was of ["ipython", "requests", "pyyaml", "psutil"]) assert.ok(reqs.some((r) => r.toLowerCase().startsWith(`${was}==`)), was);
        });
    });

    describe("check_dist_info.py (the duplicate-version guard)", () => {
        const site = (entries: Record<string, string>) => {
            const d = tmpDir("archaeo-site-");
            for (const [name, meta] of Object.entries(entries)) {
                fs.mkdirSync(path.join(d, name));
                fs.writeFileSync(path.join(d, name, name.endsWith(".egg-info") ? "PKG-INFO" : "METADATA"), meta);
            }
            return d;
        };
        const check = (...args: string[]) => run(PYTHON, [path.join(dir, "check_dist_info.py"), ...args]);

        it("passes one version per project", () => {
            const r = check(site({ "numpy-2.3.4.dist-info": "Name: numpy\nVersion: 2.3.4\n", "pillow-12.0.0.dist-info": "Name: pillow\nVersion: 12.0.0\n" }));
            assert.equal(r.status, 0, r.output);
        });

        it("fails when a requirement put a second version next to the base's (names compared PEP 503-normalised)", () => {
            const base = site({ "numpy-2.1.0.dist-info": "Name: numpy\nVersion: 2.1.0\n", "typing_extensions-4.12.0.dist-info": "Name: typing_extensions\nVersion: 4.12.0\n" });
            const added = site({ "numpy-2.3.4.dist-info": "Name: numpy\nVersion: 2.3.4\n", "typing.extensions-4.15.0.dist-info": "Name: Typing.Extensions\nVersion: 4.15.0\n" });
            const r = check("--base", base, added);
            assert.equal(r.status, 1, r.output);
            assert.match(r.output, /numpy is installed more than once: 2\.1\.0 .*2\.3\.4/);
            assert.match(r.output, /typing-extensions is installed more than once/);
        });

        it("counts .egg-info too; a duplicate only inside the base is a warning, not a failure", () => {
            const base = site({ "cryptography-38.0.4.dist-info": "Name: cryptography\nVersion: 38.0.4\n", "cryptography.egg-info": "Name: cryptography\nVersion: 38.0.4\n" });
            const r = check("--base", base, site({}));
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, /warning \(in the base image\): cryptography is installed more than once/);
            assert.equal(check(base).status, 1, "the same directory given as ours fails");
        });

        it("the activity extension builds and installs exactly as the Dockerfile's project stage does", () => {
            const src = tmpDir("archaeo-activity-src-");
            fs.cpSync(path.join(dir, "activity"), src, { recursive: true });
            const prefix = tmpDir("archaeo-prefix-");
            const r = run(PYTHON, ["-m", "pip", "install", "--no-cache-dir", "--no-compile", "--no-deps", "--no-build-isolation", `--prefix=${prefix}`, src]);
            assert.equal(r.status, 0, r.output);
            const found = run("find", [prefix, "-name", "probe.py"]).output.trim();
            assert.match(found, /archaeo_activity\/probe\.py$/);
            assert.equal(check(path.dirname(path.dirname(found))).status, 0);
        });
    });

    describe("bake_weights.py (torchvision weights for offline workstations, with Debian's torchvision)", () => {
        it("resolves resnet18,resnet50 to torchvision's DEFAULT weight files (dry run: nothing is downloaded)", () => {
            const dest = tmpDir();
            const r = run(PYTHON, [path.join(dir, "bake_weights.py"), "--dry-run", "--dest", dest, "resnet18,resnet50"]);
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, /resnet18: https:\/\/download\.pytorch\.org\/models\/resnet18-f37072fd\.pth/);
            assert.match(r.output, /resnet50: https:\/\/download\.pytorch\.org\/models\/resnet50-11ad3fa6\.pth/);
            assert.deepEqual(fs.readdirSync(dest), []);
        });
        it("refuses an unknown model name, and bakes nothing for an empty list", () => {
            const bad = run(PYTHON, [path.join(dir, "bake_weights.py"), "--dry-run", "--dest", tmpDir(), "resnet18,resnet9000"]);
            assert.equal(bad.status, 2);
            assert.match(bad.output, /unknown torchvision model 'resnet9000' in BAKE_WEIGHTS/);
            assert.match(run(PYTHON, [path.join(dir, "bake_weights.py"), "--dest", tmpDir(), ""]).output, /nothing baked/);
        });
    });

    describe("entrypoint (run for real)", () => {
        const entrypoint = path.join(dir, "entrypoint.sh");
        /** Runs the entrypoint with `id -u` answering `uid` (a stub on PATH), in a scratch HOME. */
        const runAs = (uid: number | null, args: string[], env: Record<string, string> = {}) => {
            const stubs = uid === null ? "" : stubDir({ id: `if [ "$1" = -u ]; then echo ${uid}; else exec /usr/bin/id "$@"; fi` }) + ":";
            const home = env.HOME ?? tmpDir("archaeo-home-");
            const r = spawnSync("bash", [entrypoint, ...args], { encoding: "utf8", env: { PATH: `${stubs}${process.env.PATH}`, HOME: home, ...env } });
            return { status: r.status, out: `${r.stdout}${r.stderr}`, home };
        };

        it("passes shellcheck (and profile.sh)", () => {
            for (const f of ["entrypoint.sh", "config/profile.sh"]) {
                const r = shellcheck(path.join(dir, f));
                assert.equal(r.status, 0, `${f}:\n${r.output}`);
            }
        });

        it("refuses to run as root: uid 0 from `id`, and for real when this test runs as root", () => {
            const faked = runAs(0, ["tensorboard"]);
            assert.equal(faked.status, 1);
            assert.match(faked.out, /refusing to run as root; run with --user 1000:1000/);
            const real = runAs(null, ["true"]);
            if (process.getuid?.() === 0) {
                assert.equal(real.status, 1);
                assert.match(real.out, /refusing to run as root/);
            } else {
                assert.equal(real.status, 0, real.out);
            }
            const researcher = runAs(1000, ["true"]);
            assert.equal(researcher.status, 0, researcher.out);
        });

        it("the jupyter role refuses to start without a token", () => {
            const r = runAs(1000, ["jupyter"]);
            assert.equal(r.status, 1);
            assert.match(r.out, /no Jupyter token/);
            const empty = runAs(1000, ["jupyter"], { JUPYTER_TOKEN_FILE: tmpFile("token", "") });
            assert.match(empty.out, /JUPYTER_TOKEN_FILE=.* is missing or empty/);
        });

        it("first start makes the home: dirs, dotfiles, starter notebooks, links to the baked weights; never overwriting", () => {
            const nb = tmpDir("archaeo-nb-");
            fs.writeFileSync(path.join(nb, "01-explore.ipynb"), '{"cells": []}');
            fs.writeFileSync(path.join(nb, "02-finetune.ipynb"), '{"cells": []}');
            const baked = tmpDir("archaeo-baked-");
            fs.writeFileSync(path.join(baked, "resnet18-f37072fd.pth"), "weights");
            fs.writeFileSync(path.join(baked, "resnet50-11ad3fa6.pth"), "weights");
            const skel = tmpDir("archaeo-skel-");
            fs.writeFileSync(path.join(skel, ".bashrc"), "# skel bashrc\n");
            fs.writeFileSync(path.join(skel, ".profile"), "# skel profile\n");
            const home = tmpDir("archaeo-home-");
            const env = { HOME: home, ARCHAEO_NOTEBOOKS_SRC: nb, ARCHAEO_BAKED_CHECKPOINTS: baked, ARCHAEO_SKEL_DIR: skel, TORCH_HOME: path.join(home, ".cache/torch") };
            const ckpt = path.join(home, ".cache/torch/hub/checkpoints");
            fs.mkdirSync(ckpt, { recursive: true });
            fs.writeFileSync(path.join(ckpt, "resnet50-11ad3fa6.pth"), "the researcher's own download");
            fs.symlinkSync("/nonexistent/old-image/vit_b_16-c867db91.pth", path.join(ckpt, "vit_b_16-c867db91.pth"));

            const first = runAs(1000, ["true"], env);
            assert.equal(first.status, 0, first.out);
            for (const d of [".local/bin", ".cache", ".config/pip", ".jupyter"]) assert.ok(fs.statSync(path.join(home, d)).isDirectory(), d);
            assert.equal(fs.readFileSync(path.join(home, ".bashrc"), "utf8"), "# skel bashrc\n");
            assert.deepEqual(fs.readdirSync(path.join(home, "notebooks")).sort(), ["01-explore.ipynb", "02-finetune.ipynb"]);
            assert.equal(fs.readlinkSync(path.join(ckpt, "resnet18-f37072fd.pth")), path.join(baked, "resnet18-f37072fd.pth"), "linked, not copied");
            assert.equal(fs.readFileSync(path.join(ckpt, "resnet50-11ad3fa6.pth"), "utf8"), "the researcher's own download", "their own file wins");
            assert.ok(!fs.existsSync(path.join(ckpt, "vit_b_16-c867db91.pth")) && !fs.lstatSync(ckpt).isSymbolicLink(), "a dangling link is removed");

            fs.writeFileSync(path.join(home, "notebooks/01-explore.ipynb"), "edited by the researcher");
            fs.rmSync(path.join(home, "notebooks/02-finetune.ipynb"));
            fs.writeFileSync(path.join(home, ".bashrc"), "# theirs\n");
            const again = runAs(1000, ["true"], env);
            assert.equal(again.status, 0, again.out);
            assert.equal(fs.readFileSync(path.join(home, "notebooks/01-explore.ipynb"), "utf8"), "edited by the researcher");
            assert.deepEqual(fs.readdirSync(path.join(home, "notebooks")), ["01-explore.ipynb"], "a deleted starter notebook does not come back");
            assert.equal(fs.readFileSync(path.join(home, ".bashrc"), "utf8"), "# theirs\n");
        });

        it("sshd without keys: refuses to start, unless optional (cluster sidecar), where it idles instead of crash-looping", () => {
            const keys = tmpFile("authorized_keys", "");
            const env = { ARCHAEO_AUTHORIZED_KEYS: keys, SSH_HOST_KEY_DIR: tmpDir("archaeo-hostkeys-") };
            const strict = runAs(1000, ["sshd"], env);
            assert.equal(strict.status, 1);
            assert.match(strict.out, /is missing or empty: mount the researcher's public keys/);
            const stubs = stubDir({ sleep: 'echo "slept $*"', id: 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi' });
            const optional = runAs(null, ["sshd"], { ...env, ARCHAEO_SSHD_OPTIONAL: "1", PATH: `${stubs}:${process.env.PATH}` });
            assert.equal(optional.status, 0, optional.out);
            assert.match(optional.out, /no SSH for this researcher/);
            assert.match(optional.out, /slept infinity/);
        });

        it("a HOME that cannot be written is reported, not fatal (the image works without a mounted home)", () => {
            const r = runAs(1000, ["true"], { HOME: "/proc/archaeo-no-such-home" });
            assert.equal(r.status, 0, r.out);
            assert.match(r.out, /HOME=\/proc\/archaeo-no-such-home is not writable/);
        });

        it("hands sshd the session environment, without tokens or secrets", () => {
            const e = read("entrypoint.sh");
            assert.match(e, /exec \/usr\/sbin\/sshd -D -e -f "\$sshd_config" \\\n\s+-o "\$\(session_env_option\)"/);
            assert.match(e, /\*TOKEN\*\|\*SECRET\*\|\*PASSWORD\*\|\*ACCESS_KEY\*\|\*CREDENTIAL\*\) continue/);
        });
    });

    describe("sshd_config", () => {
        const text = read("config/sshd_config");
        const conf = Object.fromEntries(text.split("\n").filter((l) => /^[A-Z]/.test(l)).map((l) => l.split(/\s+/, 2)));
        it("is key-only, no root, no passwords, unprivileged port, local forwarding only", () => {
            assert.deepEqual(
                ["Port", "PasswordAuthentication", "KbdInteractiveAuthentication", "PermitRootLogin", "PubkeyAuthentication", "PermitEmptyPasswords",
                    "AllowTcpForwarding", "X11Forwarding", "AllowAgentForwarding", "PermitTunnel", "GatewayPorts", "AllowUsers", "UsePAM"].map((k) => conf[k]),
                ["2222", "no", "no", "no", "yes", "no", "local", "no", "no", "no", "no", "researcher", "no"],
            );
            assert.equal(conf.AuthorizedKeysFile, "/etc/archaeo/authorized_keys");
        });
        it("has no SetEnv line: sshd keeps only the first SetEnv, which is the entrypoint's -o (OpenSSH servconf.c sSetEnv)", () => {
            assert.doesNotMatch(text, /^\s*SetEnv\b/m);
        });
    });

    describe("jupyter_server_config.py", () => {
        const loader = (env: Record<string, string>) => {
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
tok = c.IdentityProvider.token
print(json.dumps({"token": tok if isinstance(tok, str) else None, "ip": c.ServerApp.ip, "root": c.ServerApp.allow_root, "cull": c.MappingKernelManager.cull_idle_timeout,
  "busy": c.MappingKernelManager.cull_busy, "term_cull": c.TerminalManager.cull_inactive_timeout, "shell": c.ServerApp.terminado_settings, "proxy": c.ServerProxy.servers}))
`;
            const res = spawnSync("python3", ["-c", py, path.join(dir, "config/jupyter_server_config.py")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
            assert.equal(res.status, 0, res.stderr);
            return JSON.parse(res.stdout);
        };
        const token = "t".repeat(48);

        it("reads the token from JUPYTER_TOKEN_FILE, never runs as root, culls idle kernels but not busy ones, never terminals", () => {
            const out = loader({ JUPYTER_TOKEN_FILE: tmpFile("token", token + "\n") });
            assert.deepEqual([out.token, out.ip, out.root, out.cull, out.busy, out.term_cull], [token, "0.0.0.0", false, 3600, false, 0]);
        });
        it("terminals are bash login shells (so /etc/profile.d/archaeo.sh applies)", () => {
            assert.deepEqual(loader({ JUPYTER_TOKEN: token }).shell, { shell_command: ["/bin/bash", "-l"] });
        });
        it("TensorBoard behind the proxy: on 127.0.0.1, over TENSORBOARD_LOGDIR, its polling not counted as activity", () => {
            const tb = loader({ JUPYTER_TOKEN: token, TENSORBOARD_LOGDIR: "/workspace/runs" }).proxy.tensorboard;
            assert.deepEqual(tb.command, ["tensorboard", "--logdir", "/workspace/runs", "--host", "127.0.0.1", "--port", "{port}", "--reload_interval", "30"]);
            assert.equal(tb.update_last_activity, false);
            assert.equal(tb.absolute_url, false);
        });
        it("refuses to start without a token, except under JupyterHub (which authenticates through the hub)", () => {
            assert.match(loader({}).exit, /refusing to start Jupyter without a token/);
            assert.match(loader({ JUPYTER_TOKEN_FILE: tmpFile("short", "abc") }).exit, /at least 32 characters/);
            const hub = loader({ JUPYTERHUB_SERVICE_URL: "http://0.0.0.0:8888/user/alice/", JUPYTERHUB_API_TOKEN: "x" });
            assert.equal(hub.exit, undefined);
            assert.equal(hub.token, null, "no token of our own under the hub");
        });
        it("the activity extension is enabled by a config.d file", () => {
            assert.deepEqual(JSON.parse(read("config/jupyter_server_config.d/archaeo_activity.json")), { ServerApp: { jpserver_extensions: { archaeo_activity: true } } });
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
        type Layer = { instruction: string; compressedMiB: number; parts?: Record<string, number>; countsTowardFloorRatio?: boolean };
        const layers: Layer[] = image.layerPlan.layers;
        const round3 = (x: number) => Math.round(x * 1000) / 1000;
        it("the torch stack is the sum of its wheels, and the torch layer is its parts: those wheels plus the rest", () => {
            const mb = Object.values(image.torchStackWheels.wheelsMB).reduce((a, b) => a + b, 0);
            assert.equal(Math.round(mb * 100) / 100, image.torchStackWheels.totalMB);
            assert.equal(Math.round((mb * 1e6) / 2 ** 20), image.torchStackWheels.totalMiB);
            assert.ok(image.torchStackWheels.totalMiB / 1024 > 3.7, "the CUDA 12.8 wheels alone are ~3.8 GiB");
            const torch = layers.find((l) => l.instruction.startsWith("COPY --from=torch /opt/python"))!;
            const parts = Object.entries(torch.parts!);
            assert.equal(parts.reduce((s, [, v]) => s + v, 0), torch.compressedMiB, "the torch layer is the sum of its parts");
            assert.deepEqual(parts.filter(([k]) => k.includes("(torchStackWheels)")).map(([, v]) => v), [image.torchStackWheels.totalMiB]);
            assert.ok(!/torchaudio/i.test(JSON.stringify(layers)), "no layer carries torchaudio");
        });
        it("the layer plan adds up to the estimate the cost model uses, and the proposed reductions keep CNN training", () => {
            const total = layers.reduce((s, l) => s + l.compressedMiB, 0);
            assert.equal(Math.round((total / 1024) * 100) / 100, image.estimatedCompressedGiB);
            assert.ok(image.estimatedCompressedGiB > image.torchStackWheels.totalMiB / 1024);
            const proposed = image.layerPlan.reductions.filter((r) => r.status === "proposed" && !r.breaksTraining);
            assert.ok(proposed.reduce((s, r) => s + r.savesMiB, 0) > 500, "on paper: more than 500 MiB more to save without touching training");
            const done = image.layerPlan.reductions.filter((r) => r.status === "done");
            assert.equal(done.length, 1);
            assert.match(done[0].what, /^Own base \(done\)/);
            assert.equal(done[0].savesMiB, image.layerPlan.previous.estimatedMiB - total, "what the own base saved against the pytorch/pytorch plan");
            assert.match(read("README.md"), new RegExp(`\\*\\*${total.toLocaleString("en-US")} \\(~${image.estimatedCompressedGiB} GiB\\)\\*\\*`));
        });
        it("size against the floor (the torch + CUDA wheels): recomputed from the layer rows, <= 1.10x without the baked weights, and stated with them", () => {
            const f = image.sizeVsFloor;
            assert.equal(f.floorMiB, image.torchStackWheels.totalMiB);
            assert.deepEqual(layers.filter((l) => l.countsTowardFloorRatio === false).map((l) => l.instruction.split(" (")[0]), ["COPY --from=weights"], "only the weights are left out");
            const counted = layers.filter((l) => l.countsTowardFloorRatio !== false).reduce((s, l) => s + l.compressedMiB, 0);
            const total = layers.reduce((s, l) => s + l.compressedMiB, 0);
            assert.equal(f.imageMiB, counted);
            assert.equal(f.ratio, round3(counted / f.floorMiB));
            assert.equal(f.withDefaultWeightsMiB, total);
            assert.equal(f.ratioWithDefaultWeights, round3(total / f.floorMiB));
            assert.equal(f.target, 1.1, "issue 20: compressed size <= 1.10x the torch + CUDA wheels");
            assert.ok(f.ratio <= f.target, `${f.ratio} > ${f.target}`);
            assert.ok(image.layerPlan.previous.estimatedMiB / f.floorMiB > f.target, "the pytorch/pytorch base did not meet it");
            const readme = read("README.md");
            assert.ok(readme.includes(`**${f.imageMiB.toLocaleString("en-US")} MiB = ${f.ratio}x**`), "README states the figure");
            assert.ok(readme.includes(`${f.withDefaultWeightsMiB.toLocaleString("en-US")} MiB = ${f.ratioWithDefaultWeights}x`), "and with the default weights");
        });
    });
});
