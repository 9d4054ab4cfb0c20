/**
 * Kubernetes RBAC rules, matched as the API server's RBAC authorizer matches them, and what a rule
 * lets its subjects do to other researchers in a namespace they share. Pure.
 */
import { asArray } from "./util";

export interface Subject { kind: string; name: string }

/**
 * Does a rule's resource list cover `resource` ("pods", or "pods/exec" for a subresource)? As
 * kubernetes pkg/apis/rbac/v1/evaluation_helpers.go ResourceMatches: "*" covers everything, an
 * exact name covers itself, "*\/<sub>" covers that subresource of any resource. "pods/*" and "*\/*"
 * match nothing upstream; they are read here as their author meant them (covering more never lets
 * a grant pass).
 */
export function coversResource(ruleResources: unknown, resource: string): boolean {
    const [base, sub] = resource.split("/");
    return asArray(ruleResources as string[]).some((x) => x === "*" || x === resource
        || (sub !== undefined && (x === `*/${sub}` || x === `${base}/*` || x === "*/*")));
}

export const coversGroup = (ruleGroups: unknown, group: string) => asArray(ruleGroups as string[]).some((g) => g === "*" || g === group);
export const coversVerb = (ruleVerbs: unknown, verbs: readonly string[]) => asArray(ruleVerbs as string[]).some((v) => v === "*" || verbs.includes(v));

/** Does a rule grant one of `verbs` on `group`/`resource`? */
export function ruleGrants(r: any, group: string, resource: string, verbs: readonly string[]): boolean {
    return coversGroup(r?.apiGroups, group) && coversResource(r?.resources, resource) && coversVerb(r?.verbs, verbs);
}

const WRITE = ["create", "update", "patch"];
/**
 * Workloads: whoever may create or change one in a namespace chooses its pod template, so its
 * service account and volumes (any claim there), and the image that runs in an existing pod.
 */
export const WORKLOADS: ReadonlyArray<[string, string]> = [
    ["", "pods"], ["", "replicationcontrollers"], ["apps", "deployments"], ["apps", "replicasets"], ["apps", "statefulsets"],
    ["apps", "daemonsets"], ["batch", "jobs"], ["batch", "cronjobs"],
];

/**
 * Do RBAC subjects include a researcher, a pod's identity, or Kubernetes' own groups that hold them: a researcher user
 * (<prefix><id>), a service account (as the user system:serviceaccount:<ns>:<name>), or a system: group
 * (system:authenticated: everyone; system:serviceaccounts[:<ns>]: every pod there)?
 */
export function reachesResearchersOrPods(subjects: readonly Subject[], researcherUserPrefix: string): boolean {
    return subjects.some((x) => x.name.startsWith(researcherUserPrefix) || x.name.startsWith("system:serviceaccount:") || (x.kind === "Group" && x.name.startsWith("system:")));
}

export interface CrossResearcherOptions {
    /** Kubernetes user names of researchers are <prefix><id>. */
    researcherUserPrefix: string;
    /** A researcher's server pod is <prefix><id> (KubeSpawner pod_name_template 'jupyter-{user_server}'). */
    serverPodPrefix: string;
}

/**
 * Server pods named in `names` that are not the subjects' own: every name of the form
 * <serverPodPrefix>... unless the subjects are exactly one researcher user and it is their server
 * (<prefix><id>, or a named server <prefix><id>--<name>).
 */
function othersServers(names: string[], subjects: readonly Subject[], o: CrossResearcherOptions): string[] {
    const only = subjects.length === 1 && subjects[0].kind === "User" && subjects[0].name.startsWith(o.researcherUserPrefix)
        ? subjects[0].name.slice(o.researcherUserPrefix.length) : undefined;
    return names.filter((n) => n.startsWith(o.serverPodPrefix) && !(only !== undefined && (n === `${o.serverPodPrefix}${only}` || n.startsWith(`${o.serverPodPrefix}${only}--`))));
}

/**
 * What RBAC rules let their subjects do, in a namespace that holds several researchers' servers,
 * to another researcher's server, token, keys or identity (empty: nothing). Each entry names the
 * grant. Only `get` on pods (and the portforward/proxy subresources, whose guard is judged
 * elsewhere) may be limited by resourceNames, and only to the subjects' own server or to pods that
 * are no researcher's server; everything else counts whatever names it lists (RBAC cannot limit
 * `create` by name, and an update of one's own object is not needed by the design).
 */
export function crossResearcherGrants(rules: unknown, subjects: readonly Subject[], o: CrossResearcherOptions): string[] {
    const out: string[] = [];
    for (const r of asArray(rules as any[])) {
        const names = asArray(r?.resourceNames as string[]);
        const verbs = asArray(r?.verbs as string[]);
        // Reading: a server pod's spec holds its JUPYTERHUB_API_TOKEN (KubeSpawner 7.0.0 objects.py make_pod:
        // get_env() values as plain env); secrets hold the hub's and the proxy's tokens. list and watch return
        // every object (a resourceNames list only narrows them to what a fieldSelector names).
        for (const res of ["pods", "secrets"]) {
            if (!ruleGrants(r, "", res, ["get", "list", "watch"])) continue;
            const listing = coversVerb(verbs, ["list", "watch"]);
            if (listing || names.length === 0 || res === "secrets") out.push(`${listing ? "list/watch" : "get"} ${res}${names.length && !listing ? ` ${names.join(", ")}` : ""}`);
            else for (const n of othersServers(names, subjects, o)) out.push(`get pods ${n} (another researcher's server)`);
        }
        // Reaching a pod's ports over the API server's pod proxy (kubectl proxy): like port-forward, but no
        // admission guard is judged for it.
        if (ruleGrants(r, "", "pods/proxy", ["get", "create", "update", "patch", "delete"])) {
            if (names.length === 0) out.push("proxy to any pod (pods/proxy)");
            else for (const n of othersServers(names.map((x) => x.split(":")[0]), subjects, o)) out.push(`proxy to ${n} (pods/proxy, another researcher's server)`);
        }
        // Entering a pod: exec and attach (a websocket exec is a GET, authorized as `get` before Kubernetes 1.35:
        // kubernetes/kubernetes#78741, and #134577 for the `create` check 1.35 adds; so every verb counts),
        // ephemeral debug containers (kubectl debug patches pods/ephemeralcontainers).
        for (const sub of ["pods/exec", "pods/attach", "pods/ephemeralcontainers"]) {
            if (ruleGrants(r, "", sub, ["get", "create", "update", "patch"])) out.push(`${verbs.join("/")} ${sub}`);
        }
        // Stopping: deleting pods by name stops those servers (the budget enforcer's right, by each server's name); without
        // names, or as a collection, it stops every pod there, the hub and the proxy too. A researcher deletes only their own.
        // An eviction (create pods/eviction) stops a pod as a delete does.
        const stops = ruleGrants(r, "", "pods", ["delete", "deletecollection"]) || ruleGrants(r, "", "pods/eviction", ["create"]);
        if (stops) {
            if (names.length === 0 || coversVerb(verbs, ["deletecollection"])) out.push("delete or evict any pod (every server, the hub, the proxy)");
            else if (reachesResearchersOrPods(subjects, o.researcherUserPrefix)) for (const n of othersServers(names, subjects, o)) out.push(`delete pods ${n} (another researcher's server)`);
        }
        // Deleting a workload stops what it runs (the hub's Deployment, the tunnel's StatefulSet).
        for (const [g, res] of WORKLOADS) if (res !== "pods" && ruleGrants(r, g, res, ["delete", "deletecollection"])) out.push(`delete ${res}${g ? ` (${g})` : ""}`);
        // Data: a researcher's home and mydata claims (home-<id>, mydata-<id>) and the volumes under them; deleting one
        // releases the volume from its owner's server (README: a stop leaves data, home and token untouched).
        for (const res of ["persistentvolumeclaims", "persistentvolumes"]) if (ruleGrants(r, "", res, ["delete", "deletecollection"])) out.push(`delete ${res}${names.length ? ` ${names.join(", ")}` : ""}`);
        // Workloads: a pod (or a Job, Deployment...) they create may run as researcher-<other> and mount
        // home-<other>; patching a pod changes the image that runs with its env and mounts.
        for (const [g, res] of WORKLOADS) if (ruleGrants(r, g, res, WRITE)) out.push(`${verbs.filter((v) => v === "*" || WRITE.includes(v)).join("/")} ${res}${g ? ` (${g})` : ""}`);
        // Configuration: ssh-keys-<id> (a ConfigMap) holds a researcher's authorized_keys for their SSH sidecar;
        // secrets hold tokens; a secret of type service-account-token is filled with a token of any service account.
        for (const res of ["configmaps", "secrets"]) if (ruleGrants(r, "", res, WRITE)) out.push(`${verbs.filter((v) => v === "*" || WRITE.includes(v)).join("/")} ${res}`);
        // Identity: a token minted for researcher-<other> (TokenRequest, any audience) is their server's
        // identity, pods.eks.amazonaws.com included (EKS Pod Identity: their pods role); impersonation is the same.
        if (ruleGrants(r, "", "serviceaccounts/token", ["create"])) out.push("create serviceaccounts/token");
        if (ruleGrants(r, "", "serviceaccounts", WRITE)) out.push("create/update serviceaccounts");
        if (coversVerb(verbs, ["impersonate"]) && ["users", "groups", "serviceaccounts", "userextras", "uids"].some((x) => coversResource(r?.resources, x))) out.push("impersonate");
        // RBAC itself: writing Roles or RoleBindings (or bind/escalate) there grants any of the above.
        for (const res of ["roles", "rolebindings"]) {
            if (ruleGrants(r, "rbac.authorization.k8s.io", res, [...WRITE, "bind", "escalate"])) out.push(`${verbs.join("/")} ${res} (rbac.authorization.k8s.io)`);
        }
    }
    return [...new Set(out)];
}

/**
 * Built-in ClusterRoles (Kubernetes "User-facing roles") a binding may name without the stack
 * defining them, and what each grants of the above: cluster-admin everything; admin and edit read
 * and write pods, workloads, secrets and configmaps and exec into pods (admin also writes Roles and
 * RoleBindings); view lists pods.
 */
export const BUILT_IN_CROSS_GRANTS: Readonly<Record<string, string[]>> = {
    "cluster-admin": ["everything"],
    admin: ["list/watch pods and secrets", "create pods/exec", "create pods and every workload", "update/patch configmaps and secrets", "create rolebindings"],
    edit: ["list/watch pods and secrets", "create pods/exec", "create pods and every workload", "update/patch configmaps and secrets"],
    view: ["list/watch pods"],
};

/**
 * Does a Role/ClusterRole rule let its subjects open a port-forward (the pods/portforward subresource
 * in the core group: `create` over SPDY, and `get` over a websocket on clusters before Kubernetes
 * 1.35, kubernetes/kubernetes#78741 and #134577)?
 */
export function grantsPortForward(rules: unknown): boolean {
    return asArray(rules as any[]).some((r: any) => ruleGrants(r, "", "pods/portforward", ["create", "get"]));
}

/**
 * Do the rules only stop things in a namespace, never read, enter or run anything there? `create` of resourcequotas
 * (a quota limits what may run, it holds no data; changing or deleting one could lift a stop) and `delete`/`deletecollection`
 * of pods, nothing else.
 * A subject bound only to such rules (the budget enforcer, infra/cluster/budget-stop.ts) owns nothing in the
 * namespace and reaches no one's server or token there, so it does not make the namespace shared.
 */
export function stopOnly(rules: unknown): boolean {
    const rs = asArray(rules as any[]);
    return rs.length > 0 && rs.every((r: any) => {
        const groups = asArray(r?.apiGroups as string[]);
        const resources = asArray(r?.resources as string[]);
        const verbs = asArray(r?.verbs as string[]);
        if (groups.length === 0 || groups.some((g) => g !== "") || resources.length === 0 || verbs.length === 0) return false;
        return resources.every((res) => (res === "resourcequotas" && verbs.every((v) => v === "create")) || (res === "pods" && verbs.every((v) => v === "delete" || v === "deletecollection")));
    });
}
