/**
 * EC2 user data as the text cloud-init runs, from whichever property carries it: `userData` (plain
 * text on an instance, base64 on a launch template) or `userDataBase64` (base64; gzip-compressed when
 * it starts with the gzip magic 1f 8b, which cloud-init inflates itself: cloudinit/user_data.py
 * `convert_string` -> util.decomp_gzip). Self-contained: node's zlib, nothing from infra/.
 */
import * as zlib from "zlib";
import * as YAML from "yaml";
import { Deferrals } from "./unknowns";
import { asArray, get, UNKNOWN } from "./util";

/** The text, the property it came from, or why it could not be read. */
export type UserDataText =
    | { readonly path: string; readonly text: string }
    | { readonly path: string; readonly error: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A function of one text, computed once per text (several rules read the same instance's user data):
 * the last 256 texts are kept, the oldest dropped first. Results are shared: callers only read them.
 */
function memoByText<T>(fn: (text: string) => T): (text: string) => T {
    const cache = new Map<string, T>();
    return (text) => {
        if (cache.has(text)) return cache.get(text)!;
        const r = fn(text);
        if (cache.size >= 256) cache.delete(cache.keys().next().value as string);
        cache.set(text, r);
        return r;
    };
}

/** Decodes base64 user data, inflating gzip; an error string when it is not base64 or not valid gzip. */
export const decodeBase64UserData: (b64: string) => { text: string } | { error: string } = memoByText((b64) => decodeUncached(b64));

function decodeUncached(b64: string): { text: string } | { error: string } {
    const compact = b64.replace(/\s+/g, "");
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) return { error: "is not valid base64" };
    const raw = Buffer.from(compact, "base64");
    if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
        try {
            return { text: zlib.gunzipSync(raw).toString("utf8") };
        } catch (e) {
            return { error: `starts with the gzip magic but does not inflate (${(e as Error).message})` };
        }
    }
    return { text: raw.toString("utf8") };
}

/** A cloud-config list command (`[docker, run, -v, "/:/host"]`) as one shell line: items with spaces or quotes single-quoted. */
function shellLine(item: unknown): string {
    if (!Array.isArray(item)) return String(item ?? "");
    return item.map((w) => { const t = String(w); return /[\s'"\\;&|]/.test(t) ? `'${t.replace(/'/g, "'\\''")}'` : t; }).join(" ");
}

/**
 * The content cloud-init writes for a write_files entry, decoded as cc_write_files.py
 * canonicalize_extraction does (encoding lower-cased and stripped: gz/gzip; gz+base64, gzip+base64,
 * gz+b64, gzip+b64; b64/base64; text/plain or none), or why it cannot be read. A YAML !!binary
 * value arrives as bytes.
 */
function writeFileContent(f: any, i: number): { text: string } | { error: string } {
    if (f?.source !== undefined) return { error: `write_files[${i}] takes its content from source ${JSON.stringify(f.source?.uri ?? f.source)}, which cloud-init downloads at boot and the pack cannot read` };
    const enc = String(f?.encoding ?? "").toLowerCase().trim();
    const raw: Buffer = f?.content instanceof Uint8Array ? Buffer.from(f.content) : Buffer.from(String(f?.content ?? ""), "utf8");
    const b64 = (b: Buffer) => Buffer.from(b.toString("utf8").replace(/\s+/g, ""), "base64");
    try {
        if (enc === "" || enc === "text/plain") return { text: raw.toString("utf8") };
        if (["b64", "base64"].includes(enc)) return { text: b64(raw).toString("utf8") };
        if (["gz", "gzip"].includes(enc)) return { text: zlib.gunzipSync(raw).toString("utf8") };
        if (["gz+base64", "gzip+base64", "gz+b64", "gzip+b64"].includes(enc)) return { text: zlib.gunzipSync(b64(raw)).toString("utf8") };
    } catch (e) {
        return { error: `write_files[${i}] (encoding ${enc}) does not decode (${(e as Error).message})` };
    }
    return { error: `write_files[${i}] has encoding '${f.encoding}', which cloud-init writes as-is but the pack does not decode` };
}

/**
 * User data as the pack reads it: the text itself, plus what a #cloud-config document runs or writes
 * in forms a line scan cannot see: bootcmd and runcmd items (YAML aliases and flow lists resolved,
 * as cloud-init's yaml.safe_load resolves them: YAML 1.1) and every write_files entry's decoded
 * content. User data the pack cannot read is an error, never a pass: MIME multi-part, #include
 * (parts fetched from URLs at boot), Jinja templates (rendered at boot), invalid YAML, a write_files
 * entry fetched from a URL or in an encoding cloud-init does not define. Shell scripts and boothooks
 * are read as text.
 */
export const readableUserData: (text: string) => { text: string } | { error: string } = memoByText((text) => readUncached(text));

function readUncached(text: string): { text: string } | { error: string } {
    const first = text.replace(/^\uFEFF/, "").split("\n", 1)[0].trim();
    if (/^(content-type:\s*multipart\/|mime-version:)/i.test(first)) return { error: "is MIME multi-part user data, which the pack does not read; give one #cloud-config document" };
    if (/^#include/i.test(first)) return { error: "is an #include list, whose parts cloud-init fetches from URLs at boot, so the pack cannot read them" };
    if (/^##\s*template:/i.test(first)) return { error: "is a template cloud-init renders at boot (## template: jinja), so the pack cannot read what runs" };
    // cloud-init tells the part types apart by prefix, longest first (cloudinit/handlers: '#cloud-config-archive'
    // and '#cloud-config-jsonp' before '#cloud-config'); an archive's or a part handler's parts are not read here.
    if (/^#cloud-config-archive/.test(first)) return { error: "is a #cloud-config-archive, whose parts (shell scripts, configs, any content type) the pack does not read; give one #cloud-config document" };
    if (/^#cloud-config-jsonp/.test(first)) return { error: "is a #cloud-config-jsonp patch, which the pack does not read; give one #cloud-config document" };
    if (/^#part-handler/.test(first)) return { error: "is a #part-handler (Python cloud-init runs), which the pack cannot judge" };
    if (!/^#cloud-config/.test(first)) return { text };
    let doc: any;
    try {
        doc = YAML.parse(text, { version: "1.1", maxAliasCount: -1 });
    } catch (e) {
        return { error: `is not valid cloud-config YAML (${(e as Error).message.split("\n")[0]})` };
    }
    const extra: string[] = [];
    for (const key of ["bootcmd", "runcmd"]) for (const item of asArray(doc?.[key])) extra.push(shellLine(item));
    for (const [i, f] of asArray(doc?.write_files as any[]).entries()) {
        const c = writeFileContent(f, i);
        if ("error" in c) return c;
        extra.push(c.text);
    }
    // What the text already holds verbatim is scanned there once.
    const unseen = extra.filter((x) => x.trim() !== "" && !text.includes(x));
    return { text: unseen.length ? `${text}\n${unseen.join("\n")}` : text };
}

/** Which user-data properties a resource type has, and whether `userData` itself is base64 there. */
const FORMS: Readonly<Record<string, { userData: "text" | "base64"; base64Prop?: string }>> = {
    "aws:ec2/instance:Instance": { userData: "text", base64Prop: "userDataBase64" },
    "aws:ec2/launchTemplate:LaunchTemplate": { userData: "base64" },
    "aws:ec2/spotInstanceRequest:SpotInstanceRequest": { userData: "text", base64Prop: "userDataBase64" },
};

/**
 * Reads user data through a property reader (a rule's Deferrals or a plain `get`): undefined when
 * the resource has none, UNKNOWN when a property holding it is unknown now (the caller defers it).
 * Every property present is read, so an unknown one is never skipped because another is empty.
 */
function readWith(type: string, props: any, read: (path: string, fn: () => unknown) => unknown): UserDataText[] | undefined | typeof UNKNOWN {
    const form = FORMS[type] ?? FORMS["aws:ec2/instance:Instance"];
    const found: UserDataText[] = [];
    let unknown = false;
    const plain = read("userData", () => props.userData);
    if (plain === UNKNOWN) unknown = true;
    else if (typeof plain === "string" && plain !== "") {
        if (form.userData === "text") found.push({ path: "userData", ...readableUserData(plain) });
        else { const r = decodeBase64UserData(plain); found.push({ path: "userData", ...("text" in r ? readableUserData(r.text) : r) }); }
    }
    if (form.base64Prop) {
        const b64 = read(form.base64Prop, () => props[form.base64Prop!]);
        if (b64 === UNKNOWN) unknown = true;
        else if (typeof b64 === "string" && b64 !== "") { const r = decodeBase64UserData(b64); found.push({ path: form.base64Prop, ...("text" in r ? readableUserData(r.text) : r) }); }
    }
    if (unknown) return UNKNOWN;
    return found.length ? found : undefined;
}

/** In a resource rule: unknown properties are recorded in `d` (the rule then ends deferred). */
export function userDataOf(d: Deferrals, type: string, props: any): UserDataText[] | undefined | typeof UNKNOWN {
    return readWith(type, props, (path, fn) => d.read(path, fn));
}

/** In a stack rule: the caller records the deferral with the resource's label. */
export function userDataOfResource(r: { type: string; props: any }): { value: UserDataText[] | undefined | typeof UNKNOWN; unknownPaths: string[] } {
    const unknownPaths: string[] = [];
    const value = readWith(r.type, r.props, (path, fn) => { const v = get(fn); if (v === UNKNOWN) unknownPaths.push(path); return v; });
    return { value, unknownPaths };
}

/**
 * Words of a command line as a POSIX shell (or systemd's ExecStart=) splits them: whitespace
 * separates, '...' is literal, "..." keeps spaces and honours backslash escapes, a backslash escapes
 * the next character. Variables stay as written (${IMAGE_REF}). A cloud-config flow sequence
 * (`- [docker, run, --privileged, img]`, runcmd's list form) is read as its items.
 */
export function shellWords(line: string): string[] {
    const flow = /^\s*-\s*\[(.*)\]\s*$/.exec(line);
    if (flow) return flow[1].split(",").map((x) => x.trim().replace(/^(["'])(.*)\1$/, "$2")).filter(Boolean);
    const words: string[] = [];
    let cur = "";
    let inWord = false;
    for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (/\s/.test(ch)) { if (inWord) { words.push(cur); cur = ""; inWord = false; } continue; }
        inWord = true;
        if (ch === "\\" && i + 1 < line.length) { cur += line[++i]; continue; }
        if (ch === "'") { const end = line.indexOf("'", i + 1); if (end < 0) { cur += line.slice(i + 1); break; } cur += line.slice(i + 1, end); i = end; continue; }
        if (ch === '"') {
            let j = i + 1;
            for (; j < line.length && line[j] !== '"'; j++) cur += line[j] === "\\" && j + 1 < line.length ? line[++j] : line[j];
            i = j;
            continue;
        }
        cur += ch;
    }
    if (inWord) words.push(cur);
    return words;
}

/**
 * `docker run` options that take no value (docker/cli cli/command/container/opts.go and run.go:
 * BoolVar/BoolVarP flags); every other option takes a value, either `--opt=value` or `--opt value`.
 */
const DOCKER_RUN_BOOLEAN_FLAGS = new Set([
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "-P", "--publish-all", "--read-only",
    "--init", "--oom-kill-disable", "--no-healthcheck", "--sig-proxy", "--disable-content-trust", "-q", "--quiet", "--use-api-socket", "--help",
]);

/** Shorthands of `docker run` (opts.go / run.go StringVarP, BoolVarP ... "u", "v", ...) and the long name each stands for. */
const DOCKER_RUN_SHORTHANDS: Readonly<Record<string, string>> = {
    "-a": "--attach", "-c": "--cpu-shares", "-d": "--detach", "-e": "--env", "-h": "--hostname", "-i": "--interactive", "-l": "--label",
    "-m": "--memory", "-p": "--publish", "-P": "--publish-all", "-q": "--quiet", "-t": "--tty", "-u": "--user", "-v": "--volume", "-w": "--workdir",
};
/** Aliases docker/cli registers for the same flag (opts.go: flags.Var(..., "net", ...) for --network, "net-alias" for --network-alias). */
const DOCKER_RUN_ALIASES: Readonly<Record<string, string>> = { "--net": "--network", "--net-alias": "--network-alias" };

/** Global `docker` options before the subcommand that take a value (docker/cli cli/flags/options.go). */
const DOCKER_GLOBAL_VALUE_FLAGS = new Set(["--config", "-c", "--context", "-H", "--host", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey"]);

/** One `docker run` (or `docker create`, `docker container run|create`) as docker's CLI parses it. */
export interface DockerRun {
    /** Options in the order given, by long name ("--user"), value undefined for a boolean given bare. */
    readonly options: ReadonlyArray<{ readonly name: string; readonly value?: string }>;
    /** The image: the first argument that is not an option or an option's value. */
    readonly image?: string;
}

/**
 * Finds a container start in a command line and parses its options the way docker's CLI (spf13/pflag)
 * does: `--opt=value` or `--opt value`, a boolean bare or `--opt=true|false`, shorthands with the value
 * attached (`-u0`) or combined booleans (`-itu 0`); options end at the image. undefined when the line
 * starts no container. Words of a quoted `sh -c "..."` argument are searched too.
 */
export function parseDockerRun(line: string, searchQuoted = true): DockerRun | undefined {
    const words = shellWords(line);
    for (let i = 0; i < words.length; i++) {
        if (searchQuoted && /\s/.test(words[i]) && CONTAINER_CLI.test(words[i])) { const inner = parseDockerRun(words[i]); if (inner) return inner; }
        if (!CONTAINER_CLIS.includes(words[i].split("/").pop() ?? "")) continue;
        let j = i + 1;
        while (j < words.length && words[j].startsWith("-")) j += DOCKER_GLOBAL_VALUE_FLAGS.has(words[j]) ? 2 : 1;
        if (words[j] === "container") j++;
        if (words[j] !== "run" && words[j] !== "create") continue;
        return parseRunOptions(words.slice(j + 1));
    }
    return undefined;
}

function parseRunOptions(words: string[]): DockerRun {
    const options: Array<{ name: string; value?: string }> = [];
    for (let i = 0; i < words.length; i++) {
        const w = words[i];
        if (w === "--") return { options, image: words[i + 1] };
        if (!w.startsWith("-") || w === "-") return { options, image: w };
        if (w.startsWith("--")) {
            const eq = w.indexOf("=");
            const raw = eq < 0 ? w : w.slice(0, eq);
            const name = DOCKER_RUN_ALIASES[raw] ?? raw;
            if (eq >= 0) options.push({ name, value: w.slice(eq + 1) });
            else if (DOCKER_RUN_BOOLEAN_FLAGS.has(name)) options.push({ name });
            else options.push({ name, value: words[++i] });
            continue;
        }
        // A shorthand cluster: booleans, then at most one flag taking the rest (or the next word) as its value.
        for (let k = 1; k < w.length; k++) {
            const short = `-${w[k]}`;
            const name = DOCKER_RUN_SHORTHANDS[short] ?? short;
            if (DOCKER_RUN_BOOLEAN_FLAGS.has(short)) { options.push({ name }); continue; }
            const rest = w.slice(k + 1).replace(/^=/, "");
            options.push({ name, value: rest !== "" ? rest : words[++i] });
            break;
        }
    }
    return { options, image: undefined };
}

/** CLIs that take docker's `run` options (podman and nerdctl copy them). */
const CONTAINER_CLIS = ["docker", "podman", "nerdctl"];
const CONTAINER_CLI = /\b(docker|podman|nerdctl)\b/;

/**
 * A command line split at the shell's unquoted control operators (`;`, `&`, `|`, `&&`, `||`), so that
 * `docker run a; docker run b` is two commands; redirections such as `2>&1` stay whole. Quoted text
 * is kept as written (shellWords reads it later).
 */
export function shellCommands(line: string): string[] {
    const out: string[] = [];
    let cur = "";
    let quote: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (quote) {
            cur += ch;
            if (ch === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
            else if (ch === quote) quote = undefined;
            continue;
        }
        if (ch === "\\" && i + 1 < line.length) { cur += ch + line[++i]; continue; }
        if (ch === "'" || ch === '"') { quote = ch; cur += ch; continue; }
        if (ch === ";" || ch === "|" || (ch === "&" && !/[<>]$/.test(cur))) { out.push(cur); cur = ""; continue; }
        cur += ch;
    }
    out.push(cur);
    return out.map((c) => c.trim()).filter(Boolean);
}

/**
 * Every container start in user data (`docker run`, `docker create`, `docker container run`, and the
 * same with podman or nerdctl), one command each: continuation lines joined, lines split at control
 * operators, and the commands inside a quoted `sh -c "..."` argument searched too.
 */
const dockerRunsOnce = memoByText((text) => dockerRunsUncached(text));

export function dockerRuns(text: string): string[] {
    return [...dockerRunsOnce(text)];
}

function dockerRunsUncached(text: string): string[] {
    const commands = (line: string): string[] => shellCommands(line).flatMap((cmd) => {
        const words = shellWords(cmd);
        const inner = words.filter((w) => /\s/.test(w) && CONTAINER_CLI.test(w)).flatMap(commands);
        return [...(parseDockerRun(cmd, false) ? [cmd] : []), ...inner];
    });
    return text.replace(/\\\r?\n\s*/g, " ").split("\n").flatMap(commands);
}

/** The image a `docker run` line starts (the first argument that is not an option or an option's value). */
export function dockerRunImage(line: string): string | undefined {
    return parseDockerRun(line, false)?.image;
}
