/**
 * Isolation as one rule over the ownership model (lib/ownership.ts): nothing reaches researcher X's
 * data or host except X, X's own workstation, pods and server, and the stack's own service roles for
 * their stated purpose; the shared datasets are read-only to everyone the stack defines.
 */
import { StackValidationPolicy } from "@pulumi/policy";
import { Asset, AssetKind, EVERYONE, Holds, OWNERSHIP_DEFAULTS, OwnershipConfig, ownershipModel, Principal, Reach, SHARED } from "../lib/ownership";
import { onStack } from "../lib/rule";

/**
 * The stated purpose of each AWS service that may assume one of the stack's roles, as the asset kinds
 * of every researcher it may reach: Data Lifecycle Manager snapshots workspace volumes (AWS DLM user
 * guide, "AWS managed policies for Amazon Data Lifecycle Manager"), AWS Backup backs up EBS and EFS
 * ("Supported AWS resources and third-party applications"). The CSI drivers' Pod Identity roles
 * provision and attach volumes (aws-ebs-csi-driver, aws-efs-csi-driver example IAM policies).
 */
export const SERVICE_PURPOSES: Readonly<Record<string, readonly AssetKind[]>> = {
    "dlm.amazonaws.com": ["ebs-volume", "snapshot"],
    "backup.amazonaws.com": ["ebs-volume", "snapshot", "efs-home"],
    "kube-system/ebs-csi-controller-sa": ["ebs-volume", "snapshot"],
    "kube-system/efs-csi-controller-sa": ["efs-home"],
};

interface IsolationConfig extends OwnershipConfig { servicePurposes: Record<string, string[]> }

function purposeAllows(p: Principal, a: Asset, purposes: Record<string, readonly string[]>): boolean {
    if (!p.purpose || p.actsFor) return false;
    return p.purpose.split(", ").some((svc) => (purposes[svc] ?? []).includes(a.kind));
}

function who(p: Principal): string {
    return p.actsFor ? `${p.label} (acts for ${p.actsFor})` : p.label;
}

/** A reach that breaks isolation, or undefined. */
export function reachProblem(r: Reach, purposes: Record<string, readonly string[]>): string | undefined {
    const { principal: p, asset: a } = r;
    if (a.owner === SHARED) {
        if (r.access === "write") return `${who(p)} may write ${a.label} through ${r.via}: the shared datasets are read-only to everything the stack defines`;
        // Who outside the stack may read the datasets (an organization the institution shares them with) is
        // judged by resource-policies-no-public-principals and its allowedOrgIds.
        return undefined;
    }
    if (a.owner === EVERYONE) {
        if (!p.actsFor && !p.heldBy) return undefined; // who else a resource policy names is resource-policies-no-public-principals' to judge
        return `${who(p)} is named in ${r.via}, on ${a.label}: a researcher's grants come from their own role's policies only (judged against their scope); a shared resource reaches every researcher's data or hosts`;
    }
    if (p.heldBy) return `${p.label} reaches ${a.label} (${r.access}) through ${r.via}, and it is held by ${p.heldBy.join(" and ")}: each researcher's workstation and pods hold a role of their own`;
    if (p.actsFor === a.owner) return undefined;
    if (purposeAllows(p, a, purposes)) return undefined;
    if (p.actsFor) return `${who(p)} reaches ${a.label} (${r.access}) through ${r.via}: researcher ${p.actsFor} reaches only their own data and host`;
    if (p.purpose) return `${who(p)}, a service role for ${p.purpose}, reaches ${a.label} (${r.access}) through ${r.via}, which is not its stated purpose (servicePurposes)`;
    return `${who(p)} reaches ${a.label} (${r.access}) through ${r.via}: only ${a.owner}, their own workstation, pods and server, and the stack's service roles for their stated purpose may`;
}

/** A principal holding another's identity across researchers, or undefined. */
export function holdsProblem(h: Holds): string | undefined {
    if (h.held.actsFor === undefined) return undefined;
    if (h.holder.actsFor === h.held.actsFor) return undefined;
    if (h.held.actsFor === EVERYONE) return `${who(h.holder)} holds ${h.held.label} through ${h.via}: whoever answers there logs in as any researcher`;
    return `${who(h.holder)} holds ${who(h.held)} through ${h.via}: whatever runs there acts as researcher ${h.held.actsFor}`;
}

export const isolationPolicies: StackValidationPolicy[] = [
    {
        name: "researcher-isolation",
        description: "Checks whether nothing reaches researcher X's data or host (S3 prefix, volumes and snapshots, EFS home, parameters, workstation, namespace, server) except X, X's own workstation, pods and server, and the stack's service roles for their stated purpose, and the shared datasets are read-only, judged over one ownership model of the whole stack (identity and resource policies, IAM users and groups, instance profiles, volume attachments, PersistentVolumes and claims, Pod Identity, EKS access entries, RBAC, the hub's service accounts and claims) with scoping conditions counted by value (no wildcard, account-wide or ForAllValues pins).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: OWNERSHIP_DEFAULTS.researcherTag },
                actingForTags: { type: "array", items: { type: "string" }, default: OWNERSHIP_DEFAULTS.actingForTags },
                hubNamespace: { type: "string", default: OWNERSHIP_DEFAULTS.hubNamespace },
                researcherNamespacePrefix: { type: "string", default: OWNERSHIP_DEFAULTS.researcherNamespacePrefix },
                trustedIdentityProviders: { type: "array", items: { type: "string" }, default: [], description: "Hosts (globs) of the institution's own identity provider, when the hub logs researchers in there instead of the stack's Cognito pool." },
                servicePurposes: { type: "object", additionalProperties: { type: "array", items: { type: "string" } }, default: SERVICE_PURPOSES, description: "AWS service principal (or Pod Identity <namespace>/<service account>) -> the kinds of every researcher's assets it may reach for its purpose." },
            },
        },
        validateStack: onStack(async (args, report, d) => {
            const c = args.getConfig<Partial<IsolationConfig>>();
            const purposes = c.servicePurposes ?? SERVICE_PURPOSES;
            const model = await ownershipModel(args.resources, c, d);
            const seen = new Set<string>();
            // One message per grant: the first asset it wrongly reaches, and the others the same grant reaches.
            const byGrant = new Map<string, Array<{ r: Reach; m: string }>>();
            for (const r of model.reaches) {
                const m = reachProblem(r, purposes);
                if (!m) continue;
                const key = `${r.principal.label}\u0000${r.via}`;
                byGrant.set(key, [...(byGrant.get(key) ?? []), { r, m }]);
            }
            for (const list of byGrant.values()) {
                const others = [...new Set(list.slice(1).map((x) => x.r.asset.label))].filter((l) => l !== list[0].r.asset.label);
                const m = others.length ? `${list[0].m}; the same grant also reaches ${others.join(", ")}` : list[0].m;
                if (!seen.has(m)) { seen.add(m); report(`${m}.`, list[0].r.urn); }
            }
            for (const h of model.holds) {
                const m = holdsProblem(h);
                if (m && !seen.has(m)) { seen.add(m); report(`${m}.`, h.urn); }
            }
        }),
    },
];
