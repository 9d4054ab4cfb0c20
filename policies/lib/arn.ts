/** ARNs and IAM principals: parsing and the account they belong to. Pure. */

export interface Arn {
    readonly partition: string;
    readonly service: string;
    readonly region: string;
    readonly account: string;
    readonly resource: string;
}

/** Parses "arn:partition:service:region:account:resource" (the resource may contain ':' and '/'). */
export function parseArn(s: unknown): Arn | undefined {
    if (typeof s !== "string") return undefined;
    const m = /^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.+)$/.exec(s);
    return m ? { partition: m[1], service: m[2], region: m[3], account: m[4], resource: m[5] } : undefined;
}

export const ACCOUNT_ID = /^\d{12}$/;

/**
 * The account an AWS principal ("123456789012", "arn:aws:iam::123456789012:role/x",
 * "arn:aws:sts::123456789012:assumed-role/x/y") belongs to; undefined for "*" or malformed values.
 */
export function principalAccount(p: string): string | undefined {
    if (ACCOUNT_ID.test(p)) return p;
    const a = parseArn(p);
    return a && ACCOUNT_ID.test(a.account) ? a.account : undefined;
}

/** True for an account-root principal ("123456789012" or "arn:aws:iam::123456789012:root"). */
export function isAccountRoot(p: string): boolean {
    return ACCOUNT_ID.test(p) || /^arn:[^:]+:iam::\d{12}:root$/.test(p);
}

export interface Principals {
    /** `"Principal": "*"` or `{"AWS": "*"}`. */
    readonly anyone: boolean;
    readonly aws: string[];
    readonly service: string[];
    readonly federated: string[];
    readonly canonicalUser: string[];
}

const list = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** Normalizes a statement's Principal element. */
export function principalsOf(principal: unknown): Principals {
    if (principal === "*") return { anyone: true, aws: [], service: [], federated: [], canonicalUser: [] };
    const p = (principal && typeof principal === "object" ? principal : {}) as Record<string, unknown>;
    const aws = list(p.AWS);
    return {
        anyone: aws.includes("*"),
        aws: aws.filter((a) => a !== "*"),
        service: list(p.Service),
        federated: list(p.Federated),
        canonicalUser: list(p.CanonicalUser),
    };
}
