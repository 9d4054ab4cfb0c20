/**
 * Kubernetes' rules for the names and labels the program sends: object names by kind, namespaces, label
 * keys and values (metadata.labels, pod template labels, selectors, node selectors, Karpenter templates),
 * annotation keys, and Helm release names. Sources: k8s.io/apimachinery pkg/util/validation/validation.go
 * (IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue), pkg/api/validation
 * (NameIsDNSLabel / NameIsDNSSubdomain / path segment names), the API server's per-kind validators, and
 * helm pkg/chartutil/validate_name.go (ValidateReleaseName).
 */
import type { RecordedResource } from "../mock-engine";
import type { Constraint } from "./bindings";

export interface K8sValue {
    readonly path: string;
    readonly value: unknown;
    readonly rule: Constraint;
    readonly source: string;
}

const APIMACHINERY = "k8s.io/apimachinery pkg/util/validation/validation.go";
const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
export const DNS1123_LABEL: Constraint = { min: 1, max: 63, pattern: LABEL };
export const DNS1123_SUBDOMAIN: Constraint = { min: 1, max: 253, pattern: `${LABEL}(\\.${LABEL})*` };
const DNS1035_LABEL: Constraint = { min: 1, max: 63, pattern: "[a-z]([-a-z0-9]*[a-z0-9])?" };
/** IsValidPathSegmentName: any name but "." and "..", without "/" or "%" (RBAC objects). */
const PATH_SEGMENT: Constraint = { min: 1, max: 253, pattern: "(?!\\.{1,2}$)[^/%]+" };
/** IsQualifiedName: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
const QUALIFIED_NAME: Constraint = { max: 253 + 1 + 63, pattern: `(${LABEL}(\\.${LABEL})*/)?(?=.{1,63}$)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)` };
/** IsValidLabelValue: empty, or at most 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric. */
export const LABEL_VALUE: Constraint = { max: 63, pattern: "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?" };

/** How the API server validates metadata.name, by kind. */
const NAME_RULES: Readonly<Record<string, { rule: Constraint; source: string }>> = {
    Namespace: { rule: DNS1123_LABEL, source: "kubernetes pkg/apis/core/validation ValidateNamespaceName (NameIsDNSLabel)" },
    Service: { rule: DNS1035_LABEL, source: "kubernetes pkg/apis/core/validation ValidateServiceName (NameIsDNS1035Label)" },
    // The pods' controller-revision-hash label is "<name>-<10-char hash>", a label value of at most 63
    // characters: a StatefulSet named longer than 52 creates no pods (kubernetes/kubernetes#64023).
    StatefulSet: { rule: { ...DNS1123_LABEL, max: 52 }, source: "kubernetes pkg/apis/apps/validation ValidateStatefulSetName (NameIsDNSLabel); 52 for the controller-revision-hash label (kubernetes/kubernetes#64023)" },
    Role: { rule: PATH_SEGMENT, source: "kubernetes pkg/apis/rbac/validation ValidateRBACName (IsValidPathSegmentName)" },
    RoleBinding: { rule: PATH_SEGMENT, source: "kubernetes pkg/apis/rbac/validation ValidateRBACName (IsValidPathSegmentName)" },
    ClusterRole: { rule: PATH_SEGMENT, source: "kubernetes pkg/apis/rbac/validation ValidateRBACName (IsValidPathSegmentName)" },
    ClusterRoleBinding: { rule: PATH_SEGMENT, source: "kubernetes pkg/apis/rbac/validation ValidateRBACName (IsValidPathSegmentName)" },
};
const DEFAULT_NAME = { rule: DNS1123_SUBDOMAIN, source: `${APIMACHINERY} IsDNS1123Subdomain (NameIsDNSSubdomain: every other kind, custom resources included)` };

/** Keys whose object value is a label map (keys qualified names, values label values). */
const LABEL_MAPS = new Set(["labels", "matchLabels", "nodeSelector", "node_selector", "extraLabels", "extra_labels", "podLabels", "commonLabels"]);
/** Keys whose object value is environment variables by name (a chart's `extraEnv`, KubeSpawner's `environment`). */
const ENV_MAPS = new Set(["extraEnv", "extra_env", "environment"]);
/** IsConfigMapKey: 1-253 of [-._a-zA-Z0-9] (ConfigMap and Secret data keys). */
const CONFIGMAP_KEY: Constraint = { min: 1, max: 253, pattern: "[-._a-zA-Z0-9]+" };

const CORE_VALIDATION = "kubernetes pkg/apis/core/validation/validation.go";
/** IsValidPortName (IANA_SVC_NAME): 1-15 of a-z0-9 and '-', at least one letter, no leading/trailing or double '-'. */
const PORT_NAME: Constraint = { min: 1, max: 15, pattern: "(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?" };
/** IsEnvVarName (before 1.34 relaxed it): a C-like name with '-' and '.' allowed. */
const ENV_NAME: Constraint = { min: 1, pattern: "[-._a-zA-Z][-._a-zA-Z0-9]*" };
/** Arrays whose elements' `name` is a DNS label (containers, volumes and the mounts naming them). */
const LABEL_NAMED = new Set(["containers", "initContainers", "extraContainers", "volumes", "extraVolumes", "volumeMounts", "extraVolumeMounts", "volumeClaimTemplates"]);
/**
 * KubeSpawner expands {username} (and {servername}) in names it renders; a researcher id is at most 20
 * characters (infra/config RESEARCHER_ID), so names are checked with the longest one.
 */
const LONGEST_USERNAME = "r1234567890123456789";
const expand = (v: unknown) => (typeof v === "string" ? v.replace(/\{username\}/g, LONGEST_USERNAME).replace(/\{servername\}/g, "") : v);

/** pulumi-kubernetes' autoname: `<logical name>-<8 hex>` (provider/pkg/metadata/naming.go AssignNameIfAutonamable). */
export function k8sAutoname(logicalName: string): string {
    return `${logicalName}-0a1b2c3d`;
}

function walkLabels(v: unknown, path: string, out: K8sValue[], parentKey = ""): void {
    if (Array.isArray(v)) {
        v.forEach((x, i) => {
            const p = `${path}[${i}]`;
            const item = x && typeof x === "object" ? (x as Record<string, unknown>) : undefined;
            const name = item?.name;
            // Taints and tolerations: key a qualified name, value a label value; node requirements likewise (Karpenter, affinity).
            if (item && (parentKey === "taints" || parentKey === "tolerations" || parentKey === "startupTaints") && typeof item.key === "string") {
                out.push({ path: `${p}.key`, value: item.key, rule: QUALIFIED_NAME, source: `${CORE_VALIDATION} validateTaints/validateTolerations (IsQualifiedName)` });
                if (typeof item.value === "string" && item.value !== "") out.push({ path: `${p}.value`, value: item.value, rule: LABEL_VALUE, source: `${CORE_VALIDATION} validateTaints (IsValidLabelValue)` });
            }
            if (item && (parentKey === "requirements" || parentKey === "matchExpressions") && typeof item.key === "string") {
                out.push({ path: `${p}.key`, value: item.key, rule: QUALIFIED_NAME, source: `${APIMACHINERY} IsQualifiedName (node selector requirement keys)` });
                if ((item.operator === "In" || item.operator === "NotIn") && Array.isArray(item.values)) {
                    item.values.forEach((lv, j) => out.push({ path: `${p}.values[${j}]`, value: lv, rule: LABEL_VALUE, source: `${APIMACHINERY} IsValidLabelValue (In/NotIn values)` }));
                }
            }
            if (typeof name === "string") {
                if (LABEL_NAMED.has(parentKey)) out.push({ path: `${p}.name`, value: expand(name), rule: DNS1123_LABEL, source: `${CORE_VALIDATION} (container and volume names: IsDNS1123Label)` });
                else if (parentKey === "ports") out.push({ path: `${p}.name`, value: name, rule: PORT_NAME, source: `${APIMACHINERY} IsValidPortName (IANA_SVC_NAME)` });
                else if (parentKey === "env") out.push({ path: `${p}.name`, value: name, rule: ENV_NAME, source: `${APIMACHINERY} IsEnvVarName` });
            }
            walkLabels(x, p, out);
        });
        return;
    }
    if (!v || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (k === "serviceAccountName" && typeof x === "string") out.push({ path: p, value: expand(x), rule: DNS1123_SUBDOMAIN, source: `${CORE_VALIDATION} (ServiceAccount names: NameIsDNSSubdomain)` });
        if (LABEL_MAPS.has(k) && x && typeof x === "object" && !Array.isArray(x)) {
            for (const [lk, lv] of Object.entries(x)) {
                out.push({ path: `${p}{key:${lk}}`, value: lk, rule: QUALIFIED_NAME, source: `${APIMACHINERY} IsQualifiedName (label keys)` });
                out.push({ path: `${p}.${lk}`, value: lv, rule: LABEL_VALUE, source: `${APIMACHINERY} IsValidLabelValue` });
            }
        } else if (ENV_MAPS.has(k) && x && typeof x === "object" && !Array.isArray(x)) {
            for (const ek of Object.keys(x)) out.push({ path: `${p}{key:${ek}}`, value: ek, rule: ENV_NAME, source: `${APIMACHINERY} IsEnvVarName` });
            walkLabels(x, p, out, k);
        } else if (k === "annotations" && x && typeof x === "object" && !Array.isArray(x)) {
            for (const ak of Object.keys(x)) out.push({ path: `${p}{key:${ak}}`, value: ak, rule: QUALIFIED_NAME, source: `${APIMACHINERY} IsQualifiedName (annotation keys)` });
        } else {
            walkLabels(x, p, out, k);
        }
    }
}

/** The name, namespace, label and annotation values of one recorded Kubernetes resource, each with its rule. */
export function kubernetesValues(r: RecordedResource): K8sValue[] {
    const out: K8sValue[] = [];
    const inputs = r.inputs;
    if (r.type === "kubernetes:helm.sh/v3:Release" || r.type === "kubernetes:helm.sh/v4:Chart") {
        const name = inputs.name ?? k8sAutoname(r.name);
        out.push({ path: inputs.name === undefined ? "name (autonamed)" : "name", value: name, rule: { ...DNS1123_SUBDOMAIN, max: 53 }, source: "helm pkg/chartutil/validate_name.go ValidateReleaseName (maxReleaseNameLen 53, DNS-1123 subdomain)" });
        if (inputs.namespace !== undefined) out.push({ path: "namespace", value: inputs.namespace, rule: DNS1123_LABEL, source: "kubernetes ValidateNamespaceName (NameIsDNSLabel)" });
        // What the chart renders from the values: label maps, container, volume, port and env names.
        walkLabels(inputs.values, "values", out);
        return out;
    }
    const kind: string = typeof inputs.kind === "string" ? inputs.kind : r.type.split(":").pop() ?? "";
    const meta = inputs.metadata ?? {};
    const byKind = NAME_RULES[kind] ?? DEFAULT_NAME;
    const autonamed = meta.name === undefined;
    out.push({ path: autonamed ? "metadata.name (autonamed)" : "metadata.name", value: autonamed ? k8sAutoname(r.name) : meta.name, rule: byKind.rule, source: byKind.source });
    if (meta.namespace !== undefined) out.push({ path: "metadata.namespace", value: meta.namespace, rule: DNS1123_LABEL, source: "kubernetes ValidateNamespaceName (NameIsDNSLabel)" });
    walkLabels(inputs, "", out);
    if ((kind === "ConfigMap" || kind === "Secret") && inputs.data && typeof inputs.data === "object") {
        for (const dk of Object.keys(inputs.data)) out.push({ path: `data{key:${dk}}`, value: dk, rule: CONFIGMAP_KEY, source: `${APIMACHINERY} IsConfigMapKey` });
    }
    if (kind === "ResourceQuota" && inputs.spec?.hard && typeof inputs.spec.hard === "object") {
        for (const rk of Object.keys(inputs.spec.hard)) out.push({ path: `spec.hard{key:${rk}}`, value: rk, rule: QUALIFIED_NAME, source: `${CORE_VALIDATION} ValidateResourceQuota (validateResourceName: qualified names)` });
    }
    return out;
}
