/**
 * EC2 user data as the text cloud-init runs, from whichever property carries it: `userData` (plain
 * text on an instance, base64 on a launch template) or `userDataBase64` (base64; gzip-compressed when
 * it starts with the gzip magic 1f 8b, which cloud-init inflates itself: cloudinit/user_data.py
 * `convert_string` -> util.decomp_gzip). Self-contained: node's zlib, nothing from infra/.
 */
import * as zlib from "zlib";
import { Deferrals } from "./unknowns";
import { get, UNKNOWN } from "./util";

/** The text, the property it came from, or why it could not be read. */
export type UserDataText =
    | { readonly path: string; readonly text: string }
    | { readonly path: string; readonly error: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes base64 user data, inflating gzip; an error string when it is not base64 or not valid gzip. */
export function decodeBase64UserData(b64: string): { text: string } | { error: string } {
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
        if (form.userData === "text") found.push({ path: "userData", text: plain });
        else { const r = decodeBase64UserData(plain); found.push({ path: "userData", ...r }); }
    }
    if (form.base64Prop) {
        const b64 = read(form.base64Prop, () => props[form.base64Prop!]);
        if (b64 === UNKNOWN) unknown = true;
        else if (typeof b64 === "string" && b64 !== "") found.push({ path: form.base64Prop, ...decodeBase64UserData(b64) });
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

/** Lines of user data that start a container (`docker run`), continuation lines joined. */
export function dockerRuns(text: string): string[] {
    return text.replace(/\\\r?\n\s*/g, " ").split("\n").filter((l) => /\bdocker run\b/.test(l));
}

/**
 * `docker run` options that take no value (docker/cli cli/command/container/opts.go and run.go:
 * BoolVar/BoolVarP flags); every other option takes a value, either `--opt=value` or `--opt value`.
 */
const DOCKER_RUN_BOOLEAN_FLAGS = new Set([
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "-P", "--publish-all", "--read-only",
    "--init", "--oom-kill-disable", "--no-healthcheck", "--sig-proxy", "--disable-content-trust", "-q", "--quiet", "--use-api-socket", "--help",
]);

/** The image a `docker run` line starts (the first argument that is not an option or an option's value). */
export function dockerRunImage(line: string): string | undefined {
    const words = line.slice(line.search(/\bdocker run\b/) + "docker run".length).trim().split(/\s+/).filter(Boolean);
    for (let i = 0; i < words.length; i++) {
        const w = words[i];
        if (!w.startsWith("-")) return w.replace(/^["']|["']$/g, "");
        if (w.includes("=") || DOCKER_RUN_BOOLEAN_FLAGS.has(w)) continue;
        // Combined short boolean flags (-it, -dit) take no value.
        if (/^-[a-zA-Z]{2,}$/.test(w) && [...w.slice(1)].every((ch) => DOCKER_RUN_BOOLEAN_FLAGS.has(`-${ch}`))) continue;
        i++; // the option's value
    }
    return undefined;
}
