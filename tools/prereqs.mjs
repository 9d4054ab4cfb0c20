#!/usr/bin/env node
// Installs what the test suite runs for real, so `npm ci && npm test` passes on a fresh Debian/Ubuntu
// machine with only Node and npm: Debian's validators and real components (shellcheck, yamllint,
// cloud-init, OpenSSH, Debian's PyTorch/torchvision CPU build, nbconvert/ipykernel) and the policy
// pack's production dependencies (policies/node_modules, as the Pulumi CLI installs it).
// Already-present tools are left alone; without root or sudo it prints the one command to run.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = process.env.ARCHAEO_PYTHON ?? "/usr/bin/python3";

/** [apt package, how to tell it is there] */
const APT = [
    ["shellcheck", () => has("shellcheck")],
    ["yamllint", () => has("yamllint")],
    ["cloud-init", () => has("cloud-init")],
    ["openssh-server", () => existsSync("/usr/sbin/sshd")],
    ["openssh-client", () => has("ssh") && has("ssh-keygen")],
    ["python3-torch", () => py("import torch")],
    ["python3-torchvision", () => py("import torchvision")],
    ["python3-matplotlib", () => py("import matplotlib")],
    ["python3-nbconvert", () => py("import nbconvert")],
    ["python3-ipykernel", () => py("import ipykernel")],
    ["python3-jupyter-server", () => py("import jupyter_server")],
    ["python3-terminado", () => py("import terminado")],
    ["systemd", () => has("systemd-analyze")],
];

function has(cmd) {
    return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
function py(code) {
    return existsSync(PYTHON) && spawnSync(PYTHON, ["-c", code], { stdio: "ignore" }).status === 0;
}

const missing = APT.filter(([, ok]) => !ok()).map(([pkg]) => pkg);
if (missing.length) {
    const isRoot = process.getuid?.() === 0;
    const sudo = !isRoot && has("sudo") ? ["sudo"] : [];
    const command = `${isRoot ? "" : "sudo "}apt-get install -y --no-install-recommends ${missing.join(" ")}`;
    if (!has("apt-get") || (!isRoot && !sudo.length)) {
        console.error(`prereqs: missing ${missing.join(", ")}; the tests run them for real. Install them with:\n  ${command}`);
        process.exit(1);
    }
    console.log(`prereqs: installing ${missing.join(" ")} (Debian packages the tests run for real) ...`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync(sudo[0] ?? "apt-get", [...sudo.slice(1), ...(sudo.length ? ["apt-get"] : []), "update", "-qq"], { stdio: "inherit", env });
    execFileSync(sudo[0] ?? "apt-get", [...(sudo.length ? ["apt-get"] : []), "install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: ["ignore", "ignore", "inherit"], env });
    const still = APT.filter(([, ok]) => !ok()).map(([pkg]) => pkg);
    if (still.length) {
        console.error(`prereqs: ${still.join(", ")} still missing after apt-get install`);
        process.exit(1);
    }
}

// The policy pack as `pulumi preview --policy-pack policies` runs it: its own production install.
const packDeps = Object.keys(JSON.parse(readFileSync(join(root, "policies", "package.json"), "utf8")).dependencies);
if (packDeps.some((d) => !existsSync(join(root, "policies", "node_modules", d, "package.json")))) {
    console.log("prereqs: installing the policy pack's dependencies (npm ci --omit=dev --prefix policies) ...");
    execFileSync("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefix", join(root, "policies")], { stdio: "inherit" });
}
console.log("prereqs: ok");
