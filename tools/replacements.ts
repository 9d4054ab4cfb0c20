/**
 * Which property changes make the provider replace a resource: the generated table
 * tools/replace-rules/replace-rules.json (terraform-provider-aws `ForceNew` / `RequiresReplace`,
 * terraform-provider-random, pulumi-kubernetes' and pulumi-docker's diff code, each at the commit the
 * table records; `npm run gen:replace-rules` regenerates it), plus an evaluator for each conditional
 * rule (CustomizeDiff `ForceNewIf`, plan modifiers `RequiresReplaceIf`...) a change of ours can reach.
 * The offline plan marks `+-` replacements with it; the lifecycle rehearsal (tools/lifecycle.ts)
 * asserts exact replace sets with it.
 */
import type { ConditionalRule, ReplaceRulesTable, ResourceRules } from "./replace-rules/generate";

export const REPLACE_RULES: ReplaceRulesTable = require("./replace-rules/replace-rules.json");

/** Unconditional replace-forcing property paths by resource type (lists unindexed: "encryptionConfigurations.kmsKey"). */
export const REPLACE_ON_CHANGE: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
    Object.entries(REPLACE_RULES.resources).map(([t, r]) => [t, r.forceNew]));

export function rulesFor(type: string, table: ReplaceRulesTable = REPLACE_RULES): ResourceRules | undefined {
    return table.resources[type];
}

/** A changed path with list indices removed ("rules[0].selection" -> "rules.selection"). */
export const unindexed = (p: string) => p.replace(/\[\d+\]/g, "");
/** Whether `path` is `rule` or lies under it. */
export const under = (path: string, rule: string) => { const p = unindexed(path); return p === rule || p.startsWith(`${rule}.`); };

export interface Change { path: string; before: unknown; after: unknown }

/**
 * What a conditional rule decides for a change: true (replace), false (update), or a string saying why
 * it cannot be decided offline. Keyed by `<type> <path> <kind>`; each cites the upstream condition.
 */
type Evaluator = (change: Change, inputs: Record<string, unknown>, before: Record<string, unknown> | undefined) => boolean | string;

/** EC2 instance types of AWS Graviton (arm64): a 'g' after the generation digit (t4g, m7g, g5g, c8gd). */
const armType = (t: unknown) => typeof t === "string" && /^[a-z]+\d+[a-z]*g[a-z]*\./.test(t) && !/^(g|p)\d+\./.test(t);

const EVALUATORS: Record<string, Evaluator> = {
    // terraform-provider-aws resourceInstance CustomizeDiff: customdiff.ForceNewIf("user_data"/"user_data_base64",
    // func(...) bool { return diff.Get("user_data_replace_on_change").(bool) }).
    "aws:ec2/instance:Instance userData ForceNewIf": (_c, inputs) => inputs.userDataReplaceOnChange === true,
    "aws:ec2/instance:Instance userDataBase64 ForceNewIf": (_c, inputs) => inputs.userDataReplaceOnChange === true,
    // resourceInstance CustomizeDiff ForceNewIf(instance_type): replaced only when the old and new types share
    // no processor architecture (hasCommonElement(SupportedArchitectures)); otherwise stopped, resized, started.
    "aws:ec2/instance:Instance instanceType ForceNewIf": (c) => armType(c.before) !== armType(c.after),
    // resourceParameter CustomizeDiff ForceNewIfChange(tier): Advanced -> Standard (a downgrade) replaces.
    "aws:ssm/parameter:Parameter tier ForceNewIfChange": (c) => c.before === "Advanced" && c.after === "Standard",
    // resourceCluster CustomizeDiff ForceNewIfChange(encryption_config): removing secrets encryption replaces.
    "aws:eks/cluster:Cluster encryptionConfig ForceNewIfChange": (c) => c.after === undefined || (Array.isArray(c.after) && c.after.length === 0),
    // resourceUserPoolDomain ForceNewIfChange(certificate_arn): replaced unless both old and new are set.
    "aws:cognito/userPoolDomain:UserPoolDomain certificateArn ForceNewIfChange": (c) => !(typeof c.before === "string" && c.before !== "" && typeof c.after === "string" && c.after !== ""),
    // resourceVPCCustomizeDiff: instance_tenancy replaces unless dedicated -> default; cidr_block replaces
    // unless ipv4_netmask_length is set (IPAM).
    "aws:ec2/vpc:Vpc instanceTenancy CustomizeDiff ForceNew": (c) => !(c.before === "dedicated" && c.after === "default"),
    "aws:ec2/vpc:Vpc cidrBlock CustomizeDiff ForceNew": (_c, inputs) => !inputs.ipv4NetmaskLength,
    // random_password keepers: RequiresReplaceIfValuesNotNull (a changed, non-null keeper replaces).
    "random:index/randomPassword:RandomPassword keepers RequiresReplaceIfValuesNotNull": (c) => c.after !== undefined && c.after !== null,
};

export interface ReplacementDecision {
    /** Changed paths that force a replacement (as the diff names them). */
    replace: string[];
    /** Conditional rules a change reached that have no evaluator here (the plan counts them as replacing). */
    undecided: Array<{ path: string; rule: ConditionalRule; why: string }>;
}

/** Decides, for a resource's changed paths, which force a replacement (`table`: another rule table, for tests that flip a rule). */
export function replacementDecision(type: string, changes: readonly Change[], inputs: Record<string, unknown>, before?: Record<string, unknown>, table: ReplaceRulesTable = REPLACE_RULES): ReplacementDecision {
    const rules = rulesFor(type, table);
    const out: ReplacementDecision = { replace: [], undecided: [] };
    if (!rules) return out;
    for (const c of changes) {
        if (rules.ignored?.some((i) => under(c.path, i))) continue;
        if (rules.forceNew.some((k) => under(c.path, k))) { out.replace.push(c.path); continue; }
        for (const rule of rules.conditional ?? []) {
            if (!under(c.path, rule.path)) continue;
            const ev = EVALUATORS[`${type} ${rule.path} ${rule.kind}`];
            const verdict = ev ? ev(c, inputs, before) : `no evaluator for ${rule.kind} on ${rule.path} (${rule.condition})`;
            if (verdict === true) { out.replace.push(c.path); break; }
            if (typeof verdict === "string") out.undecided.push({ path: c.path, rule, why: verdict });
        }
    }
    return out;
}

/** Changed paths (as the manifest diff reports them) that force a replacement; undecided conditional rules count. */
export function replacementCauses(type: string, changedPaths: readonly string[], inputs: Record<string, unknown>): string[] {
    const d = replacementDecision(type, changedPaths.map((path) => ({ path, before: undefined, after: (inputs as Record<string, unknown>)[path] })), inputs);
    return [...new Set([...d.replace, ...d.undecided.map((u) => u.path)])];
}
