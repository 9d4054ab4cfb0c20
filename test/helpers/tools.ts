/** Runs the real validators installed by .ci/run (shellcheck, yamllint, cloud-init). */
import { spawnSync } from "child_process";
import * as fs from "fs";
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
