/**
 * The image's SSH server for real: Debian's OpenSSH sshd started through the entrypoint's `sshd`
 * role with the image's sshd_config (only its paths, port and user rewritten) as an unprivileged
 * user - a throwaway one when the tests run as root (CI), else the current user - and the real
 * `ssh` client with a generated key. Proves key-only login, refusals, and that non-interactive and
 * login sessions get the image's environment (issue 8 item 12, issue 11 item 2).
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { freePort, requireTool } from "./helpers/tools";

const IMAGE = path.join(__dirname, "..", "images", "pytorch-cuda");
const IMAGE_REF = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo/x/pytorch-cuda@sha256:" + "c".repeat(64);
const NOTE = `two words "quoted" \\back #hash`;
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}):\n${log()}`);
        const ok = await new Promise<boolean>((resolve) => {
            const c = net.connect(port, "127.0.0.1", () => { c.destroy(); resolve(true); });
            c.on("error", () => resolve(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`sshd did not listen on ${port}:\n${log()}`);
}

/** The image's ENV block (final stage), as name -> value with ${PATH} left in. */
function dockerfileEnv(): Record<string, string> {
    const df = fs.readFileSync(path.join(IMAGE, "Dockerfile"), "utf8");
    const block = /^ENV ([\s\S]*?)\n\n/m.exec(df.slice(df.indexOf("ENV HOME=")))![1];
    return Object.fromEntries([...block.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

describe("sshd (Debian OpenSSH through the entrypoint's sshd role, unprivileged)", function () {
    // Real sshd and ssh processes: about a second each when idle; sized for a loaded 2-core machine.
    this.timeout(120_000);
    const root = process.getuid?.() === 0;
    let base = "";
    let home = "";
    let user = "";
    let uid = 0;
    let gid = 0;
    let port = 0;
    let key = "";
    let stubBin = "";
    let imagePath = "";
    const children: ChildProcess[] = [];
    let sshdLog = "";

    const ssh = (args: string[], opts: { user?: string; key?: string; input?: string; extra?: string[] } = {}) => {
        const r = spawnSync("ssh", [
            "-F", "/dev/null", "-p", String(port), "-i", opts.key ?? key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", ...(opts.extra ?? []),
            `${opts.user ?? user}@127.0.0.1`, ...args,
        ], { encoding: "utf8", input: opts.input, timeout: 20_000 });
        return { status: r.status, out: r.stdout, err: r.stderr };
    };

    /** Runs argv as the sshd user: setpriv drops to its uid/gid and clears root's groups. */
    const asUser = (argv: string[], env: NodeJS.ProcessEnv) => root
        ? spawn("setpriv", ["--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--", ...argv], { env, detached: true })
        : spawn(argv[0], argv.slice(1), { env, detached: true });

    before(async () => {
        requireTool("/usr/sbin/sshd", "openssh-server");
        requireTool("/usr/bin/ssh", "openssh-client");
        if (root) {
            requireTool("/usr/sbin/useradd", "passwd");
            requireTool("/usr/bin/setpriv", "util-linux");
            // StrictModes checks the authorized_keys path up to the user's home: make that our base.
            base = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-sshd-"));
            user = `archsshd${process.pid % 100000}`;
            const r = spawnSync("useradd", ["--no-create-home", "--home-dir", base, "--shell", "/bin/bash", "--user-group", user], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout);
            gid = Number(spawnSync("id", ["-g", user], { encoding: "utf8" }).stdout);
            fs.chownSync(base, uid, gid);
            fs.chmodSync(base, 0o755);
        } else {
            const cache = path.join(os.homedir(), ".cache");
            fs.mkdirSync(cache, { recursive: true });
            base = fs.mkdtempSync(path.join(cache, "archaeo-sshd-"));
            user = os.userInfo().username;
        }
        home = path.join(base, "home");
        const etc = path.join(base, "etc", "archaeo");
        stubBin = path.join(base, "opt", "conda", "bin");
        for (const d of [home, etc, stubBin, path.join(base, "client"), path.join(base, "notebooks"), path.join(base, "baked")]) fs.mkdirSync(d, { recursive: true });
        if (root) for (const d of [home]) fs.chownSync(d, uid, gid);
        fs.writeFileSync(path.join(stubBin, "python3"), '#!/bin/sh\necho "stub-python3 $*"\n', { mode: 0o755 });
        fs.writeFileSync(path.join(base, "notebooks", "01-explore.ipynb"), '{"cells": []}');
        fs.writeFileSync(path.join(base, "baked", "resnet18-f37072fd.pth"), "w");

        key = path.join(base, "client", "id_ed25519");
        assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status, 0);
        fs.writeFileSync(path.join(etc, "authorized_keys"), fs.readFileSync(`${key}.pub`));
        fs.chmodSync(path.join(etc, "authorized_keys"), 0o644);

        // The image's sshd_config with only its paths, port, address and user rewritten.
        port = await freePort();
        const original = fs.readFileSync(path.join(IMAGE, "config", "sshd_config"), "utf8");
        const rewrites: Array<[string, string]> = [
            ["Port 2222", `Port ${port}`], ["ListenAddress 0.0.0.0", "ListenAddress 127.0.0.1"], ["PidFile /tmp/sshd.pid", `PidFile ${base}/sshd.pid`],
            ["AuthorizedKeysFile /etc/archaeo/authorized_keys", `AuthorizedKeysFile ${etc}/authorized_keys`], ["AllowUsers researcher", `AllowUsers ${user}`],
        ];
        let config = original;
        for (const [from, to] of rewrites) {
            assert.equal(config.split("\n").filter((l) => l === from).length, 1, `${from} appears once in the image's sshd_config`);
            config = config.split("\n").map((l) => (l === from ? to : l)).join("\n");
        }
        fs.writeFileSync(path.join(etc, "sshd_config"), config);

        // The container's environment: the Dockerfile's ENV (HOME moved into the scratch dir, the
        // image's /opt/python/bin standing in as the stub dir), the contract's variables, Pod Identity,
        // and secrets that must never reach a session.
        imagePath = `${home}/.local/bin:${stubBin}:${SYSTEM_PATH}`;
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(dockerfileEnv())) env[k] = v.replaceAll("/home/researcher", home);
        Object.assign(env, {
            PATH: imagePath, SSH_HOST_KEY_DIR: path.join(base, "hostkeys"),
            ARCHAEO_SSHD_CONFIG: path.join(etc, "sshd_config"), ARCHAEO_AUTHORIZED_KEYS: path.join(etc, "authorized_keys"),
            ARCHAEO_NOTEBOOKS_SRC: path.join(base, "notebooks"), ARCHAEO_BAKED_CHECKPOINTS: path.join(base, "baked"),
            ARCHAEO_RESEARCHER: "alice", ARCHAEO_IMAGE: IMAGE_REF, AWS_REGION: "eu-west-2",
            ARCHAEO_DATA_MOUNTS: "/data=s3://b/datasets/;/mydata=s3://b/researchers/alice/",
            AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.23/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
            ARCHAEO_NOTE: NOTE,
            JUPYTER_TOKEN: "j".repeat(48), JUPYTERHUB_API_TOKEN: "h".repeat(32), AWS_SECRET_ACCESS_KEY: "s".repeat(40), AWS_SESSION_TOKEN: "x".repeat(40),
        });
        if (root) fs.chownSync(base, uid, gid);
        const child = asUser(["bash", path.join(IMAGE, "entrypoint.sh"), "sshd"], env);
        child.stdout?.on("data", (d) => { sshdLog += d; });
        child.stderr?.on("data", (d) => { sshdLog += d; });
        children.push(child);
        await waitForPort(port, child, () => sshdLog);
    });

    after(() => {
        for (const c of children) if (c.pid && c.exitCode === null) { try { process.kill(-c.pid, "SIGTERM"); } catch { /* gone */ } }
        if (root && user) spawnSync("userdel", [user]);
        if (base) fs.rmSync(base, { recursive: true, force: true });
    });

    it("runs as the unprivileged user, not root", () => {
        const r = ssh(["id -u; id -G"]);
        assert.equal(r.status, 0, r.err + sshdLog);
        const [u, groups] = r.out.trim().split("\n");
        assert.equal(Number(u), root ? uid : process.getuid?.());
        assert.ok(!groups.split(" ").includes("0") || !root, "no root group");
    });

    it("`ssh host 'cmd'` (non-interactive) sees the image's PATH: python3 is the image's, not the system's", () => {
        const r = ssh(['printf "%s\\n" "$PATH"; command -v python3; python3 --version']);
        assert.equal(r.status, 0, r.err + sshdLog);
        const [p, which, version] = r.out.trim().split("\n");
        assert.equal(p, imagePath);
        assert.equal(which, path.join(stubBin, "python3"));
        assert.equal(version, "stub-python3 --version");
    });

    it("`ssh host 'nohup python train.py &'` runs the image's python after the session ends", async () => {
        const r = ssh(['cd "$HOME" && nohup python3 train.py --epochs 3 > nohup-test.out 2>&1 &']);
        assert.equal(r.status, 0, r.err);
        const out = path.join(home, "nohup-test.out");
        for (let i = 0; i < 50 && !(fs.existsSync(out) && fs.statSync(out).size > 0); i++) await new Promise((res) => setTimeout(res, 100));
        assert.equal(fs.readFileSync(out, "utf8").trim(), "stub-python3 train.py --epochs 3");
    });

    it("sessions get the container's environment - every ENV of the image, the contract, Pod Identity - and no secret", () => {
        const r = ssh(["env"]);
        assert.equal(r.status, 0, r.err);
        const env = Object.fromEntries(r.out.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
        for (const [k, v] of Object.entries(dockerfileEnv())) {
            if (k === "SSH_HOST_KEY_DIR") continue; // the server's own setting
            assert.equal(env[k], k === "PATH" ? imagePath : v.replaceAll("/home/researcher", home), k);
        }
        assert.equal(env.ARCHAEO_IMAGE, IMAGE_REF);
        assert.equal(env.ARCHAEO_RESEARCHER, "alice");
        assert.equal(env.ARCHAEO_DATA_MOUNTS, "/data=s3://b/datasets/;/mydata=s3://b/researchers/alice/");
        assert.equal(env.AWS_REGION, "eu-west-2");
        assert.ok(env.AWS_CONTAINER_CREDENTIALS_FULL_URI && env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, "Pod Identity credentials reach SSH sessions");
        assert.equal(env.ARCHAEO_NOTE, NOTE, "quotes, spaces, backslashes and # survive");
        assert.equal(env.SHELL, "/bin/bash");
        for (const secret of ["JUPYTER_TOKEN", "JUPYTERHUB_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) assert.equal(env[secret], undefined, secret);
    });

    it("control: the same sshd_config without the entrypoint's SetEnv gives sessions sshd's own PATH, without the image's python", async () => {
        const port2 = await freePort();
        const child = asUser(["/usr/sbin/sshd", "-D", "-e", "-f", path.join(base, "etc/archaeo/sshd_config"), "-o", `Port=${port2}`,
            "-o", `PidFile=${base}/sshd2.pid`, "-o", `HostKey=${base}/hostkeys/ssh_host_ed25519_key`], { PATH: imagePath });
        children.push(child);
        let log = "";
        child.stderr?.on("data", (d) => { log += d; });
        await waitForPort(port2, child, () => log);
        const saved = port;
        port = port2;
        try {
            const r = ssh(['printf "%s\\n" "$PATH"; command -v python3 || echo "python3: not found"']);
            assert.equal(r.status, 0, r.err + log);
            const [p, which] = r.out.trim().split("\n");
            assert.ok(!p.includes(stubBin), p);
            assert.notEqual(which, path.join(stubBin, "python3"));
        } finally {
            port = saved;
            process.kill(-child.pid!, "SIGTERM");
        }
    });

    it("a login session keeps the image's PATH, history and torch cache even after /etc/profile resets PATH (profile.sh)", () => {
        // In the image /etc/profile runs /etc/profile.d/archaeo.sh; here ~/.bash_profile stands in for that step.
        const profile = path.join(base, "archaeo-profile.sh");
        fs.copyFileSync(path.join(IMAGE, "config", "profile.sh"), profile);
        fs.writeFileSync(path.join(home, ".bash_profile"), `. ${profile}\n[ -f ~/.profile ] && . ~/.profile\n`);
        // A login shell as Jupyter terminals and tmux start it (`bash -l`). An interactive `ssh host` takes a
        // pty, which an unprivileged sshd can hand out only where devpts gives new ptys the tty group
        // (Docker mounts it gid=5); this sandbox's devpts does not, so the login shell is asked for directly.
        const r = ssh([`bash -l -c 'echo "P=$PATH"; echo "H=$HISTFILE"; echo "T=$TORCH_HOME"; echo "C=$PROMPT_COMMAND"'`]);
        const pick = (k: string) => new RegExp(`^${k}=(.*?)\\r?$`, "m").exec(r.out)?.[1];
        const p = pick("P") ?? "";
        assert.ok(!p.includes(stubBin), `Debian's /etc/profile reset PATH first: ${p}`);
        assert.ok(p.split(":").includes("/opt/python/bin"), p);
        assert.ok(p.split(":").includes(`${home}/.local/bin`), p);
        assert.equal(pick("H"), `${home}/.bash_history`);
        assert.equal(pick("T"), `${home}/.cache/torch`);
        assert.match(pick("C") ?? "", /history -a/);
    });

    it("password and keyboard-interactive logins are refused: the server offers public keys only", () => {
        const r = ssh(["true"], { extra: ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"] });
        assert.equal(r.status, 255);
        assert.match(r.err, /Permission denied \(publickey\)/);
    });

    it("root, other users and unknown keys are refused", () => {
        const asRoot = ssh(["true"], { user: "root" });
        assert.equal(asRoot.status, 255);
        assert.match(asRoot.err, /Permission denied/);
        const other = ssh(["true"], { user: "nobody" });
        assert.equal(other.status, 255);
        const stranger = path.join(base, "client", "stranger");
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
        const unknown = ssh(["true"], { key: stranger });
        assert.equal(unknown.status, 255);
        assert.match(unknown.err, /Permission denied \(publickey\)/);
    });

    it("the entrypoint made the home on first start (notebooks, weights link) and persistent host keys", () => {
        assert.ok(fs.existsSync(path.join(home, "notebooks", "01-explore.ipynb")));
        assert.ok(fs.lstatSync(path.join(home, ".cache/torch/hub/checkpoints/resnet18-f37072fd.pth")).isSymbolicLink());
        assert.ok(fs.existsSync(path.join(base, "hostkeys", "ssh_host_ed25519_key")));
    });
});
