/** Reads stacks/Pulumi.<stack>.yaml the way the Pulumi CLI hands config to the program. */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export const ROOT = path.join(__dirname, "..");
export const STACKS_DIR = path.join(ROOT, "stacks");

export interface StackFile {
    readonly stack: string;
    readonly region?: string;
    /**
     * Every key of the stack's config (prefixed), as typed YAML values, as the CLI hands them to the program:
     * parseConfig reads this project's and reports a near miss of its prefix (archeo-workbench:researchers).
     */
    readonly raw: Record<string, unknown>;
}

export function listStacks(): string[] {
    return fs.readdirSync(STACKS_DIR)
        .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
        .filter((s): s is string => !!s)
        .sort();
}

export function readStack(stack: string, file = path.join(STACKS_DIR, `Pulumi.${stack}.yaml`)): StackFile {
    if (!fs.existsSync(file)) throw new Error(`No stack file ${path.relative(ROOT, file)}; stacks: ${listStacks().join(", ")}`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    const config: Record<string, unknown> = doc.config ?? {};
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) if (k !== "aws:region") raw[k] = v;
    const region = typeof config["aws:region"] === "string" ? (config["aws:region"] as string) : undefined;
    return { stack, region, raw };
}
