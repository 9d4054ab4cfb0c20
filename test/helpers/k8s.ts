/** Kubernetes OpenAPI model classes (kubernetes-models is ESM-only: loaded with import()), and recorded resources as objects. */
import type { RecordedResource } from "../../tools/mock-engine";

export type Models = Record<string, new (o: any) => { validate(): void }>;

export async function models(): Promise<Models> {
    const core = await import("kubernetes-models/v1");
    const batch = await import("kubernetes-models/batch/v1");
    const apps = await import("kubernetes-models/apps/v1");
    const net = await import("kubernetes-models/networking.k8s.io/v1");
    const rbac = await import("kubernetes-models/rbac.authorization.k8s.io/v1");
    const storage = await import("kubernetes-models/storage.k8s.io/v1");
    const adm = await import("kubernetes-models/admissionregistration.k8s.io/v1");
    const karpenter = await import("@kubernetes-models/karpenter/karpenter.sh/v1");
    const karpenterAws = await import("@kubernetes-models/karpenter/karpenter.k8s.aws/v1");
    return {
        "v1:Namespace": core.Namespace, "v1:ConfigMap": core.ConfigMap, "v1:Service": core.Service, "v1:ServiceAccount": core.ServiceAccount,
        "v1:PersistentVolume": core.PersistentVolume, "v1:PersistentVolumeClaim": core.PersistentVolumeClaim, "v1:ResourceQuota": core.ResourceQuota,
        "v1:Pod": core.Pod, "batch/v1:Job": batch.Job, "apps/v1:StatefulSet": apps.StatefulSet, "networking.k8s.io/v1:NetworkPolicy": net.NetworkPolicy,
        "rbac.authorization.k8s.io/v1:Role": rbac.Role, "rbac.authorization.k8s.io/v1:RoleBinding": rbac.RoleBinding,
        "storage.k8s.io/v1:StorageClass": storage.StorageClass,
        "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": adm.ValidatingAdmissionPolicy,
        "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": adm.ValidatingAdmissionPolicyBinding,
        "karpenter.sh/v1:NodePool": karpenter.NodePool, "karpenter.k8s.aws/v1:EC2NodeClass": karpenterAws.EC2NodeClass,
    };
}

/** A recorded Kubernetes resource as the object the API server would get. */
export function asObject(r: RecordedResource): any {
    if (r.type === "kubernetes:apiextensions.k8s.io:CustomResource") return { ...r.inputs };
    const [group, kind] = r.type.replace(/^kubernetes:/, "").split(":");
    const apiVersion = group.startsWith("core/") ? group.slice(5) : group;
    return { apiVersion, kind, ...r.inputs };
}

/** Validates an object against the schema of its apiVersion/kind; throws when there is none. */
export function validate(M: Models, o: any): void {
    const Model = M[`${o.apiVersion}:${o.kind}`];
    if (!Model) throw new Error(`no schema loaded for ${o.apiVersion} ${o.kind}`);
    new Model(o).validate();
}
