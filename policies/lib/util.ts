/** Small helpers shared by the rules. Pure; safe with @pulumi/policy's unknown-checking proxies. */
import { UnknownValueError } from "@pulumi/policy";

export const UNKNOWN = Symbol("unknown");
export type Maybe<T> = T | undefined | typeof UNKNOWN;

/** Reads a value that may be unknown during preview; returns UNKNOWN instead of throwing. */
export function get<T>(read: () => T): Maybe<T> {
    try {
        return read();
    } catch (e) {
        if (e instanceof UnknownValueError) return UNKNOWN;
        throw e;
    }
}

/** A deep plain copy of a (proxied) value, or UNKNOWN if any part of it is unknown. */
export function known<T>(read: () => T): T | typeof UNKNOWN {
    return get(() => {
        const v = read();
        return v === undefined ? v : JSON.parse(JSON.stringify(v));
    }) as T | typeof UNKNOWN;
}

/** Parses a JSON document given as a string or an object; undefined when it is not JSON. */
export function json(v: unknown): any {
    if (typeof v !== "string") return v;
    try { return JSON.parse(v); } catch { return undefined; }
}

export function asArray<T>(v: T | T[] | undefined | null): T[] {
    return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** "kubernetes:apps/v1:Deployment" -> "Deployment". */
export function kindOf(type: string): string {
    return type.split(":").pop() ?? type;
}

const globs = new Map<string, RegExp>();

/** Case-insensitive IAM-style glob (`*` any run, `?` one character). Compiled once per pattern. */
export function globMatch(pattern: string, value: string): boolean {
    let re = globs.get(pattern);
    if (!re) {
        if (globs.size > 50_000) globs.clear();
        re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
        globs.set(pattern, re);
    }
    return re.test(value);
}

/** Lists at most `n` items, then "and N more". */
export function few(items: readonly string[], n = 4): string {
    return items.length <= n ? items.join(", ") : `${items.slice(0, n).join(", ")} and ${items.length - n} more`;
}

/**
 * A plain copy of a (proxied) value in which every unknown part is the UNKNOWN symbol, so a rule can
 * judge what is known and defer only the paths it needs. UNKNOWN when the value itself is unknown.
 */
export function snapshot(read: () => unknown): any {
    const copy = (node: unknown): unknown => {
        if (node === null || typeof node !== "object") return node;
        if (Array.isArray(node)) {
            const len = get(() => (node as any).length) as number;
            return Array.from({ length: len }, (_, i) => { const v = get(() => (node as any)[i]); return v === UNKNOWN ? UNKNOWN : copy(v); });
        }
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(node)) {
            const v = get(() => (node as any)[k]);
            out[k] = v === UNKNOWN ? UNKNOWN : copy(v);
        }
        return out;
    };
    const v = get(read);
    return v === UNKNOWN ? UNKNOWN : copy(v);
}

/** Follows a dotted path through a snapshot; UNKNOWN if it runs into an unknown part. */
export function at(node: any, path: string): any {
    let cur = node;
    for (const k of path.split(".")) {
        if (cur === UNKNOWN) return UNKNOWN;
        if (cur === undefined || cur === null) return undefined;
        cur = cur[k];
    }
    return cur;
}

/** A value computed on first use (a rule reads an unknown only when it needs it, so it never reads one it then ignores). */
export function once<T>(fn: () => T): () => T {
    let done = false;
    let v: T;
    return () => {
        if (!done) { v = fn(); done = true; }
        return v;
    };
}
