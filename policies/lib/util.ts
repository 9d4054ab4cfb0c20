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

/** A KMS key reference that names a customer-managed key (not absent, not an AWS-managed alias). */
export function isCustomerKey(v: Maybe<string>): boolean {
    if (v === UNKNOWN) return true; // the key is created in the same update: known after apply
    return typeof v === "string" && v.length > 0 && !/alias\/aws\//.test(v);
}

/** Parses a JSON document given as a string or an object. */
export function json(v: unknown): any {
    if (typeof v !== "string") return v;
    try { return JSON.parse(v); } catch { return undefined; }
}

export const OPEN_CIDRS = ["0.0.0.0/0", "::/0"];
export function isOpenCidr(c: unknown): boolean {
    return typeof c === "string" && (OPEN_CIDRS.includes(c.trim()) || /\/0$/.test(c.trim()));
}

export function asArray<T>(v: T | T[] | undefined | null): T[] {
    return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}
