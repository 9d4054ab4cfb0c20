/**
 * docs/runbooks.md as data: its sections, the commands of their ```bash blocks (split into words as a POSIX
 * shell would: quotes, redirection, pipes) and their ```text blocks (what a command prints), and the
 * offline rehearsal of a section: restore commands against recorded AWS responses, `pulumi config set` on a
 * copy of the stack file, and (where the caller passes a planner) `npm run plan` for real.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT } from "../../infra/config";
import { runRestore } from "./recorded-aws";
import { STACKS_DIR } from "../../tools/stacks";

export const RUNBOOKS = path.join(__dirname, "..", "..", "docs", "runbooks.md");

export interface RunbookCommand {
    section: string;
    line: string;
    /** The words of the first command of a pipeline, redirection removed. */
    argv: string[];
    /** `> file` */
    redirect?: string;
    /** Further commands of a pipeline. */
    pipedTo: string[][];
}
export interface RunbookSection { title: string; commands: RunbookCommand[]; text: string[][] }

/** Words of one shell line: '...' literal, "..." without expansions, \\ escapes; `>` and `|` as their own words. */
export function shellWords(line: string): string[] {
    const words: string[] = [];
    let cur = "";
    let has = false;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === "'") {
            const end = line.indexOf("'", i + 1);
            if (end < 0) throw new Error(`unclosed ' in: ${line}`);
            cur += line.slice(i + 1, end); has = true; i = end;
        } else if (c === "\"") {
            const end = line.indexOf("\"", i + 1);
            if (end < 0) throw new Error(`unclosed " in: ${line}`);
            const inner = line.slice(i + 1, end);
            if (/[$`\\]/.test(inner)) throw new Error(`"${inner}": the runbooks spell values out (no expansions), so a test can run them`);
            cur += inner; has = true; i = end;
        } else if (c === "\\") {
            cur += line[++i] ?? ""; has = true;
        } else if (c === " " || c === "\t") {
            if (has) { words.push(cur); cur = ""; has = false; }
        } else if ((c === ">" || c === "|") && !has) {
            words.push(c);
        } else if (c === "$" || c === "`") {
            throw new Error(`${line}: the runbooks spell values out (no $(...) or variables), so a test can run them`);
        } else { cur += c; has = true; }
    }
    if (has) words.push(cur);
    return words;
}

export function runbookSections(file = RUNBOOKS): RunbookSection[] {
    const sections: RunbookSection[] = [];
    let current: RunbookSection = { title: "(preamble)", commands: [], text: [] };
    let block: { lang: string; lines: string[] } | undefined;
    for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
        const fence = /^\s*```(\w*)\s*$/.exec(raw);
        if (fence) {
            if (!block) { block = { lang: fence[1], lines: [] }; continue; }
            if (block.lang === "bash") {
                for (const line of block.lines.map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
                    const words = shellWords(line);
                    const parts: string[][] = [[]];
                    let redirect: string | undefined;
                    for (let i = 0; i < words.length; i++) {
                        if (words[i] === "|") parts.push([]);
                        else if (words[i] === ">") redirect = words[++i];
                        else parts[parts.length - 1].push(words[i]);
                    }
                    current.commands.push({ section: current.title, line, argv: parts[0], redirect, pipedTo: parts.slice(1) });
                }
            } else if (block.lang === "text") current.text.push(block.lines.map((l) => l.trim()).filter(Boolean));
            block = undefined;
            continue;
        }
        if (block) { block.lines.push(raw); continue; }
        const heading = /^## (.+)$/.exec(raw);
        if (heading) { sections.push(current); current = { title: heading[1], commands: [], text: [] }; }
    }
    sections.push(current);
    return sections.filter((s) => s.commands.length || s.text.length);
}

/** `npm run <script> -- <args>` -> [script, args]; undefined for anything else. */
export function npmScript(argv: readonly string[]): [string, string[]] | undefined {
    if (argv[0] !== "npm" || argv[1] !== "run") return undefined;
    const rest = argv.slice(3);
    return [argv[2], rest[0] === "--" ? rest.slice(1) : rest];
}

/** A `pulumi config set [--path] <key> <value>` key as path segments: `archaeo-workbench:researchers[0].sshPublicKeys[0]`. */
export function configPath(key: string, withPath: boolean): Array<string | number> {
    const full = key.includes(":") ? key : `${PROJECT}:${key}`;
    if (!withPath) return [full];
    const [head, ...rest] = full.split(/(?=[.[])/);
    return [head, ...rest.map((p) => (p.startsWith("[") ? Number(p.slice(1, -1)) : p.slice(1)))];
}

/** Applies a `pulumi config set` command to a stack file's text (as the CLI writes it to stacks/Pulumi.<stack>.yaml). */
export function applyConfigSet(text: string, argv: readonly string[]): { text: string; path: Array<string | number>; previous: unknown } {
    const positional = argv.slice(3).filter((a, i, all) => !a.startsWith("-") && !["--stack", "-s", "--type"].includes(all[i - 1]));
    const key = positional[0];
    const value = positional[1];
    const p = configPath(key, argv.includes("--path"));
    const doc = YAML.parseDocument(text);
    const previous = doc.getIn(["config", ...p]);
    doc.setIn(["config", ...p], value);
    return { text: doc.toString({ lineWidth: 0 }), path: p, previous: YAML.isNode(previous) ? previous.toJSON() : previous };
}

export interface Rehearsal {
    command: RunbookCommand;
    kind: "restore" | "config" | "plan";
    code: number;
    output: string;
}

/**
 * Runs a section's offline commands in order in one scratch directory on a copy of its stack file: restore
 * commands against the recorded responses, `pulumi config set` on the file, and `npm run plan` through
 * `planner` (omitted: plans are skipped, as a test that does not load the Pulumi SDKs must).
 */
export async function rehearse(section: RunbookSection, cwd: string, planner?: (args: string[], stackFile: string, cwd: string) => Promise<{ code: number; output: string }>): Promise<Rehearsal[]> {
    const stackTexts = new Map<string, string>();
    const textOf = (stack: string) => stackTexts.get(stack) ?? fs.readFileSync(path.join(STACKS_DIR, `Pulumi.${stack}.yaml`), "utf8");
    const out: Rehearsal[] = [];
    for (const c of section.commands) {
        const npm = npmScript(c.argv);
        const stackOf = (args: readonly string[]) => { const i = args.findIndex((a) => a === "--stack" || a === "-s"); return i >= 0 ? args[i + 1] : undefined; };
        if (npm?.[0] === "restore") {
            const stack = stackOf(npm[1])!;
            const r = await runRestore(npm[1], { stackText: textOf(stack), cwd });
            stackTexts.set(stack, r.stackText);
            out.push({ command: c, kind: "restore", code: r.code, output: r.out });
        } else if (c.argv[0] === "pulumi" && c.argv[1] === "config" && c.argv[2] === "set") {
            const stack = stackOf(c.argv)!;
            const r = applyConfigSet(textOf(stack), c.argv);
            stackTexts.set(stack, r.text);
            out.push({ command: c, kind: "config", code: 0, output: JSON.stringify({ path: r.path, previous: r.previous }) });
        } else if (npm?.[0] === "plan" && planner) {
            const stack = stackOf(npm[1])!;
            const file = path.join(cwd, `Pulumi.${stack}.yaml`);
            fs.writeFileSync(file, textOf(stack));
            const r = await planner(npm[1], file, cwd);
            out.push({ command: c, kind: "plan", code: r.code, output: r.output });
        }
    }
    return out;
}
