/**
 * Per-researcher budget actions (infra/foundation/researcher-budget.ts): the role AWS Budgets assumes to act on
 * researcher X's budget (tagged `archaeo-budget-of: X`) reaches only X: it attaches and detaches X's deny policy
 * (a policy of this stack tagged the same, with Deny statements only) on X's own role, and stops X's own
 * workstation through the AWS-StopEC2Instance runbook. Each BudgetAction runs with such a role, on X's role, X's
 * deny policy and X's workstation only. The role is attributable: a budget role acts for exactly one researcher.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { principalsOf } from "../lib/arn";
import { expandAction } from "../lib/iam";
import { conditionEntries, isPinningOperator, Statement, statementsOf } from "../lib/policy-document";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { Deferrals } from "../lib/unknowns";
import { asArray, few, get, globMatch, known, UNKNOWN } from "../lib/util";

interface BudgetConfig { budgetTag: string; researcherTag: string; runbooks: string[] }
const DEFAULTS: BudgetConfig = {
    budgetTag: "archaeo-budget-of",
    researcherTag: "researcher",
    // The runbook of RUN_SSM_DOCUMENTS STOP_EC2_INSTANCES, as AWS's AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM names it
    // (AWS Cost Management user guide, "AWS managed policies": document/AWS-StopEC2Instance, automation-definition/AWS-StopEC2Instance:*).
    runbooks: ["AWS-StopEC2Instance"],
};

type Stack = readonly PolicyResource[];

/**
 * The stack read once (issue 22: no per-researcher rescans of every resource): resources by type, and for a type and
 * tag, the resources by the tag's value. A resource whose tags are unknown is deferred once, when its type is indexed.
 */
class StackIndex {
    private readonly byType = new Map<string, PolicyResource[]>();
    private readonly byTag = new Map<string, Map<string, PolicyResource[]>>();
    constructor(all: Stack, private readonly d: Deferrals) {
        for (const r of all) {
            const list = this.byType.get(r.type);
            if (list) list.push(r); else this.byType.set(r.type, [r]);
        }
    }
    ofType(type: string): readonly PolicyResource[] { return this.byType.get(type) ?? []; }
    matching(re: RegExp): PolicyResource[] { return [...this.byType.entries()].filter(([t]) => re.test(t)).flatMap(([, rs]) => rs); }
    tagged(type: string, tag: string, id: string): PolicyResource[] {
        const key = `${type}\0${tag}`;
        let index = this.byTag.get(key);
        if (!index) {
            index = new Map();
            for (const r of this.ofType(type)) {
                const t = effectiveTags(r);
                if (t === UNKNOWN) { this.d.defer(`${label(r)}.tags`); continue; }
                const v = t[tag];
                if (typeof v !== "string") continue;
                const list = index.get(v);
                if (list) list.push(r); else index.set(v, [r]);
            }
            this.byTag.set(key, index);
        }
        return index.get(id) ?? [];
    }
}

function strs(rs: PolicyResource[], prop: string, d: Deferrals): string[] | typeof UNKNOWN {
    const out: string[] = [];
    for (const r of rs) {
        const v = get(() => r.props[prop]);
        if (v === UNKNOWN) { d.defer(`${label(r)}.${prop}`); return UNKNOWN; }
        if (typeof v === "string") out.push(v);
    }
    return out;
}

/** The values a statement pins a condition key to (pinning operators only), or undefined. */
function pinned(s: Statement, key: string): string[] | undefined {
    const v = conditionEntries(s).filter(([op, k]) => isPinningOperator(op) && !/^ForAllValues/.test(op) && k.toLowerCase() === key.toLowerCase()).flatMap(([, , x]) => x);
    return v.length ? v : undefined;
}

interface Scope { id: string; roles: string[]; instances: string[]; denyPolicies: string[]; c: BudgetConfig }

/** What in one Allow statement of a budget role reaches beyond its researcher. */
async function statementProblems(s: Statement, sc: Scope): Promise<string[]> {
    if (s.notActions || s.notResources) return ["uses NotAction/NotResource, which reaches every other action or resource"];
    if (s.actions.includes("*")) return [`allows Action "*"`];
    const out: string[] = [];
    for (const pattern of s.actions) {
        const actions = await expandAction(pattern);
        if (!actions.length) { out.push(`allows ${pattern}, which matches no IAM action`); continue; }
        for (const a of actions) {
            const name = a.action.toLowerCase();
            if (name === "iam:attachrolepolicy" || name === "iam:detachrolepolicy") {
                const beyond = s.resources.filter((r) => !sc.roles.includes(r));
                if (beyond.length) out.push(`allows ${a.action} on ${few(beyond)}; only researcher ${sc.id}'s own role (${few(sc.roles) || "none in this stack"})`);
                const policies = pinned(s, "iam:PolicyARN");
                if (!policies || policies.some((p) => !sc.denyPolicies.includes(p))) out.push(`allows ${a.action} without Condition iam:PolicyARN pinned to ${sc.id}'s deny policy (${few(sc.denyPolicies) || "none in this stack"}): it could attach any policy, AdministratorAccess too`);
            } else if (name === "ec2:stopinstances") {
                const beyond = s.resources.filter((r) => !sc.instances.includes(r));
                if (beyond.length) out.push(`allows ${a.action} on ${few(beyond)}; only researcher ${sc.id}'s own workstation (${few(sc.instances) || "none in this stack"})`);
            } else if (name === "ec2:describeinstancestatus") {
                // No resource-level permissions (IAM dataset): Resource "*" only, and it reads status, nothing else.
            } else if (name === "ssm:startautomationexecution") {
                const ok = (r: string) => sc.c.runbooks.some((b) => new RegExp(`^arn:[^:]+:ssm:[a-z0-9-]+:(\\d{12})?:(document/${b}|automation-definition/${b}:[^:/]+)$`).test(r)) ||
                    /^arn:[^:]+:ssm:[a-z0-9-]+:\d{12}:automation-execution\/\*$/.test(r);
                const beyond = s.resources.filter((r) => !ok(r));
                if (beyond.length) out.push(`allows ${a.action} on ${few(beyond)}; only the runbook${sc.c.runbooks.length > 1 ? "s" : ""} ${sc.c.runbooks.join(", ")} (its document, automation definition and executions)`);
            } else {
                out.push(`allows ${a.action}; a budget action role may only attach ${sc.id}'s deny policy to their role and stop their workstation through ${sc.c.runbooks.join(", ")}`);
            }
        }
    }
    return [...new Set(out)];
}

export const budgetPolicies: StackValidationPolicy[] = [
    {
        name: "budget-actions-scoped",
        description: "Checks whether each researcher's budget-action role (tagged archaeo-budget-of: <id>) is assumed by AWS Budgets only, for this account, and reaches only that researcher: their deny policy (Deny statements only) on their own role (iam:PolicyARN pinned), their own workstation stopped through the AWS-StopEC2Instance runbook; and whether each budget action uses such a role on that researcher's role, deny policy and workstation only.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                budgetTag: { type: "string", default: DEFAULTS.budgetTag },
                researcherTag: { type: "string", default: DEFAULTS.researcherTag },
                runbooks: { type: "array", items: { type: "string" }, default: DEFAULTS.runbooks, description: "SSM automation runbooks a budget action role may start." },
            },
        },
        validateStack: onStack(async (args, report, d) => {
            const c = { ...DEFAULTS, ...args.getConfig<Partial<BudgetConfig>>() };
            const ix = new StackIndex(args.resources, d);
            const scopes = new Map<string, Scope | typeof UNKNOWN>();
            const scopeOf = (id: string): Scope | typeof UNKNOWN => {
                if (!scopes.has(id)) {
                    const roles = strs(ix.tagged("aws:iam/role:Role", c.researcherTag, id), "arn", d);
                    const instances = strs(ix.tagged("aws:ec2/instance:Instance", c.researcherTag, id), "arn", d);
                    const denyRs = ix.tagged("aws:iam/policy:Policy", c.budgetTag, id);
                    for (const p of denyRs) {
                        const doc = known(() => p.props.policy);
                        if (doc === UNKNOWN) { d.defer(`${label(p)}.policy`); continue; }
                        const allows = (statementsOf(doc) ?? []).filter((s) => s.effect === "Allow");
                        if (allows.length) report(`${label(p)} (researcher ${id}'s budget deny policy) has Allow statement${allows.length > 1 ? "s" : ""} ${allows.map((s) => `'${s.sid}'`).join(", ")}; a budget action attaches it to their role, so it may only deny.`, p.urn);
                    }
                    const denyPolicies = strs(denyRs, "arn", d);
                    scopes.set(id, roles === UNKNOWN || instances === UNKNOWN || denyPolicies === UNKNOWN ? UNKNOWN : { id, roles, instances, denyPolicies, c });
                }
                return scopes.get(id)!;
            };
            const budgetRoles = new Map<string, string>(); // role ARN -> researcher
            // Attachments and inline policies by the role name they name, read once (on the first budget role).
            let byRole: { attachments: Map<string, PolicyResource[]>; inline: Map<string, PolicyResource[]> } | undefined;
            const byRoleName = () => {
                if (byRole) return byRole;
                const add = (m: Map<string, PolicyResource[]>, k: string, r: PolicyResource) => { const l = m.get(k); if (l) l.push(r); else m.set(k, [r]); };
                byRole = { attachments: new Map(), inline: new Map() };
                for (const att of ix.matching(/^aws:iam\/(rolePolicyAttachment|policyAttachment|rolePolicyAttachmentsExclusive):/)) {
                    const target = known(() => att.props.role ?? att.props.roles ?? att.props.roleName);
                    if (target === UNKNOWN) { d.defer(`${label(att)}.role`); continue; }
                    for (const x of new Set(asArray(target as string | string[]).map(String))) add(byRole.attachments, x, att);
                }
                for (const rp of ix.ofType("aws:iam/rolePolicy:RolePolicy")) {
                    const target = known(() => rp.props.role);
                    if (target === UNKNOWN) { d.defer(`${label(rp)}.role`); continue; }
                    add(byRole.inline, String(target), rp);
                }
                return byRole;
            };
            for (const role of ix.ofType("aws:iam/role:Role")) {
                const t = effectiveTags(role);
                if (t === UNKNOWN) { d.defer(`${label(role)}.tags`); continue; }
                const id = t[c.budgetTag];
                if (typeof id !== "string" || id === "") continue;
                const who = `${label(role)} (budget actions of ${id})`;
                if (t[c.researcherTag] !== undefined) report(`${who} is also tagged ${c.researcherTag}: ${String(t[c.researcherTag])}; a budget action role acts on a researcher, it is not their identity.`, role.urn);
                const arn = get(() => role.props.arn);
                if (typeof arn === "string") budgetRoles.set(arn, id);
                // Trust: AWS Budgets only, for this account.
                const trust = known(() => role.props.assumeRolePolicy);
                if (trust === UNKNOWN) d.defer(`${label(role)}.assumeRolePolicy`);
                else for (const s of (statementsOf(trust) ?? []).filter((x) => x.effect === "Allow")) {
                    const p = principalsOf(s.principal);
                    if (p.anyone || p.aws.length || p.federated.length || p.service.some((x) => x !== "budgets.amazonaws.com")) report(`${who} trust statement '${s.sid}' lets in ${few([...(p.anyone ? ["*"] : []), ...p.aws, ...p.federated, ...p.service.filter((x) => x !== "budgets.amazonaws.com")])}; only budgets.amazonaws.com may assume it.`, role.urn);
                    if (!pinned(s, "aws:SourceAccount")) report(`${who} trust statement '${s.sid}' lacks Condition StringEquals aws:SourceAccount (the confused-deputy guard): AWS Budgets acting for another account could assume it.`, role.urn);
                }
                // Only inline grants (RolePolicy), judged statement by statement; attached managed policies are refused.
                const names = [...new Set([get(() => role.props.name), get(() => role.props.id)].filter((x): x is string => typeof x === "string"))];
                const { attachments, inline } = byRoleName();
                for (const att of new Set(names.flatMap((n) => attachments.get(n) ?? []))) {
                    report(`${who} has ${label(att)} attaching a managed policy; a budget action role gets only its inline policy, scoped to ${id}.`, att.urn);
                }
                const managed = known(() => role.props.managedPolicyArns);
                if (managed !== UNKNOWN && asArray(managed as string[]).length) report(`${who} has managedPolicyArns; a budget action role gets only its inline policy, scoped to ${id}.`, role.urn);
                const sc = scopeOf(id);
                for (const rp of new Set(names.flatMap((n) => inline.get(n) ?? []))) {
                    const doc = known(() => rp.props.policy);
                    if (doc === UNKNOWN) { d.defer(`${label(rp)}.policy`); continue; }
                    if (sc === UNKNOWN) { d.defer(`${label(rp)} (the ARNs of ${id}'s role, workstation and deny policy)`); continue; }
                    for (const s of (statementsOf(doc) ?? []).filter((x) => x.effect === "Allow")) {
                        const problems = await statementProblems(s, sc);
                        if (problems.length) report(`${who}: ${label(rp)} statement '${s.sid}' ${problems.join("; ")}.`, role.urn);
                    }
                }
            }
            // Each budget action: a budget role, and that researcher's role, deny policy and workstation only.
            for (const a of ix.ofType("aws:budgets/budgetAction:BudgetAction")) {
                const exec = get(() => a.props.executionRoleArn);
                if (exec === UNKNOWN) { d.defer(`${label(a)}.executionRoleArn`); continue; }
                const id = budgetRoles.get(String(exec));
                if (id === undefined) { report(`${label(a)} runs as ${String(exec)}, which is not a budget action role of this stack (tagged ${c.budgetTag}: <researcher>); what it may do cannot be judged.`, a.urn); continue; }
                const type = get(() => a.props.actionType);
                if (type === "APPLY_SCP_POLICY") report(`${label(a)} applies a service control policy: it reaches the whole account or organization, not researcher ${id}.`, a.urn);
                const sc = scopeOf(id);
                if (sc === UNKNOWN) continue;
                const iamDef = known(() => a.props.definition?.iamActionDefinition);
                if (iamDef === UNKNOWN) d.defer(`${label(a)}.definition.iamActionDefinition`);
                else if (iamDef) {
                    const roleNames = sc.roles.map((r) => r.slice(r.lastIndexOf("/") + 1));
                    const others = [...asArray((iamDef as any).roles), ...asArray((iamDef as any).groups), ...asArray((iamDef as any).users)].map(String).filter((r) => !roleNames.includes(r));
                    if (others.length) report(`${label(a)} (researcher ${id}'s budget) applies its policy to ${few(others)}; only to ${id}'s own role (${few(roleNames)}).`, a.urn);
                    if (!sc.denyPolicies.includes(String((iamDef as any).policyArn))) report(`${label(a)} (researcher ${id}'s budget) applies ${String((iamDef as any).policyArn)}; only ${id}'s deny policy (${few(sc.denyPolicies) || "none in this stack"}).`, a.urn);
                }
                const ssmDef = known(() => a.props.definition?.ssmActionDefinition);
                if (ssmDef === UNKNOWN) d.defer(`${label(a)}.definition.ssmActionDefinition`);
                else if (ssmDef) {
                    const ids = sc.instances.map((x) => x.slice(x.lastIndexOf("/") + 1));
                    const others = asArray((ssmDef as any).instanceIds).map(String).filter((x) => !ids.includes(x));
                    if (others.length) report(`${label(a)} (researcher ${id}'s budget) stops ${few(others)}; only ${id}'s own workstation (${few(ids) || "none in this stack"}).`, a.urn);
                    if (!globMatch("STOP_EC2_INSTANCES", String((ssmDef as any).actionSubType))) report(`${label(a)} (researcher ${id}'s budget) runs ${String((ssmDef as any).actionSubType)}; a workstation is stopped with STOP_EC2_INSTANCES.`, a.urn);
                }
            }
        }),
    },
];
