/**
 * What happens to a researcher's static PersistentVolumes when they are removed and later re-added, modelled on
 * the two systems that decide it, so a test can run the program's recorded PVs through it:
 *
 * - Pulumi: removing a researcher deletes their claims and PVs, except a resource with retainOnDelete, which
 *   Pulumi only drops from its state and leaves in the cluster (Pulumi docs, resource option retainOnDelete).
 *   Re-adding creates them again; pulumi-kubernetes creates with a plain create since v4.29.0 (changelog #2926:
 *   "When a resource already exists in the cluster, the API server now returns an AlreadyExists error instead of
 *   silently updating the existing object"), and this project pins 4.34.2.
 * - Kubernetes' PV controller (pkg/controller/volume/persistentvolume/pv_controller.go syncVolume/syncClaim; docs
 *   "Persistent Volumes", sections Retain and Reserving a PersistentVolume): a claim that binds a volume writes its
 *   uid into the volume's spec.claimRef; when the claim is deleted a Retain volume becomes Released and keeps that
 *   claimRef, uid included; a claim naming the volume (volumeName) binds only if the volume's claimRef is empty or
 *   names this claim, uid included when set, so a new claim of the same name (a new uid) stays Pending.
 */
import type { RecordedResource } from "../../tools/mock-engine";

type Phase = "Available" | "Bound" | "Released";
interface ClusterPv { claimRef?: { namespace: string; name: string; uid?: string }; phase: Phase }

export interface ReAddOutcome {
    /** The claim's phase after the re-add, per PV name; "AlreadyExists" when creating the PV failed the `up`. */
    readonly claims: Record<string, "Bound" | "Pending" | "AlreadyExists">;
}

/**
 * Runs remove-then-re-add over a researcher's recorded PVs (each with its claim, bound by spec.volumeName) and
 * reports how each claim ends up.
 */
export function removeAndReAdd(pvs: readonly RecordedResource[], pvcs: readonly RecordedResource[]): ReAddOutcome {
    const cluster = new Map<string, ClusterPv>();
    let uid = 0;
    const claimOf = (pvName: string) => pvcs.find((c) => c.inputs.spec.volumeName === pvName);
    const bind = (pvName: string, claim: RecordedResource, claimUid: string): "Bound" | "Pending" => {
        const pv = cluster.get(pvName)!;
        const ref = pv.claimRef;
        const matches = !ref || (ref.namespace === claim.inputs.metadata.namespace && ref.name === claim.inputs.metadata.name && (ref.uid === undefined || ref.uid === claimUid));
        if (!matches || pv.phase === "Released") return "Pending";
        pv.claimRef = { namespace: claim.inputs.metadata.namespace, name: claim.inputs.metadata.name, uid: claimUid };
        pv.phase = "Bound";
        return "Bound";
    };
    const create = (pv: RecordedResource): boolean => {
        const name = pv.inputs.metadata.name;
        if (cluster.has(name)) return false;
        const ref = pv.inputs.spec.claimRef;
        cluster.set(name, { claimRef: ref ? { ...ref } : undefined, phase: "Available" });
        return true;
    };
    // The first `up`: PV, then its claim (the claim depends on the PV).
    for (const pv of pvs) { create(pv); bind(pv.inputs.metadata.name, claimOf(pv.inputs.metadata.name)!, `uid-${++uid}`); }
    // Removed: claims deleted first (they depend on the PVs), then the PVs unless retained.
    for (const pv of pvs) {
        const state = cluster.get(pv.inputs.metadata.name)!;
        if (pv.inputs.spec.persistentVolumeReclaimPolicy === "Retain") state.phase = "Released";
        if (!pv.retainOnDelete) cluster.delete(pv.inputs.metadata.name);
    }
    // Re-added: the same program creates the PV and a new claim of the same name.
    const claims: Record<string, "Bound" | "Pending" | "AlreadyExists"> = {};
    for (const pv of pvs) {
        const name = pv.inputs.metadata.name;
        claims[name] = create(pv) ? bind(name, claimOf(name)!, `uid-${++uid}`) : "AlreadyExists";
    }
    return { claims };
}
