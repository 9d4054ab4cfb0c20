/** One researcher in cluster mode: their AWS roles, their Kubernetes identity and namespace, their volumes. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { Researcher } from "../config";
import type { StackData } from "../foundation";
import { ResearcherRole } from "../foundation/researcher";
import { researcherClusterPolicy, researcherPodPolicy } from "../iam";
import { researcherTags } from "../tags";
import { podIdentityTrust } from "./iam";
import {
    HUB_NAMESPACE, hubClaims, hubResearcherObjects, JOB_SERVICE_ACCOUNT, kubernetesUser, researcherNamespace, researcherNamespaceObjects, researcherVolumes,
    ResearcherStorageParams, serverServiceAccount, VOLUMES,
} from "./manifests";

export interface ClusterResearcherArgs extends StackData {
    researcher: Researcher;
    institution: string;
    stack: string;
    region: string;
    /** Physical names of their two roles. */
    roleName: string;
    podsRoleName: string;
    clusterName: pulumi.Input<string>;
    clusterArn: pulumi.Input<string>;
    fileSystemId: pulumi.Input<string>;
    accessPointId: pulumi.Input<string>;
    gpusPerResearcher: number;
    /** The hub is reached through the tunnel pod (no hubHostname): the researcher may port-forward to it. */
    hubTunnel: boolean;
    k8sProvider: k8s.Provider;
    /** The hub namespace must exist first. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * Their role (assumed by their iamPrincipalArn, session name = their id) with an EKS access entry
 * mapped to the Kubernetes user archaeo:<id> and no cluster-wide access policy: RBAC alone lets them
 * port-forward to their own server and run jobs in their own namespace. Their pods (server and jobs)
 * run as their own service accounts, which Pod Identity maps to a role that reads the shared datasets
 * and reads/writes only their own S3 prefix; their home is their own EFS access point.
 */
export class ClusterResearcher extends pulumi.ComponentResource {
    public readonly roleArn: pulumi.Output<string>;
    public readonly namespace: string;
    /** Their namespace object: what depends on the namespace depends on it, not on this whole component. */
    public readonly namespaceObject: k8s.core.v1.Namespace;

    constructor(name: string, args: ClusterResearcherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:Researcher", name, {}, opts);
        const child = { parent: this };
        const r = args.researcher;
        const data = (bucketArn: string, keyArn: string) => ({ bucketArn, keyArn, region: args.region, researcherId: r.id });

        const role = new ResearcherRole(`${name}-identity`, {
            researcher: r,
            roleName: args.roleName,
            policy: pulumi.all([args.bucketArn, args.keyArn, args.clusterArn]).apply(([b, k, clusterArn]) => JSON.stringify(researcherClusterPolicy({ ...data(b, k), clusterArn }))),
        }, child);
        const entry = new aws.eks.AccessEntry(`${name}-access`, {
            clusterName: args.clusterName,
            principalArn: role.roleArn,
            type: "STANDARD",
            userName: kubernetesUser(r.id),
        }, child);

        const podsRole = new aws.iam.Role(`${name}-pods-role`, {
            name: args.podsRoleName,
            description: `Archaeo: ${r.id}'s server and jobs (EKS Pod Identity): the shared datasets and their own S3 prefix`,
            assumeRolePolicy: JSON.stringify(podIdentityTrust()),
            // Not tagged `researcher`: that tag marks the researcher's own identity (policy researcher-roles-scoped).
            tags: { "archaeo-pods-of": r.id },
        }, child);
        new aws.iam.RolePolicy(`${name}-pods-policy`, {
            role: podsRole.name,
            policy: pulumi.all([args.bucketArn, args.keyArn]).apply(([b, k]) => JSON.stringify(researcherPodPolicy(data(b, k)))),
        }, child);
        const ns = researcherNamespace(r.id);
        for (const [namespace, serviceAccount] of [[HUB_NAMESPACE, serverServiceAccount(r.id)], [ns, JOB_SERVICE_ACCOUNT]] as const) {
            new aws.eks.PodIdentityAssociation(`${name}-pods-${namespace === HUB_NAMESPACE ? "server" : "jobs"}`, {
                clusterName: args.clusterName, namespace, serviceAccount, roleArn: podsRole.arn, tags: researcherTags(r.id),
            }, child);
        }

        const k8sOpts = { parent: this, provider: args.k8sProvider, dependsOn: args.dependsOn as pulumi.Resource[] };
        const access = { institution: args.institution, stack: args.stack, id: r.id, gpus: args.gpusPerResearcher, sshPublicKeys: r.sshPublicKeys, hubTunnel: args.hubTunnel };
        const own = researcherNamespaceObjects(access);
        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, own.namespace, k8sOpts);
        this.namespaceObject = namespace;
        const inNs = { ...k8sOpts, dependsOn: [namespace] };
        new k8s.core.v1.ResourceQuota(`${name}-quota`, own.quota, inNs);
        new k8s.core.v1.ServiceAccount(`${name}-jobs-sa`, own.serviceAccount, inNs);
        new k8s.rbac.v1.Role(`${name}-role`, own.role, inNs);
        new k8s.rbac.v1.RoleBinding(`${name}-role-binding`, own.roleBinding, { ...inNs, dependsOn: [namespace, entry] });
        own.networkPolicies.forEach((np) => new k8s.networking.v1.NetworkPolicy(`${name}-np-${np.metadata.name}`, np, inNs));

        const hub = hubResearcherObjects(access);
        new k8s.core.v1.ServiceAccount(`${name}-server-sa`, hub.serviceAccount, k8sOpts);
        new k8s.core.v1.ConfigMap(`${name}-ssh-keys`, hub.sshKeys, k8sOpts);
        const hubRole = new k8s.rbac.v1.Role(`${name}-hub-role`, hub.role, k8sOpts);
        new k8s.rbac.v1.RoleBinding(`${name}-hub-binding`, hub.roleBinding, { ...k8sOpts, dependsOn: [...k8sOpts.dependsOn, entry, hubRole] });

        // Volumes: the shapes are known now; the ids inside them after apply (no resource inside apply).
        const storage = (bucketName: string, keyArn: string, fileSystemId: string, accessPointId: string): ResearcherStorageParams =>
            ({ institution: args.institution, stack: args.stack, region: args.region, id: r.id, bucketName, keyArn, fileSystemId, accessPointId });
        const live = pulumi.all([args.bucketName, args.keyArn, args.fileSystemId, args.accessPointId]).apply(([b, k, f, a]) => storage(b, k, f, a));
        const sets = [
            { namespace: HUB_NAMESPACE, claims: hubClaims(r.id), deps: k8sOpts.dependsOn },
            { namespace: ns, claims: { home: VOLUMES.home, mydata: VOLUMES.mydata, datasets: VOLUMES.datasets }, deps: [namespace] },
        ];
        for (const set of sets) {
            const shape = researcherVolumes(storage("", "", "", ""), set.namespace, set.claims);
            const specs = live.apply((s) => researcherVolumes(s, set.namespace, set.claims).map((v) => v.pv.spec));
            shape.forEach((v, i) => {
                const tag = `${set.namespace === HUB_NAMESPACE ? "server" : "jobs"}-${v.pvc.metadata.name.replace(`-${r.id}`, "")}`;
                // Deleted with the researcher, not retained: the PV is only a pointer (reclaim policy Retain; the data is
                // their EFS directory and S3 prefix, kept and backed up). A retained PV stays Released holding the
                // deleted claim's uid in claimRef, so a re-added researcher's new claim never binds it (and, since
                // pulumi-kubernetes 4.29 creates with a plain create, re-creating the PV fails AlreadyExists). Created
                // again, it is pre-bound by claimRef name/namespace only and binds the new claim to the same data.
                const pv = new k8s.core.v1.PersistentVolume(`${name}-pv-${tag}`, { metadata: v.pv.metadata, spec: specs[i] }, k8sOpts);
                new k8s.core.v1.PersistentVolumeClaim(`${name}-pvc-${tag}`, v.pvc, { ...k8sOpts, dependsOn: [...(set.deps as pulumi.Resource[]), pv] });
            });
        }

        this.roleArn = role.roleArn;
        this.namespace = ns;
        this.registerOutputs({ roleArn: this.roleArn });
    }
}
