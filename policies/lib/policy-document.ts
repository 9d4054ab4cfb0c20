/** IAM policy documents (identity, trust and resource policies) normalized for judging. Pure. */
import { asArray, json } from "./util";

export interface Statement {
    readonly sid: string;
    readonly effect: "Allow" | "Deny";
    readonly actions: string[];
    readonly notActions?: string[];
    readonly resources: string[];
    readonly notResources?: string[];
    readonly principal?: unknown;
    readonly notPrincipal?: unknown;
    /** Operator -> condition key -> values (values always an array). */
    readonly condition: Record<string, Record<string, string[]>>;
}

const strings = (v: unknown): string[] => asArray(v as any).map(String);

/** The statements of a policy document given as JSON text or an object; undefined when it is not a policy. */
export function statementsOf(doc: unknown): Statement[] | undefined {
    const d = json(doc);
    if (!d || typeof d !== "object" || d.Statement === undefined) return undefined;
    return asArray(d.Statement).map((s: any, i: number) => {
        const condition: Record<string, Record<string, string[]>> = {};
        for (const [op, keys] of Object.entries(s.Condition ?? {})) {
            condition[op] = {};
            for (const [k, v] of Object.entries(keys as object)) condition[op][k] = strings(v);
        }
        return {
            sid: s.Sid ?? `#${i}`,
            effect: s.Effect === "Deny" ? "Deny" : "Allow",
            actions: strings(s.Action),
            ...(s.NotAction !== undefined ? { notActions: strings(s.NotAction) } : {}),
            resources: strings(s.Resource),
            ...(s.NotResource !== undefined ? { notResources: strings(s.NotResource) } : {}),
            ...(s.Principal !== undefined ? { principal: s.Principal } : {}),
            ...(s.NotPrincipal !== undefined ? { notPrincipal: s.NotPrincipal } : {}),
            condition,
        } as Statement;
    });
}

/** Condition entries as [operator, key, values], keys compared case-insensitively by callers. */
export function conditionEntries(s: Statement): Array<[string, string, string[]]> {
    return Object.entries(s.condition).flatMap(([op, keys]) => Object.entries(keys).map(([k, v]) => [op, k, v] as [string, string, string[]]));
}

/**
 * True when the operator restricts positively even if the key is absent from the request: no
 * `...IfExists`, no negation (`StringNotEquals`, `ArnNotLike`...), no `Null`.
 */
export function isPinningOperator(op: string): boolean {
    return !/IfExists$/.test(op) && !/Not/.test(op) && op !== "Null" && /^(String|Arn|Bool|Numeric|IpAddress|Date|ForAnyValue:String|ForAllValues:String)/.test(op);
}

/**
 * A statement whose resources use `${aws:PrincipalTag/<key>}` with that key resolved to the role's own
 * tag. The role's tag is the value only when no caller can set a session tag of that key: session tags
 * override role tags of the same key, and a caller may pass them only where the trust policy allows
 * sts:TagSession (IAM User Guide, "Passing session tags in AWS STS": "If you pass a session tag with the
 * same key as a role tag, the session tag overrides"; "the role trust policy must allow sts:TagSession").
 * Otherwise, and for a key the role lacks, the variable may be anything: it becomes `*`.
 */
export function resolvePrincipalTags(s: Statement, tags: Record<string, unknown>, trust: Statement[] | undefined): Statement {
    const VAR = /\$\{aws:PrincipalTag\/([^}]+)\}/gi;
    const uses = (x: string) => /\$\{aws:PrincipalTag\//i.test(x);
    const inConditions = Object.values(s.condition).some((keys) => Object.values(keys).some((vs) => vs.some(uses)));
    if (!s.resources.some(uses) && !inConditions) return s;
    const sessionTags = (trust ?? []).some((t) => t.effect === "Allow" && (t.actions.some((a) => /^(\*|sts:\*|sts:TagSession)$/i.test(a)) || !!t.notActions));
    const value = (key: string): string | undefined => {
        const v = tags[key];
        return !sessionTags && typeof v === "string" && v !== "" && !/[*?$]/.test(v) ? v : undefined;
    };
    const resolve = (r: string) => r.replace(VAR, (_, key: string) => value(key) ?? "*");
    // In a condition, a value the caller may choose pins nothing: that condition entry is dropped (it scopes nothing).
    const condition: Record<string, Record<string, string[]>> = {};
    for (const [op, keys] of Object.entries(s.condition)) {
        for (const [k, vs] of Object.entries(keys)) {
            let open = false;
            const out = vs.map((v) => v.replace(VAR, (_, key: string) => { const x = value(key); if (x === undefined) open = true; return x ?? "*"; }));
            if (open) continue;
            (condition[op] ??= {})[k] = out;
        }
    }
    return { ...s, resources: s.resources.map(resolve), condition };
}
