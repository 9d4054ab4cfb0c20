/**
 * Who reaches what inside the cluster: EKS access entries map each researcher's role to their own
 * Kubernetes user and nothing more; EKS Pod Identity gives a researcher's service accounts their own
 * pods role only; researchers who may port-forward in a namespace they share (the hub's) are held to
 * their own server by a ValidatingAdmissionPolicy that denies, and cannot read the pods there.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
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

interface AccessConfig { researcherTag: string; researcherUserPrefix: string }
const ACCESS_DEFAULTS: AccessConfig = { researcherTag: "researcher", researcherUserPrefix: "archaeo:" };
interface PodIdentityConfig { researcherTag: string; actingForTags: string[]; researcherLabel: string }
const POD_IDENTITY_DEFAULTS: PodIdentityConfig = { researcherTag: "researcher", actingForTags: ["archaeo-pods-of", "archaeo-workstation-of"], researcherLabel: "archaeo/researcher" };

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

/**
 * Does a Role/ClusterRole rule let its subjects open a port-forward (create on pods/portforward in
 * the core group; RBAC reference: port-forward is the "create" verb on the pods/portforward subresource)?
 */
function grantsPortForward(rules: unknown): boolean {
    return asArray(rules as any[]).some((r: any) =>
        asArray(r?.apiGroups).some((g: string) => g === "" || g === "*")
        && asArray(r?.resources).some((x: string) => ["pods/portforward", "pods/*", "*", "*/*"].includes(x))
        && asArray(r?.verbs).some((v: string) => v === "create" || v === "*"));
}

/** Does a label selector (matchLabels only; absent or empty = everything) select namespace `ns`? */
function selectsNamespace(selector: any, ns: string): boolean | "unjudgeable" {
    if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && asArray(selector.matchExpressions).length === 0)) return true;
    if (asArray(selector.matchExpressions).length) return "unjudgeable";
    // kubernetes.io/metadata.name is set on every namespace to its name (Kubernetes well-known labels).
    const labels = selector.matchLabels as Record<string, string>;
    return Object.entries(labels).every(([k, v]) => k === "kubernetes.io/metadata.name" && v === ns);
}

export const clusterAccessPolicies: StackValidationPolicy[] = [
    {
        name: "eks-access-entries-scoped",
        description: "Checks whether EKS access entries give each researcher's role (tagged researcher: <id>) only their own Kubernetes user: a STANDARD entry with username <prefix><id>, no Kubernetes groups, no EKS access policy; and no entry joins a system: group.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: ACCESS_DEFAULTS.researcherTag },
                researcherUserPrefix: { type: "string", default: ACCESS_DEFAULTS.researcherUserPrefix, description: "Kubernetes user names of researchers are <prefix><id>; their RoleBindings and the port-forward admission policy name them so." },
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
            for (const a of associations) {
                const principal = get(() => a.props.principalArn);
                const id = principal === UNKNOWN ? UNKNOWN : ownerOf(String(principal));
                if (id === UNKNOWN) { d.defer(`${label(a)}.principalArn`); continue; }
                if (id === undefined) continue;
                const policy = get(() => a.props.policyArn);
                report(`${label(a)} associates ${policy === UNKNOWN ? "an EKS access policy" : String(policy).split("/").pop()} with researcher ${id}'s role: access policies grant across namespaces (or the whole cluster); give researchers RoleBindings in their own namespace only.`, a.urn);
            }
        }),
    },
    {
        name: "eks-pod-identities-match-researcher",
        description: "Checks whether EKS Pod Identity gives a researcher's service account (labelled archaeo/researcher: <id>) only the role acting for that researcher (tagged archaeo-pods-of: <id>), and a role acting for a researcher only to their own service accounts.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: POD_IDENTITY_DEFAULTS.researcherTag },
                actingForTags: { type: "array", items: { type: "string" }, default: POD_IDENTITY_DEFAULTS.actingForTags, description: "Tag keys whose value names the researcher a role acts for." },
                researcherLabel: { type: "string", default: POD_IDENTITY_DEFAULTS.researcherLabel, description: "Label naming the researcher a ServiceAccount belongs to." },
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
                const saOwner = accounts.get(key);
                if (forWhom !== undefined && !accounts.has(key)) report(`${label(a)} gives ${key}, a service account this stack does not define, the role acting for researcher ${forWhom}; associate it only with that researcher's own service accounts.`, a.urn);
                else if (forWhom !== undefined && saOwner !== forWhom) report(`${label(a)} gives service account ${key} (${saOwner === undefined ? `no ${c.researcherLabel} label` : `${c.researcherLabel}: ${saOwner}`}) the role acting for researcher ${forWhom}: its pods would read ${forWhom}'s data.`, a.urn);
                else if (forWhom === undefined && typeof saOwner === "string") report(`${label(a)} gives researcher ${saOwner}'s service account ${key} the role ${role}, which does not act for ${saOwner}: their server and jobs would get that role's permissions.`, a.urn);
            }
        }),
    },
    {
        name: "k8s-port-forward-own-server",
        description: "Checks whether researchers who may port-forward in a shared namespace (role bindings there reach two or more users, or a group) are held to their own server by a ValidatingAdmissionPolicy on CONNECT pods/portforward with failurePolicy Fail, bound there with validationActions Deny.",
        enforcementLevel: "mandatory",
        // admissionregistration.k8s.io/v1 (kubernetes-models 5.1.0 ValidatingAdmissionPolicySpec and
        // ValidatingAdmissionPolicyBindingSpec): failurePolicy "Defaults to Fail"; validationActions "Deny" denies,
        // "Warn" and "Audit" only report; the binding's matchResources intersects the policy's matchConstraints.
        validateStack: onStack((args, report, d) => {
            const all = args.resources;
            const shared = sharedGrants(all, d, grantsPortForward);
            const needing = [...shared].filter(([, s]) => s.shared);
            if (needing.length === 0) return;
            const guards = guardsOf(all, d);
            if (guards === UNKNOWN) return;
            for (const [ns, s] of needing) {
                const who = [...[...s.users].map((u) => `user ${u}`), ...[...s.groups].map((g) => `group ${g}`)];
                const verdicts = guards.map((g) => g(ns));
                if (verdicts.includes(true)) continue;
                if (verdicts.includes("unjudgeable")) { report(`Namespace ${ns === "*" ? "(every namespace)" : ns}: the admission policy that should hold port-forwards there selects namespaces with matchExpressions, which this pack cannot evaluate; select them with matchLabels kubernetes.io/metadata.name.`); continue; }
                report(`Namespace ${ns === "*" ? "(every namespace)" : ns}: ${who.join(", ")} may port-forward to any pod there (${[...s.via].join(", ")}), but no ValidatingAdmissionPolicy on CONNECT pods/portforward with failurePolicy Fail is bound there with validationActions [Deny]: a researcher could reach another researcher's server.`);
            }
        }),
    },
    {
        name: "k8s-shared-namespace-no-pod-reads",
        description: "Checks whether no one bound in a shared namespace (role bindings there reach two or more users, or a group) can read its pods or secrets (get, list or watch without resourceNames, or a built-in admin/edit/view ClusterRole): a JupyterHub server pod's spec carries that server's API token.",
        enforcementLevel: "mandatory",
        // KubeSpawner 7.0.0 kubespawner/objects.py make_pod: every get_env() entry becomes a plain V1EnvVar(name, value),
        // and JupyterHub's Spawner.get_env sets JUPYTERHUB_API_TOKEN, whose default scopes (the `server` role, JupyterHub 4+)
        // include access:servers!server: whoever reads another researcher's pod can open their server.
        validateStack: onStack((args, report, d) => {
            for (const [ns, s] of sharedGrants(args.resources, d, readsPodsOrSecrets, BUILT_IN_READERS)) {
                if (!s.shared) continue;
                const who = [...[...s.users].map((u) => `user ${u}`), ...[...s.groups].map((g) => `group ${g}`)];
                report(`Namespace ${ns === "*" ? "(every namespace)" : ns}: ${who.join(", ")} may read every pod or secret there (${[...s.via].join(", ")}); a JupyterHub server pod's env holds its JUPYTERHUB_API_TOKEN, which opens that researcher's server. Grant get on their own pod by resourceNames, or nothing.`);
            }
        }),
    },
];

interface Grantees {
    /** Users and groups the grant reaches, and the role bindings that give it. */
    users: Set<string>;
    groups: Set<string>;
    via: Set<string>;
    /** Whether the namespace is shared: two or more users, or any group, are bound to something there. */
    shared: boolean;
}

/**
 * Built-in ClusterRoles (Kubernetes "User-facing roles": admin, edit, view, cluster-admin) a binding
 * may name without the stack defining them; each reads pods, and all but view read secrets.
 */
const BUILT_IN_READERS = new Set(["cluster-admin", "admin", "edit", "view"]);

/**
 * Namespace ("*" for a ClusterRoleBinding) -> the users and groups bound there to a Role or
 * ClusterRole whose rules satisfy `grants`, the bindings that do it, and whether the namespace is
 * shared (bindings of any role there reach two or more users, or a group): one researcher's broad
 * grant in the namespace that holds everyone's servers is as bad as everyone's. Unknown roles or
 * bindings are deferred.
 */
function sharedGrants(all: Stack, d: Deferrals, grants: (rules: unknown) => boolean, builtIns: ReadonlySet<string> = new Set()): Map<string, Grantees> {
    const rolesOf = (type: string) => all.filter((r) => r.type === `${RBAC}:${type}`);
    const granting = new Map<string, string>([...builtIns].map((n) => [`ClusterRole/${n}`, `built-in ClusterRole '${n}'`]));
    for (const r of [...rolesOf("Role"), ...rolesOf("ClusterRole")]) {
        const v = known(() => ({ ns: r.props.metadata?.namespace, name: r.props.metadata?.name, rules: r.props.rules }));
        if (v === UNKNOWN) { d.defer(`${label(r)} rules`); continue; }
        const { ns, name, rules } = v as any;
        if (grants(rules)) granting.set(r.type.endsWith(":Role") ? `Role/${ns ?? "default"}/${name}` : `ClusterRole/${name}`, label(r));
    }
    const granted = new Map<string, Grantees>();
    const present = new Map<string, { users: Set<string>; groups: Set<string> }>();
    if (granting.size === 0) return granted;
    for (const b of [...rolesOf("RoleBinding"), ...rolesOf("ClusterRoleBinding")]) {
        const v = known(() => ({ ns: b.props.metadata?.namespace, roleRef: b.props.roleRef, subjects: b.props.subjects }));
        if (v === UNKNOWN) { d.defer(`${label(b)} roleRef and subjects`); continue; }
        const { ns, roleRef, subjects } = v as any;
        const where = b.type.endsWith(":ClusterRoleBinding") ? "*" : (ns ?? "default");
        const p = present.get(where) ?? { users: new Set<string>(), groups: new Set<string>() };
        for (const sub of asArray(subjects)) {
            if (sub?.kind === "User") p.users.add(sub.name);
            else if (sub?.kind === "Group") p.groups.add(sub.name);
        }
        present.set(where, p);
        const key = roleRef?.kind === "ClusterRole" ? `ClusterRole/${roleRef?.name}` : `Role/${ns ?? "default"}/${roleRef?.name}`;
        if (!granting.has(key)) continue;
        const s = granted.get(where) ?? { users: new Set<string>(), groups: new Set<string>(), via: new Set<string>(), shared: false };
        for (const sub of asArray(subjects)) {
            if (sub?.kind === "User") s.users.add(sub.name);
            else if (sub?.kind === "Group") s.groups.add(sub.name);
        }
        s.via.add(`${granting.get(key)} via ${label(b)}`);
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

/**
 * Does a rule let its subjects read pods or secrets of the namespace (get, list or watch on pods,
 * pods/*, secrets or *; a `get` limited by resourceNames reads only the named objects)?
 */
function readsPodsOrSecrets(rules: unknown): boolean {
    return asArray(rules as any[]).some((r: any) => {
        if (!asArray(r?.apiGroups).some((g: string) => g === "" || g === "*")) return false;
        if (!asArray(r?.resources).some((x: string) => ["pods", "secrets", "*", "*/*"].includes(x))) return false;
        const verbs = asArray(r?.verbs) as string[];
        if (!verbs.some((v) => ["get", "list", "watch", "*"].includes(v))) return false;
        const named = asArray(r?.resourceNames).length > 0;
        return !named || verbs.some((v) => v === "list" || v === "watch" || v === "*");
    });
}

/**
 * For each denying guard (a policy on CONNECT pods/portforward, failurePolicy Fail, with validations,
 * bound with Deny), a function telling whether it covers a namespace ("*": every namespace).
 */
function guardsOf(all: Stack, d: Deferrals): Array<(ns: string) => boolean | "unjudgeable"> | typeof UNKNOWN {
    const policies = new Map<string, any>();
    let unknown = false;
    for (const p of all.filter((r) => r.type === VAP)) {
        const v = known(() => ({ name: p.props.metadata?.name, spec: p.props.spec }));
        if (v === UNKNOWN) { d.defer(`${label(p)} spec`); unknown = true; continue; }
        const spec = (v as any).spec ?? {};
        const matches = asArray(spec.matchConstraints?.resourceRules).some((r: any) =>
            asArray(r?.operations).some((o: string) => o === "CONNECT" || o === "*")
            && asArray(r?.resources).some((x: string) => ["pods/portforward", "pods/*", "*", "*/*"].includes(x))
            && asArray(r?.apiGroups).some((g: string) => g === "" || g === "*"));
        if (matches && (spec.failurePolicy ?? "Fail") === "Fail" && asArray(spec.validations).length > 0) policies.set((v as any).name, spec);
    }
    const out: Array<(ns: string) => boolean | "unjudgeable"> = [];
    for (const b of all.filter((r) => r.type === VAP_BINDING)) {
        const v = known(() => b.props.spec);
        if (v === UNKNOWN) { d.defer(`${label(b)} spec`); unknown = true; continue; }
        const spec = (v ?? {}) as any;
        const policy = policies.get(spec.policyName);
        if (!policy || !asArray(spec.validationActions).includes("Deny")) continue;
        out.push((ns) => {
            if (ns === "*") return !spec.matchResources?.namespaceSelector && !policy.matchConstraints?.namespaceSelector;
            const a = selectsNamespace(policy.matchConstraints?.namespaceSelector, ns);
            const b2 = selectsNamespace(spec.matchResources?.namespaceSelector, ns);
            if (a === false || b2 === false) return false;
            return a === "unjudgeable" || b2 === "unjudgeable" ? "unjudgeable" : true;
        });
    }
    return unknown ? UNKNOWN : out;
}
