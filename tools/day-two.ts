/**
 * What `npm run plan -- --diff BASE.json` warns about when a step of the stack's life needs a hand the plan cannot
 * give it (issue 17 review, defects 2 and 3). Pure: it reads the two configs the manifests carry.
 * - A Kubernetes upgrade: add-ons with no version recorded for the new version (infra/data/eks.json) stay held at the
 *   version EKS chose when the cluster was created (ignoreChanges: addonVersion): someone must check them.
 * - Cluster mode, a researcher removed or parked while their server may run: the server keeps its claims mounted.
 */
import { HUB_NAMESPACE, serverPodName } from "../infra/cluster/manifests";
import { CORE_ADDONS, CoreAddon, pinnedAddonVersion, publishedAddonVersion } from "../infra/data/eks";

interface ConfigView {
    mode?: string;
    researchers?: ReadonlyArray<{ id: string; parked?: boolean }>;
    cluster?: { kubernetesVersion?: string };
}

/** The commands that stop researcher `id`'s server: kubectl, or the hub's REST API with an admin's token. */
export function stopServerCommands(id: string): { kubectl: string; hubApi: string } {
    return {
        // KubeSpawner's default pod_name_template 'jupyter-{user_server}' (serverPodName); the hub notices the pod is gone.
        kubectl: `kubectl -n ${HUB_NAMESPACE} delete pod ${serverPodName(id)} --wait`,
        // JupyterHub REST API (docs/source/reference/rest-api.yml): DELETE /users/{name}/server stops the user's default server.
        hubApi: `curl -X DELETE -H "Authorization: token $ADMIN_TOKEN" https://<hub>/hub/api/users/${id}/server`,
    };
}

/** Add-ons held (no recorded version) for `to`, each with the command that lists the versions EKS offers for it. */
export function heldAddonWarnings(from: string, to: string): string[] {
    if (from === to) return [];
    let held: CoreAddon[];
    try {
        held = CORE_ADDONS.filter((a) => pinnedAddonVersion(to, a) === undefined);
    } catch {
        return [`Kubernetes ${from} -> ${to}: no add-on row for ${to} in infra/data/eks.json; every add-on must be checked`];
    }
    return held.map((a) => {
        const published = publishedAddonVersion(to, a);
        return `Kubernetes ${from} -> ${to}: add-on ${a} has no version pinned for ${to} (infra/data/eks.json) and stays held at the version ` +
        `EKS chose when the cluster was created (ignoreChanges: addonVersion), which this upgrade does not move` +
        (published ? ` (AWS's table lists ${published} as the latest for ${to})` : "") + `. Check it is compatible with ${to} before the up: ` +
        `aws eks describe-addon-versions --kubernetes-version ${to} --addon-name ${a} --query 'addons[].addonVersions[].[addonVersion, compatibilities[0].defaultVersion]' ` +
        `and compare with aws eks describe-addon --cluster-name <cluster> --addon-name ${a} --query addon.addonVersion; record the default in infra/data/eks.json to pin it`;
    });
}

/**
 * Cluster researchers in `base` with a server possible (not parked) who are removed or parked in `next`. Removed: their
 * hub-namespace claims are deleted, and a running server keeps them Terminating (pvc-protection) while
 * pulumi-kubernetes waits out its timeout (tools/lifecycle.ts claimsHeldByServers). Parked: the claims stay, but
 * leaving the hub's allow-list does not stop a server already running (it keeps its node and GPU).
 */
export function serverStopWarnings(base: ConfigView, next: ConfigView): string[] {
    if (base.mode !== "cluster" || next.mode !== "cluster") return [];
    const after = new Map((next.researchers ?? []).map((r) => [r.id, r]));
    const out: string[] = [];
    for (const r of base.researchers ?? []) {
        if (r.parked) continue;
        const now = after.get(r.id);
        if (now && !now.parked) continue;
        const c = stopServerCommands(r.id);
        out.push(now
            ? `researcher '${r.id}' is parked: leaving the hub's allow-list does not stop a server already running (it keeps its GPU node). Stop it first: ${c.kubectl} (or ${c.hubApi})`
            : `researcher '${r.id}' is removed: their claims in namespace ${HUB_NAMESPACE} are deleted, and while their server runs it mounts them: pvc-protection keeps them ` +
                `Terminating and \`pulumi up\` waits until pulumi-kubernetes' timeout (10 minutes) and fails. Stop the server first: ${c.kubectl} (or ${c.hubApi})`);
    }
    return out;
}

/** Every day-two warning of a diff between two plans' configs. */
export function dayTwoWarnings(base: ConfigView, next: ConfigView): string[] {
    const from = base.mode === "cluster" ? base.cluster?.kubernetesVersion : undefined;
    const to = next.mode === "cluster" ? next.cluster?.kubernetesVersion : undefined;
    return [...(from && to ? heldAddonWarnings(from, to) : []), ...serverStopWarnings(base, next)];
}
