/** A real git checkout of part of this repository, made under the calling process's umask. */
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.join(__dirname, "..", "..");

/**
 * Writes the index's version of every tracked file under `sub` into `dest`/`sub` with
 * `git checkout-index`, which creates files as a clone does (0666 or 0777, less the umask; git
 * entry.c). Returns the checked-out directory.
 */
export function checkoutFromIndex(dest: string, sub: string): string {
    const files = spawnSync("git", ["ls-files", "-z", "--", sub], { cwd: ROOT, encoding: "utf8" });
    if (files.status !== 0) throw new Error(`git ls-files failed: ${files.stderr}`);
    const list = files.stdout.split("\0").filter(Boolean);
    if (!list.length) throw new Error(`git tracks no files under ${sub}`);
    const r = spawnSync("git", ["checkout-index", "--force", `--prefix=${dest.replace(/\/*$/, "/")}`, "--", ...list], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git checkout-index failed: ${r.stderr}`);
    return path.join(dest, sub);
}
