/**
 * The image's SSH server prepared for a test, as test/sshd.test.ts runs it: Debian's OpenSSH sshd through the
 * entrypoint's `sshd` role with the image's sshd_config (only its paths, port, address and user rewritten),
 * unprivileged - as a throwaway user when the tests run as root, else as the current user - and the real
 * `ssh` client with a generated key.
 *
 * Terminals. In the container sshd hands each `ssh -t` session a pty from Docker's devpts (mounted
 * `newinstance,gid=5,mode=620,ptmxmode=666`): the pty is created with group tty, so the unprivileged sshd
 * need not chown it (OpenSSH sshpty.c `pty_setowner` chowns to the tty group and fails for a non-root
 * sshd otherwise). As root, `asUser` gives the server a mount namespace with exactly that devpts, and
 * sessions are `ssh -tt`. Without root no such devpts can be mounted (a user namespace cannot map gid 5),
 * so a session's pty comes from util-linux `script` inside a non-pty session instead: the same kind of
 * terminal (a Unix98 pty the shell reads keystrokes from), allocated by another program.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, requireTool } from "./tools";

export const IMAGE_DIR = path.join(__dirname, "..", "..", "images", "pytorch-cuda");
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface Sshd {
    root: boolean;
    /** How sessions get their terminal: sshd itself (`ssh -tt`, root) or `script` in a non-pty session. */
    pty: "sshd" | "script";
    base: string;
    home: string;
    user: string;
    uid: number;
    gid: number;
    port: number;
    /** The entrypoint's sshd role, wrapped to run as the user (with a container-like devpts when root). */
    argv: string[];
    env: NodeJS.ProcessEnv;
    /** ssh client arguments up to and including user@host. */
    client: string[];
    /** argv run as the sshd user, in a mount namespace with its own devpts when root (a container's). */
    asUser(argv: string[]): string[];
    /** ssh arguments for an interactive session with a terminal. */
    session(): string[];
    cleanup(): void;
}

export async function prepareSshd(extraEnv: NodeJS.ProcessEnv = {}): Promise<Sshd> {
    requireTool("/usr/sbin/sshd", "openssh-server");
    requireTool("/usr/bin/ssh", "openssh-client");
    requireTool("/usr/bin/script", "bsdutils");
    const root = process.getuid?.() === 0;
    let base: string;
    let user: string;
    let uid = process.getuid?.() ?? 0;
    let gid = process.getgid?.() ?? 0;
    if (root) {
        requireTool("/usr/sbin/useradd", "passwd");
        requireTool("/usr/bin/setpriv", "util-linux");
        requireTool("/usr/bin/unshare", "util-linux");
        base = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-sshd-"));
        user = `archidle${process.pid % 100000}`;
        const r = spawnSync("useradd", ["--no-create-home", "--home-dir", base, "--shell", "/bin/bash", "--user-group", user], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout);
        gid = Number(spawnSync("id", ["-g", user], { encoding: "utf8" }).stdout);
    } else {
        const cache = path.join(os.homedir(), ".cache");
        fs.mkdirSync(cache, { recursive: true });
        base = fs.mkdtempSync(path.join(cache, "archaeo-sshd-"));
        user = os.userInfo().username;
    }
    const home = path.join(base, "home");
    const etc = path.join(base, "etc");
    const keys = path.join(base, "hostkeys");
    for (const d of [home, etc, keys, path.join(base, "client")]) fs.mkdirSync(d, { recursive: true });
    // Host keys made here: the entrypoint makes an RSA-3072 one otherwise (half a second of CPU, the same in every run).
    for (const [type, bits] of [["ed25519", []], ["rsa", ["-b", "1024"]]] as const) {
        assert.equal(spawnSync("ssh-keygen", ["-q", "-t", type, ...bits, "-N", "", "-f", path.join(keys, `ssh_host_${type}_key`)]).status, 0);
    }
    const key = path.join(base, "client", "id_ed25519");
    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status, 0);
    fs.writeFileSync(path.join(etc, "authorized_keys"), fs.readFileSync(`${key}.pub`));
    fs.chmodSync(path.join(etc, "authorized_keys"), 0o644);
    const port = await freePort();
    let config = fs.readFileSync(path.join(IMAGE_DIR, "config", "sshd_config"), "utf8");
    for (const [from, to] of [
        ["Port 2222", `Port ${port}`], ["ListenAddress 0.0.0.0", "ListenAddress 127.0.0.1"], ["PidFile /tmp/sshd.pid", `PidFile ${base}/sshd.pid`],
        ["AuthorizedKeysFile /etc/archaeo/authorized_keys", `AuthorizedKeysFile ${etc}/authorized_keys`], ["AllowUsers researcher", `AllowUsers ${user}`],
    ]) {
        assert.equal(config.split("\n").filter((l) => l === from).length, 1, `${from} appears once in the image's sshd_config`);
        config = config.split("\n").map((l) => (l === from ? to : l)).join("\n");
    }
    fs.writeFileSync(path.join(etc, "sshd_config"), config);
    if (root) {
        for (const d of [base, home, keys]) fs.chownSync(d, uid, gid);
        for (const f of fs.readdirSync(keys)) fs.chownSync(path.join(keys, f), uid, gid);
        fs.chmodSync(base, 0o755);
    }
    const asUser = (argv: string[]) => root
        ? ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            // Docker's devpts for a container (newinstance, gid=5 (tty), mode=620, ptmxmode=666), then the command as the user.
            'mount -t devpts -o newinstance,gid=5,mode=620,ptmxmode=666 devpts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx && exec "$@"',
            "sh", "setpriv", "--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--", ...argv]
        : argv;
    const pty: Sshd["pty"] = process.env.ARCHAEO_TEST_SSH_PTY === "script" || !root ? "script" : "sshd";
    const client = ["-F", "/dev/null", "-p", String(port), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", `${user}@127.0.0.1`];
    return {
        root, pty, base, home, user, uid, gid, port, client, asUser,
        argv: asUser(["bash", path.join(IMAGE_DIR, "entrypoint.sh"), "sshd"]),
        env: {
            PATH: SYSTEM_PATH, HOME: home, SSH_HOST_KEY_DIR: keys, ARCHAEO_SSHD_CONFIG: path.join(etc, "sshd_config"),
            ARCHAEO_AUTHORIZED_KEYS: path.join(etc, "authorized_keys"), ARCHAEO_NOTEBOOKS_SRC: path.join(base, "none"),
            ARCHAEO_BAKED_CHECKPOINTS: path.join(base, "none"), LANG: "C.UTF-8", ...extraEnv,
        },
        session: () => pty === "sshd" ? ["-tt", ...client] : ["-T", ...client, "exec script -qfec 'bash -il' /dev/null"],
        cleanup: () => {
            if (root) spawnSync("userdel", [user]);
            fs.rmSync(base, { recursive: true, force: true });
        },
    };
}
