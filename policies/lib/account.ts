/** The AWS account a stack deploys to, as far as the pack can tell. */
import { ACCOUNT_ID, parseArn } from "./arn";
import { NON_TAGGABLE_AWS_TYPES } from "./taggable";
import { get, json, UNKNOWN } from "./util";

/** From policy config `accountId`, else the provider's `allowedAccountIds` when it names exactly one. */
export function declaredAccount(configured: string | undefined, provider?: { props: Record<string, any> }): string | undefined {
    if (configured && ACCOUNT_ID.test(configured)) return configured;
    if (!provider) return undefined;
    const ids = json(get(() => provider.props.allowedAccountIds));
    const list = Array.isArray(ids) ? ids.filter((x) => typeof x === "string" && ACCOUNT_ID.test(x)) : [];
    return list.length === 1 ? list[0] : undefined;
}

export interface StackAccount {
    /** The account, when known. */
    readonly account?: string;
    /** Accounts seen in the stack's own ARNs, when more than one. */
    readonly conflicting?: readonly string[];
    /** True when it could only be derived from ARNs that are unknown now (first preview). */
    readonly unknown: boolean;
}

/**
 * The stack's account: declared (config or provider), else derived from the `arn` outputs of the AWS
 * resources the stack itself created (an association's `arn` may name another resource, so only
 * taggable resource types count).
 */
export function stackAccount(resources: ReadonlyArray<{ type: string; props: Record<string, any>; provider?: { props: Record<string, any> } }>, configured?: string): StackAccount {
    const declared = declaredAccount(configured, resources.find((r) => r.provider)?.provider);
    if (declared) return { account: declared, unknown: false };
    const seen = new Set<string>();
    let unknown = false;
    for (const r of resources) {
        if (!r.type.startsWith("aws:") || NON_TAGGABLE_AWS_TYPES.has(r.type)) continue;
        const arn = get(() => r.props.arn);
        if (arn === UNKNOWN) { unknown = true; continue; }
        const a = parseArn(arn);
        if (a && ACCOUNT_ID.test(a.account)) seen.add(a.account);
    }
    if (seen.size === 1) return { account: [...seen][0], unknown: false };
    if (seen.size > 1) return { conflicting: [...seen].sort(), unknown: false };
    return { unknown };
}
