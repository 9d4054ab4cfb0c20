/**
 * Who reaches what inside the cluster: EKS access entries map each researcher's role to their own
 * Kubernetes user and nothing more; EKS Pod Identity gives a researcher's service accounts their own
 * pods role only; researchers who may port-forward in a namespace they share (the hub's) are held to
 * their own server by a ValidatingAdmissionPolicy that denies, and cannot read the pods there.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { celReadsOnly, Decision, decide, podCreateRequest, PodShape, portForwardGuardProblem } from "../lib/admission";
import { BUILT_IN_CROSS_GRANTS, coversResource, crossResearcherGrants, CrossResearcherOptions, grantsPortForward, reachesResearchersOrPods, ruleGrants, stopOnly, Subject, WORKLOADS } from "../lib/rbac";
import { isJupyterHub } from "./helm";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { Deferrals } from "../lib/unknowns";
import { asArray, get, known, UNKNOWN } from "../lib/util";

const ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry";
const POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation";
const SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount";
const ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation";
const RBAC = "kubernetes:rbac.authorization.k8s.io/v1";
const VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";
const VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding";

interface AccessConfig { researcherTag: string; researcherUserPrefix: string; hubNamespace: string; researcherNamespacePrefix: string }
const ACCESS_DEFAULTS: AccessConfig = { researcherTag: "researcher", researcherUserPrefix: "archaeo:", hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-" };
interface PodIdentityConfig {
    researcherTag: string; actingForTags: string[]; researcherLabel: string;
    hubNamespace: string; researcherNamespacePrefix: string; serverServiceAccountPrefix: string; jobServiceAccount: string;
}
const POD_IDENTITY_DEFAULTS: PodIdentityConfig = {
    researcherTag: "researcher", actingForTags: ["archaeo-pods-of", "archaeo-workstation-of"], researcherLabel: "archaeo/researcher",
    // infra/cluster/manifests.ts: HUB_NAMESPACE, researcherNamespace(id), serverServiceAccount(id), JOB_SERVICE_ACCOUNT.
    hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-", serverServiceAccountPrefix: "researcher-", jobServiceAccount: "researcher",
};
const NAMESPACE_SCHEMA = {
    hubNamespace: { type: "string", default: "jupyterhub", description: "The namespace of the hub and every researcher's server." },
    researcherNamespacePrefix: { type: "string", default: "researcher-", description: "A researcher's own namespace is <prefix><id>." },
} as const;
/** The budget stop (infra/cluster/budget-stop.ts BUDGET_STOP_QUOTA) and the hub's server pods (manifests.ts serverPodName). */
interface StopConfig { hubNamespace: string; researcherNamespacePrefix: string; budgetStopQuota: string; serverPodPrefix: string }
const STOP_DEFAULTS: StopConfig = { hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-", budgetStopQuota: "archaeo-budget-stop", serverPodPrefix: "jupyter-" };
const STOP_SCHEMA = {
    budgetStopQuota: { type: "string", default: STOP_DEFAULTS.budgetStopQuota, description: "The ResourceQuota the budget enforcer creates in a researcher's namespace when their budget is spent." },
    serverPodPrefix: { type: "string", default: STOP_DEFAULTS.serverPodPrefix, description: "A researcher's server pod is <prefix><id> (KubeSpawner pod_name_template 'jupyter-{user_server}')." },
} as const;
const NAMESPACE = "kubernetes:core/v1:Namespace";
/** How researchers and their servers are named in the cluster (infra/cluster/manifests.ts kubernetesUser, serverPodName). */
const QUOTA_WRITES = ["update", "patch", "delete", "deletecollection"];
const CROSS_DEFAULTS: CrossResearcherOptions = { researcherUserPrefix: "archaeo:", serverPodPrefix: "jupyter-" };
const CROSS_SCHEMA = {
    researcherUserPrefix: { type: "string", default: CROSS_DEFAULTS.researcherUserPrefix, description: "Kubernetes user names of researchers are <prefix><id>." },
    serverPodPrefix: { type: "string", default: CROSS_DEFAULTS.serverPodPrefix, description: "A researcher's server pod is <prefix><id> (KubeSpawner pod_name_template 'jupyter-{user_server}')." },
} as const;
/** EKS access policy that makes a principal a cluster administrator (with accessScope type cluster). */
const CLUSTER_ADMIN_POLICY = /:cluster-access-policy\/AmazonEKSClusterAdminPolicy$/;

type Stack = readonly PolicyResource[];

/**
 * The researcher a role belongs to (by any of `tags`), looked up by principal ARN: by the role's ARN
 * when known, else by its name (known at preview: ".../role/<path><name>"). UNKNOWN when the role
 * that ARN names cannot be told yet; undefined when it is no such role of this stack.
 */
function roleOwner(all: Stack, tags: readonly string[]): (principal: string) => string | undefined | typeof UNKNOWN {
    const roles = all.filter((x) => x.type === "aws:iam/role:Role").map((r) => ({ r, arn: get(() => r.props.arn), name: get(() => r.props.name) }));
    return (principal) => {
        let undecided = false;
        for (const { r, arn, name } of roles) {
            const same = arn !== UNKNOWN && typeof arn === "string" ? arn === principal
                : name !== UNKNOWN && typeof name === "string" ? new RegExp(`:role/(.*/)?${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`).test(principal)
                    : UNKNOWN;
            if (same === UNKNOWN) { undecided = true; continue; }
            if (!same) continue;
            const t = effectiveTags(r);
            if (t === UNKNOWN) return UNKNOWN;
            return tags.map((k) => t[k]).find((v): v is string => typeof v === "string" && v !== "");
        }
        return undecided ? UNKNOWN : undefined;
    };
}

/** Does a label selector (matchLabels only; absent or empty = everything) select namespace `ns`? */
function selectsNamespace(selector: any, ns: string): boolean | "unjudgeable" {
    if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && asArray(selector.matchExpressions).length === 0)) return true;
    // kubernetes.io/metadata.name is set on every namespace to its name (Kubernetes well-known labels); other labels
    // are not known here. A LabelSelector ANDs its matchLabels and matchExpressions (operators In, NotIn, Exists,
    // DoesNotExist: apimachinery LabelSelectorRequirement).
    const NAME = "kubernetes.io/metadata.name";
    const labels = (selector.matchLabels ?? {}) as Record<string, string>;
    if (!Object.entries(labels).every(([k, v]) => k === NAME && v === ns)) return false;
    let out: boolean | "unjudgeable" = true;
    for (const e of asArray(selector.matchExpressions as any[])) {
        if (e?.key !== NAME) { out = "unjudgeable"; continue; }
        const values = asArray(e?.values as string[]);
        const hit = e.operator === "In" ? values.includes(ns) : e.operator === "NotIn" ? !values.includes(ns) : e.operator === "Exists" ? true : e.operator === "DoesNotExist" ? false : undefined;
        if (hit === undefined) out = "unjudgeable";
        else if (!hit) return false;
    }
    return out;
}

/**
 * For a Pod Identity association into the hub's namespace or a researcher's namespace: where that
 * is, the service accounts the stack assigns to researchers there, and the researcher `sa` is
 * assigned to (undefined when it is none of them). Undefined for other namespaces.
 */
function assignedResearcher(c: PodIdentityConfig, ns: string, sa: string): { where: string; expected: string; id?: string } | undefined {
    if (ns === c.hubNamespace) {
        const id = sa.startsWith(c.serverServiceAccountPrefix) ? sa.slice(c.serverServiceAccountPrefix.length) : "";
        return { where: `the hub's namespace ${ns}, which holds every researcher's server`, expected: `${c.serverServiceAccountPrefix}<id>`, ...(id ? { id } : {}) };
    }
    if (ns.startsWith(c.researcherNamespacePrefix) && ns.length > c.researcherNamespacePrefix.length) {
        const owner = ns.slice(c.researcherNamespacePrefix.length);
        return { where: `researcher ${owner}'s namespace ${ns}`, expected: c.jobServiceAccount, ...(sa === c.jobServiceAccount ? { id: owner } : {}) };
    }
    return undefined;
}

export const clusterAccessPolicies: StackValidationPolicy[] = [
    {
        name: "eks-access-entries-scoped",
        description: "Checks whether EKS access entries give each researcher's role (tagged researcher: <id>) only their own Kubernetes user: a STANDARD entry with username <prefix><id>, no Kubernetes groups, no EKS access policy; no entry joins a system: group; and only the stack's admins (AmazonEKSClusterAdminPolicy at cluster scope) hold any EKS access policy.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: ACCESS_DEFAULTS.researcherTag },
                researcherUserPrefix: { type: "string", default: ACCESS_DEFAULTS.researcherUserPrefix, description: "Kubernetes user names of researchers are <prefix><id>; their RoleBindings and the port-forward admission policy name them so." },
                ...NAMESPACE_SCHEMA,
            },
        },
        // CreateAccessEntry (EKS API reference): kubernetesGroups name `kind: Group` subjects of RoleBindings and
        // ClusterRoleBindings, which EKS does not check; an associated access policy adds its permissions to
        // whatever RBAC grants. A researcher's access must come from the RoleBindings to their own user name.
        validateStack: onStack((args, report, d) => {
            const c = { ...ACCESS_DEFAULTS, ...args.getConfig<Partial<AccessConfig>>() };
            const entries = args.resources.filter((r) => r.type === ACCESS_ENTRY);
            const associations = args.resources.filter((r) => r.type === ACCESS_POLICY);
            if (entries.length + associations.length === 0) return;
            const ownerOf = roleOwner(args.resources, [c.researcherTag]);
            const users = new Map<string, string[]>();
            for (const e of entries) {
                const groups = known(() => e.props.kubernetesGroups) as string[] | undefined | typeof UNKNOWN;
                if (groups === UNKNOWN) d.defer(`${label(e)}.kubernetesGroups`);
                else {
                    const system = asArray(groups).filter((g) => /^system:/.test(g));
                    if (system.length) report(`${label(e)} joins ${system.join(", ")}: system: groups are Kubernetes' own (system:masters is cluster-admin, bypassing RBAC); bind named roles instead.`, e.urn);
                }
                const userName = get(() => e.props.userName);
                if (userName === UNKNOWN) d.defer(`${label(e)}.userName`);
                else if (typeof userName === "string" && userName) users.set(userName, [...(users.get(userName) ?? []), e.name]);
                const principal = get(() => e.props.principalArn);
                const id = principal === UNKNOWN ? UNKNOWN : ownerOf(String(principal));
                if (id === UNKNOWN) { d.defer(`${label(e)}.principalArn (whether it is a researcher's role is known once the roles exist)`); continue; }
                if (id === undefined) continue;
                const problems: string[] = [];
                const type = get(() => e.props.type);
                if (type === UNKNOWN) d.defer(`${label(e)}.type`);
                else if (type !== undefined && type !== "STANDARD") problems.push(`type is ${type}, a node entry (it joins the node groups); use STANDARD`);
                const want = `${c.researcherUserPrefix}${id}`;
                if (userName !== UNKNOWN && userName !== want) problems.push(`username is ${userName ?? "unset (EKS derives one from the role ARN)"}, not ${want}: the researcher would get another user's RoleBindings, or none the port-forward policy knows`);
                if (groups !== UNKNOWN && asArray(groups).length) problems.push(`kubernetesGroups ${asArray(groups).join(", ")} give the researcher whatever those groups are bound to; a researcher's access is the RoleBindings to ${want} only`);
                if (problems.length) report(`${label(e)} maps researcher ${id}'s role: ${problems.join("; ")}.`, e.urn);
            }
            for (const [user, names] of users) if (names.length > 1) report(`Access entries ${names.join(" and ")} map to the same Kubernetes user ${user}: two principals would share one identity's permissions.`);
            // Every access-policy association is judged by its policy and scope, whoever the principal: the
            // admins (the program gives the configured admins and the deployer AmazonEKSClusterAdminPolicy at
            // cluster scope, infra/cluster/eks.ts) may hold access policies; no one else may. Amazon EKS access
            // policies (EKS User Guide, "Review access policy permissions"): AmazonEKSViewPolicy already gets,
            // lists and watches pods, and in the hub's namespace a server pod's spec carries its
            // JUPYTERHUB_API_TOKEN; AmazonEKSEditPolicy and AmazonEKSAdminPolicy add secrets and pods/exec.
            const judged = associations.map((a) => ({
                a, principal: get(() => a.props.principalArn), policy: get(() => a.props.policyArn), scope: known(() => a.props.accessScope) as any,
            }));
            const admins = new Set(judged.filter((x) => typeof x.principal === "string" && typeof x.policy === "string" && CLUSTER_ADMIN_POLICY.test(x.policy)
                && x.scope !== UNKNOWN && x.scope?.type === "cluster").map((x) => x.principal as string));
            const adminsUncertain = judged.some((x) => x.principal === UNKNOWN || x.policy === UNKNOWN || x.scope === UNKNOWN);
            const facing = (ns: string) => ns === c.hubNamespace ? "the hub's namespace, which holds every researcher's server" : ns.startsWith(c.researcherNamespacePrefix) ? `researcher ${ns.slice(c.researcherNamespacePrefix.length)}'s namespace` : undefined;
            for (const { a, principal, policy, scope } of judged) {
                const id = principal === UNKNOWN ? UNKNOWN : ownerOf(String(principal));
                if (id === UNKNOWN) { d.defer(`${label(a)}.principalArn`); continue; }
                if (id !== undefined) {
                    report(`${label(a)} associates ${policy === UNKNOWN ? "an EKS access policy" : String(policy).split("/").pop()} with researcher ${id}'s role: access policies grant across namespaces (or the whole cluster); give researchers RoleBindings in their own namespace only.`, a.urn);
                    continue;
                }
                if (admins.has(String(principal))) continue;
                if (policy === UNKNOWN) { d.defer(`${label(a)}.policyArn`); continue; }
                if (scope === UNKNOWN) { d.defer(`${label(a)}.accessScope`); continue; }
                if (adminsUncertain) { d.defer(`${label(a)} (whether ${principal} is an admin is known once every access-policy association is)`); continue; }
                const name = String(policy).split("/").pop();
                const namespaces = asArray(scope?.namespaces as string[]);
                const where = scope?.type === "namespace" ? `in namespace${namespaces.length === 1 ? "" : "s"} ${namespaces.join(", ") || "(none listed)"}` : "across the whole cluster";
                const reach = scope?.type === "namespace" ? namespaces.map((ns) => [ns, facing(ns)]).filter(([, f]) => f).map(([ns, f]) => `${ns} is ${f}`) : ["that includes the hub's namespace, which holds every researcher's server"];
                report(`${label(a)} gives ${principal} ${name} ${where}; only the stack's admins (an AmazonEKSClusterAdminPolicy association at cluster scope) may hold EKS access policies${reach.length ? `: ${reach.join("; ")}, where reading a server pod's spec reads its JUPYTERHUB_API_TOKEN` : ""}. Remove the association, or bind a Role to the principal's Kubernetes user in the namespaces it needs.`, a.urn);
            }
        }),
    },
    {
        name: "eks-pod-identities-match-researcher",
        description: "Checks whether EKS Pod Identity gives a researcher's service account (labelled archaeo/researcher: <id>) only the role acting for that researcher (tagged archaeo-pods-of: <id>), a role acting for a researcher only to their own service accounts, and, in the hub's namespace and researchers' namespaces, roles only to the service accounts the stack assigns to a researcher there (researcher-<id> in the hub's, researcher in researcher-<id>).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: POD_IDENTITY_DEFAULTS.researcherTag },
                actingForTags: { type: "array", items: { type: "string" }, default: POD_IDENTITY_DEFAULTS.actingForTags, description: "Tag keys whose value names the researcher a role acts for." },
                researcherLabel: { type: "string", default: POD_IDENTITY_DEFAULTS.researcherLabel, description: "Label naming the researcher a ServiceAccount belongs to." },
                ...NAMESPACE_SCHEMA,
                serverServiceAccountPrefix: { type: "string", default: POD_IDENTITY_DEFAULTS.serverServiceAccountPrefix, description: "In the hub's namespace, researcher <id>'s server runs as service account <prefix><id>." },
                jobServiceAccount: { type: "string", default: POD_IDENTITY_DEFAULTS.jobServiceAccount, description: "In researcher <id>'s namespace, their jobs run as this service account." },
            },
        },
        // EKS Pod Identity (CreatePodIdentityAssociation): every pod running under <namespace>/<serviceAccount>
        // gets the role's credentials, so the pairing decides whose data a pod can read.
        validateStack: onStack((args, report, d) => {
            const c = { ...POD_IDENTITY_DEFAULTS, ...args.getConfig<Partial<PodIdentityConfig>>() };
            const associations = args.resources.filter((r) => r.type === POD_IDENTITY);
            if (associations.length === 0) return;
            const ownerOf = roleOwner(args.resources, [c.researcherTag, ...c.actingForTags]);
            const accounts = new Map<string, unknown>();
            for (const sa of args.resources.filter((r) => r.type === SERVICE_ACCOUNT)) {
                const m = known(() => sa.props.metadata);
                if (m === UNKNOWN) { d.defer(`${label(sa)}.metadata`); continue; }
                accounts.set(`${(m as any)?.namespace ?? "default"}/${(m as any)?.name}`, (m as any)?.labels?.[c.researcherLabel]);
            }
            for (const a of associations) {
                const v = known(() => ({ ns: a.props.namespace, sa: a.props.serviceAccount, role: a.props.roleArn }));
                if (v === UNKNOWN) {
                    const parts = ["namespace", "serviceAccount", "roleArn"].filter((k) => get(() => a.props[k]) === UNKNOWN);
                    parts.forEach((k) => d.defer(`${label(a)}.${k}`));
                    continue;
                }
                const { ns, sa, role } = v as { ns: string; sa: string; role: string };
                const forWhom = ownerOf(String(role));
                if (forWhom === UNKNOWN) { d.defer(`${label(a)}.roleArn (whose role it is is known once the roles exist)`); continue; }
                const key = `${ns}/${sa}`;
                // In the hub's namespace and a researcher's namespace, any pod may name any service account of the
                // namespace (a Job with serviceAccountName: default), so every association there must be one the
                // stack assigns to a researcher, with the role acting for that researcher.
                const assigned = assignedResearcher(c, ns, sa);
                if (assigned) {
                    if (assigned.id === undefined) {
                        report(`${label(a)} gives ${key} the role ${role}: in ${assigned.where} the stack assigns service accounts only to researchers (${assigned.expected}), and any pod there that names ${sa} would get the role; associate only those service accounts, each with the role acting for its researcher.`, a.urn);
                        continue;
                    }
                    if (forWhom !== assigned.id) {
                        report(`${label(a)} gives ${key}, researcher ${assigned.id}'s service account, the role ${role}, which ${forWhom === undefined ? "acts for no researcher (no archaeo-pods-of tag naming them)" : `acts for researcher ${forWhom}`}: ${assigned.id}'s pods would get its permissions. Associate the role tagged archaeo-pods-of: ${assigned.id}.`, a.urn);
                        continue;
                    }
                }
                const saOwner = accounts.get(key);
                if (forWhom !== undefined && !accounts.has(key)) report(`${label(a)} gives ${key}, a service account this stack does not define, the role acting for researcher ${forWhom}; associate it only with that researcher's own service accounts.`, a.urn);
                else if (forWhom !== undefined && saOwner !== forWhom) report(`${label(a)} gives service account ${key} (${saOwner === undefined ? `no ${c.researcherLabel} label` : `${c.researcherLabel}: ${saOwner}`}) the role acting for researcher ${forWhom}: its pods would read ${forWhom}'s data.`, a.urn);
                else if (forWhom === undefined && typeof saOwner === "string") report(`${label(a)} gives researcher ${saOwner}'s service account ${key} the role ${role}, which does not act for ${saOwner}: their server and jobs would get that role's permissions.`, a.urn);
            }
        }),
    },
    {
        name: "k8s-port-forward-own-server",
        description: "Checks whether researchers who may port-forward in a shared namespace (role bindings there reach two or more users, or a group) are held to their own server by a ValidatingAdmissionPolicy on CONNECT pods/portforward with failurePolicy Fail, bound there with validationActions Deny, whose CEL (evaluated here) denies a researcher another researcher's server and admits their own.",
        enforcementLevel: "mandatory",
        configSchema: { properties: CROSS_SCHEMA },
        // admissionregistration.k8s.io/v1 (kubernetes-models 5.1.0 ValidatingAdmissionPolicySpec and
        // ValidatingAdmissionPolicyBindingSpec): failurePolicy "Defaults to Fail"; validationActions "Deny" denies,
        // "Warn" and "Audit" only report; the binding's matchResources intersects the policy's matchConstraints.
        validateStack: onStack((args, report, d) => {
            const o = { ...CROSS_DEFAULTS, ...args.getConfig<Partial<CrossResearcherOptions>>() };
            const all = args.resources;
            const shared = sharedGrants(all, d, (rules) => (grantsPortForward(rules) ? ["port-forward"] : []));
            const needing = [...shared].filter(([, s]) => s.shared);
            if (needing.length === 0) return;
            const guards = guardsOf(all, d);
            if (guards === UNKNOWN) return;
            for (const [ns, s] of needing) {
                const where = ns === "*" ? "(every namespace)" : ns;
                const who = [...[...s.users].map((u) => `user ${u}`), ...[...s.groups].map((g) => `group ${g}`)];
                const covering = guards.map((g) => ({ g, covers: g.covers(ns) })).filter((x) => x.covers !== false);
                // The judgement, over every two distinct researchers: those bound there, plus alice, bob and al (a
                // prefix of another id, which a startsWith comparison would let through).
                const ids = [...new Set([...[...s.users].filter((u) => u.startsWith(o.researcherUserPrefix)).map((u) => u.slice(o.researcherUserPrefix.length)), "alice", "bob", "al"])];
                const problems = covering.filter((x) => x.covers === true).map((x) => ({ g: x.g, problem: portForwardGuardProblem(x.g.spec, ns === "*" ? "default" : ns, ids, o) }));
                if (problems.some((x) => x.problem === undefined)) continue;
                if (covering.some((x) => x.covers === "unjudgeable")) { report(`Namespace ${where}: the admission policy that should hold port-forwards there selects namespaces with matchExpressions, which this pack cannot evaluate; select them with matchLabels kubernetes.io/metadata.name.`); continue; }
                if (problems.length) {
                    report(`Namespace ${where}: ${who.join(", ")} may port-forward to pods there (${[...s.via].join("; ")}), and the admission policies bound there do not hold them to their own server: ${problems.map((x) => `${x.g.label}: ${x.problem}`).join("; ")}. Deny unless request.name is the requester's own server (as infra/cluster/manifests.ts portForwardPolicy does).`);
                    continue;
                }
                report(`Namespace ${where}: ${who.join(", ")} may port-forward to any pod there (${[...s.via].join("; ")}), but no ValidatingAdmissionPolicy on CONNECT pods/portforward with failurePolicy Fail is bound there with validationActions [Deny]: a researcher could reach another researcher's server.`);
            }
        }),
    },
    {
        name: "k8s-shared-namespace-no-pod-reads",
        description: "Checks whether no one bound in a shared namespace (role bindings there reach two or more users, or a group) can reach another researcher's server, token, keys or identity there: read pods or secrets (get, list or watch; get by resourceNames only on their own server), exec, attach or debug into pods, create or change workloads, write configmaps or secrets, mint service-account tokens, impersonate, or write RBAC; nor hold a built-in admin/edit/view ClusterRole there.",
        enforcementLevel: "mandatory",
        configSchema: { properties: CROSS_SCHEMA },
        // KubeSpawner 7.0.0 kubespawner/objects.py make_pod: every get_env() entry becomes a plain V1EnvVar(name, value),
        // and JupyterHub's Spawner.get_env sets JUPYTERHUB_API_TOKEN, whose default scopes (the `server` role, JupyterHub 4+)
        // include access:servers!server: whoever reads another researcher's pod can open their server. The hub's namespace
        // also holds each researcher's service account (researcher-<id>, their EKS Pod Identity), claims (home-<id>,
        // mydata-<id>) and authorized_keys (ConfigMap ssh-keys-<id>, mounted by their SSH sidecar).
        validateStack: onStack((args, report, d) => {
            const o = { ...CROSS_DEFAULTS, ...args.getConfig<Partial<CrossResearcherOptions>>() };
            for (const [ns, s] of sharedGrants(args.resources, d, (rules, subjects) => crossResearcherGrants(rules, subjects, o), BUILT_IN_CROSS_GRANTS)) {
                if (!s.shared) continue;
                const who = [...[...s.users].map((u) => `user ${u}`), ...[...s.groups].map((g) => `group ${g}`)];
                report(`Namespace ${ns === "*" ? "(every namespace)" : ns}: ${who.join(", ")} may reach other researchers' servers there (${[...s.via].join("; ")}). In a namespace that holds several researchers' servers, a pod's env holds its JUPYTERHUB_API_TOKEN; exec, attach and debug containers enter any server; a pod or Job they create can run as another researcher's service account and mount their home; ssh-keys-<id> holds a researcher's authorized_keys; a service-account token is that researcher's Pod Identity. Grant get and port-forward on their own server by resourceNames, or nothing.`);
            }
        }),
    },
    {
        name: "k8s-resource-quotas-held",
        description: "Checks whether no one the stack's RBAC binds (users, groups or service accounts) may update, patch or delete ResourceQuotas, and no researcher or service account may create one (cluster administrators hold that through their EKS access policy): whoever could would lift a researcher's budget stop (the quota archaeo-budget-stop, which the budget enforcer only creates), raise a namespace's GPU quota, or place a stop on another researcher.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { researcherUserPrefix: CROSS_SCHEMA.researcherUserPrefix } },
        // Verbs as RBAC names them for resourcequotas (k8s.io/apiserver requestinfo.go): update (PUT), patch, delete,
        // deletecollection; `*` covers them all (lib/rbac.ts coversVerb). The built-in admin and edit ClusterRoles grant
        // resourcequotas get/list/watch only (kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go); cluster-admin everything.
        validateStack: onStack((args, report, d) => {
            const o = { ...CROSS_DEFAULTS, ...args.getConfig<Partial<CrossResearcherOptions>>() };
            // Creating one is placing a stop: the budget enforcer's right, not a researcher's (in another's namespace it stops
            // them) nor their pods' (any service account: a pod's code acts with it).
            const changesQuotas = (rules: unknown, subjects: Subject[]) => asArray(rules as any[]).some((r) => ruleGrants(r, "", "resourcequotas", QUOTA_WRITES)) ? ["update, patch or delete resourcequotas"]
                : reachesResearchersOrPods(subjects, o.researcherUserPrefix) && asArray(rules as any[]).some((r) => ruleGrants(r, "", "resourcequotas", ["create"])) ? ["create resourcequotas (a researcher or a pod placing a stop)"] : [];
            for (const [ns, s] of sharedGrants(args.resources, d, changesQuotas, { "cluster-admin": ["every verb on every resource"] }, true)) {
                const who = [...[...s.users].map((u) => `user ${u}`), ...[...s.groups].map((g) => `group ${g}`)];
                report(`Namespace ${ns === "*" ? "(every namespace)" : ns}: ${who.join(", ")} may change or delete ResourceQuotas there (${[...s.via].join("; ")}), so could lift a budget stop, raise a GPU quota, or stop another researcher. Leave quotas to the cluster's administrators and the budget enforcer (create only).`);
            }
        }),
    },
    {
        name: "k8s-namespaces-pod-security",
        description: "Checks whether the namespaces researchers' code runs in enforce Pod Security: every researcher namespace 'restricted', the hub's (every server) and any other where researchers or pods may create workloads at least 'baseline' (pod-security.kubernetes.io/enforce), each defined by the stack so its labels can be read (not created by a Helm release). Without it a pod there may run privileged or mount a hostPath, such as a file at /var/run/nvidia-container-devices/all, which the NVIDIA toolkit reads as the device plugin's allocation: every GPU of the node.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { ...NAMESPACE_SCHEMA, researcherUserPrefix: CROSS_SCHEMA.researcherUserPrefix } },
        // Kubernetes "Pod Security Admission": the label pod-security.kubernetes.io/enforce takes privileged, baseline or
        // restricted; unset, the cluster's default applies ("enforce: privileged"). Baseline already refuses privileged
        // containers, host namespaces and hostPath volumes (Pod Security Standards).
        validateStack: onStack((args, report, d) => {
            const c = { hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-", researcherUserPrefix: "archaeo:", ...args.getConfig<{ hubNamespace?: string; researcherNamespacePrefix?: string; researcherUserPrefix?: string }>() };
            for (const [ns, o] of podNamespaces(args.resources, d, c)) {
                const researcher = ns.startsWith(c.researcherNamespacePrefix);
                const allowed = researcher ? ["restricted"] : ["restricted", "baseline"];
                if (o.createdBy) { report(`Namespace ${ns} (${o.why}) is created by ${o.createdBy} (createNamespace), with no Pod Security label: define it as a Namespace with pod-security.kubernetes.io/enforce: ${allowed[0]}.`); continue; }
                if (!o.defined) { report(`Namespace ${ns} (${o.why}) is not a Namespace this stack defines, so its Pod Security cannot be read: define it with pod-security.kubernetes.io/enforce: ${allowed[0]}.`); continue; }
                const n = o.defined;
                const level = get(() => n.props.metadata?.labels?.["pod-security.kubernetes.io/enforce"]);
                if (level === UNKNOWN) { d.defer(`${label(n)}.metadata.labels`); continue; }
                if (!allowed.includes(String(level))) { report(`${label(n)} (${o.why}) enforces Pod Security ${level === undefined ? "not at all (the cluster default, privileged)" : `'${String(level)}'`}; set pod-security.kubernetes.io/enforce: ${allowed[0]}: otherwise a pod there may run privileged or mount host paths (a file at /var/run/nvidia-container-devices/all selects every GPU of the node).`, n.urn); continue; }
                // A pinned version enforces that release's checks only (restricted's capability check starts at v1.22:
                // pod-security-admission policy/check_capabilities_restricted.go MinimumVersion); unset means latest.
                const version = get(() => n.props.metadata?.labels?.["pod-security.kubernetes.io/enforce-version"]);
                if (version === UNKNOWN) { d.defer(`${label(n)}.metadata.labels`); continue; }
                if (level === "restricted" && version !== undefined && version !== "latest") report(`${label(n)} (${o.why}) pins Pod Security to ${String(version)}: an older version enforces fewer of restricted's checks; set pod-security.kubernetes.io/enforce-version: latest, or leave it unset.`, n.urn);
            }
        }),
    },
    {
        name: "gpu-pods-no-toolkit-env",
        description: "Checks whether a ValidatingAdmissionPolicy (failurePolicy Fail, bound with Deny; matchConditions on the namespace only) in the hub's namespace and every researcher namespace admits a plain pod and refuses, by a validation that is false, every pod that sets an NVIDIA_* variable (any name, any value, in any container, init or ephemeral), takes envFrom with a prefix that could form one, or carries a cdi.k8s.io/ annotation, created by the hub, the Job controller or a researcher, evaluating its CEL on such pods here: the second line of GPU isolation, should a node's toolkit still honour NVIDIA_VISIBLE_DEVICES.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { ...NAMESPACE_SCHEMA } },
        // What the toolkit reads from a container (nvidia-container-toolkit internal/config/image/envvars.go NVIDIA_*;
        // cuda_image.go cdiDeviceRequestsFromAnnotations: cdi.k8s.io/ annotations); envFrom's keys are not visible at admission.
        validateStack: onStack((args, report, d) => {
            const c = { hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-", ...args.getConfig<{ hubNamespace?: string; researcherNamespacePrefix?: string }>() };
            const all = args.resources;
            const namespaces = new Set(podNamespaces(all, d, { researcherUserPrefix: "archaeo:", ...c }).keys());
            if (namespaces.size === 0) return;
            const guards = guardsOf(all, d, coversPodCreate);
            if (guards === UNKNOWN) return;
            const image = "registry.example/archaeo@sha256:" + "0".repeat(64);
            const env = (name: string, value: string) => [{ name, value }];
            const plain = { name: "job", image };
            // The offending pods: every NVIDIA_* variable (the toolkit reads several: envvars.go), any value; an envFrom
            // whose prefix could form one (its keys are not visible at admission); a CDI annotation; and an ephemeral
            // container added later (UPDATE of pods/ephemeralcontainers, which the guard must cover too).
            const probes: Array<[string, PodShape]> = [
                ["a container with NVIDIA_VISIBLE_DEVICES=all", { containers: [{ ...plain, env: env("NVIDIA_VISIBLE_DEVICES", "all") }] }],
                ["a container with NVIDIA_VISIBLE_DEVICES=0", { containers: [{ ...plain, env: env("NVIDIA_VISIBLE_DEVICES", "0") }] }],
                ["a container with NVIDIA_IMEX_CHANNELS=0", { containers: [{ ...plain, env: env("NVIDIA_IMEX_CHANNELS", "0") }] }],
                ["an init container with NVIDIA_VISIBLE_DEVICES=all", { containers: [plain], initContainers: [{ name: "init", image, env: env("NVIDIA_VISIBLE_DEVICES", "all") }] }],
                ["envFrom without a prefix", { containers: [{ ...plain, envFrom: [{ configMapRef: { name: "gpus" } }] }] }],
                ["envFrom with prefix NVIDIA_", { containers: [{ ...plain, envFrom: [{ prefix: "NVIDIA_", configMapRef: { name: "gpus" } }] }] }],
                ["envFrom with prefix N", { containers: [{ ...plain, envFrom: [{ prefix: "N", configMapRef: { name: "gpus" } }] }] }],
                ["a cdi.k8s.io/ annotation", { containers: [plain], annotations: { "cdi.k8s.io/gpu": "nvidia.com/gpu=all" } }],
                ["an ephemeral container with NVIDIA_VISIBLE_DEVICES=all", { containers: [plain], ephemeralContainers: [{ name: "debug", image, env: env("NVIDIA_VISIBLE_DEVICES", "all") }], subResource: "ephemeralcontainers" }],
            ];
            // Who creates pods there: the hub (servers), the Job controller (researchers' Jobs), a researcher.
            const requesters = (ns: string) => [`system:serviceaccount:${ns}:hub`, "system:serviceaccount:kube-system:job-controller", "archaeo:alice"];
            const benign: PodShape = { containers: [{ ...plain, env: env("ARCHAEO_RUN", "1") }] };
            // decide() for probe i (-1: the plain pod) in ns by u. The matchConditions (namespace only, checked above) once per
            // namespace; validations that read nothing of the request or its namespace (only the pod: the program's) once per
            // guard and probe, whatever the namespace and requester: the same CEL on the same pod.
            const memo = new Map<Guard, Map<string, Decision>>();
            const judge = (g: Guard, ns: string, u: string, i: number): Decision => {
                const m = memo.get(g) ?? new Map<string, Decision>();
                memo.set(g, m);
                const mcKey = `mc|${ns}`;
                let mc = m.get(mcKey);
                if (!mc) m.set(mcKey, mc = decide({ ...g.spec, validations: [] }, podCreateRequest("job-0", ns, null, { ...benign, username: u })));
                if (mc.via !== "passed") return mc;
                const podOnly = ![...asArray(g.spec?.validations), ...asArray(g.spec?.variables)].some((v: any) => /\b(request|namespaceObject|authorizer|params|oldObject)\b/.test(String(v?.expression ?? "")));
                const key = podOnly ? `v|${i}` : `v|${ns}|${u}|${i}`;
                let v = m.get(key);
                if (!v) m.set(key, v = decide({ ...g.spec, matchConditions: [] }, podCreateRequest("job-0", ns, null, { ...(i < 0 ? benign : probes[i][1]), username: u })));
                return v;
            };
            for (const ns of [...namespaces].sort()) {
                const problems: string[] = [];
                const holding = guards.filter((g) => g.covers(ns) === true && !g.spec?.paramKind);
                // The decision must come from the pod itself: a matchCondition may read only the namespace (the program's
                // names the hub's and the researcher prefix); one on the requester or labels could skip real Job pods.
                const readable = holding.filter((g) => asArray(g.spec?.matchConditions).every((m: any) => celReadsOnly(String(m?.expression ?? ""), NAMESPACE_PATHS)));
                const judged = readable.filter((g) => {
                    // A pod with nothing of the above passes every validation: a guard that errs on every pod refuses the
                    // probes for the wrong reason (a CEL library this engine lacks), and proves nothing.
                    return requesters(ns).every((u) => judge(g, ns, u, -1).via === "passed");
                });
                const missed = probes.filter(([, shape], i) => {
                    const covered = (g: Guard) => shape.subResource ? coversRequest("UPDATE", "pods/ephemeralcontainers")(g.spec?.matchConstraints?.resourceRules) === "all" : true;
                    return !requesters(ns).every((u) => judged.some((g) => covered(g) && judge(g, ns, u, i).via === "false"));
                }).map(([what]) => what);
                if (!missed.length) continue;
                if (holding.length > readable.length) problems.push("a policy bound there has matchConditions on more than the namespace, which could skip real pods");
                if (readable.length > judged.length) problems.push("a policy bound there does not admit a plain pod (its CEL errs or refuses everything), so its refusals prove nothing");
                if (guards.some((g) => g.covers(ns) === "unjudgeable")) problems.push("a policy selects namespaces with matchExpressions this pack cannot evaluate");
                report(`Namespace ${ns}: no ValidatingAdmissionPolicy bound there with Deny and failurePolicy Fail refuses, by a validation that is false, a pod with ${missed.join("; ")}${problems.length ? ` (${problems.join("; ")})` : ""}. Bind infra/cluster/gpu-isolation.ts gpuEnvPolicy: should a GPU node's toolkit still honour NVIDIA_VISIBLE_DEVICES, such a pod gets every GPU of the node.`);
            }
        }),
    },
    {
        name: "k8s-budget-stop-holds-server",
        description: "Checks whether a budget stop also keeps the researcher's server from starting: for every researcher namespace where the stack lets someone create ResourceQuotas (the budget enforcer's stop, archaeo-budget-stop), a ValidatingAdmissionPolicy on CREATE pods with failurePolicy Fail and paramKind v1 ResourceQuota is bound in the hub namespace with validationActions including Deny and paramRef {name: the stop, namespace: theirs, parameterNotFoundAction: Allow}, with no matchConditions or variables and validations that read only the pod's name and the stop's, and its CEL (evaluated here with the stop as its parameter) refuses their server and named servers and admits another researcher's.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { ...NAMESPACE_SCHEMA, ...STOP_SCHEMA } },
        // admissionregistration.k8s.io/v1 (Kubernetes API reference, ValidatingAdmissionPolicy, ParamKind and ParamRef;
        // kubernetes-models 5.1.0): with paramKind set, a binding's paramRef picks the parameter object by name and namespace
        // ("selector" picks by labels, which this pack does not follow: refused); "params" in CEL is that object; with
        // parameterNotFoundAction Allow, no such object means nothing is checked, so the policy binds only while the stop exists.
        validateStack: onStack((args, report, d) => {
            const c = { ...STOP_DEFAULTS, ...args.getConfig<Partial<StopConfig>>() };
            const all = args.resources;
            const createsQuotas = (rules: unknown) => (asArray(rules as any[]).some((r) => ruleGrants(r, "", "resourcequotas", ["create"])) ? ["create resourcequotas"] : []);
            // Whoever may create quotas there places a stop: users, groups and service accounts, through the stack's roles or cluster-admin.
            const stoppable = new Map<string, string>();
            for (const [ns, s] of sharedGrants(all, d, createsQuotas, { "cluster-admin": ["every verb on every resource"] }, true)) {
                const via = [...s.via].join("; ");
                if (ns !== "*") { if (ns.startsWith(c.researcherNamespacePrefix)) stoppable.set(ns.slice(c.researcherNamespacePrefix.length), via); continue; }
                // Granted in every namespace: every researcher namespace the stack makes, and none to judge is a finding.
                let found = false;
                for (const n of all.filter((r) => r.type === NAMESPACE)) {
                    const name = known(() => n.props.metadata?.name);
                    if (name === UNKNOWN) { d.defer(`${label(n)} metadata.name`); found = true; continue; }
                    if (typeof name === "string" && name.startsWith(c.researcherNamespacePrefix)) { stoppable.set(name.slice(c.researcherNamespacePrefix.length), via); found = true; }
                }
                if (!found) report(`ResourceQuotas may be created in every namespace (${via}), and the stack defines no ${c.researcherNamespacePrefix}<id> Namespace to hold each stop against: grant the budget enforcer create on resourcequotas per researcher namespace (infra/cluster/budget-stop.ts enforcerResearcherObjects).`);
            }
            if (stoppable.size === 0) return;
            const guards = guardsOf(all, d, coversPodCreate);
            if (guards === UNKNOWN) return;
            const withQuota = guards.filter((g) => g.spec?.paramKind?.kind === "ResourceQuota" && g.spec?.paramKind?.apiVersion === "v1");
            for (const [id, via] of [...stoppable].sort(([a], [b]) => a.localeCompare(b))) {
                const ns = `${c.researcherNamespacePrefix}${id}`;
                const server = `${c.serverPodPrefix}${id}`;
                const stop = { apiVersion: "v1", kind: "ResourceQuota", metadata: { name: c.budgetStopQuota, namespace: ns }, spec: { hard: { "requests.nvidia.com/gpu": "0" } } };
                // Their named server (KubeSpawner 'jupyter-{username}--{servername}') too, and another researcher's server
                // named with this id as a prefix admitted (a startsWith comparison would refuse it).
                const refused = [server, `${server}--gpu`];
                const other = `${server}x`;
                const problems: string[] = [];
                let holds = false;
                for (const g of withQuota) {
                    const ref = g.binding?.paramRef;
                    if (g.covers(c.hubNamespace) === false || !ref) continue;
                    if (ref.selector !== undefined && ref.name === undefined) { problems.push(`${g.label} picks its parameter by a label selector, which this pack cannot follow; name it (paramRef.name ${c.budgetStopQuota}, namespace ${ns})`); continue; }
                    if (ref.name !== c.budgetStopQuota || ref.namespace !== ns) continue;
                    if (g.covers(c.hubNamespace) === "unjudgeable") { problems.push(`${g.label} selects namespaces with matchExpressions, which this pack cannot evaluate; select ${c.hubNamespace} with matchLabels kubernetes.io/metadata.name`); continue; }
                    // The request below is a bare pod: what the CEL reads of it must be all that decides. A matchCondition or a
                    // variable could skip real server pods (their service account, sidecar, labels) that this pack does not model.
                    if (asArray(g.spec.matchConditions).length || asArray(g.spec.variables).length) { problems.push(`${g.label} has matchConditions or variables, which could skip real server pods; the stop's policy needs neither`); continue; }
                    const unread = asArray(g.spec.validations).map((v: any) => String(v?.expression ?? "")).filter((e: string) => !celReadsOnly(e, NAME_PATHS));
                    if (unread.length) { problems.push(`${g.label} decides on more than the pod's name and the stop's name and namespace (${unread.map((e: string) => `'${e}'`).join(", ")}), which this pack cannot judge for real server pods; compare object.metadata.name with the researcher's server names only`); continue; }
                    if (ref.parameterNotFoundAction !== "Allow") { problems.push(`${g.label} has paramRef.parameterNotFoundAction ${ref.parameterNotFoundAction ?? "unset"}: without a stop in ${ns} it would refuse every pod it matches (the hub, every server); set Allow`); continue; }
                    const admitted = refused.map((pod) => ({ pod, r: decide(g.spec, podCreateRequest(pod, c.hubNamespace, stop)) })).filter((x) => x.r.allowed);
                    if (admitted.length) { problems.push(`${g.label} admits ${admitted.map((x) => `${x.pod} (${x.r.why})`).join(", ")} while the stop exists`); continue; }
                    const theirs = decide(g.spec, podCreateRequest(other, c.hubNamespace, stop));
                    if (!theirs.allowed) { problems.push(`${g.label} also refuses ${other}, another researcher's server (${theirs.why}): one researcher's stop would stop others`); continue; }
                    holds = true;
                    break;
                }
                if (holds) continue;
                report(`Researcher ${id}: the stack may place a budget stop in ${ns} (${via}), but nothing keeps their server ${server} from starting in ${c.hubNamespace} while it exists${problems.length ? `: ${problems.join("; ")}` : `: no ValidatingAdmissionPolicy this pack can read (covering every pod CREATE, failurePolicy Fail, paramKind v1 ResourceQuota, no objectSelector or excludeResourceRules) is bound there with validationActions including Deny and paramRef {name: ${c.budgetStopQuota}, namespace: ${ns}}`}. Bind the stop's admission policy for them as infra/cluster/budget-stop.ts budgetStopAdmission does.`);
            }
        }),
    },
];

interface Grantees {
    /** Users and groups the grant reaches, and the role bindings that give it (with what they grant). */
    users: Set<string>;
    groups: Set<string>;
    via: Set<string>;
    /** Whether the namespace is shared: two or more users, or any group, are bound to something there. */
    shared: boolean;
}

/**
 * Namespace ("*" for a ClusterRoleBinding) -> the users and groups bound there to a Role or
 * ClusterRole whose rules `grants` something to the binding's subjects (what, as text), the
 * bindings that do it, and whether the namespace is shared (bindings of any role there reach two or
 * more users, or a group): one researcher's broad grant in the namespace that holds everyone's
 * servers is as bad as everyone's. `builtIns` are ClusterRoles the cluster defines (admin, edit,
 * view) with what they grant. Unknown roles or bindings are deferred. ServiceAccount subjects count (as the
 * user system:serviceaccount:<ns>:<name>) only where `serviceAccounts` says so.
 */
function sharedGrants(all: Stack, d: Deferrals, grants: (rules: unknown, subjects: Subject[]) => string[], builtIns: Readonly<Record<string, string[]>> = {}, serviceAccounts = false): Map<string, Grantees> {
    const rolesOf = (type: string) => all.filter((r) => r.type === `${RBAC}:${type}`);
    const roles = new Map<string, { label: string; rules?: unknown; fixed?: string[] }>(Object.entries(builtIns).map(([n, g]) => [`ClusterRole/${n}`, { label: `built-in ClusterRole '${n}'`, fixed: g }]));
    // ClusterRole aggregation (Kubernetes "Using RBAC Authorization", Aggregated ClusterRoles): a ClusterRole labelled
    // rbac.authorization.k8s.io/aggregate-to-<view|edit|admin>: "true" adds its rules to that built-in role (and view's to
    // edit and admin, edit's to admin); a ClusterRole with an aggregationRule gets rules this pack cannot list: everything.
    const aggregated: Record<string, unknown[]> = { view: [], edit: [], admin: [] };
    const into: Record<string, string[]> = { view: ["view", "edit", "admin"], edit: ["edit", "admin"], admin: ["admin"] };
    for (const r of [...rolesOf("Role"), ...rolesOf("ClusterRole")]) {
        const v = known(() => ({ ns: r.props.metadata?.namespace, name: r.props.metadata?.name, rules: r.props.rules, labels: r.props.metadata?.labels, aggregationRule: r.props.aggregationRule }));
        if (v === UNKNOWN) { d.defer(`${label(r)} rules`); continue; }
        const { ns, name, labels, aggregationRule } = v as any;
        const rules = aggregationRule ? [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] : (v as any).rules;
        roles.set(r.type.endsWith(":Role") ? `Role/${ns ?? "default"}/${name}` : `ClusterRole/${name}`, { label: `${label(r)}${aggregationRule ? " (aggregated: its rules cannot be listed here)" : ""}`, rules });
        if (r.type.endsWith(":ClusterRole")) {
            for (const target of ["view", "edit", "admin"]) if (labels?.[`rbac.authorization.k8s.io/aggregate-to-${target}`] === "true") for (const t of into[target]) aggregated[t].push(...asArray(rules as any[]));
        }
    }
    for (const [target, rules] of Object.entries(aggregated)) {
        if (!rules.length) continue;
        const key = `ClusterRole/${target}`;
        const had = roles.get(key);
        roles.set(key, { label: `built-in ClusterRole '${target}' with the stack's aggregated rules`, fixed: had?.fixed, rules });
    }
    const granted = new Map<string, Grantees>();
    const present = new Map<string, { users: Set<string>; groups: Set<string> }>();
    for (const b of [...rolesOf("RoleBinding"), ...rolesOf("ClusterRoleBinding")]) {
        const v = known(() => ({ ns: b.props.metadata?.namespace, roleRef: b.props.roleRef, subjects: b.props.subjects }));
        if (v === UNKNOWN) { d.defer(`${label(b)} roleRef and subjects`); continue; }
        const { ns, roleRef, subjects } = v as any;
        const where = b.type.endsWith(":ClusterRoleBinding") ? "*" : (ns ?? "default");
        // A ServiceAccount subject, where asked for, counts as the user the API server sees it as.
        const subs = asArray(subjects as Array<Subject & { namespace?: string }>).flatMap((x): Subject[] => x?.kind === "User" || x?.kind === "Group" ? [x]
            : serviceAccounts && x?.kind === "ServiceAccount" ? [{ kind: "User", name: `system:serviceaccount:${x.namespace ?? ns ?? "default"}:${x.name}` }] : []);
        const key = roleRef?.kind === "ClusterRole" ? `ClusterRole/${roleRef?.name}` : `Role/${ns ?? "default"}/${roleRef?.name}`;
        const role = roles.get(key);
        const p = present.get(where) ?? { users: new Set<string>(), groups: new Set<string>() };
        // A binding to a stop-only role (lib/rbac.ts stopOnly: quotas, deleting pods) puts no one there who owns or reads anything.
        if (!(role?.rules !== undefined && !role.fixed && stopOnly(role.rules))) for (const sub of subs) (sub.kind === "User" ? p.users : p.groups).add(sub.name);
        present.set(where, p);
        if (!role || subs.length === 0) continue;
        const what = [...(role.fixed ?? []), ...(role.rules !== undefined ? grants(role.rules, subs) : [])];
        if (what.length === 0) continue;
        const s = granted.get(where) ?? { users: new Set<string>(), groups: new Set<string>(), via: new Set<string>(), shared: false };
        for (const sub of subs) (sub.kind === "User" ? s.users : s.groups).add(sub.name);
        s.via.add(`${role.label} via ${label(b)}: ${what.join(", ")}`);
        granted.set(where, s);
    }
    // A ClusterRoleBinding reaches every namespace: its subjects are present everywhere.
    const everywhere = present.get("*") ?? { users: new Set<string>(), groups: new Set<string>() };
    const anywhere = { users: new Set([...present.values()].flatMap((p) => [...p.users])), groups: new Set([...present.values()].flatMap((p) => [...p.groups])) };
    for (const [where, s] of granted) {
        const p = where === "*" ? anywhere : { users: new Set([...present.get(where)!.users, ...everywhere.users]), groups: new Set([...present.get(where)!.groups, ...everywhere.groups]) };
        s.shared = p.users.size >= 2 || p.groups.size > 0;
    }
    return granted;
}

/** What a budget stop's CEL may read: the pod's name and the stop's own name and namespace (and the request's). */
const NAME_PATHS = new Set(["object.metadata.name", "request.name", "request.namespace", "params.metadata.name", "params.metadata.namespace"]);
/** The namespace of the request: what the NVIDIA_* policy's matchConditions may read (gpu-pods-no-toolkit-env). */
const NAMESPACE_PATHS = new Set(["request.namespace", "namespaceObject.metadata.name"]);

/**
 * The namespaces researchers' code runs in, each with why: the hub's and every <researcher prefix><id> Namespace the
 * stack defines, the namespace of every JupyterHub release (its servers), and every namespace where the stack's RBAC
 * lets a researcher, a service account or Kubernetes' own groups create pods or workloads. `defined` says whether the
 * stack defines it as a Namespace (whose labels can be read); `createNamespace` whether a release creates it itself.
 */
function podNamespaces(all: Stack, d: Deferrals, c: { hubNamespace: string; researcherNamespacePrefix: string; researcherUserPrefix: string }) {
    const out = new Map<string, { why: string; defined?: PolicyResource; createdBy?: string }>();
    const add = (ns: string, why: string) => { if (!out.has(ns)) out.set(ns, { why }); };
    const defined = new Map<string, PolicyResource>();
    for (const n of all.filter((r) => r.type === NAMESPACE)) {
        const name = known(() => n.props.metadata?.name);
        if (name === UNKNOWN) { d.defer(`${label(n)} metadata.name`); continue; }
        if (typeof name !== "string") continue;
        defined.set(name, n);
        if (name === c.hubNamespace) add(name, "the hub's namespace");
        else if (name.startsWith(c.researcherNamespacePrefix)) add(name, "a researcher's namespace");
    }
    for (const r of all.filter((x) => x.type === "kubernetes:helm.sh/v3:Release")) {
        const v = known(() => ({ chart: r.props.chart, ns: r.props.namespace, create: r.props.createNamespace }));
        if (v === UNKNOWN) { d.defer(`${label(r)} chart and namespace`); continue; }
        const { chart, ns, create } = v as any;
        if (!isJupyterHub(chart)) continue;
        add(ns ?? "default", `the namespace of ${label(r)}, which runs every researcher's server`);
        if (create === true) out.get(ns ?? "default")!.createdBy = label(r);
    }
    const runs = (rules: unknown, subjects: Subject[]) => reachesResearchersOrPods(subjects, c.researcherUserPrefix)
        && asArray(rules as any[]).some((r) => WORKLOADS.some(([g, res]) => ruleGrants(r, g, res, ["create"]))) ? ["create pods or workloads"] : [];
    for (const [ns, s] of sharedGrants(all, d, runs, {}, true)) if (ns !== "*") add(ns, `researchers or pods may create workloads there (${[...s.via].join("; ")})`);
    for (const [ns, o] of out) o.defined = defined.get(ns);
    return out;
}

type Covers = (rules: unknown) => "all" | "some" | false;
/** Does an admission rule list cover `operation` on core v1 `resource` (resourceNames: only the named objects)? */
const coversRequest = (operation: string, resource: string): Covers => (rules) => {
    let out: "all" | "some" | false = false;
    for (const r of asArray(rules as any[])) {
        const hit = asArray(r?.operations).some((op: string) => op === operation || op === "*")
            && (coversResource(r?.resources, resource) || asArray(r?.resources).includes("*/*"))
            && asArray(r?.apiGroups).some((g: string) => g === "" || g === "*")
            && (r?.apiVersions === undefined || asArray(r?.apiVersions).some((v: string) => v === "v1" || v === "*"))
            && (r?.scope === undefined || r?.scope === "*" || r?.scope === "Namespaced");
        if (!hit) continue;
        if (asArray(r?.resourceNames).length === 0) return "all";
        out = "some";
    }
    return out;
};
/** CONNECT of pods/portforward (kubectl port-forward). */
const coversPortForward = coversRequest("CONNECT", "pods/portforward");
/** CREATE of pods (KubeSpawner starting a server). */
const coversPodCreate = coversRequest("CREATE", "pods");

const emptySelector = (sel: any) => !sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && asArray(sel.matchExpressions).length === 0);

interface Guard {
    label: string;
    /** The policy's spec, for evaluating its CEL. */
    spec: any;
    /** The binding's spec (its paramRef). */
    binding: any;
    /** Whether it applies in a namespace ("*": every namespace). */
    covers: (ns: string) => boolean | "unjudgeable";
}

/**
 * Every bound admission policy on the requests `covers` matches (port-forwards unless told) that could
 * deny: the policy covers all of them, has failurePolicy Fail and validations, and is bound with Deny,
 * excluding none and selecting no object (a CONNECT's object, PodPortForwardOptions, has no labels, so an
 * objectSelector never matches it; a pod's labels are its creator's to choose). Each comes with the
 * namespaces it covers and its binding; whether its CEL holds is judged by the caller.
 */
function guardsOf(all: Stack, d: Deferrals, covers: Covers = coversPortForward): Guard[] | typeof UNKNOWN {
    const policies = new Map<string, { label: string; spec: any }>();
    let unknown = false;
    for (const p of all.filter((r) => r.type === VAP)) {
        const v = known(() => ({ name: p.props.metadata?.name, spec: p.props.spec }));
        if (v === UNKNOWN) { d.defer(`${label(p)} spec`); unknown = true; continue; }
        const spec = (v as any).spec ?? {};
        const mc = spec.matchConstraints ?? {};
        if (covers(mc.resourceRules) === "all" && !covers(mc.excludeResourceRules) && emptySelector(mc.objectSelector)
            && (spec.failurePolicy ?? "Fail") === "Fail" && asArray(spec.validations).length > 0) policies.set((v as any).name, { label: label(p), spec });
    }
    const out: Guard[] = [];
    for (const b of all.filter((r) => r.type === VAP_BINDING)) {
        const v = known(() => b.props.spec);
        if (v === UNKNOWN) { d.defer(`${label(b)} spec`); unknown = true; continue; }
        const spec = (v ?? {}) as any;
        const policy = policies.get(spec.policyName);
        if (!policy || !asArray(spec.validationActions).includes("Deny")) continue;
        const mr = spec.matchResources ?? {};
        if (covers(mr.excludeResourceRules) || !emptySelector(mr.objectSelector)) continue;
        if (asArray(mr.resourceRules).length && covers(mr.resourceRules) !== "all") continue;
        const pol = policy.spec.matchConstraints ?? {};
        out.push({
            label: `${policy.label} (bound by ${label(b)})`,
            spec: policy.spec,
            binding: spec,
            covers: (ns) => {
                if (ns === "*") return emptySelector(mr.namespaceSelector) && emptySelector(pol.namespaceSelector);
                const a = selectsNamespace(pol.namespaceSelector, ns);
                const b2 = selectsNamespace(mr.namespaceSelector, ns);
                if (a === false || b2 === false) return false;
                return a === "unjudgeable" || b2 === "unjudgeable" ? "unjudgeable" : true;
            },
        });
    }
    return unknown ? UNKNOWN : out;
}
