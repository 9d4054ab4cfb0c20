/**
 * Unknown values at preview, handled the way the Pulumi engine and @pulumi/policy intend.
 *
 * During `pulumi preview` the engine hands the analyzer inputs (Analyze) and outputs (AnalyzeStack)
 * in which anything computed by a resource not yet created is an unknown sentinel; @pulumi/policy
 * wraps them in `unknownCheckingProxy`, which throws `UnknownValueError` on reading one, and its
 * server reports that error as an ADVISORY diagnostic "can't run policy '<name>' from policy pack
 * '<pack>@v<version>' during preview: <message>" (server.ts, makeAnalyzeRpcFun / makeAnalyzeStackRpcFun).
 * At `pulumi up` the same policies run again on resolved values, where a violation is mandatory.
 *
 * A rule here never returns "pass" on an unknown: it checks everything that is known (reporting
 * violations as usual), records each property it could not judge, and at the end throws
 * `DeferredToUp` (an UnknownValueError, so the engine treats it exactly like the proxy's own error)
 * whose message names the properties and says they are re-checked at `up`.
 */
import { UnknownValueError } from "@pulumi/policy";
import { Maybe, UNKNOWN } from "./util";

/** The wire sentinel of an unknown string (pulumi runtime `unknownValue`, @pulumi/policy `unknownStringValue`). */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Words every deferral message carries; the offline plan lists diagnostics that contain them. */
export const DEFERRED_TO_UP = "deferred to `pulumi up`";

/** Formats @pulumi/policy's property path (["a", "0", "b"]) as "a[0].b". */
export function formatPath(props: readonly (string | symbol)[]): string {
    return props.map(String).reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

export class DeferredToUp extends UnknownValueError {
    declare name: string;
    declare message: string;

    constructor(readonly subject: string, readonly paths: readonly string[]) {
        super(UNKNOWN_STRING, [...paths]);
        this.name = "DeferredToUp";
        const list = [...new Set(paths)];
        this.message = `${subject}: ${list.join(", ")} ${list.length === 1 ? "is" : "are"} unknown until the resources ${list.length === 1 ? "it depends" : "they depend"} on exist; this check is ${DEFERRED_TO_UP}, where it runs on the resolved values and is mandatory.`;
    }
}

/** Collects the properties a rule could not judge because they are unknown. */
export class Deferrals {
    readonly paths: string[] = [];

    /** Reads a value; on an unknown records `path` and returns UNKNOWN (never a silent pass). */
    read<T>(path: string, fn: () => T): Maybe<T> {
        try {
            return fn();
        } catch (e) {
            if (e instanceof UnknownValueError) {
                this.paths.push(path);
                return UNKNOWN;
            }
            throw e;
        }
    }

    /** Like `read`, but returns a deep plain copy, or UNKNOWN if any part is unknown. */
    copy<T>(path: string, fn: () => T): T | undefined | typeof UNKNOWN {
        return this.read(path, () => {
            const v = fn();
            return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
        });
    }

    /** Records that judging `path` needs a value that is unknown now. */
    defer(path: string): void {
        this.paths.push(path);
    }
}

/**
 * Runs a rule body; unknowns it recorded, or read directly through the proxy, end the rule with
 * DeferredToUp after every known check has reported.
 */
export async function deferring(subject: string, body: (d: Deferrals) => void | Promise<void>): Promise<void> {
    const d = new Deferrals();
    try {
        await body(d);
    } catch (e) {
        if (!(e instanceof UnknownValueError) || e instanceof DeferredToUp) throw e;
        d.defer(formatPath((e as any).props ?? []));
    }
    if (d.paths.length) throw new DeferredToUp(subject, d.paths);
}
