#!/usr/bin/env node
// Installs what the test suite runs for real, so `npm ci && npm test` passes on a fresh Debian/Ubuntu
// machine with only Node and npm: Debian's validators and real components (shellcheck, yamllint,
// cloud-init, OpenSSH, Debian's PyTorch/torchvision CPU build, nbconvert/ipykernel, pip) and the policy
// pack's production dependencies (policies/node_modules, as the Pulumi CLI installs it).
// Already-present tools are left alone; without root or sudo, or when apt-get fails, it prints the one
// command to run. It also fails, naming the fix, where the kernel refuses the unprivileged user and mount
// namespace the smoke test runs in (Ubuntu 24.04's AppArmor default).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const USAGE = `usage: npm run prereqs   (also the first step of npm test)

Installs what the test suite runs for real, when missing: Debian packages (shellcheck, yamllint,
cloud-init, OpenSSH, rsync, git, PyTorch/torchvision CPU, matplotlib, a CJK font, nbconvert, ipykernel, jupyter-server,
terminado, pip, setuptools, systemd, botocore, jmespath) with apt-get as root or through sudo, one at a time with
its progress; and the policy pack's production dependencies (npm ci --prefix policies). Without root or
sudo it prints the one command to run. It also checks the kernel allows the unprivileged user and mount
namespace the smoke test runs in.

  --check      only report what is missing (exit 1 if anything is), install nothing
  --skip-pack  leave the policy pack's dependencies to tools/checks.mjs (npm test installs them beside the typecheck)
  --help, -h   this text

Env: ARCHAEO_PYTHON (default /usr/bin/python3) names the Python whose packages are checked;
ARCHAEO_BOTOCORE_DATA (default Debian's /usr/lib/python3/dist-packages/botocore/data) the AWS service
models the tests read; ARCHAEO_DIST_PACKAGES where the fake aws finds jmespath.`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    process.exit(0);
}
const unknown = args.filter((a) => a !== "--check" && a !== "--skip-pack");
if (unknown.length) {
    console.error(`prereqs: unknown argument ${unknown.join(" ")}\n${USAGE.split("\n")[0]}`);
    process.exit(2);
}
const checkOnly = args.includes("--check");

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = process.env.ARCHAEO_PYTHON ?? "/usr/bin/python3";
const DIST_PACKAGES = process.env.ARCHAEO_DIST_PACKAGES ?? "/usr/lib/python3/dist-packages";
const BOTOCORE_DATA = process.env.ARCHAEO_BOTOCORE_DATA ?? "/usr/lib/python3/dist-packages/botocore/data";

/** [apt package, how to tell it is there: a check, or the Python module it provides (probed with py())] */
const APT = [
    ["shellcheck", () => has("shellcheck")],
    ["yamllint", () => has("yamllint")],
    ["cloud-init", () => has("cloud-init")],
    ["openssh-server", () => existsSync("/usr/sbin/sshd")],
    // test/determinism.test.ts checks out the image context with git (checkout-index, ls-files --eol).
    ["git", () => has("git")],
    ["openssh-client", () => has("ssh") && has("ssh-keygen")],
    // test/idle.test.ts: a detached tmux server waiting in an SSH session is not work (the image installs tmux too).
    ["tmux", () => has("tmux")],
    // test/cli.test.ts copies files with rsync through the ssh config `archaeo ssh-config` writes (rsync runs at both ends).
    ["rsync", () => has("rsync")],
    ["python3-torch", "torch"],
    ["python3-torchvision", "torchvision"],
    ["python3-matplotlib", "matplotlib"],
    // test/train-messy.test.ts draws Chinese class names: the CJK font the image installs too (Dockerfile).
    ["fonts-wqy-microhei", () => existsSync("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")],
    ["python3-nbconvert", "nbconvert"],
    ["python3-ipykernel", "ipykernel"],
    ["python3-jupyter-server", "jupyter_server"],
    ["python3-terminado", "terminado"],
    // image.test builds the activity extension with `python3 -m pip install --no-build-isolation` (setuptools).
    ["python3-pip", "pip"],
    ["python3-setuptools", "setuptools"],
    ["systemd", () => has("systemd-analyze")],
    // AWS's service models as Debian installs them (botocore/data/<service>/<version>/service-2.json, uncompressed; pip's
    // botocore ships service-2.json.gz): test/helpers/fake-aws.ts and the runbook, guide and restore checks read them there
    // (ARCHAEO_BOTOCORE_DATA names another copy). A botocore some Python imports is not enough: a fresh machine with
    // pyenv's botocore and no Debian package failed 13 tests.
    ["python3-botocore", () => existsSync(BOTOCORE_DATA)],
    // The fake `aws` (test/helpers/fake-aws-shim.py) evaluates --query with Debian's jmespath (ARCHAEO_DIST_PACKAGES).
    ["python3-jmespath", () => existsSync(join(DIST_PACKAGES, "jmespath", "__init__.py"))],
];

/** The Python modules the table names: probed together. */
const APT_PY = APT.map(([, check]) => check).filter((check) => typeof check === "string");

function has(cmd) {
    return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
/**
 * The modules PYTHON can import, found in one process without importing them (importlib.util.find_spec: the
 * package is installed where PYTHON looks; importing torch and the rest took 3 s of every `npm test`). Whether
 * they then work is the tests' own check (test/helpers/python.ts requirePython imports them).
 */
let importable;
function py(name) {
    if (!existsSync(PYTHON)) return false;
    if (!importable) {
        const probe = `import importlib.util\nfor m in ${JSON.stringify(APT_PY)}:\n    if importlib.util.find_spec(m) is not None:\n        print(m)`;
        const r = spawnSync(PYTHON, ["-c", probe], { encoding: "utf8" });
        importable = new Set(r.status === 0 ? r.stdout.split("\n").filter(Boolean) : []);
    }
    return importable.has(name);
}

/** The table's packages not present now (after an install, the modules are looked up again). */
function absent() {
    return APT.filter(([, check]) => !(typeof check === "string" ? py(check) : check())).map(([pkg]) => pkg);
}

const missing = absent();
if (checkOnly) {
    console.log(missing.length ? `prereqs: missing ${missing.join(", ")} (npm run prereqs installs them)` : "prereqs: every Debian package the tests run is present");
    process.exit(missing.length ? 1 : 0);
}
if (missing.length) {
    const isRoot = process.getuid?.() === 0;
    const sudo = !isRoot && has("sudo") ? ["sudo"] : [];
    const command = `${isRoot ? "" : "sudo "}apt-get install -y --no-install-recommends ${missing.join(" ")}`;
    if (!has("apt-get") || (!isRoot && !sudo.length)) {
        console.error(`prereqs: missing ${missing.join(", ")}; the tests run them for real. Install them with:\n  ${command}`);
        process.exit(1);
    }
    console.log(`prereqs: installing ${missing.length} Debian package(s) the tests run for real, one at a time: ${missing.join(" ")}`);
    console.log("prereqs: (a fresh machine takes 15-20 minutes, most of it python3-torch and its dependencies)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const aptGet = (...a) => execFileSync(sudo[0] ?? "apt-get", [...(sudo.length ? ["apt-get"] : []), ...a], { stdio: ["ignore", "ignore", "inherit"], env });
    const t0 = Date.now();
    const since = (t) => `${Math.round((Date.now() - t) / 1000)} s`;
    try {
        process.stdout.write("prereqs: apt-get update ... ");
        aptGet("update", "-qq");
        console.log(`done (${since(t0)})`);
        missing.forEach((pkg, i) => {
            const t = Date.now();
            process.stdout.write(`prereqs: [${i + 1}/${missing.length}] ${pkg} ... `);
            aptGet("install", "-y", "-qq", "--no-install-recommends", pkg);
            console.log(`installed (${since(t)}; ${since(t0)} in all)`);
        });
    } catch (e) {
        console.log("failed");
        console.error(`prereqs: apt-get failed (${e.message.split("\n")[0]}). On Ubuntu the Python packages are in universe `
            + `(sudo add-apt-repository universe). Install them, then run npm test again:\n  ${command}`);
        process.exit(1);
    }
    importable = undefined;
    const still = absent();
    if (still.length) {
        console.error(`prereqs: ${still.join(", ")} still missing after apt-get install`
            + (still.some((p) => p.startsWith("python3-")) ? ` (checked with ${PYTHON}; ARCHAEO_PYTHON must name a Python that has them, e.g. /usr/bin/python3)` : ""));
        process.exit(1);
    }
}

// test/smoke.test.ts gives the smoke test a small /dev/shm in its own user and mount namespace.
const userns = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"], { encoding: "utf8" });
if (userns.status !== 0) {
    const restricted = existsSync("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    console.error(`prereqs: this user cannot create a user and mount namespace (${(userns.error?.message ?? userns.stderr).trim()}); `
        + "test/smoke.test.ts runs the smoke test in one. "
        + (restricted ? "Allow it with:\n  sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" : "Enable unprivileged user namespaces (kernel.unprivileged_userns_clone=1) or install util-linux."));
    process.exit(1);
}

// The policy pack as `pulumi preview --policy-pack policies` runs it: its own production install.
const packDeps = Object.keys(JSON.parse(readFileSync(join(root, "policies", "package.json"), "utf8")).dependencies);
if (!args.includes("--skip-pack") && packDeps.some((d) => !existsSync(join(root, "policies", "node_modules", d, "package.json")))) {
    console.log("prereqs: installing the policy pack's dependencies (npm ci --omit=dev --prefix policies) ...");
    execFileSync("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefix", join(root, "policies")], { stdio: "inherit" });
}
console.log("prereqs: ok");
