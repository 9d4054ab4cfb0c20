/**
 * The Kubernetes half of a researcher's spent budget (cluster mode), as pure objects: the budget enforcer's RBAC
 * and the admission policy that keeps a stopped researcher's server from starting again. The enforcer
 * (infra/cluster/files/budget_enforcer.py) creates the ResourceQuota `archaeo-budget-stop` in their namespace; that
 * one object is the stop: its GPU limit of 0 binds their jobs, the policy below reads it as its parameter to refuse
 * their server pod in the hub namespace, and deleting it (the lift command) lifts both.
 */
import { HUB_NAMESPACE, researcherNamespace, serverPodName, standardLabels } from "./manifests";

/** The ResourceQuota the enforcer creates in a researcher's namespace when their month's budget is spent. */
export const BUDGET_STOP_QUOTA = "archaeo-budget-stop";
/**
 * The enforcer's Kubernetes identity (its EKS access entry): user and group. Not `archaeo:<...>`, the researchers'
 * prefix, which the researcher admission policies and the pack read as a researcher.
 */
export const ENFORCER = { user: "archaeo-budget-enforcer", group: "archaeo-budget-enforcer", role: "archaeo-budget-enforcer" } as const;

/** kubectl command that lifts the Kubernetes half of a researcher's stop (their AWS half is REVERSE_BUDGET_ACTION). */
export const liftBudgetStopCommand = (id: string) => `kubectl -n ${researcherNamespace(id)} delete resourcequota ${BUDGET_STOP_QUOTA}`;

const rbac = "rbac.authorization.k8s.io/v1" as const;
const binding = (metadata: { name: string; namespace: string; labels: Record<string, string> }) => ({
    apiVersion: rbac,
    kind: "RoleBinding" as const,
    metadata,
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: metadata.name },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: ENFORCER.group }],
});

/**
 * The enforcer's rights in one researcher's namespace: create its stop quota (RBAC cannot limit create by name:
 * Kubernetes "Using RBAC Authorization", Referring to resources; a second stop finds it there, 409), and delete their
 * pods as a collection (deletecollection: no get or list, so no pod spec is read). Nothing it may do reads or runs
 * anything there: it can stop their namespace, not use it (lib/rbac.ts stopOnly; the pack's shared-namespace rules).
 */
export function enforcerResearcherObjects(p: { institution: string; stack: string; id: string }) {
    const labels = { ...standardLabels(p.institution, p.stack, "budget-enforcer"), "archaeo/researcher": p.id };
    const metadata = { name: ENFORCER.role, namespace: researcherNamespace(p.id), labels };
    return {
        role: {
            apiVersion: rbac,
            kind: "Role" as const,
            metadata,
            rules: [
                // Create only (a second stop finds it there: 409, success); an admin lifts it (liftCommand), not the enforcer.
                { apiGroups: [""], resources: ["resourcequotas"], verbs: ["create"] },
                // Their job pods, all at once and unread (a Job re-creates them; past the zero quota, none that asks for a GPU).
                { apiGroups: [""], resources: ["pods"], verbs: ["deletecollection"] },
            ],
        },
        roleBinding: binding(metadata),
    };
}

/**
 * The enforcer's rights in the hub namespace: delete the server pods of researchers with a budget, by name, and
 * nothing else (no get or list: a server pod's spec carries its JUPYTERHUB_API_TOKEN).
 */
export function enforcerHubObjects(p: { institution: string; stack: string; ids: readonly string[] }) {
    const labels = standardLabels(p.institution, p.stack, "budget-enforcer");
    const metadata = { name: ENFORCER.role, namespace: HUB_NAMESPACE, labels };
    return {
        role: {
            apiVersion: rbac,
            kind: "Role" as const,
            metadata,
            rules: [{ apiGroups: [""], resources: ["pods"], resourceNames: p.ids.map(serverPodName), verbs: ["delete"] }],
        },
        roleBinding: binding(metadata),
    };
}

/**
 * While `archaeo-budget-stop` exists in researcher-<id>, the hub cannot create their server pod jupyter-<id>: a
 * ValidatingAdmissionPolicy whose parameter is that quota (paramKind ResourceQuota), one binding per researcher with
 * paramRef {name, namespace: researcher-<id>} and parameterNotFoundAction Allow, so without the quota nothing is
 * checked (Kubernetes API reference, ParamRef: "If the value is set to Allow, then no matched parameters will be
 * treated as successful validation by the binding"). The namespace in the CEL comes from the parameter object, which
 * only the enforcer and admins can create (researchers' Role: get/list resourcequotas). KubeSpawner's create then fails
 * with the message below, which the hub shows as the spawn's error.
 */
export function budgetStopAdmission(p: { institution: string; stack: string; ids: readonly string[] }) {
    const labels = standardLabels(p.institution, p.stack, "budget-enforcer");
    const idOf = `params.metadata.namespace.substring(${researcherNamespace("").length})`;
    return {
        policy: {
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicy" as const,
            metadata: { name: BUDGET_STOP_QUOTA, labels },
            spec: {
                failurePolicy: "Fail",
                paramKind: { apiVersion: "v1", kind: "ResourceQuota" },
                matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }] },
                validations: [{
                    // Their default server, and a named one (KubeSpawner 'jupyter-{username}--{servername}') should the hub ever allow them.
                    expression: `!has(object.metadata.name) || (object.metadata.name != 'jupyter-' + ${idOf} && !object.metadata.name.startsWith('jupyter-' + ${idOf} + '--'))`,
                    messageExpression: `'the monthly budget of ' + ${idOf} + ' is spent: their server stays stopped until an admin lifts it (stack output researcherBudgets.' + ${idOf} + '.liftCommand)'`,
                    reason: "Forbidden",
                }],
            },
        },
        bindings: p.ids.map((id) => ({
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicyBinding" as const,
            metadata: { name: `${BUDGET_STOP_QUOTA}-${id}`, labels: { ...labels, "archaeo/researcher": id } },
            spec: {
                policyName: BUDGET_STOP_QUOTA,
                validationActions: ["Deny"],
                paramRef: { name: BUDGET_STOP_QUOTA, namespace: researcherNamespace(id), parameterNotFoundAction: "Allow" },
                matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": HUB_NAMESPACE } } },
            },
        })),
    };
}
