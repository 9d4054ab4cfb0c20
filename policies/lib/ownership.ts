/**
 * The ownership model: from the whole stack, what every principal reaches of each researcher's data
 * and hosts, whatever kind of grant gives it.
 *
 * Assets (each owned by one researcher, or the shared datasets):
 *   S3 prefixes (researchers/<id>/ and datasets/ of the dataset bucket), EBS volumes and their
 *   snapshots, EFS homes (access points, and the file system under them), SSM parameters, hosts
 *   (workstations), Kubernetes namespaces (researcher-<id>) and server pods (jupyter-<id>).
 * Principals:
 *   IAM roles, users and groups of the stack; principals a resource policy names (another account,
 *   the whole account, anyone, a service); workstations (the role their instance profile holds);
 *   pods (a namespace and service account: the role Pod Identity gives them, the claims they mount);
 *   Kubernetes users and groups (through EKS access entries) and service accounts (RBAC subjects);
 *   every researcher's server (the hub's values choose its service account and claims).
 * Grants feeding it: identity policies (inline, RolePolicy, UserPolicy, GroupPolicy, group
 * membership, customer-managed policies through every attachment form), resource policies (bucket,
 * access point), instance profiles, volume attachments, PersistentVolumes and their claims, Pod
 * Identity associations, EKS access entries, RBAC bindings, the hub's values.
 *
 * Each reach says who, what, read or write, and through which grant, so the rule over it
 * (researcher-isolation) can name the change that opened it. Conditions are judged by value: a tag,
 * prefix or ARN pin counts only when it names literal values; a wildcard value, a pin to the whole
 * account and ForAllValues (true when the key is absent) do not scope.
 */
import type { PolicyResource } from "@pulumi/policy";
import { harmless } from "../rules/helm";
import { podSpecPaths } from "../rules/kubernetes";
import { RESOURCE_POLICY_DOCUMENTS } from "../rules/resource-policies";
import { parseArn, principalsOf } from "./arn";
import { ActionInfo, expandAction, globStatesAfter, serviceActions } from "./iam";
import { conditionEntries, resolvePrincipalTags, Statement, statementsOf } from "./policy-document";
import { coversVerb, crossResearcherGrants, ruleGrants } from "./rbac";
import { label } from "./rule";
import { effectiveTags } from "./tags";
import { Deferrals } from "./unknowns";
import { asArray, get, globMatch, known, snapshot, UNKNOWN } from "./util";

export type AssetKind = "s3-prefix" | "ebs-volume" | "snapshot" | "efs-home" | "ssm-parameter" | "host" | "namespace" | "server" | "shared-resource";
export const SHARED = "(shared datasets)";
/** Owner of a stack resource every researcher's work depends on (the key, the interruption queue, the registry). */
export const EVERYONE = "(every researcher)";

export interface Asset {
    readonly kind: AssetKind;
    /** The researcher it belongs to, or SHARED for the datasets everyone reads. */
    readonly owner: string;
    readonly label: string;
    /** ARNs (or samples of ARNs, for snapshots) an IAM statement reaches it by. */
    readonly arns: readonly string[];
    /** The AWS services whose actions reach it (a host: EC2, Systems Manager and EC2 Instance Connect; a snapshot: EC2 and the EBS direct APIs). */
    readonly services?: readonly string[];
    /** For S3 prefixes: the bucket and the key prefix. */
    readonly bucket?: string;
    readonly prefix?: string;
    /** The stack resource it is, where it is one. */
    readonly resource?: PolicyResource;
}

export type PrincipalKind = "iam-role" | "iam-user" | "iam-group" | "outside" | "service" | "host" | "pods" | "k8s-user" | "k8s-group" | "server";

export interface Principal {
    readonly kind: PrincipalKind;
    readonly name: string;
    /** The researcher it is (their role, user name) or acts for (their workstation, pods, server); undefined: nobody's. */
    readonly actsFor?: string;
    /** For a stack service role: the AWS service that assumes it (its stated purpose). */
    readonly purpose?: string;
    readonly label: string;
    readonly urn?: string;
    /** For an untagged role held by several researchers' workstations or pods: who holds it. */
    readonly heldBy?: readonly string[];
}

export interface Reach {
    readonly principal: Principal;
    readonly asset: Asset;
    readonly access: "read" | "write";
    /** The grant, e.g. "RolePolicy 'x' statement 'Data'". */
    readonly via: string;
    readonly urn?: string;
}

/** One principal holding another's identity: a workstation its profile's role, pods their Pod Identity role, a role its Kubernetes user. */
export interface Holds {
    readonly holder: Principal;
    readonly held: Principal;
    readonly via: string;
    readonly urn?: string;
}

export interface OwnershipModel {
    readonly researchers: ReadonlySet<string>;
    readonly assets: readonly Asset[];
    readonly principals: readonly Principal[];
    readonly reaches: readonly Reach[];
    readonly holds: readonly Holds[];
}

export interface OwnershipConfig {
    researcherTag: string;
    actingForTags: string[];
    purposeTag: string;
    datasetsPurpose: string;
    researcherNamespacePrefix: string;
    hubNamespace: string;
    serverServiceAccountPrefix: string;
    jobServiceAccount: string;
    researcherUserPrefix: string;
    serverPodPrefix: string;
    hubClaimPrefixes: string[];
    /** The ConfigMap holding a researcher's authorized_keys is <prefix><id> (infra/cluster/manifests.ts). */
    sshKeysPrefix: string;
    /** Hosts (globs) of identity providers outside the stack the hub may send researchers to. */
    trustedIdentityProviders: string[];
}

export const OWNERSHIP_DEFAULTS: OwnershipConfig = {
    researcherTag: "researcher",
    // archaeo-budget-of: the role AWS Budgets assumes for one researcher's budget (policies/rules/budgets.ts) acts on them only.
    actingForTags: ["archaeo-workstation-of", "archaeo-pods-of", "archaeo-budget-of"],
    purposeTag: "archaeo-purpose",
    datasetsPurpose: "datasets",
    // infra/cluster/manifests.ts: researcherNamespace(id), HUB_NAMESPACE, serverServiceAccount(id), JOB_SERVICE_ACCOUNT, hubClaims(id).
    researcherNamespacePrefix: "researcher-",
    hubNamespace: "jupyterhub",
    serverServiceAccountPrefix: "researcher-",
    jobServiceAccount: "researcher",
    researcherUserPrefix: "archaeo:",
    serverPodPrefix: "jupyter-",
    hubClaimPrefixes: ["home-", "mydata-", "datasets-"],
    sshKeysPrefix: "ssh-keys-",
    trustedIdentityProviders: [],
};

type Stack = readonly PolicyResource[];

const ROLE = "aws:iam/role:Role";
const USER = "aws:iam/user:User";
const GROUP = "aws:iam/group:Group";

/**
 * Identity-policy documents, per principal type: which resources carry documents for a principal and
 * the property naming it; attachments of managed policies likewise.
 */
const INLINE_FORMS: ReadonlyArray<{ type: string; target: string; principal: string }> = [
    { type: "aws:iam/rolePolicy:RolePolicy", target: "role", principal: ROLE },
    { type: "aws:iam/userPolicy:UserPolicy", target: "user", principal: USER },
    { type: "aws:iam/groupPolicy:GroupPolicy", target: "group", principal: GROUP },
];
const ATTACHMENT_FORMS: ReadonlyArray<{ type: string; targets: string; arns: string; principal: string }> = [
    { type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", targets: "role", arns: "policyArn", principal: ROLE },
    { type: "aws:iam/userPolicyAttachment:UserPolicyAttachment", targets: "user", arns: "policyArn", principal: USER },
    { type: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", targets: "group", arns: "policyArn", principal: GROUP },
    { type: "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive", targets: "roleName", arns: "policyArns", principal: ROLE },
    { type: "aws:iam/policyAttachment:PolicyAttachment", targets: "roles", arns: "policyArn", principal: ROLE },
    { type: "aws:iam/policyAttachment:PolicyAttachment", targets: "users", arns: "policyArn", principal: USER },
    { type: "aws:iam/policyAttachment:PolicyAttachment", targets: "groups", arns: "policyArn", principal: GROUP },
];

/** A value made only of wildcards ("*", "?*") matches anything: it scopes nothing. */
export function onlyWildcards(v: string): boolean {
    return v.replace(/[*?]/g, "") === "";
}

/**
 * Does a condition operator pin a key to its values for every request? ForAllValues is true when the
 * key is absent (IAM User Guide, "Multivalued context keys": "ForAllValues ... returns true if the
 * context key in the request is empty"), IfExists when it is absent, a negation or Null never pins.
 */
export function pins(op: string): boolean {
    return !/IfExists$/.test(op) && !/Not/.test(op) && op !== "Null" && !/^ForAllValues:/.test(op) && /^(ForAnyValue:)?(String|Arn)/.test(op);
}

/** The values a statement pins `key` (a glob over condition keys) to, judged by value; undefined when it does not pin it. */
export function pinnedValues(s: Statement, key: string): string[] | undefined {
    const entries = conditionEntries(s).filter(([op, k, values]) => pins(op) && globMatch(key, k) && values.length > 0);
    if (entries.length === 0) return undefined;
    // Several entries on one key must all hold (AND): the narrowest is any one of them; take the first that scopes.
    for (const [op, , values] of entries) {
        const like = /Like$/.test(op);
        if (like && values.some(onlyWildcards)) continue;
        return values;
    }
    return undefined;
}

/** Does a glob match some string that starts with `prefix` (IAM-style `*` / `?`, case-insensitive)? */
export function globReachesPrefix(glob: string, prefix: string): boolean {
    return globStatesAfter(glob, prefix).size > 0;
}

const s3Prefix = (bucket: string, prefix: string) => `arn:aws:s3:::${bucket}/${prefix}`;

interface Index {
    all: Stack;
    c: OwnershipConfig;
    d: Deferrals;
    byType: Map<string, PolicyResource[]>;
    tags: Map<PolicyResource, Record<string, unknown> | typeof UNKNOWN>;
}

function indexOf(all: Stack, c: OwnershipConfig, d: Deferrals): Index {
    const byType = new Map<string, PolicyResource[]>();
    for (const r of all) {
        const list = byType.get(r.type);
        if (list) list.push(r); else byType.set(r.type, [r]);
    }
    return { all, c, d, byType, tags: new Map() };
}

const ofType = (ix: Index, type: string) => ix.byType.get(type) ?? [];

function tagsOf(ix: Index, r: PolicyResource): Record<string, unknown> | typeof UNKNOWN {
    if (!ix.tags.has(r)) ix.tags.set(r, effectiveTags(r));
    return ix.tags.get(r)!;
}

/** The researcher a resource belongs to by its `researcher` tag (UNKNOWN deferred), undefined: nobody's. */
function ownerByTag(ix: Index, r: PolicyResource, keys: readonly string[] = [ix.c.researcherTag]): string | undefined | typeof UNKNOWN {
    const t = tagsOf(ix, r);
    if (t === UNKNOWN) { ix.d.defer(`${label(r)}.tags`); return UNKNOWN; }
    return keys.map((k) => t[k]).find((v): v is string => typeof v === "string" && v !== "");
}

/** Does a snapshot hold an unknown part anywhere? */
function hasUnknownPart(v: unknown): boolean {
    return v === UNKNOWN || (!!v && typeof v === "object" && Object.values(v).some(hasUnknownPart));
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Reads a string property; defers and returns undefined when unknown. */
function prop(ix: Index, r: PolicyResource, path: string): string | undefined {
    const v = get(() => path.split(".").reduce((o: any, k) => (o === undefined || o === null ? undefined : o[k]), r.props));
    if (v === UNKNOWN) { ix.d.defer(`${label(r)}.${path}`); return undefined; }
    return str(v);
}

function researchersOf(ix: Index): Set<string> {
    const ids = new Set<string>();
    for (const r of ofType(ix, ROLE)) {
        const t = tagsOf(ix, r);
        if (t === UNKNOWN) continue;
        for (const k of [ix.c.researcherTag, ...ix.c.actingForTags]) if (typeof t[k] === "string" && t[k] !== "") ids.add(t[k] as string);
    }
    for (const ns of ofType(ix, "kubernetes:core/v1:Namespace")) {
        const name = get(() => ns.props.metadata?.name);
        if (typeof name === "string" && name.startsWith(ix.c.researcherNamespacePrefix) && name.length > ix.c.researcherNamespacePrefix.length) ids.add(name.slice(ix.c.researcherNamespacePrefix.length));
    }
    return ids;
}

function assetsOf(ix: Index, researchers: ReadonlySet<string>): Asset[] {
    const out: Asset[] = [];
    const { c } = ix;
    for (const b of ofType(ix, "aws:s3/bucket:Bucket")) {
        const t = tagsOf(ix, b);
        if (t === UNKNOWN) { ix.d.defer(`${label(b)}.tags`); continue; }
        if (t[c.purposeTag] !== c.datasetsPurpose) continue;
        const bucket = prop(ix, b, "bucket");
        if (!bucket) continue;
        out.push({ kind: "s3-prefix", owner: SHARED, label: `s3://${bucket}/datasets/`, arns: [s3Prefix(bucket, "datasets/")], services: ["s3"], bucket, prefix: "datasets/" });
        for (const id of researchers) out.push({ kind: "s3-prefix", owner: id, label: `s3://${bucket}/researchers/${id}/`, arns: [s3Prefix(bucket, `researchers/${id}/`)], services: ["s3"], bucket, prefix: `researchers/${id}/` });
    }
    const tagged = (type: string, kind: AssetKind, services: string[], what: string) => {
        for (const r of ofType(ix, type)) {
            const owner = ownerByTag(ix, r);
            if (owner === UNKNOWN || owner === undefined) continue;
            const arn = prop(ix, r, "arn");
            out.push({ kind, owner, label: `${owner}'s ${what} ${label(r)}`, arns: arn ? [arn] : [], services, resource: r });
        }
    };
    tagged("aws:ebs/volume:Volume", "ebs-volume", ["ec2"], "volume");
    tagged("aws:ssm/parameter:Parameter", "ssm-parameter", ["ssm"], "parameter");
    // A host is reached by EC2 (start, stop, attributes), Systems Manager (sessions, commands on the instance)
    // and EC2 Instance Connect (a key pushed for its OS user): Service Authorization Reference, resource type instance.
    tagged("aws:ec2/instance:Instance", "host", ["ec2", "ssm", "ec2-instance-connect"], "workstation");
    tagged("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "host", ["ec2", "ssm", "ec2-instance-connect"], "workstation (spot request)");
    // Snapshots of a researcher's volumes carry their tags (DLM copyTags): a sample ARN per region stands for them,
    // in the volume's region and every region a snapshot policy copies them to (crossRegionCopyRules target/targetRegion).
    const copyRegions: string[] = [];
    for (const p of ofType(ix, "aws:dlm/lifecyclePolicy:LifecyclePolicy")) {
        const schedules = known(() => p.props.policyDetails?.schedules);
        if (schedules === UNKNOWN) { ix.d.defer(`${label(p)}.policyDetails.schedules`); continue; }
        for (const sch of asArray(schedules as any[])) for (const rule of asArray(sch?.crossRegionCopyRules)) {
            const rg = (rule as any)?.target ?? (rule as any)?.targetRegion;
            if (typeof rg === "string" && /^[a-z]{2}(-[a-z]+)+-\d$/.test(rg)) copyRegions.push(rg);
        }
    }
    for (const v of ofType(ix, "aws:ebs/volume:Volume")) {
        const owner = ownerByTag(ix, v);
        if (owner === UNKNOWN || owner === undefined) continue;
        const arn = parseArn(get(() => v.props.arn));
        const snapshotRegions = [...new Set([arn?.region ?? "*", ...copyRegions])];
        out.push({ kind: "snapshot", owner, label: `${owner}'s snapshots of ${label(v)}`, arns: snapshotRegions.map((rg) => `arn:aws:ec2:${rg}::snapshot/snap-of-${owner}`), services: ["ec2", "ebs"] });
    }
    // EFS: a home is its access point and, under it, the file system (a mount without the access point reaches every home).
    const fsArns = new Map<string, string>();
    for (const f of ofType(ix, "aws:efs/fileSystem:FileSystem")) {
        const id = get(() => f.props.id); const arn = get(() => f.props.arn);
        if (typeof id === "string" && typeof arn === "string") fsArns.set(id, arn);
    }
    for (const ap of ofType(ix, "aws:efs/accessPoint:AccessPoint")) {
        const owner = ownerByTag(ix, ap);
        if (owner === UNKNOWN || owner === undefined) continue;
        const arn = prop(ix, ap, "arn");
        const fs = fsArns.get(String(get(() => ap.props.fileSystemId)));
        out.push({ kind: "efs-home", owner, label: `${owner}'s EFS home ${label(ap)}`, arns: [...(arn ? [arn] : []), ...(fs ? [fs] : [])], services: ["elasticfilesystem"], resource: ap });
    }
    for (const id of researchers) {
        out.push({ kind: "namespace", owner: id, label: `${id}'s namespace ${c.researcherNamespacePrefix}${id}`, arns: [] });
        out.push({ kind: "server", owner: id, label: `${id}'s server ${c.serverPodPrefix}${id}`, arns: [] });
    }
    return out;
}

// --- Principals ---------------------------------------------------------------------------------

function iamPrincipal(ix: Index, r: PolicyResource, kind: PrincipalKind): Principal {
    const t = tagsOf(ix, r);
    const name = str(get(() => r.props.name)) ?? r.name;
    let actsFor: string | undefined;
    let purpose: string | undefined;
    if (t !== UNKNOWN) actsFor = [ix.c.researcherTag, ...ix.c.actingForTags].map((k) => t[k]).find((v): v is string => typeof v === "string" && v !== "");
    if (kind === "iam-role") {
        const trust = statementsOf(known(() => r.props.assumeRolePolicy));
        const services = (trust ?? []).filter((s) => s.effect === "Allow").flatMap((s) => principalsOf(s.principal).service);
        if (services.length) purpose = services.join(", ");
    }
    return { kind, name, ...(actsFor ? { actsFor } : {}), ...(purpose ? { purpose } : {}), label: label(r), urn: r.urn };
}

/** Names a principal is referred to by (a RolePolicy's role, an attachment's user): name and id. */
function namesOf(r: PolicyResource): string[] {
    return [get(() => r.props.name), get(() => r.props.id)].filter((x): x is string => typeof x === "string" && x !== "");
}

interface Documents { principal: Principal; resource: PolicyResource; docs: Array<{ where: string; urn: string; statements: Statement[] }> }

/** Every identity-policy document reaching each IAM role, user and group (groups' also reach their members). */
function identityDocuments(ix: Index): Documents[] {
    const out: Documents[] = [];
    const policies = new Map<string, PolicyResource>();
    for (const p of ofType(ix, "aws:iam/policy:Policy")) { const arn = get(() => p.props.arn); if (typeof arn === "string") policies.set(arn, p); }
    const byName = new Map<string, Documents>();
    for (const [type, kind] of [[ROLE, "iam-role"], [USER, "iam-user"], [GROUP, "iam-group"]] as const) {
        for (const r of ofType(ix, type)) {
            const entry: Documents = { principal: iamPrincipal(ix, r, kind), resource: r, docs: [] };
            out.push(entry);
            for (const n of namesOf(r)) byName.set(`${type}|${n}`, entry);
            if (type === ROLE) {
                const inline = known(() => r.props.inlinePolicies);
                if (inline === UNKNOWN) ix.d.defer(`${label(r)}.inlinePolicies`);
                else asArray(inline as any[]).forEach((x: any, i: number) => entry.docs.push({ where: `${label(r)} inlinePolicies[${i}]`, urn: r.urn, statements: statementsOf(x?.policy) ?? [] }));
                const managed = known(() => r.props.managedPolicyArns);
                if (managed !== UNKNOWN) for (const arn of asArray(managed as string[])) addManaged(ix, entry, policies, String(arn), r);
            }
        }
    }
    for (const f of INLINE_FORMS) {
        for (const p of ofType(ix, f.type)) {
            const target = prop(ix, p, f.target);
            const entry = target && byName.get(`${f.principal}|${target}`);
            if (!entry) continue;
            const doc = known(() => p.props.policy);
            if (doc === UNKNOWN) { ix.d.defer(`${label(p)}.policy`); continue; }
            entry.docs.push({ where: label(p), urn: p.urn, statements: statementsOf(doc) ?? [] });
        }
    }
    for (const f of ATTACHMENT_FORMS) {
        for (const a of ofType(ix, f.type)) {
            const targets = known(() => a.props[f.targets]);
            if (targets === UNKNOWN) { ix.d.defer(`${label(a)}.${f.targets}`); continue; }
            const arns = known(() => a.props[f.arns]);
            if (arns === UNKNOWN) { ix.d.defer(`${label(a)}.${f.arns}`); continue; }
            for (const t of asArray(targets as string | string[]).map(String)) {
                const entry = byName.get(`${f.principal}|${t}`);
                if (!entry) continue;
                for (const arn of asArray(arns as string | string[])) addManaged(ix, entry, policies, String(arn), a);
            }
        }
    }
    // Group members get the group's documents (aws:iam/groupMembership lists users; userGroupMembership lists groups).
    const memberships: Array<{ user: string; group: string; via: PolicyResource }> = [];
    for (const m of ofType(ix, "aws:iam/groupMembership:GroupMembership")) {
        const group = prop(ix, m, "group"); const users = known(() => m.props.users);
        if (!group || users === UNKNOWN) continue;
        for (const u of asArray(users as string[])) memberships.push({ user: String(u), group, via: m });
    }
    for (const m of ofType(ix, "aws:iam/userGroupMembership:UserGroupMembership")) {
        const user = prop(ix, m, "user"); const groups = known(() => m.props.groups);
        if (!user || groups === UNKNOWN) continue;
        for (const g of asArray(groups as string[])) memberships.push({ user, group: String(g), via: m });
    }
    for (const { user, group, via } of memberships) {
        const u = byName.get(`${USER}|${user}`); const g = byName.get(`${GROUP}|${group}`);
        if (u && g) for (const doc of g.docs) u.docs.push({ ...doc, where: `${doc.where} (group ${group}, through ${label(via)})` });
    }
    return out;
}

function addManaged(ix: Index, entry: Documents, policies: Map<string, PolicyResource>, arn: string, via: PolicyResource): void {
    const p = policies.get(arn);
    if (!p) return; // AWS-managed or foreign: judged by iam-managed-policies-allowlisted / researcher-roles-scoped.
    const doc = known(() => p.props.policy);
    if (doc === UNKNOWN) { ix.d.defer(`${label(p)}.policy`); return; }
    entry.docs.push({ where: `${label(p)} (attached by ${label(via)})`, urn: via.urn, statements: statementsOf(doc) ?? [] });
}

// --- What a statement reaches --------------------------------------------------------------------

/**
 * A statement with every policy variable left in its resources (`${aws:userid}`, `${aws:username}`...)
 * read as `*`: the caller supplies its value, so as a pattern over this stack's researchers it may be any.
 * Session resources pinned by `${aws:userid}` reach no researcher asset either way.
 */
function anyVariable(s: Statement): Statement {
    if (!s.resources.some((r) => r.includes("${"))) return s;
    return { ...s, resources: s.resources.map((r) => r.replace(/\$\{[^}]*\}/g, "*")) };
}

const actionCache = new Map<string, Promise<ActionInfo[]>>();
function actionsOf(pattern: string): Promise<ActionInfo[]> {
    if (!actionCache.has(pattern)) actionCache.set(pattern, pattern === "*" ? Promise.resolve([]) : expandAction(pattern));
    return actionCache.get(pattern)!;
}

/** Every action of `service` an Allow statement grants (Action, NotAction, "*"). */
async function grantedActions(s: Statement, service: string): Promise<ActionInfo[]> {
    const all = (await serviceActions(service)) ?? [];
    if (s.notActions) return all.filter((a) => !s.notActions!.some((p) => p === "*" || globMatch(p, a.action)));
    if (s.actions.includes("*")) return all;
    const out = new Map<string, ActionInfo>();
    for (const p of s.actions) if (p.toLowerCase().startsWith(`${service}:`) || p.startsWith("*")) for (const a of await actionsOf(p)) out.set(a.action, a);
    // A pattern with a wildcard service ("*:Get*") reaches every service's actions of that name.
    for (const p of s.actions) if (/^[^:]*[*?][^:]*:/.test(p)) for (const a of all) if (globMatch(p, a.action)) out.set(a.action, a);
    return [...out.values()];
}

const isRead = (a: ActionInfo) => /^(Read|List)$/.test(a.accessLevel);

/** Does one resource pattern of a statement reach the asset? */
function patternReaches(pattern: string, asset: Asset): boolean {
    if (pattern === "*") return true;
    // Cheap refusal first: the pattern's text before its first wildcard must agree with the ARN (either
    // one a prefix of the other, case-insensitively) for any string it matches to reach the asset.
    const lit = pattern.replace(/[*?].*$/s, "").toLowerCase();
    const agrees = (arn: string) => { const a = arn.toLowerCase(); return a.startsWith(lit) || lit.startsWith(a); };
    if (!asset.arns.some(agrees) && !(asset.kind === "s3-prefix" && agrees(`arn:aws:s3:::${asset.bucket}`))) return false;
    if (asset.kind === "s3-prefix") {
        // Objects under the prefix, or the bucket itself (listing; judged with s3:prefix below).
        return asset.arns.some((a) => globReachesPrefix(pattern, a)) || globMatch(pattern, `arn:aws:s3:::${asset.bucket}`);
    }
    return asset.arns.some((a) => globMatch(pattern, a));
}

/**
 * Does the statement's condition exclude the asset's owner? A tag pin on the researcher tag with
 * literal values that do not name the owner, an s3:prefix pin that cannot reach the prefix, an
 * access-point pin to another access point. Pins are judged by value (see pinnedValues).
 */
function conditionExcludes(s: Statement, asset: Asset, c: OwnershipConfig, bucketLevel: boolean): boolean {
    const tagValues = pinnedValues(s, `*:ResourceTag/${c.researcherTag}`);
    if (tagValues && asset.kind !== "s3-prefix" && asset.owner !== SHARED && !tagValues.some((v) => globMatch(v, asset.owner))) return true;
    if (asset.kind === "s3-prefix" && bucketLevel) {
        const prefixes = pinnedValues(s, "s3:prefix");
        if (prefixes && !prefixes.some((p) => globReachesPrefix(p.endsWith("*") ? p : `${p}*`, asset.prefix!) || asset.prefix!.startsWith(p.replace(/[*?].*$/, "")) && !/[*?]/.test(p))) {
            // Listing with prefix "" and delimiter "/" returns the top-level prefix names only.
            return true;
        }
        if (prefixes && prefixes.every((p) => p === "") && (pinnedValues(s, "s3:delimiter") ?? []).every((x) => x === "/") && pinnedValues(s, "s3:delimiter")) return true;
    }
    if (asset.kind === "efs-home") {
        const aps = pinnedValues(s, "elasticfilesystem:AccessPointArn");
        if (aps && !aps.some((v) => asset.arns.some((a) => globMatch(v, a)))) return true;
    }
    return false;
}

/** What an Allow statement reaches of the assets: read or write, per asset. */
/**
 * Assets by the ARNs a pattern is compared with (each ARN, and an S3 prefix's bucket ARN), sorted, so
 * a pattern's candidates are found from the text before its first wildcard (ARNs that start with it,
 * and ARNs it starts with) instead of by comparing it with every asset: the model stays linear in the
 * number of researchers.
 */
export class AssetIndex {
    /** Every ARN an asset is named by, sorted (lower case), for patterns with a wildcard. */
    private readonly keys: Array<[string, Asset]> = [];
    private readonly exact = new Map<string, Asset[]>();
    /** Bucket ARN -> its prefixes by prefix (lower case), for patterns that name the bucket itself (listing). */
    private readonly buckets = new Map<string, Map<string, Asset>>();
    constructor(readonly assets: readonly Asset[]) {
        for (const a of assets) {
            if (!a.services || a.arns.length === 0) continue;
            for (const k of new Set(a.arns.map((x) => x.toLowerCase()))) { this.keys.push([k, a]); this.exact.set(k, [...(this.exact.get(k) ?? []), a]); }
            if (a.kind === "s3-prefix") {
                const b = `arn:aws:s3:::${a.bucket}`.toLowerCase();
                if (!this.buckets.has(b)) this.buckets.set(b, new Map());
                this.buckets.get(b)!.set(a.prefix!.toLowerCase(), a);
            }
        }
        this.keys.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    }

    /**
     * The assets a set of resource patterns may reach (a superset: each is then judged by patternReaches).
     * `prefixPins`: the statement's s3:prefix values, which narrow what listing a bucket reaches.
     */
    candidates(patterns: readonly string[], prefixPins?: readonly string[]): Asset[] {
        const out = new Set<Asset>();
        for (const p of patterns) {
            const wild = /[*?]/.test(p);
            const lit = p.replace(/[*?].*$/s, "").toLowerCase();
            if (lit === "") return this.assets.filter((a) => a.services && a.arns.length > 0);
            if (wild) {
                // ARNs starting with the literal text: a contiguous run of the sorted keys.
                let lo = 0, hi = this.keys.length;
                while (lo < hi) { const mid = (lo + hi) >> 1; if (this.keys[mid][0] < lit) lo = mid + 1; else hi = mid; }
                for (let i = lo; i < this.keys.length && this.keys[i][0].startsWith(lit); i++) out.add(this.keys[i][1]);
            }
            // ARNs the literal text starts with (or equals): a prefix under which the pattern names objects.
            for (let n = 1; n <= lit.length; n++) for (const a of this.exact.get(lit.slice(0, n)) ?? []) out.add(a);
            // A bucket the pattern may name itself (to list it).
            for (const [b, prefixes] of this.buckets) if (lit === b || (wild && b.startsWith(lit))) for (const a of listed(prefixes, prefixPins)) out.add(a);
        }
        return [...out];
    }
}

/** The prefixes a listing reaches under s3:prefix pins: the prefix a pin spells out, else every prefix the pin's literal text may lead to. */
function listed(prefixes: Map<string, Asset>, pins?: readonly string[]): Iterable<Asset> {
    if (!pins) return prefixes.values();
    const out = new Set<Asset>();
    for (const pin of pins) {
        const lit = pin.replace(/[*?].*$/s, "").toLowerCase();
        let found = false;
        for (let n = lit.indexOf("/"); n >= 0; n = lit.indexOf("/", n + 1)) { const a = prefixes.get(lit.slice(0, n + 1)); if (a) { out.add(a); found = true; } }
        if (!found) for (const [p, a] of prefixes) if (p.startsWith(lit)) out.add(a);
    }
    return out;
}

export async function statementReaches(s: Statement, assets: readonly Asset[] | AssetIndex, c: OwnershipConfig): Promise<Array<{ asset: Asset; access: "read" | "write" }>> {
    if (s.effect !== "Allow") return [];
    const out: Array<{ asset: Asset; access: "read" | "write" }> = [];
    const byService = new Map<string, ActionInfo[]>();
    const index = assets instanceof AssetIndex ? assets : new AssetIndex(assets);
    // A statement pinned to researchers by tag (literal values) reaches only their tagged assets (and S3, which has no tags here).
    const tagPin = pinnedValues(s, `*:ResourceTag/${c.researcherTag}`);
    const tagExcludes = (a: Asset) => !!tagPin && a.kind !== "s3-prefix" && a.owner !== SHARED && !tagPin.some((v) => globMatch(v, a.owner));
    // Listing the top level with delimiter "/" returns prefix names only (conditionExcludes): no prefix is a candidate.
    const prefixPins = pinnedValues(s, "s3:prefix");
    const delimiters = pinnedValues(s, "s3:delimiter");
    const namesOnly = !!prefixPins && prefixPins.every((p) => p === "") && !!delimiters && delimiters.every((x) => x === "/");
    // The services the statement's actions can touch ("*" or NotAction: any), so other assets are not looked at.
    const touches = (svc: string) => !!s.notActions || s.actions.some((p) => p === "*" || p.split(":")[0] === "*" || globMatch(p.split(":")[0], svc));
    // Listing a bucket needs s3:ListBucket (or ListBucketVersions...): without it the bucket's ARN reaches no prefix.
    const lists = !!s.notActions || s.actions.some((p) => globMatch(p, "s3:ListBucket") || globMatch(p, "s3:ListBucketVersions") || globMatch(p, "s3:ListBucketMultipartUploads"));
    for (const asset of index.candidates(s.notResources ? ["*"] : s.resources, namesOnly || !lists ? [] : prefixPins)) {
        if (!asset.services || asset.arns.length === 0) continue;
        if (!asset.services.some(touches)) continue;
        if (tagExcludes(asset)) continue;
        const actions: ActionInfo[] = [];
        for (const svc of asset.services) {
            if (!byService.has(svc)) byService.set(svc, (await grantedActions(s, svc)).filter((a) => !a.wildcardOnly));
            actions.push(...byService.get(svc)!);
        }
        if (actions.length === 0) continue;
        const patterns = s.notResources ? ["*"] : s.resources;
        const hit = patterns.filter((p) => patternReaches(p, asset));
        if (hit.length === 0) continue;
        if (s.notResources && s.notResources.some((p) => asset.arns.every((a) => globMatch(p, a)))) continue;
        const bucketLevel = asset.kind === "s3-prefix" && hit.every((p) => p !== "*" && globMatch(p, `arn:aws:s3:::${asset.bucket}`) && !globReachesPrefix(p, asset.arns[0]));
        if (conditionExcludes(s, asset, c, bucketLevel)) continue;
        const relevant = bucketLevel ? actions.filter((a) => /^s3:ListBucket/i.test(a.action)) : actions;
        if (relevant.length === 0) continue;
        out.push({ asset, access: relevant.every(isRead) ? "read" : "write" });
    }
    return out;
}

// --- Kubernetes ----------------------------------------------------------------------------------

/** Who a (namespace, service account) belongs to: a researcher's jobs or server, or nobody's. */
function podsOwner(c: OwnershipConfig, researchers: ReadonlySet<string>, ns: string, sa: string): string | undefined {
    if (ns === c.hubNamespace) {
        const id = sa.startsWith(c.serverServiceAccountPrefix) ? sa.slice(c.serverServiceAccountPrefix.length) : "";
        return researchers.has(id) ? id : undefined;
    }
    if (ns.startsWith(c.researcherNamespacePrefix)) {
        const id = ns.slice(c.researcherNamespacePrefix.length);
        return researchers.has(id) ? id : undefined;
    }
    return undefined;
}

/** Who mounts a claim: the pods of a researcher's namespace, or in the hub namespace the server whose claim it is by name. */
function claimOwner(c: OwnershipConfig, researchers: ReadonlySet<string>, ns: string, claim: string): string | undefined {
    if (ns === c.hubNamespace) {
        for (const p of c.hubClaimPrefixes) if (claim.startsWith(p) && researchers.has(claim.slice(p.length))) return claim.slice(p.length);
        return undefined;
    }
    if (ns.startsWith(c.researcherNamespacePrefix)) {
        const id = ns.slice(c.researcherNamespacePrefix.length);
        return researchers.has(id) ? id : undefined;
    }
    return undefined;
}

const podsPrincipal = (c: OwnershipConfig, researchers: ReadonlySet<string>, ns: string, sa: string | undefined, via: string): Principal => {
    const owner = sa === undefined ? claimOwner(c, researchers, ns, via) : podsOwner(c, researchers, ns, sa);
    return { kind: "pods", name: `${ns}/${sa ?? "*"}`, ...(owner ? { actsFor: owner } : {}), label: sa === undefined ? `pods of namespace ${ns} mounting claim ${via}` : `pods of namespace ${ns} running as service account ${sa}` };
};

// --- The model -----------------------------------------------------------------------------------

export async function ownershipModel(all: Stack, config: Partial<OwnershipConfig>, d: Deferrals): Promise<OwnershipModel> {
    const c = { ...OWNERSHIP_DEFAULTS, ...config };
    const ix = indexOf(all, c, d);
    const researchers = researchersOf(ix);
    const assets = assetsOf(ix, researchers);
    const principals: Principal[] = [];
    const reaches: Reach[] = [];
    const holds: Holds[] = [];

    const index = new AssetIndex(assets);
    const s3Index = new AssetIndex(assets.filter((a) => a.kind === "s3-prefix"));

    // 1. Identity policies of roles, users and groups.
    const roleByArn = new Map<string, Principal>();
    const roleByName = new Map<string, Principal>();
    for (const entry of identityDocuments(ix)) {
        principals.push(entry.principal);
        const arn = get(() => entry.resource.props.arn);
        if (entry.principal.kind === "iam-role") {
            if (typeof arn === "string") roleByArn.set(arn, entry.principal);
            for (const n of namesOf(entry.resource)) roleByName.set(n, entry.principal);
        }
        const tags = tagsOf(ix, entry.resource);
        const trust = entry.principal.kind === "iam-role" ? statementsOf(known(() => entry.resource.props.assumeRolePolicy)) : [];
        for (const doc of entry.docs) for (const raw of doc.statements) {
            const s = anyVariable(resolvePrincipalTags(raw, tags === UNKNOWN ? {} : tags, trust));
            for (const r of await statementReaches(s, index, c)) reaches.push({ principal: entry.principal, asset: r.asset, access: r.access, via: `${doc.where} statement '${s.sid}'`, urn: doc.urn });
        }
    }

    // 2. Resource policies: bucket and access-point policies name principals directly.
    const account = /^arn:aws[^:]*:iam::(\d{12}):/;
    for (const type of ["aws:s3/bucketPolicy:BucketPolicy", "aws:s3/accessPoint:AccessPoint", "aws:s3control/accessPointPolicy:AccessPointPolicy"]) {
        for (const p of ofType(ix, type)) {
            const doc = known(() => p.props.policy);
            if (doc === UNKNOWN) { d.defer(`${label(p)}.policy`); continue; }
            for (const s of statementsOf(doc) ?? []) {
                if (s.effect !== "Allow") continue;
                const reached = await statementReaches(s, s3Index, c);
                if (reached.length === 0) continue;
                const ps = principalsOf(s.principal);
                // A pin on aws:PrincipalArn to literal ARNs narrows "*" or an account to those principals.
                const pinned = pinnedValues(s, "aws:PrincipalArn");
                const who: Principal[] = [];
                const named = [...ps.aws, ...(ps.anyone && pinned ? pinned : [])];
                if (ps.anyone && !pinned) who.push({ kind: "outside", name: "*", label: "anyone (Principal \"*\")" });
                for (const a of named) {
                    const role = roleByArn.get(a);
                    if (role) { who.push(role); continue; }
                    if (/^\d{12}$/.test(a) || /:root$/.test(a)) who.push({ kind: "outside", name: a, label: `every principal of account ${account.exec(a)?.[1] ?? a} (${a})` });
                    else who.push({ kind: "outside", name: a, label: a });
                }
                for (const svc of ps.service) who.push({ kind: "service", name: svc, purpose: svc, label: `the service ${svc}` });
                for (const w of who) for (const r of reached) reaches.push({ principal: w, asset: r.asset, access: r.access, via: `${label(p)} statement '${s.sid}'`, urn: p.urn });
            }
        }
    }

    // 2b. Any other resource policy that names a researcher's principal: the resource is shared (the stack key,
    // the interruption queue, the repository), so a grant there reaches every researcher's data or hosts. A
    // researcher's grants come from their own role's policies, judged against their scope. The key through a
    // named service (kms:ViaService) is the design's own use of it.
    for (const [type, path] of Object.entries(RESOURCE_POLICY_DOCUMENTS)) {
        if (/s3\/bucketPolicy|s3\/accessPoint:|accessPointPolicy/.test(type)) continue; // judged by prefix above
        for (const r of ofType(ix, type)) {
            const doc = known(() => path.split(".").reduce((o: any, k) => (o === undefined || o === null ? undefined : o[k]), r.props));
            if (doc === UNKNOWN) { d.defer(`${label(r)}.${path}`); continue; }
            if (doc === undefined) continue;
            const shared: Asset = { kind: "shared-resource", owner: EVERYONE, label: `${label(r)}, which serves every researcher`, arns: [] };
            for (const s of statementsOf(doc) ?? []) {
                if (s.effect !== "Allow") continue;
                if (/^aws:kms\//.test(type) && (pinnedValues(s, "kms:ViaService") ?? []).some((v) => !onlyWildcards(v))) continue;
                for (const a of principalsOf(s.principal).aws) {
                    const role = roleByArn.get(a);
                    if (role && (role.actsFor || role.heldBy)) reaches.push({ principal: role, asset: shared, access: s.actions.every((x) => /:(Describe|Get|List)/i.test(x)) ? "read" : "write", via: `${label(r)} statement '${s.sid}' (${s.actions.join(", ") || "NotAction"})`, urn: r.urn });
                }
            }
        }
    }

    // 3. Workstations: the role their instance profile holds, the volumes attached to them.
    const profiles = new Map<string, string>();
    for (const p of ofType(ix, "aws:iam/instanceProfile:InstanceProfile")) {
        const role = prop(ix, p, "role");
        for (const n of [...namesOf(p), str(get(() => p.props.arn))].filter((x): x is string => !!x)) if (role) profiles.set(n, role);
    }
    const hosts = new Map<string, Principal>();
    for (const i of [...ofType(ix, "aws:ec2/instance:Instance"), ...ofType(ix, "aws:ec2/spotInstanceRequest:SpotInstanceRequest")]) {
        const owner = ownerByTag(ix, i);
        if (owner === UNKNOWN) continue;
        const host: Principal = { kind: "host", name: i.name, ...(owner ? { actsFor: owner } : {}), label: `${owner ? `${owner}'s workstation ` : ""}${label(i)}`, urn: i.urn };
        principals.push(host);
        const id = get(() => i.props.id);
        if (typeof id === "string") hosts.set(id, host);
        const profile = prop(ix, i, "iamInstanceProfile");
        if (!profile) continue;
        const roleName = profiles.get(profile) ?? profiles.get(profile.replace(/^arn:[^:]+:iam::\d{12}:instance-profile\/(.*\/)?/, ""));
        const role = roleName ? roleByName.get(roleName) : undefined;
        if (role) holds.push({ holder: host, held: role, via: `${label(i)}.iamInstanceProfile ${profile}`, urn: i.urn });
    }
    const volumeAssets = new Map(assets.filter((x) => x.kind === "ebs-volume" && x.resource).map((x) => [x.resource!, x]));
    const volumes = new Map<string, Asset>();
    for (const v of ofType(ix, "aws:ebs/volume:Volume")) {
        const id = get(() => v.props.id);
        const a = volumeAssets.get(v);
        if (typeof id === "string" && a) volumes.set(id, a);
    }
    for (const att of ofType(ix, "aws:ec2/volumeAttachment:VolumeAttachment")) {
        const vol = prop(ix, att, "volumeId"); const inst = prop(ix, att, "instanceId");
        const asset = vol ? volumes.get(vol) : undefined; const host = inst ? hosts.get(inst) : undefined;
        if (asset && host) reaches.push({ principal: host, asset, access: "write", via: `${label(att)} (attaches it to ${host.label})`, urn: att.urn });
        else if (asset && inst) reaches.push({ principal: { kind: "outside", name: inst, label: `instance ${inst}, which is not one of this stack's workstations` }, asset, access: "write", via: label(att), urn: att.urn });
    }

    // 4. Kubernetes: Pod Identity, access entries, volumes and claims, RBAC, the hub's values.
    // Pod Identity: associations, and those an EKS add-on makes for its own service account in kube-system
    // (aws.eks.Addon podIdentityAssociations: roleArn, serviceAccount; EKS user guide, "add-ons with Pod Identity").
    const associations: Array<{ ns?: string; sa?: string; roleArn?: string; a: PolicyResource; via: string }> = ofType(ix, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
        .map((a) => ({ ns: prop(ix, a, "namespace"), sa: prop(ix, a, "serviceAccount"), roleArn: prop(ix, a, "roleArn"), a, via: label(a) }));
    for (const addon of ofType(ix, "aws:eks/addon:Addon")) {
        const list = known(() => addon.props.podIdentityAssociations);
        if (list === UNKNOWN) { d.defer(`${label(addon)}.podIdentityAssociations`); continue; }
        asArray(list as any[]).forEach((x: any, i: number) => associations.push({ ns: "kube-system", sa: str(x?.serviceAccount), roleArn: str(x?.roleArn), a: addon, via: `${label(addon)}.podIdentityAssociations[${i}]` }));
    }
    for (const { ns, sa, roleArn, a, via } of associations) {
        if (!ns || !sa || !roleArn) continue;
        const role = roleByArn.get(roleArn);
        if (!role) continue;
        // A role Pod Identity hands to a controller's service account serves that controller: its purpose is the account.
        if (role.purpose?.split(", ").includes("pods.eks.amazonaws.com") && !role.actsFor) (role as { purpose?: string }).purpose = `${role.purpose}, ${ns}/${sa}`;
        holds.push({ holder: podsPrincipal(c, researchers, ns, sa, ""), held: role, via, urn: a.urn });
    }
    for (const e of ofType(ix, "aws:eks/accessEntry:AccessEntry")) {
        const arn = prop(ix, e, "principalArn"); const user = prop(ix, e, "userName");
        if (!arn || !user) continue;
        const role = roleByArn.get(arn);
        const id = user.startsWith(c.researcherUserPrefix) ? user.slice(c.researcherUserPrefix.length) : undefined;
        const k8sUser: Principal = { kind: "k8s-user", name: user, ...(id && researchers.has(id) ? { actsFor: id } : {}), label: `Kubernetes user ${user}` };
        holds.push({ holder: role ?? { kind: "outside", name: arn, label: arn }, held: k8sUser, via: label(e), urn: e.urn });
    }
    kubernetesVolumes(ix, researchers, assets, reaches);
    kubernetesNetwork(ix, researchers, assets, reaches);
    kubernetesWorkloads(ix, researchers, assets, reaches, holds);
    kubernetesRbac(ix, researchers, assets, reaches, roleByArn);
    hubValues(ix, researchers, assets, reaches, holds, roleByArn);

    deriveOwners(holds);
    return { researchers, assets, principals, reaches, holds };
}

/**
 * An IAM role the stack did not tag for anyone acts for whoever holds it: the researcher whose
 * workstation or pods hold it, or, when several researchers' do, all of them (so any one
 * researcher's data it reaches is reached by the others too).
 */
function deriveOwners(holds: readonly Holds[]): void {
    const holders = new Map<Principal, Set<string>>();
    for (const h of holds) {
        if (h.held.kind !== "iam-role" || h.held.actsFor !== undefined) continue;
        const set = holders.get(h.held) ?? new Set<string>();
        set.add(h.holder.actsFor ?? `(${h.holder.label})`);
        holders.set(h.held, set);
    }
    for (const [role, who] of holders) {
        const ids = [...who];
        const researcherIds = ids.filter((x) => !x.startsWith("("));
        if (researcherIds.length === 0) continue;
        if (ids.length === 1) (role as { actsFor?: string }).actsFor = ids[0];
        else (role as { heldBy?: string[] }).heldBy = ids;
    }
}

/** PersistentVolumes: the EFS access point or S3 prefix they mount, and the claim (so the pods) that binds them. */
function kubernetesVolumes(ix: Index, researchers: ReadonlySet<string>, assets: readonly Asset[], reaches: Reach[]): void {
    const { c } = ix;
    const claimsByVolume = new Map<string, Array<{ ns: string; name: string; r: PolicyResource }>>();
    for (const pvc of ofType(ix, "kubernetes:core/v1:PersistentVolumeClaim")) {
        const vol = get(() => pvc.props.spec?.volumeName); const ns = get(() => pvc.props.metadata?.namespace) ?? "default"; const name = get(() => pvc.props.metadata?.name);
        if (typeof vol === "string" && typeof ns === "string" && typeof name === "string") claimsByVolume.set(vol, [...(claimsByVolume.get(vol) ?? []), { ns, name, r: pvc }]);
    }
    const homes = assets.filter((a) => a.kind === "efs-home");
    const homeByAccessPoint = new Map<string, Asset>();
    for (const a of homes) for (const arn of a.arns) { const m = /access-point\/(fsap-[^/]+)$/.exec(arn); if (m) homeByAccessPoint.set(m[1], a); }
    const prefixesByBucket = new Map<string, Asset[]>();
    for (const a of assets) if (a.kind === "s3-prefix") prefixesByBucket.set(a.bucket!, [...(prefixesByBucket.get(a.bucket!) ?? []), a]);
    for (const pv of ofType(ix, "kubernetes:core/v1:PersistentVolume")) {
        const spec = known(() => pv.props.spec) as any;
        if (spec === UNKNOWN) { ix.d.defer(`${label(pv)}.spec`); continue; }
        if (!spec) continue;
        const csi = spec.csi ?? {};
        const readOnly = asArray(spec.mountOptions).some((o: string) => o === "read-only" || o === "ro") || csi.readOnly === true || (asArray(spec.accessModes).length > 0 && asArray(spec.accessModes).every((m: string) => m === "ReadOnlyMany"));
        let reached: Asset[] = [];
        if (csi.driver === "efs.csi.aws.com" && typeof csi.volumeHandle === "string") {
            const apId = csi.volumeHandle.split("::")[1];
            const home = apId ? homeByAccessPoint.get(apId) : undefined;
            reached = apId ? (home ? [home] : []) : homes; // without an access point, the whole file system: every home
        } else if (csi.driver === "s3.csi.aws.com") {
            const bucket = csi.volumeAttributes?.bucketName;
            const prefixOpt = asArray(spec.mountOptions).map(String).find((o) => /^prefix[ =]/.test(o));
            const prefix = prefixOpt ? prefixOpt.replace(/^prefix[ =]/, "").trim() : "";
            reached = (prefixesByBucket.get(bucket) ?? []).filter((a) => a.prefix!.startsWith(prefix) || prefix.startsWith(a.prefix!));
        }
        if (reached.length === 0) continue;
        const ref = spec.claimRef;
        const binders: Principal[] = [];
        if (ref && typeof ref.name === "string") binders.push(podsPrincipal(c, researchers, ref.namespace ?? "default", undefined, ref.name));
        else binders.push({ kind: "outside", name: "any claim", label: `any claim in any namespace (${label(pv)} has no claimRef, so the first matching claim binds it)` });
        const pvName = get(() => pv.props.metadata?.name);
        for (const cl of typeof pvName === "string" ? claimsByVolume.get(pvName) ?? [] : []) {
            if (ref && (cl.ns !== (ref.namespace ?? "default") || cl.name !== ref.name)) continue;
            binders.push(podsPrincipal(c, researchers, cl.ns, undefined, cl.name));
        }
        for (const b of binders) for (const a of reached) reaches.push({ principal: b, asset: a, access: readOnly ? "read" : "write", via: `${label(pv)}`, urn: pv.urn });
    }
}

/**
 * NetworkPolicies in a researcher's namespace: policies are additive (Kubernetes "Network Policies": the
 * allowed connections are the union of every policy that selects a pod), so a policy admitting traffic
 * from another namespace or address opens the namespace's pods to it, and one letting them reach NFS
 * (TCP 2049) anywhere lets them mount the EFS file system without its access points, every home on it.
 */
function kubernetesNetwork(ix: Index, researchers: ReadonlySet<string>, assets: readonly Asset[], reaches: Reach[]): void {
    const { c } = ix;
    const homes = assets.filter((a) => a.kind === "efs-home");
    for (const np of ofType(ix, "kubernetes:networking.k8s.io/v1:NetworkPolicy")) {
        const ns = get(() => np.props.metadata?.namespace);
        if (typeof ns !== "string" || !ns.startsWith(c.researcherNamespacePrefix)) continue;
        const id = ns.slice(c.researcherNamespacePrefix.length);
        if (!researchers.has(id)) continue;
        const spec = known(() => np.props.spec) as any;
        if (spec === UNKNOWN) { ix.d.defer(`${label(np)}.spec`); continue; }
        const namespaceAsset = assets.find((a) => a.kind === "namespace" && a.owner === id)!;
        const peerLabel = (peer: any): string | undefined => {
            if (peer?.ipBlock) return `addresses ${peer.ipBlock.cidr}`;
            if (peer?.namespaceSelector) {
                const labels = peer.namespaceSelector.matchLabels ?? {};
                const exprs = asArray(peer.namespaceSelector.matchExpressions);
                const name = labels["kubernetes.io/metadata.name"];
                if (Object.keys(labels).length === 1 && exprs.length === 0 && name === ns) return undefined;
                return name && Object.keys(labels).length === 1 && exprs.length === 0 ? `pods of namespace ${name}` : "pods of other namespaces";
            }
            return undefined; // a podSelector alone: pods of this namespace
        };
        asArray(spec?.ingress).forEach((rule: any, i: number) => {
            const from = asArray(rule?.from);
            const peers = from.length === 0 ? ["any source"] : from.map(peerLabel).filter((x): x is string => !!x);
            for (const peer of new Set(peers)) {
                reaches.push({ principal: { kind: "outside", name: peer, label: peer }, asset: namespaceAsset, access: "read", via: `${label(np)} ingress[${i}] (network policies add up: this admits ${peer} to ${ns})`, urn: np.urn });
            }
        });
        const pods: Principal = { kind: "pods", name: `${ns}/*`, actsFor: id, label: `pods of ${id}'s namespace ${ns}` };
        asArray(spec?.egress).forEach((rule: any, i: number) => {
            const ports = asArray(rule?.ports);
            const nfs = ports.length === 0 || ports.some((p: any) => p?.port === 2049 || p?.port === "2049" || (typeof p?.endPort === "number" && typeof p?.port === "number" && p.port <= 2049 && p.endPort >= 2049));
            if (!nfs) return;
            const to = asArray(rule?.to);
            const beyond = to.length === 0 || to.some((peer: any) => peer?.ipBlock || (peer?.namespaceSelector && peerLabel(peer) === "pods of other namespaces"));
            if (!beyond) return;
            for (const home of homes) reaches.push({ principal: pods, asset: home, access: "write", via: `${label(np)} egress[${i}] (NFS, TCP 2049, beyond the cluster: the EFS file system mounted without its access points)`, urn: np.urn });
        });
    }
}

/**
 * The stack's own workloads (wherever a pod template sits, rules/kubernetes.ts podSpecPaths): the service
 * account their pods run as, and the claims they mount, belong to the namespace's researcher (nobody's in
 * the hub's namespace, where only KubeSpawner starts researchers' servers).
 */
function kubernetesWorkloads(ix: Index, researchers: ReadonlySet<string>, assets: readonly Asset[], reaches: Reach[], holds: Holds[]): void {
    const { c } = ix;
    for (const r of ix.all) {
        const paths = podSpecPaths(r.type, r.props);
        if (paths.length === 0) continue;
        const ns = get(() => r.props.metadata?.namespace) ?? "default";
        if (ns === UNKNOWN) { ix.d.defer(`${label(r)}.metadata.namespace`); continue; }
        const owner = String(ns).startsWith(c.researcherNamespacePrefix) && researchers.has(String(ns).slice(c.researcherNamespacePrefix.length)) ? String(ns).slice(c.researcherNamespacePrefix.length) : undefined;
        const pods: Principal = { kind: "pods", name: `${ns}/${r.name}`, ...(owner ? { actsFor: owner } : {}), label: `the pods of ${label(r)} in ${ns}` };
        for (const path of paths) {
            const spec = known(() => path.reduce((o: any, k) => (o === undefined || o === null ? undefined : o[k]), r.props)) as any;
            if (spec === UNKNOWN) { ix.d.defer(`${label(r)}.${path.join(".")}`); continue; }
            if (!spec) continue;
            const sa = typeof spec.serviceAccountName === "string" ? spec.serviceAccountName : typeof spec.serviceAccount === "string" ? spec.serviceAccount : "default";
            holds.push({ holder: pods, held: podsPrincipal(c, researchers, String(ns), sa, ""), via: `${label(r)}.${path.join(".")}.serviceAccountName "${sa}"`, urn: r.urn });
            for (const v of asArray(spec.volumes)) {
                const claim = (v as any)?.persistentVolumeClaim?.claimName;
                if (typeof claim !== "string") continue;
                const of = claimOwner(c, researchers, String(ns), claim);
                if (!of || of === owner) continue;
                for (const a of assets.filter((x) => x.owner === of && (x.kind === "efs-home" || x.kind === "s3-prefix"))) reaches.push({ principal: pods, asset: a, access: (v as any).persistentVolumeClaim.readOnly ? "read" : "write", via: `${label(r)} volume claim "${claim}"`, urn: r.urn });
            }
        }
    }
}

/** Services the z2jh chart defines with its own role (jupyterhub_config.py: the idle culler's), judged by jupyterhub-values-secure. */
const HUB_CHART_SERVICES = ["jupyterhub-idle-culler"];

const RBAC = "kubernetes:rbac.authorization.k8s.io/v1";

/** What RBAC gives each subject in each researcher's namespace (and on servers in the hub's). */
function kubernetesRbac(ix: Index, researchers: ReadonlySet<string>, assets: readonly Asset[], reaches: Reach[], roleByArn: ReadonlyMap<string, Principal>): void {
    const { c } = ix;
    // EKS access policies a researcher's role holds, read as the user-facing ClusterRoles they match (EKS user guide,
    // "Review access policy permissions": AmazonEKSViewPolicy ~ view, EditPolicy ~ edit, AdminPolicy ~ admin,
    // ClusterAdminPolicy ~ cluster-admin); another policy counts as reaching everything. Whom the stack's admins are
    // is eks-access-entries-scoped's to judge; here only a researcher's own role.
    const EKS_POLICIES: Record<string, string> = { AmazonEKSViewPolicy: "view", AmazonEKSEditPolicy: "edit", AmazonEKSAdminPolicy: "admin", AmazonEKSClusterAdminPolicy: "cluster-admin" };
    const synthetic: Array<{ r: PolicyResource; kind: string; ns?: string; roleRef: { kind: string; name: string }; subjects: Principal[] }> = [];
    for (const a of ofType(ix, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")) {
        const arn = prop(ix, a, "principalArn"); const policy = prop(ix, a, "policyArn");
        const role = arn ? roleByArn.get(arn) : undefined;
        if (!role?.actsFor || !policy) continue;
        const scope = known(() => a.props.accessScope) as any;
        if (scope === UNKNOWN) { ix.d.defer(`${label(a)}.accessScope`); continue; }
        const name = EKS_POLICIES[policy.split("/").pop() ?? ""] ?? `(${policy})`;
        if (scope?.type === "namespace") for (const ns of asArray(scope.namespaces as string[])) synthetic.push({ r: a, kind: "RoleBinding", ns: String(ns), roleRef: { kind: "ClusterRole", name }, subjects: [role] });
        else synthetic.push({ r: a, kind: "ClusterRoleBinding", roleRef: { kind: "ClusterRole", name }, subjects: [role] });
    }
    const rolesByKey = new Map<string, unknown>();
    for (const kind of ["Role", "ClusterRole"]) for (const r of ofType(ix, `${RBAC}:${kind}`)) {
        const name = get(() => r.props.metadata?.name); const ns = get(() => r.props.metadata?.namespace);
        const rules = known(() => r.props.rules);
        if (rules === UNKNOWN) { ix.d.defer(`${label(r)}.rules`); continue; }
        if (typeof name === "string") rolesByKey.set(`${kind}|${kind === "Role" ? ns : ""}|${name}`, rules);
    }
    const namespaceAsset = (id: string) => assets.find((a) => a.kind === "namespace" && a.owner === id)!;
    const bindings: Array<{ b: PolicyResource; kind: string; binding: any }> = [];
    for (const kind of ["RoleBinding", "ClusterRoleBinding"]) for (const b of ofType(ix, `${RBAC}:${kind}`)) {
        const binding = known(() => ({ ns: b.props.metadata?.namespace, roleRef: b.props.roleRef, subjects: b.props.subjects })) as any;
        if (binding === UNKNOWN) { ix.d.defer(`${label(b)}`); continue; }
        bindings.push({ b, kind, binding });
    }
    for (const x of synthetic) bindings.push({ b: x.r, kind: x.kind, binding: { ns: x.ns, roleRef: x.roleRef, subjects: x.subjects.map((p) => ({ principal: p })) } });
    for (const { b, kind, binding } of bindings) {
        const ref = binding.roleRef ?? {};
        const defined = ref.kind === "ClusterRole" ? rolesByKey.get(`ClusterRole||${ref.name}`) ?? BUILT_IN_RULES[ref.name] : rolesByKey.get(`Role|${binding.ns}|${ref.name}`);
        // A role neither the stack nor Kubernetes' user-facing set defines (system:aggregate-to-edit, a chart's role):
        // its rules cannot be read here, so it counts as reaching everything it is bound over.
        const rules = defined ?? [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }];
        const unread = defined === undefined ? `, ${ref.kind ?? "role"} ${ref.name} is not defined by the stack, so its rules cannot be read` : "";
        const dataGrants = namespaceDataGrants(rules);
        const inHub = kind === "ClusterRoleBinding" || binding.ns === c.hubNamespace;
        const namespaces = kind === "ClusterRoleBinding" ? [...researchers] : [String(binding.ns ?? "")].filter((ns) => ns.startsWith(c.researcherNamespacePrefix)).map((ns) => ns.slice(c.researcherNamespacePrefix.length)).filter((id) => researchers.has(id));
        for (const s of asArray(binding.subjects as any[])) {
            const subject: Principal = s?.principal ?? subjectPrincipal(c, researchers, s, binding.ns);
            if (dataGrants.length) for (const id of namespaces) {
                reaches.push({ principal: subject, asset: namespaceAsset(id), access: dataGrants.some((g) => g.write) ? "write" : "read", via: `${label(b)} (${dataGrants.map((g) => g.what).join(", ")}${unread})`, urn: b.urn });
            }
            // The hub's namespace holds every server: what the rules let the subject do to a server that is not
            // its own (lib/rbac.ts crossResearcherGrants: reads of pods and secrets, exec, proxy, workloads, tokens).
            if (!inHub) continue;
            const asSubject = s?.principal ? { kind: "User", name: `${c.researcherUserPrefix}${subject.actsFor}` } : { kind: String(s?.kind ?? ""), name: String(s?.name ?? "") };
            const cross = crossResearcherGrants(rules, [asSubject], { researcherUserPrefix: c.researcherUserPrefix, serverPodPrefix: c.serverPodPrefix });
            if (cross.length === 0) continue;
            const readOnly = cross.every((g) => /^(get|list)/.test(g));
            for (const server of assets.filter((a) => a.kind === "server" && a.owner !== subject.actsFor)) {
                reaches.push({ principal: subject, asset: server, access: readOnly ? "read" : "write", via: `${label(b)} in ${c.hubNamespace} (${cross.join(", ")}${readOnly ? ": a server pod's spec carries its JUPYTERHUB_API_TOKEN" : ""}${unread})`, urn: b.urn });
            }
        }
    }
}

/** Rules of the built-in user-facing ClusterRoles, as far as they reach a namespace's data (Kubernetes "User-facing roles"). */
const BUILT_IN_RULES: Record<string, unknown> = {
    "cluster-admin": [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
    admin: [{ apiGroups: [""], resources: ["pods", "pods/exec", "secrets", "configmaps", "persistentvolumeclaims"], verbs: ["*"] }],
    edit: [{ apiGroups: [""], resources: ["pods", "pods/exec", "secrets", "configmaps", "persistentvolumeclaims"], verbs: ["*"] }],
    // view: read-only, no secrets, no exec ("User-facing roles": "does not allow viewing Secrets").
    view: [{ apiGroups: ["", "apps", "batch"], resources: ["pods", "configmaps", "services", "persistentvolumeclaims", "deployments", "jobs", "events"], verbs: ["get", "list", "watch"] }],
};

/**
 * What rules give on a researcher's namespace that reaches their data: reading secrets, entering pods
 * (exec, attach, port-forward, proxy, ephemeral containers), creating or changing workloads (a pod
 * mounts the namespace's claims and runs as its service account), changing claims or service
 * accounts, minting their tokens, impersonating. Reading pods, events, services and the like is not
 * data: a read-only monitoring role does not reach it.
 */
export function namespaceDataGrants(rules: unknown): Array<{ what: string; write: boolean }> {
    const out: Array<{ what: string; write: boolean }> = [];
    for (const r of asArray(rules as any[])) {
        if (ruleGrants(r, "", "secrets", ["get", "list", "watch"])) out.push({ what: "read secrets", write: false });
        for (const sub of ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "pods/ephemeralcontainers"]) if (ruleGrants(r, "", sub, ["get", "create", "update", "patch"])) out.push({ what: sub, write: true });
        for (const [g, res] of [["", "pods"], ["apps", "deployments"], ["apps", "statefulsets"], ["apps", "daemonsets"], ["apps", "replicasets"], ["batch", "jobs"], ["batch", "cronjobs"], ["", "replicationcontrollers"], ["", "persistentvolumeclaims"], ["", "serviceaccounts"], ["", "configmaps"], ["", "secrets"]]) {
            if (ruleGrants(r, g, res, ["create", "update", "patch"])) out.push({ what: `write ${res}`, write: true });
        }
        if (ruleGrants(r, "", "serviceaccounts/token", ["create"])) out.push({ what: "create serviceaccounts/token", write: true });
        if (coversVerb(r?.verbs, ["impersonate"])) out.push({ what: "impersonate", write: true });
        for (const res of ["roles", "rolebindings"]) if (ruleGrants(r, "rbac.authorization.k8s.io", res, ["create", "update", "patch", "bind", "escalate"])) out.push({ what: `write ${res}`, write: true });
    }
    const seen = new Set<string>();
    return out.filter((x) => !seen.has(x.what) && seen.add(x.what));
}

function subjectPrincipal(c: OwnershipConfig, researchers: ReadonlySet<string>, s: any, bindingNs: unknown): Principal {
    const kind = String(s?.kind ?? "");
    const name = String(s?.name ?? "");
    if (kind === "User") {
        const id = name.startsWith(c.researcherUserPrefix) ? name.slice(c.researcherUserPrefix.length) : undefined;
        return { kind: "k8s-user", name, ...(id && researchers.has(id) ? { actsFor: id } : {}), label: `Kubernetes user ${name}` };
    }
    if (kind === "ServiceAccount") {
        const ns = String(s?.namespace ?? bindingNs ?? "default");
        return podsPrincipal(c, researchers, ns, name, "");
    }
    return { kind: "k8s-group", name, label: `Kubernetes group ${name}` };
}

/** The hub's values: which service account and claims each researcher's server gets. */
function hubValues(ix: Index, researchers: ReadonlySet<string>, assets: readonly Asset[], reaches: Reach[], holds: Holds[], roleByArn: Map<string, Principal>): void {
    const { c } = ix;
    void roleByArn;
    // The identity providers the stack runs: each Cognito domain's hosted UI (Amazon Cognito developer guide, "Using
    // the prefix domain for the hosted UI": https://<prefix>.auth.<region>.amazoncognito.com; a custom domain is its own host).
    const trustedHosts = new Set(c.trustedIdentityProviders.map((h) => h.toLowerCase()));
    for (const dom of ofType(ix, "aws:cognito/userPoolDomain:UserPoolDomain")) {
        const domain = prop(ix, dom, "domain");
        if (!domain) continue;
        const custom = get(() => dom.props.certificateArn);
        const region = get(() => dom.provider?.props.region);
        trustedHosts.add((typeof custom === "string" && custom ? domain : `${domain}.auth.${typeof region === "string" ? region : "*"}.amazoncognito.com`).toLowerCase());
    }
    for (const rel of ofType(ix, "kubernetes:helm.sh/v3:Release")) {
        const chart = get(() => rel.props.chart);
        if (typeof chart !== "string" || !/(^|\/)jupyterhub$/.test(chart)) continue;
        // Whoever answers the hub's OAuth endpoints says who each user is: a host the stack does not run (or the pack
        // config does not trust) logs in as any researcher and opens their server.
        const hubConfig = known(() => rel.props.values?.hub?.config) as any;
        if (hubConfig === UNKNOWN) ix.d.defer(`${label(rel)}.values.hub.config`);
        else {
            const untrusted = new Map<string, string[]>();
            for (const [section, settings] of Object.entries((hubConfig ?? {}) as Record<string, any>)) {
                for (const key of ["authorize_url", "token_url", "userdata_url"]) {
                    const url = settings?.[key];
                    if (typeof url !== "string") continue;
                    const host = /^https?:\/\/([^/:]+)/i.exec(url)?.[1]?.toLowerCase() ?? url;
                    if ([...trustedHosts].some((h) => globMatch(h, host))) continue;
                    untrusted.set(host, [...(untrusted.get(host) ?? []), `${section}.${key}`]);
                }
            }
            for (const [host, keys] of untrusted) {
                const idp: Principal = { kind: "outside", name: host, label: `the identity provider at ${host}` };
                holds.push({ holder: idp, held: { kind: "server", name: "every server", actsFor: EVERYONE, label: "every researcher's server" }, via: `${label(rel)} values.hub.config.${keys.join(", ")} (neither the stack's Cognito domain nor trustedIdentityProviders)`, urn: rel.urn });
            }
        }
        const part = (path: string): any => {
            const v = snapshot(() => path.split(".").reduce((o: any, k) => (o === undefined || o === null ? undefined : o[k]), rel.props.values));
            if (v === UNKNOWN || hasUnknownPart(v)) { ix.d.defer(`${label(rel)}.values.${path}`); return undefined; }
            return v;
        };
        // JupyterHub's own grants (z2jh hub.loadRoles, appended to load_roles; hub.services.<name>.admin): a user or
        // service holding a scope beyond reading and its own (JupyterHub scopes.py; rules/helm.ts harmless) reaches
        // every researcher's server through the hub's API (access:servers, tokens, admin:users...).
        const loadRoles = part("hub.loadRoles");
        for (const [key, role] of Object.entries((loadRoles ?? {}) as Record<string, any>)) {
            const scopes = asArray(role?.scopes as string[]).map(String);
            const wide = String(role?.name ?? key) === "admin" ? ["admin"] : scopes.filter((sc) => { const [base, filter] = sc.split("!"); return !harmless(base) && filter !== "user" && filter !== "server"; });
            if (wide.length === 0) continue;
            const holders: Principal[] = [
                ...asArray(role?.services as string[]).filter((svc) => !HUB_CHART_SERVICES.includes(String(svc))).map((svc) => ({ kind: "outside" as const, name: `service ${svc}`, label: `JupyterHub service ${svc}` })),
                ...asArray(role?.users as string[]).map((u) => ({ kind: "k8s-user" as const, name: String(u), ...(researchers.has(String(u)) ? { actsFor: String(u) } : {}), label: `JupyterHub user ${u}` })),
                ...asArray(role?.groups as string[]).map((g) => ({ kind: "k8s-group" as const, name: String(g), label: `JupyterHub group ${g}` })),
            ];
            for (const who of holders) for (const server of assets.filter((a) => a.kind === "server" && a.owner !== who.actsFor)) {
                reaches.push({ principal: who, asset: server, access: "write", via: `${label(rel)} values.hub.loadRoles.${key} (${wide.join(", ")})`, urn: rel.urn });
            }
        }
        for (const [name, svc] of Object.entries((part("hub.services") ?? {}) as Record<string, any>)) {
            if (svc?.admin !== true) continue;
            for (const server of assets.filter((a) => a.kind === "server")) reaches.push({ principal: { kind: "outside", name: `service ${name}`, label: `JupyterHub service ${name}` }, asset: server, access: "write", via: `${label(rel)} values.hub.services.${name}.admin (the admin role: access:servers, tokens)`, urn: rel.urn });
        }

        // What each server runs as and mounts, from every place the chart takes it (z2jh 4.4.0 jupyterhub_config.py:
        // singleuser.* mapped to KubeSpawner, then hub.config sections applied over them with c[section].update(cfg);
        // each profile's kubespawner_override applied per server). Volumes as a list or, since z2jh 4.3.0, a dict
        // keyed by name (KubeSpawner volumes: Union[List, Dict]). Parts unknown at preview are deferred by path.

        const settings: Array<{ where: string; sa?: unknown; volumes?: unknown; claims?: string[] }> = [];
        const storage = part("singleuser.storage") ?? {};
        settings.push({ where: "singleuser", sa: part("singleuser.serviceAccountName"), volumes: storage.extraVolumes, claims: storage.type === "static" && typeof storage.static?.pvcName === "string" ? [storage.static.pvcName] : [] });
        asArray(part("singleuser.profileList") as any[]).forEach((p: any, i: number) => {
            const o = p?.kubespawner_override ?? {};
            settings.push({ where: `singleuser.profileList[${i}].kubespawner_override`, sa: o.service_account, volumes: o.volumes });
            asArray(p?.profile_options && Object.values(p.profile_options)).forEach((opt: any) => {
                for (const ch of Object.values(opt?.choices ?? {}) as any[]) settings.push({ where: `singleuser.profileList[${i}].profile_options`, sa: ch?.kubespawner_override?.service_account, volumes: ch?.kubespawner_override?.volumes });
            });
        });
        const ks = part("hub.config.KubeSpawner") ?? {};
        settings.push({ where: "hub.config.KubeSpawner", sa: ks.service_account, volumes: ks.volumes, claims: typeof ks.pvc_name_template === "string" ? [ks.pvc_name_template] : [] });
        const volumeList = (v: unknown): any[] => (Array.isArray(v) ? v : v && typeof v === "object" ? Object.entries(v).map(([name, x]) => ({ name, ...(x as object) })) : []);
        for (const id of researchers) {
            const server: Principal = { kind: "server", name: `${c.serverPodPrefix}${id}`, actsFor: id, label: `${id}'s server` };
            for (const s of settings) {
                // KubeSpawner expands {username} (and {unescaped_username}, {servername}) per server (kubespawner 7.0.0 spawner.py _expand_user_properties).
                const expand = (v: string) => v.replace(/\{(unescaped_)?username\}/g, id).replace(/\{user_server\}/g, id);
                if (typeof s.sa === "string") holds.push({ holder: server, held: podsPrincipal(c, researchers, c.hubNamespace, expand(s.sa), ""), via: `${label(rel)} values.${s.where} service account "${s.sa}"`, urn: rel.urn });
                const claims = [...(s.claims ?? []).map((x) => ({ claim: x, readOnly: false })), ...volumeList(s.volumes).filter((v) => typeof v?.persistentVolumeClaim?.claimName === "string").map((v) => ({ claim: v.persistentVolumeClaim.claimName as string, readOnly: v.persistentVolumeClaim.readOnly === true }))];
                for (const { claim, readOnly } of claims) {
                    const owner = claimOwner(c, researchers, c.hubNamespace, expand(claim));
                    if (owner && owner !== id) {
                        for (const a of assets.filter((x) => x.owner === owner && (x.kind === "efs-home" || x.kind === "s3-prefix"))) reaches.push({ principal: server, asset: a, access: readOnly ? "read" : "write", via: `${label(rel)} values.${s.where} volume claim "${claim}" (every server mounts ${expand(claim)})`, urn: rel.urn });
                    }
                }
                // A researcher's SSH keys (the ConfigMap ssh-keys-<id> the sidecar reads as authorized_keys): another's
                // keys in this server let them in.
                for (const v of volumeList(s.volumes)) {
                    const cm = v?.configMap?.name ?? v?.secret?.secretName;
                    if (typeof cm !== "string" || !expand(cm).startsWith(c.sshKeysPrefix)) continue;
                    const keysOf = expand(cm).slice(c.sshKeysPrefix.length);
                    if (researchers.has(keysOf) && keysOf !== id) {
                        const serverAsset = assets.find((a) => a.kind === "server" && a.owner === id)!;
                        reaches.push({ principal: { kind: "k8s-user", name: `${c.researcherUserPrefix}${keysOf}`, actsFor: keysOf, label: `${keysOf}'s SSH keys` }, asset: serverAsset, access: "write", via: `${label(rel)} values.${s.where} volume "${v.name}" (ConfigMap ${cm}: ${expand(cm)} is the authorized_keys of ${id}'s server)`, urn: rel.urn });
                    }
                }
            }
        }
    }
}
