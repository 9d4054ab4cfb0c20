/**
 * The workbench image's SSH server, for real, on a free local port: Debian's OpenSSH sshd started through the
 * entrypoint's `sshd` role with the image's sshd_config (only its paths, port, address and user rewritten), as
 * an unprivileged user - a throwaway one when the tests run as root (CI), else the current user - with a
 * generated client key in its authorized_keys. The approach of test/sshd.test.ts, as a helper that
 * test/cli.test.ts reaches through the ssh config `archaeo ssh-config` writes.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { freePort, requireTool } from "./tools";

const IMAGE = path.join(__dirname, "..", "..", "images", "pytorch-cuda");
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ImageSshd {
    /** Where sshd listens (127.0.0.1). */
    port: number;
    /** The account sessions run as (the image's `researcher` stands in as this user). */
    user: string;
    /** Private key whose .pub is in authorized_keys. */
    key: string;
    /** The session user's home (writable by it). */
    home: string;
    /** Scratch directory holding everything. */
    base: string;
    log(): string;
    /** Gives a path made here to the session user (so sessions can write there). */
    own(p: string): void;
    stop(): void;
}

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

/**
 * Starts it. `stubs` (name -> shell script body) are programs of the workstation that cannot run here
 * (archaeo-train, nvidia-smi): written to a directory first on the sessions' PATH.
 */
export async function startImageSshd(opts: { stubs?: Record<string, string> } = {}): Promise<ImageSshd> {
    requireTool("/usr/sbin/sshd", "openssh-server");
    requireTool("/usr/bin/ssh", "openssh-client");
    const root = process.getuid?.() === 0;
    let base: string;
    let user: string;
    let uid = 0;
    let gid = 0;
    if (root) {
        requireTool("/usr/sbin/useradd", "passwd");
        requireTool("/usr/bin/setpriv", "util-linux");
        // StrictModes checks the authorized_keys path up to the user's home: make that our base.
        base = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-cli-sshd-"));
        user = `archcli${process.pid % 100000}`;
        const r = spawnSync("useradd", ["--no-create-home", "--home-dir", base, "--shell", "/bin/bash", "--user-group", user], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout);
        gid = Number(spawnSync("id", ["-g", user], { encoding: "utf8" }).stdout);
        fs.chmodSync(base, 0o755);
    } else {
        const cache = path.join(os.homedir(), ".cache");
        fs.mkdirSync(cache, { recursive: true });
        base = fs.mkdtempSync(path.join(cache, "archaeo-cli-sshd-"));
        user = os.userInfo().username;
    }
    const home = path.join(base, "home");
    const etc = path.join(base, "etc");
    const client = path.join(base, "client");
    const stubs = path.join(base, "stubs");
    for (const d of [home, etc, client, stubs]) fs.mkdirSync(d, { recursive: true });
    for (const [name, body] of Object.entries(opts.stubs ?? {})) fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    const key = path.join(client, "id_ed25519");
    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status, 0);
    fs.writeFileSync(path.join(etc, "authorized_keys"), fs.readFileSync(`${key}.pub`));
    fs.chmodSync(path.join(etc, "authorized_keys"), 0o644);

    // Host keys made here, both ed25519: the entrypoint makes any it lacks (`-s` test), and an RSA-3072 key costs
    // 0.8 s of CPU to generate (the entrypoint's own key making is test/sshd.test.ts's).
    const hostKeys = path.join(base, "hostkeys");
    fs.mkdirSync(hostKeys, { mode: 0o700 });
    for (const type of ["ed25519", "rsa"]) assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(hostKeys, `ssh_host_${type}_key`)]).status, 0);

    const port = await freePort();
    const rewrites: Array<[string, string]> = [
        ["Port 2222", `Port ${port}`], ["ListenAddress 0.0.0.0", "ListenAddress 127.0.0.1"], ["PidFile /tmp/sshd.pid", `PidFile ${base}/sshd.pid`],
        ["AuthorizedKeysFile /etc/archaeo/authorized_keys", `AuthorizedKeysFile ${etc}/authorized_keys`], ["AllowUsers researcher", `AllowUsers ${user}`],
    ];
    let config = fs.readFileSync(path.join(IMAGE, "config", "sshd_config"), "utf8");
    for (const [from, to] of rewrites) {
        assert.equal(config.split("\n").filter((l) => l === from).length, 1, `${from} appears once in the image's sshd_config`);
        config = config.split("\n").map((l) => (l === from ? to : l)).join("\n");
    }
    fs.writeFileSync(path.join(etc, "sshd_config"), config);
    if (root) for (const p of [base, home, hostKeys, ...fs.readdirSync(hostKeys).map((f) => path.join(hostKeys, f))]) fs.chownSync(p, uid, gid);
    const env: NodeJS.ProcessEnv = {
        PATH: `${stubs}:${SYSTEM_PATH}`, HOME: home, SHELL: "/bin/bash", SSH_HOST_KEY_DIR: hostKeys,
        ARCHAEO_SSHD_CONFIG: path.join(etc, "sshd_config"), ARCHAEO_AUTHORIZED_KEYS: path.join(etc, "authorized_keys"),
        ARCHAEO_NOTEBOOKS_SRC: path.join(base, "no-notebooks"), ARCHAEO_BAKED_CHECKPOINTS: path.join(base, "no-weights"), ARCHAEO_RESEARCHER: "alice",
    };
    const argv = ["bash", path.join(IMAGE, "entrypoint.sh"), "sshd"];
    const child = root
        ? spawn("setpriv", ["--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--", ...argv], { env, detached: true })
        : spawn(argv[0], argv.slice(1), { env, detached: true });
    let log = "";
    child.stdout?.on("data", (d) => { log += d; });
    child.stderr?.on("data", (d) => { log += d; });
    await waitForPort(port, child, () => log);
    return {
        port, user, key, home, base,
        log: () => log,
        own: (p: string) => { if (root) fs.chownSync(p, uid, gid); },
        stop() {
            if (child.pid && child.exitCode === null) { try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ } }
            if (root) spawnSync("userdel", [user]);
            fs.rmSync(base, { recursive: true, force: true });
        },
    };
}
