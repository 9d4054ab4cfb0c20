/**
 * The budget enforcer (infra/cluster/budget-enforcer.ts): a Lambda function that AWS Budgets reaches through one SNS
 * topic per researcher. What it may do in AWS is judged on its role (iam-policies-scoped, iam-trust-policies-scoped),
 * in Kubernetes on its RBAC (the shared-namespace rules, lib/rbac.ts stopOnly); here, what connects it:
 * - lambda-functions-scoped: every function runs as a role of this stack that only Lambda assumes, inside the stack's
 *   VPC (subnets and security groups of the stack), logging to a log group of the stack, with no secret in its
 *   environment; every invoke permission lets only SNS in, from a topic of this stack; every subscription delivers a
 *   topic of this stack to a function of this stack.
 * - budget-stop-topics-scoped: every topic is encrypted (the key is kms-key-references-stack-key's), only AWS Budgets
 *   of this account may publish to it (sns:Publish only, aws:SourceAccount), and a budget publishes only to the topic of
 *   the researcher it is theirs (both tagged archaeo-budget-of: <id>).
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { principalsOf } from "../lib/arn";
import { conditionEntries, isPinningOperator, statementsOf } from "../lib/policy-document";
import { label, onStack } from "../lib/rule";
import { secretLikeMatches } from "../lib/secret-scan";
import { effectiveTags } from "../lib/tags";
import { Deferrals } from "../lib/unknowns";
import { asArray, few, get, known, UNKNOWN } from "../lib/util";
import { FUNCTION_ROLE_TAG } from "./iam";

const FUNCTION = "aws:lambda/function:Function";
const PERMISSION = "aws:lambda/permission:Permission";
const SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription";
const TOPIC = "aws:sns/topic:Topic";
const TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy";
const BUDGET = "aws:budgets/budget:Budget";
const BUDGET_TAG = "archaeo-budget-of";

type Stack = readonly PolicyResource[];

/** A property of every resource of a type (ARNs, ids, names); UNKNOWN when one is not known yet. */
function values(all: Stack, type: string, props: string[], d: Deferrals): Set<string> | typeof UNKNOWN {
    const out = new Set<string>();
    for (const r of all.filter((x) => x.type === type)) {
        for (const p of props) {
            const v = get(() => r.props[p]);
            if (v === UNKNOWN) { d.defer(`${label(r)}.${p}`); return UNKNOWN; }
            if (typeof v === "string" && v) out.add(v);
        }
    }
    return out;
}

/**
 * Roles of the stack tagged as a function's execution role (archaeo-function-of: <function name>), by ARN, with that
 * function's name; each one found trusting anything but lambda.amazonaws.com is reported.
 */
function functionRoles(all: Stack, d: Deferrals, report: (m: string, urn: string) => void): Map<string, string> | typeof UNKNOWN {
    const out = new Map<string, string>();
    let unknown = false;
    for (const r of all.filter((x) => x.type === "aws:iam/role:Role")) {
        const tags = effectiveTags(r);
        if (tags === UNKNOWN) { d.defer(`${label(r)}.tags`); unknown = true; continue; }
        const fn = tags[FUNCTION_ROLE_TAG];
        if (typeof fn !== "string" || fn === "") continue;
        const arn = get(() => r.props.arn);
        const trust = known(() => r.props.assumeRolePolicy);
        if (arn === UNKNOWN || trust === UNKNOWN) { d.defer(`${label(r)}.arn/assumeRolePolicy`); unknown = true; continue; }
        const allows = (statementsOf(trust) ?? []).filter((s) => s.effect === "Allow");
        const others = allows.flatMap((s) => { const p = principalsOf(s.principal); return [...(p.anyone ? ["*"] : []), ...p.aws, ...p.federated, ...p.service.filter((x) => x !== "lambda.amazonaws.com")]; });
        if (others.length || allows.length === 0) report(`${label(r)} (${FUNCTION_ROLE_TAG}: ${fn}) is trusted by ${others.length ? few(others) : "no one"}; a function's role is assumed by lambda.amazonaws.com alone.`, r.urn);
        else if (typeof arn === "string") out.set(arn, fn);
    }
    return unknown ? UNKNOWN : out;
}

export const budgetEnforcerPolicies: StackValidationPolicy[] = [
    {
        name: "lambda-functions-scoped",
        description: "Checks whether every Lambda function runs as its own role of this stack (tagged archaeo-function-of: <function>, which only lambda.amazonaws.com assumes, and which no role is tagged without its function), in the stack's VPC (its subnets and security groups), logging to a log group of the stack, with no secret-like value in its environment; whether every invoke permission admits only sns.amazonaws.com from a topic of this stack; and whether every SNS subscription delivers a topic of this stack to a function of this stack.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const all = args.resources;
            const functions = all.filter((r) => r.type === FUNCTION);
            const permissions = all.filter((r) => r.type === PERMISSION);
            const subscriptions = all.filter((r) => r.type === SUBSCRIPTION);
            const roles = functionRoles(all, d, report);
            const subnets = values(all, "aws:ec2/subnet:Subnet", ["id"], d);
            const groups = values(all, "aws:ec2/securityGroup:SecurityGroup", ["id"], d);
            const logGroups = values(all, "aws:cloudwatch/logGroup:LogGroup", ["name"], d);
            const topics = values(all, TOPIC, ["arn"], d);
            const fns = values(all, FUNCTION, ["arn", "name"], d);
            for (const f of functions) {
                const where = `${label(f)}`;
                const role = get(() => f.props.role);
                if (role === UNKNOWN) d.defer(`${where}.role`);
                else if (roles !== UNKNOWN && !roles.has(String(role))) report(`${where} runs as ${String(role)}, which is not a role of this stack that only lambda.amazonaws.com assumes (tagged ${FUNCTION_ROLE_TAG}): what it may do cannot be judged.`, f.urn);
                else if (roles !== UNKNOWN && roles.get(String(role)) !== get(() => f.props.name)) report(`${where} runs as ${String(role)}, the role of function ${roles.get(String(role))}: each function has its own role.`, f.urn);
                const vpc = known(() => f.props.vpcConfig) as any;
                if (vpc === UNKNOWN) d.defer(`${where}.vpcConfig`);
                else {
                    const sn = asArray(vpc?.subnetIds as string[]); const sg = asArray(vpc?.securityGroupIds as string[]);
                    if (sn.length === 0 || sg.length === 0) report(`${where} is not in the stack's VPC (vpcConfig subnetIds and securityGroupIds): it would run on Lambda's own network, outside the stack's security groups.`, f.urn);
                    else {
                        const strange = [...(subnets === UNKNOWN ? [] : sn.filter((x) => !subnets.has(String(x)))), ...(groups === UNKNOWN ? [] : sg.filter((x) => !groups.has(String(x))))];
                        if (strange.length) report(`${where} is placed in ${few(strange.map(String))}, not subnets or security groups of this stack.`, f.urn);
                    }
                }
                const logGroup = get(() => f.props.loggingConfig?.logGroup);
                if (logGroup === UNKNOWN) d.defer(`${where}.loggingConfig.logGroup`);
                else if (logGroups !== UNKNOWN && !logGroups.has(String(logGroup))) report(`${where} logs to ${logGroup === undefined ? "Lambda's default /aws/lambda/<name>, which Lambda creates unencrypted and kept for ever" : String(logGroup)}; name a log group of this stack (loggingConfig.logGroup), encrypted and retained.`, f.urn);
                const env = known(() => f.props.environment?.variables) as Record<string, unknown> | undefined | typeof UNKNOWN;
                if (env === UNKNOWN) d.defer(`${where}.environment.variables`);
                else for (const [k, v] of Object.entries(env ?? {})) {
                    const hits = secretLikeMatches(`${k}=${String(v)}`);
                    if (hits.length) report(`${where} environment variable ${k} looks like a secret (${hits.map((h) => h.kind).join(", ")}): a function's environment is readable by lambda:GetFunctionConfiguration; keep secrets out of it.`, f.urn);
                }
            }
            if (roles !== UNKNOWN && fns !== UNKNOWN) for (const [arn, name] of roles) {
                if (!functions.some((f) => get(() => f.props.role) === arn && get(() => f.props.name) === name)) report(`Role ${arn} is tagged ${FUNCTION_ROLE_TAG}: ${name}, but no function ${name} of this stack runs as it: the tag would let Lambda (any function of the account) assume it.`);
            }
            for (const p of permissions) {
                const where = `${label(p)}`;
                const v = known(() => ({ action: p.props.action, principal: p.props.principal, sourceArn: p.props.sourceArn, fn: p.props.function })) as any;
                if (v === UNKNOWN) { d.defer(`${where} action/principal/sourceArn/function`); continue; }
                if (v.action !== "lambda:InvokeFunction") report(`${where} grants ${String(v.action)}; only lambda:InvokeFunction.`, p.urn);
                if (v.principal !== "sns.amazonaws.com") report(`${where} lets ${String(v.principal)} invoke the function; only sns.amazonaws.com, from a topic of this stack.`, p.urn);
                if (typeof v.sourceArn !== "string" || v.sourceArn === "") report(`${where} has no sourceArn: any topic of any account could invoke the function.`, p.urn);
                else if (topics !== UNKNOWN && !topics.has(v.sourceArn)) report(`${where} lets ${v.sourceArn} invoke the function, which is not a topic of this stack.`, p.urn);
                if (fns !== UNKNOWN && !fns.has(String(v.fn))) report(`${where} is on ${String(v.fn)}, which is not a function of this stack.`, p.urn);
            }
            for (const s of subscriptions) {
                const where = `${label(s)}`;
                const topic = get(() => s.props.topic);
                if (topic === UNKNOWN) d.defer(`${where}.topic`);
                else if (topics !== UNKNOWN && !topics.has(String(topic))) report(`${where} subscribes to ${String(topic)}, which is not a topic of this stack.`, s.urn);
                const protocol = get(() => s.props.protocol);
                const endpoint = get(() => s.props.endpoint);
                if (protocol === UNKNOWN || endpoint === UNKNOWN) { d.defer(`${where}.protocol/endpoint`); continue; }
                if (protocol !== "lambda") report(`${where} delivers over ${String(protocol)} to ${String(endpoint)}; a budget-stop topic is delivered to the stack's function only (protocol lambda).`, s.urn);
                else if (fns !== UNKNOWN && !fns.has(String(endpoint))) report(`${where} delivers to ${String(endpoint)}, which is not a function of this stack.`, s.urn);
            }
        }),
    },
    {
        name: "budget-stop-topics-scoped",
        description: "Checks whether every SNS topic is encrypted with a KMS key (kms-key-references-stack-key judges which), whether its policy lets only AWS Budgets of this account publish (sns:Publish only, aws:SourceAccount pinned), and whether each researcher's budget publishes only to their own topic (both tagged archaeo-budget-of: <id>).",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const all = args.resources;
            const topicOwner = new Map<string, string>(); // topic ARN -> researcher
            for (const t of all.filter((r) => r.type === TOPIC)) {
                const key = get(() => t.props.kmsMasterKeyId);
                if (key === UNKNOWN) d.defer(`${label(t)}.kmsMasterKeyId`);
                else if (typeof key !== "string" || key === "") report(`${label(t)} is not encrypted (kmsMasterKeyId): set the stack's key.`, t.urn);
                const tags = effectiveTags(t);
                const arn = get(() => t.props.arn);
                if (tags === UNKNOWN || arn === UNKNOWN) { d.defer(`${label(t)}.tags/arn`); continue; }
                if (typeof arn === "string" && typeof tags[BUDGET_TAG] === "string") topicOwner.set(arn, tags[BUDGET_TAG] as string);
            }
            for (const p of all.filter((r) => r.type === TOPIC_POLICY || r.type === TOPIC)) {
                const doc = known(() => p.props.policy);
                if (doc === UNKNOWN) { d.defer(`${label(p)}.policy`); continue; }
                if (doc === undefined || doc === "") continue;
                for (const s of (statementsOf(doc) ?? []).filter((x) => x.effect === "Allow")) {
                    const pr = principalsOf(s.principal);
                    const who = [...(pr.anyone ? ["*"] : []), ...pr.aws, ...pr.federated, ...pr.service.filter((x) => x !== "budgets.amazonaws.com")];
                    const problems: string[] = [];
                    if (who.length) problems.push(`lets ${few(who)} in; only budgets.amazonaws.com`);
                    if (s.notActions || s.actions.some((a) => a.toLowerCase() !== "sns:publish")) problems.push(`allows ${few(s.notActions ? ["NotAction"] : s.actions.filter((a) => a.toLowerCase() !== "sns:publish"))}; only sns:Publish`);
                    // Pinned to accounts by value: a wildcard (StringLike '*', '1234*') keeps the key and matches anyone's Budgets
                    // (principals-in-stack-account judges which account a literal names).
                    // String operators only: a Numeric* or Date* operator on this string key is no equality.
                    const accountPins = conditionEntries(s).filter(([op, key, vals]) => isPinningOperator(op) && /^String(Equals|EqualsIgnoreCase|Like)$/.test(op.replace(/IfExists$/, "")) && key.toLowerCase() === "aws:sourceaccount" && vals.length > 0);
                    if (accountPins.length === 0) problems.push("lacks Condition StringEquals aws:SourceAccount (AWS Budgets acting for another account could publish)");
                    else if (!accountPins.some(([, , vals]) => vals.every((v) => /^\d{12}$/.test(String(v))))) problems.push(`pins aws:SourceAccount to ${few(accountPins.flatMap(([, , vals]) => vals.map(String)))}, not to an account id (a pattern matches AWS Budgets of other accounts)`);
                    if (problems.length) report(`${label(p)} statement '${s.sid}' ${problems.join("; ")}.`, p.urn);
                }
            }
            for (const b of all.filter((r) => r.type === BUDGET)) {
                const tags = effectiveTags(b);
                const notes = known(() => b.props.notifications) as any;
                if (tags === UNKNOWN || notes === UNKNOWN) { d.defer(`${label(b)}.tags/notifications`); continue; }
                const id = tags[BUDGET_TAG];
                for (const n of asArray(notes as any[])) for (const arn of asArray(n?.subscriberSnsTopicArns as string[]).map(String)) {
                    const owner = topicOwner.get(arn);
                    if (owner === undefined) report(`${label(b)} publishes to ${arn}, which is not a budget-stop topic of this stack.`, b.urn);
                    else if (owner !== id) report(`${label(b)} (${id === undefined ? "no researcher's budget" : `researcher ${String(id)}'s budget`}) publishes to researcher ${owner}'s topic: their enforcer would stop ${owner}.`, b.urn);
                }
            }
        }),
    },
];
