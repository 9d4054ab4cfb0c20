/** Runs the real validators installed by .ci/run (shellcheck, yamllint, cloud-init). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface ToolResult { status: number; output: string }

export function run(cmd: string, args: string[], input?: string): ToolResult {
    const r = spawnSync(cmd, args, { encoding: "utf8", input, timeout: 60_000 });
    if (r.error) throw new Error(`${cmd} could not run (${r.error.message}); .ci/run installs it`);
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export function tmpFile(name: string, content: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-"));
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
}

export function shellcheck(file: string): ToolResult {
    return run("shellcheck", ["--severity=style", "--external-sources", file]);
}

export function cloudInitSchema(file: string): ToolResult {
    return run("cloud-init", ["schema", "--config-file", file]);
}

/** Python with Debian's torch/torchvision/jupyter-server (the pyenv `python3` on PATH has none). */
export const PYTHON = process.env.ARCHAEO_PYTHON ?? "/usr/bin/python3";

/** Fails (never skips) when a tool the test needs is missing, naming the Debian package. */
export function requireTool(path: string, aptPackage: string): void {
    if (!fs.existsSync(path)) throw new Error(`${path} is missing: apt-get install -y --no-install-recommends ${aptPackage} (.ci/run installs it)`);
}

/** A scratch directory (removed by the OS; tests remove theirs when they start processes in it). */
export function tmpDir(prefix = "archaeo-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A TCP port nothing listens on right now (for MASTER_PORT, sshd, the relay). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/** Writes executable stubs (name -> shell script body after the shebang) into a new directory. */
export function stubDir(stubs: Record<string, string>, dir = tmpDir("archaeo-stubs-")): string {
    for (const [name, body] of Object.entries(stubs)) {
        fs.writeFileSync(path.join(dir, name), `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
    }
    return dir;
}
