/** Reads every value at a property path like "rules[].applyServerSideEncryptionByDefault.kmsMasterKeyId", unknown-aware. */
import { get, UNKNOWN } from "./util";

export interface Found {
    /** The concrete path, e.g. "rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId". */
    readonly path: string;
    readonly value: unknown;
}

/**
 * Values at `pattern` in `props` ("[]" walks every array element). A segment that is unknown yields
 * one entry with value UNKNOWN at the path read so far; absent values yield nothing.
 */
export function valuesAt(props: unknown, pattern: string): Found[] {
    const segments = pattern.split(".");
    const out: Found[] = [];
    const walk = (node: unknown, i: number, path: string) => {
        if (i === segments.length) { out.push({ path, value: node }); return; }
        const seg = segments[i];
        const many = seg.endsWith("[]");
        const key = many ? seg.slice(0, -2) : seg;
        const next = get(() => (node as any)?.[key]);
        const here = path ? `${path}.${key}` : key;
        if (next === UNKNOWN) { out.push({ path: here, value: UNKNOWN }); return; }
        if (next === undefined || next === null) return;
        if (!many) { walk(next, i + 1, here); return; }
        const len = get(() => (next as any).length);
        if (len === UNKNOWN) { out.push({ path: here, value: UNKNOWN }); return; }
        for (let n = 0; n < (len as number); n++) {
            const el = get(() => (next as any)[n]);
            if (el === UNKNOWN) out.push({ path: `${here}[${n}]`, value: UNKNOWN });
            else walk(el, i + 1, `${here}[${n}]`);
        }
    };
    walk(props, 0, "");
    return out;
}
