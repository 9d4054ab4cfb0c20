/**
 * Every Kubernetes object cluster mode creates, as pure functions of plain values. Components hand
 * them to @pulumi/kubernetes; tests validate them against the Kubernetes OpenAPI schemas
 * (kubernetes-models). Nothing here talks to a cluster.
 */
import type * as kin from "@pulumi/kubernetes/types/input";
import { BATCH_TAINT, CLUSTER_SHAPE, GPU_TAINT, MOUNTS, POOLS, PORTS, RESEARCHER_UID } from "../constants";
import { shmSizeGiB } from "../sizing";
import { DATASETS_PREFIX, researcherPrefix } from "../tags";
import { IMAGE_CACHE_USER_DATA, imageCacheDevice } from "./image-cache";
import { DEVICE_LIST_STRATEGY, gpuNodeUserData } from "./gpu-isolation";

/** The namespace of the hub, the proxy and every researcher's server. */
export const HUB_NAMESPACE = "jupyterhub";
/** A researcher's own namespace: their batch jobs, quota and RBAC. */
export const researcherNamespace = (id: string) => `researcher-${id}`;
/** KubeSpawner's default pod_name_template 'jupyter-{user_server}' for a researcher's default server (ids are valid safe slugs). */
export const serverPodName = (id: string) => `jupyter-${id}`;
/** Service account of a researcher's server (hub namespace) and of their jobs (their namespace): Pod Identity maps both to their pods role. */
export const serverServiceAccount = (id: string) => `researcher-${id}`;
export const JOB_SERVICE_ACCOUNT = "researcher";
/** The Kubernetes user name a researcher's EKS access entry maps to; RBAC binds it. */
export const kubernetesUser = (id: string) => `archaeo:${id}`;
/** The hub tunnel: a StatefulSet's pod has the stable name <name>-0. */
export const HUB_TUNNEL = { name: "hub-tunnel", pod: "hub-tunnel-0", port: PORTS.hub } as const;


/** Labels on every object (one place, pure). */
export function standardLabels(institution: string, stack: string, component?: string): Record<string, string> {
    return {
        "app.kubernetes.io/part-of": "archaeo-workbench",
        "app.kubernetes.io/managed-by": "pulumi",
        "archaeo/institution": institution,
        "archaeo/stack": stack.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, 63),
        ...(component ? { "app.kubernetes.io/name": component } : {}),
    };
}

const restricted = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
const podSecurity = { runAsNonRoot: true, runAsUser: RESEARCHER_UID, runAsGroup: RESEARCHER_UID, fsGroup: RESEARCHER_UID, seccompProfile: { type: "RuntimeDefault" } };
const gpuToleration = { key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect };
const batchToleration = { key: BATCH_TAINT.key, operator: "Exists", effect: BATCH_TAINT.effect };

// ---------------------------------------------------------------- storage

export interface ResearcherStorageParams {
    institution: string;
    stack: string;
    region: string;
    id: string;
    bucketName: string;
    keyArn: string;
    fileSystemId: string;
    /** The researcher's EFS access point (root /researchers/<id>, uid/gid 1000). */
    accessPointId: string;
}

/** Volume names in every researcher pod (server and jobs), and where each is mounted. */
export const VOLUMES = { home: "home", datasets: "datasets", mydata: "mydata", shm: "dshm" } as const;

/**
 * Static PersistentVolumes and their claims in one namespace: a researcher's EFS home (through their
 * own access point, so no researcher can reach another's files), their own S3 area read-write, and
 * the shared datasets read-only (Mountpoint for S3 CSI driver with the pod's own identity,
 * authenticationSource: pod — awslabs/mountpoint-s3-csi-driver v2.7.0 docs/CONFIGURATION.md and
 * examples/kubernetes/static_provisioning/pod_level_identity.yaml, kms_sse.yaml, non_root.yaml).
 */
export function researcherVolumes(p: ResearcherStorageParams, namespace: string, claims: { home?: string; mydata?: string; datasets?: string }) {
    const labels = { ...standardLabels(p.institution, p.stack, "storage"), ...(claims.home || claims.mydata ? { "archaeo/researcher": p.id } : {}) };
    const pair = (claim: string, accessMode: "ReadWriteMany" | "ReadOnlyMany", source: (pvName: string) => Record<string, unknown>) => {
        const pvName = `${namespace}.${claim}`;
        return {
            pv: {
                apiVersion: "v1" as const,
                kind: "PersistentVolume" as const,
                metadata: { name: pvName, labels },
                spec: {
                    capacity: { storage: "1Ti" }, // ignored by both drivers, required by the API
                    accessModes: [accessMode],
                    persistentVolumeReclaimPolicy: "Retain",
                    storageClassName: "",
                    claimRef: { namespace, name: claim },
                    ...source(pvName),
                },
            },
            pvc: {
                apiVersion: "v1" as const,
                kind: "PersistentVolumeClaim" as const,
                metadata: { name: claim, namespace, labels },
                spec: { accessModes: [accessMode], storageClassName: "", volumeName: pvName, resources: { requests: { storage: "1Ti" } } },
            },
        };
    };
    const s3 = (prefix: string, extra: string[]) => (pvName: string) => ({
        mountOptions: [`region ${p.region}`, `prefix ${prefix}`, "allow-other", `uid=${RESEARCHER_UID}`, `gid=${RESEARCHER_UID}`, ...extra],
        // volumeHandle must be unique in the cluster: the PV's own name.
        csi: { driver: "s3.csi.aws.com", volumeHandle: pvName, volumeAttributes: { bucketName: p.bucketName, authenticationSource: "pod" } },
    });
    const out = [];
    if (claims.home) out.push(pair(claims.home, "ReadWriteMany", () => ({ csi: { driver: "efs.csi.aws.com", volumeHandle: `${p.fileSystemId}::${p.accessPointId}` }, mountOptions: ["tls"] })));
    if (claims.mydata) out.push(pair(claims.mydata, "ReadWriteMany", s3(researcherPrefix(p.id), ["allow-delete", "sse aws:kms", `sse-kms-key-id ${p.keyArn}`])));
    if (claims.datasets) out.push(pair(claims.datasets, "ReadOnlyMany", s3(DATASETS_PREFIX, ["read-only"])));
    return out;
}

/**
 * A researcher's claims in the hub namespace, where KubeSpawner creates their server: the chart values
 * name them with {username} (expanded per server) and researchers.ts creates them per researcher.
 */
export function hubClaims(id: string): { home: string; datasets: string; mydata: string } {
    return { home: `home-${id}`, datasets: `datasets-${id}`, mydata: `mydata-${id}` };
}

/**
 * The environment of a researcher's pods (server, SSH sidecar, jobs): the stack's env with `{username}`
 * expanded to `username`, and who they are. The hub's values pass "{username}" itself: KubeSpawner
 * expands it per server.
 */
export function researcherEnv(env: Record<string, string>, username: string): Record<string, string> {
    const expanded = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.split("{username}").join(username)]));
    return { ...expanded, ARCHAEO_RESEARCHER: username, HOME: MOUNTS.home, SHELL: "/bin/bash" };
}

/** Mounts of a researcher's pod: /workspace (their home volume), HOME inside it, /data, /mydata, /dev/shm. */
export function researcherMounts(): Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }> {
    return [
        { name: VOLUMES.home, mountPath: MOUNTS.workspace },
        { name: VOLUMES.home, mountPath: MOUNTS.home, subPath: ".home" },
        { name: VOLUMES.datasets, mountPath: MOUNTS.data, readOnly: true },
        { name: VOLUMES.mydata, mountPath: MOUNTS.mydata },
        { name: VOLUMES.shm, mountPath: "/dev/shm" },
    ];
}

/** Pod volumes for researcherMounts, from claim names. */
export function researcherPodVolumes(claims: { home: string; datasets: string; mydata: string }, memoryGiB: number) {
    return [
        { name: VOLUMES.home, persistentVolumeClaim: { claimName: claims.home } },
        { name: VOLUMES.datasets, persistentVolumeClaim: { claimName: claims.datasets, readOnly: true } },
        { name: VOLUMES.mydata, persistentVolumeClaim: { claimName: claims.mydata } },
        { name: VOLUMES.shm, emptyDir: { medium: "Memory", sizeLimit: `${shmSizeGiB(memoryGiB)}Gi` } },
    ];
}

/**
 * The default gp3 StorageClass (the hub's database), encrypted with the stack key, Retain. The key is
 * whatever the caller holds (a string in tests, the key's Output in the program): no apply needed.
 */
export function gp3StorageClass<Key = string>(p: { institution: string; stack: string; keyArn: Key }) {
    return {
        apiVersion: "storage.k8s.io/v1" as const,
        kind: "StorageClass" as const,
        metadata: { name: "gp3-encrypted", labels: standardLabels(p.institution, p.stack), annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
        provisioner: "ebs.csi.aws.com",
        parameters: { type: "gp3", encrypted: "true", kmsKeyId: p.keyArn },
        reclaimPolicy: "Retain",
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
    };
}

// ---------------------------------------------------------------- namespaces, quota, RBAC

export interface ResearcherAccessParams {
    institution: string;
    stack: string;
    id: string;
    /** Most GPUs their jobs may request at once. */
    gpus: number;
    sshPublicKeys: readonly string[];
    /** Whether the hub is reached through the tunnel pod (no hubHostname), so researchers may port-forward to it. */
    hubTunnel: boolean;
}

/** A namespace with its Pod Security labels and a ResourceQuota "gpus" capping the GPUs its pods request. */
function namespaceWithGpuQuota(name: string, labels: Record<string, string>, podSecurity: Record<string, string>, gpus: number) {
    return {
        namespace: { apiVersion: "v1" as const, kind: "Namespace" as const, metadata: { name, labels: { ...labels, ...podSecurity } } },
        quota: {
            apiVersion: "v1" as const,
            kind: "ResourceQuota" as const,
            metadata: { name: "gpus", namespace: name, labels },
            spec: { hard: { "requests.nvidia.com/gpu": String(gpus) } },
        },
    };
}

/** Binds the Role of the same name (metadata.name) to the researcher's Kubernetes user (their EKS access entry). */
function researcherRoleBinding(metadata: { name: string; namespace: string; labels: Record<string, string> }, id: string) {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1" as const,
        kind: "RoleBinding" as const,
        metadata,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: metadata.name },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: kubernetesUser(id) }],
    };
}

/**
 * A researcher's namespace: restricted pod security, a GPU quota, their jobs' service account, a
 * Role to run and watch their own jobs (nothing else, no secrets), and network policies (ingress only
 * from their own pods — DDP ranks talk to each other — egress to DNS, the web and their own pods).
 */
export function researcherNamespaceObjects(p: ResearcherAccessParams) {
    const ns = researcherNamespace(p.id);
    const labels = { ...standardLabels(p.institution, p.stack, "researcher"), "archaeo/researcher": p.id };
    const meta = (name: string) => ({ name, namespace: ns, labels });
    const np = (name: string, spec: kin.networking.v1.NetworkPolicySpec) => ({ apiVersion: "networking.k8s.io/v1" as const, kind: "NetworkPolicy" as const, metadata: meta(name), spec });
    return {
        ...namespaceWithGpuQuota(ns, labels, { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" }, p.gpus),
        serviceAccount: { apiVersion: "v1" as const, kind: "ServiceAccount" as const, metadata: meta(JOB_SERVICE_ACCOUNT) },
        role: {
            apiVersion: "rbac.authorization.k8s.io/v1" as const,
            kind: "Role" as const,
            metadata: meta("researcher"),
            rules: [
                { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "delete", "get", "list", "patch", "watch"] },
                { apiGroups: [""], resources: ["pods", "events"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
                { apiGroups: [""], resources: ["pods/portforward"], verbs: ["create"] },
                { apiGroups: [""], resources: ["services", "configmaps"], verbs: ["create", "delete", "get", "list", "patch"] },
                { apiGroups: [""], resources: ["persistentvolumeclaims", "resourcequotas"], verbs: ["get", "list"] },
            ],
        },
        roleBinding: researcherRoleBinding(meta("researcher"), p.id),
        networkPolicies: [
            np("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
            np("own-pods", { podSelector: {}, policyTypes: ["Ingress", "Egress"], ingress: [{ from: [{ podSelector: {} }] }], egress: [{ to: [{ podSelector: {} }] }] }),
            np("dns", {
                podSelector: {},
                policyTypes: ["Egress"],
                egress: [{ to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }],
            }),
            np("web", { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 80 }] }] }),
        ],
    };
}

/**
 * The pods a researcher may reach in the hub namespace: their own server and, without hubHostname,
 * the hub tunnel. Nothing else there, and no list: KubeSpawner (7.0.0, objects.py make_pod with
 * spawner.py get_env) writes each server's environment, JUPYTERHUB_API_TOKEN included (scope
 * access:servers!server), into its pod spec as plain values, so reading another's pod is opening
 * their server. RBAC resourceNames limit get and the portforward CONNECT to these names.
 */
export function hubPodsFor(id: string, hubTunnel: boolean): string[] {
    return hubTunnel ? [serverPodName(id), HUB_TUNNEL.pod] : [serverPodName(id)];
}

/**
 * In the hub namespace, per researcher: their server's service account, their SSH keys, and their
 * own Role (get and port-forward to their server and the hub tunnel, by name) with its RoleBinding;
 * the ValidatingAdmissionPolicy below enforces the same names a second time.
 */
export function hubResearcherObjects(p: ResearcherAccessParams) {
    const labels = { ...standardLabels(p.institution, p.stack, "researcher"), "archaeo/researcher": p.id };
    const meta = (name: string) => ({ name, namespace: HUB_NAMESPACE, labels });
    const pods = hubPodsFor(p.id, p.hubTunnel);
    return {
        serviceAccount: { apiVersion: "v1" as const, kind: "ServiceAccount" as const, metadata: meta(serverServiceAccount(p.id)) },
        sshKeys: {
            apiVersion: "v1" as const,
            kind: "ConfigMap" as const,
            metadata: meta(`ssh-keys-${p.id}`),
            data: { authorized_keys: p.sshPublicKeys.length ? p.sshPublicKeys.join("\n") + "\n" : "" },
        },
        role: {
            apiVersion: "rbac.authorization.k8s.io/v1" as const,
            kind: "Role" as const,
            metadata: meta(`researcher-${p.id}`),
            rules: [
                { apiGroups: [""], resources: ["pods"], resourceNames: pods, verbs: ["get"] },
                { apiGroups: [""], resources: ["pods/portforward"], resourceNames: pods, verbs: ["create"] },
            ],
        },
        roleBinding: researcherRoleBinding(meta(`researcher-${p.id}`), p.id),
    };
}

/**
 * The hub tunnel: a StatefulSet of one pod (stable name hub-tunnel-0) running a plain TCP relay to
 * the chart's proxy-public service (images/hub-tunnel/relay.mjs), so a researcher reaches the hub with
 * `kubectl port-forward pod/hub-tunnel-0` and RBAC by name (port-forwarding to svc/proxy-public would
 * need `list pods`, which reads every server's token). A relay, not configurable-http-proxy: CHP's
 * routing API on 127.0.0.1:8001 accepts any request when CONFIGPROXY_AUTH_TOKEN is unset, and a
 * port-forward reaches the pod's loopback, so anyone who may port-forward could re-route everyone's
 * login. The relay listens on one port and has nothing to configure. Its NetworkPolicy admits no
 * ingress (port-forwarding enters on the pod's loopback, not its interface) and lets it reach only the
 * chart's proxy pods (z2jh 4.4.0 matchLabels: component=proxy; targetPort http = 8000) and DNS.
 */
export function hubTunnelObjects<Image>(p: { institution: string; stack: string; image: Image }) {
    const labels = standardLabels(p.institution, p.stack, HUB_TUNNEL.name);
    const select = { "app.kubernetes.io/name": HUB_TUNNEL.name };
    return {
        statefulSet: {
            apiVersion: "apps/v1" as const,
            kind: "StatefulSet" as const,
            metadata: { name: HUB_TUNNEL.name, namespace: HUB_NAMESPACE, labels },
            spec: {
                replicas: 1,
                serviceName: HUB_TUNNEL.name,
                selector: { matchLabels: select },
                template: {
                    metadata: { labels: { ...labels, ...select, "hub.jupyter.org/network-access-proxy-http": "true" } },
                    spec: {
                        nodeSelector: { [POOLS.label]: POOLS.system },
                        automountServiceAccountToken: false,
                        securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [{
                            name: "relay",
                            image: p.image,
                            env: [
                                { name: "LISTEN_PORT", value: String(HUB_TUNNEL.port) },
                                { name: "TARGET_HOST", value: `proxy-public.${HUB_NAMESPACE}.svc.cluster.local` },
                                { name: "TARGET_PORT", value: "80" },
                            ],
                            ports: [{ name: "http", containerPort: HUB_TUNNEL.port }],
                            readinessProbe: { tcpSocket: { port: "http" }, periodSeconds: 10 },
                            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                            securityContext: { ...restricted, readOnlyRootFilesystem: true },
                        }],
                    },
                },
            },
        },
        networkPolicy: {
            apiVersion: "networking.k8s.io/v1" as const,
            kind: "NetworkPolicy" as const,
            metadata: { name: HUB_TUNNEL.name, namespace: HUB_NAMESPACE, labels },
            spec: {
                podSelector: { matchLabels: select },
                policyTypes: ["Ingress", "Egress"],
                ingress: [],
                egress: [
                    { to: [{ podSelector: { matchLabels: { component: "proxy" } } }], ports: [{ protocol: "TCP", port: 8000 }] },
                    { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
                ],
            },
        },
    };
}

/** The hub namespace: baseline pod security (the chart's hub and proxy), a GPU quota over every server. */
export function hubNamespaceObjects(p: { institution: string; stack: string; gpuLimit: number }) {
    const labels = standardLabels(p.institution, p.stack, "jupyterhub");
    return namespaceWithGpuQuota(HUB_NAMESPACE, labels, { "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted" }, p.gpuLimit);
}

/**
 * Port-forwarding in the hub namespace, for researchers (users archaeo:<id>), only to their own
 * server pod (jupyter-<id>) or the hub tunnel: a ValidatingAdmissionPolicy on the CONNECT of
 * pods/portforward (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30; CEL sees request.name
 * and request.userInfo). Everyone else (admins, the hub) is untouched.
 */
export function portForwardPolicy(p: { institution: string; stack: string; hubTunnel: boolean }) {
    return researcherAdmissionPolicy({
        name: "archaeo-researcher-port-forward",
        labels: standardLabels(p.institution, p.stack, "jupyterhub"),
        rule: { operations: ["CONNECT"], resources: ["pods/portforward"] },
        validations: [{
            expression: "request.name == 'jupyter-' + request.userInfo.username.substring(8)" + (p.hubTunnel ? ` || request.name == '${HUB_TUNNEL.pod}'` : ""),
            message: p.hubTunnel
                ? `researchers may port-forward only to their own server (jupyter-<id>) and the hub tunnel (${HUB_TUNNEL.pod})`
                : "researchers may port-forward only to their own server (jupyter-<id>)",
        }],
        namespace: HUB_NAMESPACE,
    });
}

/**
 * Services researchers create (a DDP job's headless rendezvous Service) stay inside the cluster: type
 * ClusterIP, no externalIPs. Their Role may create Services in their own namespace; without this a
 * researcher could ask AWS for a public load balancer (type LoadBalancer) or open node ports (NodePort),
 * or claim external IPs (CVE-2020-8554). A ValidatingAdmissionPolicy on CREATE and UPDATE of services
 * by users archaeo:<id>, failurePolicy Fail, bound with Deny.
 */
export function researcherServicesPolicy(p: { institution: string; stack: string }) {
    return researcherAdmissionPolicy({
        name: "archaeo-researcher-services",
        labels: standardLabels(p.institution, p.stack, "researcher"),
        rule: { operations: ["CREATE", "UPDATE"], resources: ["services"] },
        validations: [
            { expression: "!has(object.spec.type) || object.spec.type == 'ClusterIP'", message: "researchers' Services stay inside the cluster: type ClusterIP (a headless Service for DDP rendezvous), never LoadBalancer or NodePort" },
            { expression: "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0", message: "researchers' Services may not claim externalIPs" },
        ],
    });
}

/**
 * A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) for requests of researchers (users
 * archaeo:<id>) on one core resource, failing closed, and its binding with Deny, in one namespace or all.
 */
function researcherAdmissionPolicy(a: {
    name: string;
    labels: Record<string, string>;
    rule: { operations: string[]; resources: string[] };
    validations: Array<{ expression: string; message: string }>;
    namespace?: string;
}) {
    return {
        policy: {
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicy" as const,
            metadata: { name: a.name, labels: a.labels },
            spec: {
                failurePolicy: "Fail",
                matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], ...a.rule }] },
                matchConditions: [{ name: "researchers-only", expression: "request.userInfo.username.startsWith('archaeo:')" }],
                validations: a.validations,
            },
        },
        binding: {
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicyBinding" as const,
            metadata: { name: a.name, labels: a.labels },
            spec: {
                policyName: a.name,
                validationActions: ["Deny"],
                ...(a.namespace ? { matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": a.namespace } } } } : {}),
            },
        },
    };
}

// ---------------------------------------------------------------- Karpenter and the device plugin

/** Id is a string in tests, the security group's and key's Outputs in the program: they are only placed, never formatted. */
export interface KarpenterParams<Id = string> {
    clusterName: string;
    /** The EKS cluster security group. Selected by id: EKS strips user tags from it on cluster updates. */
    securityGroupId: Id;
    nodeRoleName: string;
    keyArn: Id;
    gpuFamilies: readonly string[];
    /** gpuLimit split per GPU NodePool (Karpenter's limits are per pool): on-demand + spot add up to the config's gpuLimit. */
    gpuLimits: { onDemand: number; spot: number };
    consolidateAfterMinutes: number;
    spotForBatch: boolean;
    /** EKS AL2023 AMI release every node boots (nodeAmiVersion, e.g. v20260714): the alias al2023@<release>. */
    nodeAmiVersion: string;
    /** Weekly UTC window in which drifted nodes may be replaced (nodeUpgradeWindow). */
    upgradeWindow: { day: number; startMinute: number; minutes: number };
    /** The stack's standard tags: Karpenter puts them on every instance, volume and ENI it launches (the budget sees them). */
    tags: Record<string, string>;
    /** The GPU nodes' image-cache snapshot (imageCacheSnapshotId): a data volume from it, under the stack key (image-cache.ts). */
    imageCacheSnapshotId?: string;
}

/**
 * The annotation that keeps Karpenter from voluntarily disrupting a pod's node (consolidation, drift) while the pod
 * runs (aws/karpenter-provider-aws v1.11.1 website/content/en/v1.11/concepts/disruption.md, 'Pod-Level Controls').
 * Every notebook server carries it: a new AMI or Kubernetes version never evicts a running kernel.
 */
export const DO_NOT_DISRUPT = { "karpenter.sh/do-not-disrupt": "true" } as const;

/**
 * NodePool disruption budgets for an upgrade window (Karpenter v1.11 disruption.md, 'NodePool Disruption Budgets'):
 * Karpenter's default rate (10% of a pool's nodes at a time) always, and no drift at all outside the window: a budget
 * of 0 nodes for reason Drifted, active from the window's end (cron schedule, UTC) for the rest of the week. Drift
 * (a new nodeAmiVersion, kubernetesVersion or NodePool template) then replaces nodes only inside the window, and never a
 * node running a server (do-not-disrupt). Emptiness is not blocked: empty GPU nodes still go after consolidateAfter.
 */
export function disruptionBudgets(w: { day: number; startMinute: number; minutes: number }) {
    const WEEK = 7 * 1440;
    const end = w.day * 1440 + w.startMinute + w.minutes;
    const endDay = Math.floor(end / 1440) % 7;
    const endMinute = end % 1440;
    const blocked = WEEK - w.minutes;
    const duration = `${Math.floor(blocked / 60)}h${blocked % 60 ? `${blocked % 60}m` : ""}`;
    return [
        { nodes: "10%" },
        { nodes: "0", reasons: ["Drifted"], schedule: `${endMinute % 60} ${Math.floor(endMinute / 60)} * * ${endDay}`, duration },
    ];
}

/** Instance families of the CPU pool (CPU-only servers for data preparation; amd64 like the image). */
export const CPU_FAMILIES = ["m7i", "c7i", "r7i"] as const;
/** Most vCPUs the CPU pool may run at once. */
export const CPU_POOL_VCPUS = 64;

/**
 * NodePool labels every GPU node carries. `nvidia.com/gpu.present: "true"` is one of the terms of the
 * NVIDIA device plugin chart's default node affinity (deployments/helm/nvidia-device-plugin/values.yaml,
 * v0.19.0: NFD's feature.node.kubernetes.io/pci-10de.present, or nvidia.com/gpu.present): without NFD
 * no node matched and no GPU was ever advertised.
 */
export const GPU_NODE_LABELS = { "nvidia.com/gpu.present": "true" } as const;

/** EC2NodeClasses (AL2023, encrypted root with the stack key, IMDSv2 hop 1, the stack's tags) and NodePools that scale to zero. */
export function karpenterObjects<Id = string>(p: KarpenterParams<Id>) {
    const nodeClass = (name: string, rootGi: number, data: Array<ReturnType<typeof imageCacheDevice<Id>>> = [], userData?: string) => ({
        apiVersion: "karpenter.k8s.aws/v1" as const,
        kind: "EC2NodeClass" as const,
        metadata: { name },
        spec: {
            // AL2023: Karpenter picks the NVIDIA variant of the EKS AMI for GPU instance types.
            // Pinned, never @latest: 'latest' drifts every node whenever AWS releases an AMI (the CRD's own
            // description: "not recommended for production environments").
            amiSelectorTerms: [{ alias: `al2023@${p.nodeAmiVersion}` }],
            role: p.nodeRoleName,
            subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": p.clusterName } }],
            securityGroupSelectorTerms: [{ id: p.securityGroupId }],
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, httpProtocolIPv6: "disabled" },
            blockDeviceMappings: [
                { deviceName: "/dev/xvda", ebs: { volumeSize: `${rootGi}Gi`, volumeType: "gp3", encrypted: true, kmsKeyID: p.keyArn, deleteOnTermination: true } },
                ...data,
            ],
            tags: { ...p.tags, Name: `${p.clusterName}-${name}` },
            ...(userData ? { userData } : {}),
        },
    });
    const pool = (name: string, nodeClassName: string, o: {
        families: readonly string[]; capacity: "on-demand" | "spot"; taints: Array<{ key: string; value: string; effect: string }>; limits: Record<string, string>; labels: Record<string, string>;
    }) => ({
        apiVersion: "karpenter.sh/v1" as const,
        kind: "NodePool" as const,
        metadata: { name },
        spec: {
            template: {
                metadata: { labels: { [POOLS.label]: name, ...o.labels } },
                spec: {
                    nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass" as const, name: nodeClassName },
                    requirements: [
                        { key: "karpenter.k8s.aws/instance-family", operator: "In", values: [...o.families] },
                        { key: "karpenter.sh/capacity-type", operator: "In", values: [o.capacity] },
                        { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
                    ],
                    taints: o.taints,
                    // Never expire (the CRD's pattern ^(([0-9]+(s|m|h))+|Never)$). Expiration is forceful: budgets do not
                    // prevent it and do-not-disrupt does not exclude a node from it, and without terminationGracePeriod
                    // (which we leave unset, else drift ignores do-not-disrupt) an expired node under a running server
                    // stays tainted and draining, counting against the pool's GPU limit, while its other pods (spot batch)
                    // are evicted outside the upgrade window. Karpenter v1.11 concepts/disruption.md "Expiration": "it is
                    // not recommended to set expireAfter without also setting terminationGracePeriod if your cluster has
                    // pods with the karpenter.sh/do-not-disrupt annotation". Every pool hosts such servers (the GPU
                    // profiles, the cpu profile) or batch pods; nodes are kept patched by drift inside nodeUpgradeWindow
                    // (a new nodeAmiVersion or Kubernetes version), and empty nodes go after consolidateAfter.
                    expireAfter: "Never",
                },
            },
            limits: o.limits,
            disruption: { consolidationPolicy: "WhenEmpty", consolidateAfter: `${p.consolidateAfterMinutes}m`, budgets: disruptionBudgets(p.upgradeWindow) },
        },
    });
    const gpus = (n: number) => ({ "nvidia.com/gpu": String(n) });
    const pools = [
        pool(POOLS.gpu, "gpu", { families: p.gpuFamilies, capacity: "on-demand", taints: [{ ...GPU_TAINT }], limits: gpus(p.gpuLimits.onDemand), labels: { ...GPU_NODE_LABELS } }),
        pool("cpu", "cpu", { families: CPU_FAMILIES, capacity: "on-demand", taints: [], limits: { cpu: String(CPU_POOL_VCPUS) }, labels: {} }),
    ];
    if (p.spotForBatch) {
        pools.push(pool(POOLS.batchSpot, "gpu", { families: p.gpuFamilies, capacity: "spot", taints: [{ ...GPU_TAINT }, { ...BATCH_TAINT }], limits: gpus(p.gpuLimits.spot), labels: { ...GPU_NODE_LABELS } }));
    }
    const cache = p.imageCacheSnapshotId ? [imageCacheDevice(p.imageCacheSnapshotId, p.keyArn)] : [];
    // Every GPU node sets the NVIDIA toolkit's flags before kubelet starts (gpu-isolation.ts), then mounts the image cache.
    return { nodeClasses: [nodeClass("gpu", CLUSTER_SHAPE.gpuNodeRootGiB, cache, gpuNodeUserData(cache.length ? IMAGE_CACHE_USER_DATA : undefined)), nodeClass("cpu", CLUSTER_SHAPE.cpuNodeRootGiB)], pools };
}

/**
 * Values of the NVIDIA device plugin chart: tolerate every taint a GPU pool sets (the chart's default
 * tolerations name only nvidia.com/gpu; a Helm list value replaces the default list). Its default
 * affinity is kept: GPU_NODE_LABELS satisfy it. Allocated GPUs are passed as volume mounts, which the
 * GPU nodes' toolkit is set to read instead of NVIDIA_VISIBLE_DEVICES (gpu-isolation.ts).
 */
export function devicePluginValues(spotForBatch: boolean) {
    return { deviceListStrategy: DEVICE_LIST_STRATEGY, tolerations: [gpuToleration, ...(spotForBatch ? [batchToleration] : [])] };
}

// ---------------------------------------------------------------- batch training

export interface DdpParams {
    institution: string;
    stack: string;
    id: string;
    image: string;
    nodes: number;
    gpusPerNode: number;
    memoryGiB: number;
    spot: boolean;
    env: Record<string, string>;
    name?: string;
    /** archaeo-train arguments (after the torchrun options). */
    trainArgs?: string[];
}

/**
 * A researcher's DDP training job in their own namespace: an Indexed Job plus a headless Service.
 * Rendezvous is static and deterministic: index 0 hosts the c10d store (torchrun --node-rank 0 with
 * --master-addr); the headless service publishes not-ready addresses, so every rank resolves
 * <name>-0.<name> as soon as pod 0 has an IP (not only once Ready). Retries: torchrun restarts
 * failed workers (--max-restarts), the Job retries pods up to backoffLimit (checkpoints resume),
 * evictions (spot interruptions) don't count, and a usage error (exit 2) fails the job at once.
 */
export function ddpJob(p: DdpParams) {
    const name = p.name ?? "ddp-train";
    const ns = researcherNamespace(p.id);
    const labels = { ...standardLabels(p.institution, p.stack, name), "archaeo/job": name, "archaeo/researcher": p.id };
    const service = {
        apiVersion: "v1" as const,
        kind: "Service" as const,
        metadata: { name, namespace: ns, labels },
        spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: { "archaeo/job": name }, ports: [{ name: "c10d", port: 29500 }] },
    };
    const trainArgs = p.trainArgs ?? ["--data-dir", `${MOUNTS.data}/artifacts`, "--model", "resnet50", "--epochs", "30", "--output-dir", `${MOUNTS.workspace}/models/${name}`, "--resume", "--amp"];
    const job = {
        apiVersion: "batch/v1" as const,
        kind: "Job" as const,
        metadata: { name, namespace: ns, labels },
        spec: {
            completionMode: "Indexed",
            completions: p.nodes,
            parallelism: p.nodes,
            backoffLimit: 3,
            podFailurePolicy: {
                rules: [
                    { action: "FailJob", onExitCodes: { containerName: "trainer", operator: "In", values: [2] } },
                    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] },
                ],
            },
            template: {
                metadata: { labels },
                spec: {
                    subdomain: name,
                    restartPolicy: "Never",
                    securityContext: podSecurity,
                    serviceAccountName: JOB_SERVICE_ACCOUNT,
                    tolerations: [gpuToleration, ...(p.spot ? [batchToleration] : [])],
                    nodeSelector: { [POOLS.label]: p.spot ? POOLS.batchSpot : POOLS.gpu },
                    containers: [{
                        name: "trainer",
                        image: p.image,
                        command: ["torchrun"],
                        args: [
                            `--nnodes=${p.nodes}`,
                            `--nproc-per-node=${p.gpusPerNode}`,
                            "--node-rank=$(JOB_COMPLETION_INDEX)",
                            `--master-addr=${name}-0.${name}`,
                            "--master-port=29500",
                            "--max-restarts=3",
                            "--no-python",
                            "archaeo-train",
                            ...trainArgs,
                        ],
                        env: [
                            { name: "NCCL_DEBUG", value: "WARN" },
                            { name: "OMP_NUM_THREADS", value: "4" },
                            ...Object.entries(p.env).map(([k, v]) => ({ name: k, value: v })),
                        ],
                        ports: [{ name: "c10d", containerPort: 29500 }],
                        resources: { requests: { "nvidia.com/gpu": String(p.gpusPerNode) }, limits: { "nvidia.com/gpu": String(p.gpusPerNode) } },
                        securityContext: restricted,
                        volumeMounts: researcherMounts(),
                    }],
                    volumes: researcherPodVolumes({ home: VOLUMES.home, datasets: VOLUMES.datasets, mydata: VOLUMES.mydata }, p.memoryGiB),
                },
            },
        },
    };
    return { service, job };
}

// ---------------------------------------------------------------- JupyterHub

export interface HubAuth {
    /** oauthenticator GenericOAuthenticator settings (client secret added by the component as a secret). */
    authorizeUrl: string;
    tokenUrl: string;
    userdataUrl: string;
    usernameClaim: string;
    clientId: string;
    loginService: string;
}

/**
 * The single-user image as the chart wants it: z2jh joins `name:tag` (files/hub/jupyterhub_config.py)
 * and its image-puller templates use both, so the tag carries the digest: <repo>:<tag>@sha256:<digest>
 * (a reference with both: the runtime pulls by digest). Pure.
 */
export function hubImage(imageRef: string, tag: string): { name: string; tag: string } {
    const [name, digest] = imageRef.split("@");
    return { name, tag: digest ? `${tag}@${digest}` : tag };
}

export interface HubParams {
    /** The workbench image: repository and tag@digest (hubImage). */
    image: { name: string; tag: string };
    researcherIds: readonly string[];
    auth: HubAuth;
    /** https://<hubHostname> in cidr mode; http://localhost:8000 (kubectl port-forward) otherwise. */
    publicUrl: string;
    /** cidr mode: TLS at an NLB with the ACM certificate, reachable only from these CIDRs. */
    exposed?: { acmCertificateArn: string; sourceRanges: readonly string[] };
    cullMinutes: number;
    /** Hours after a server starts at which the hub stops it, active or not (cull.maxAge); 0 or absent: none. */
    maxSessionHours?: number;
    gpusPerResearcher: number;
    /** Host memory of the reference GPU node (sizes /dev/shm and the memory limit). */
    memoryGiB: number;
    vcpus: number;
    env: Record<string, string>;
}

/** Where a researcher's server may run, what it gets. The first is the default. */
export function profileList(p: Pick<HubParams, "gpusPerResearcher" | "memoryGiB" | "vcpus">) {
    const gpuOverride = (gpus: number) => ({
        extra_resource_limits: { "nvidia.com/gpu": String(gpus) },
        extra_resource_guarantees: { "nvidia.com/gpu": String(gpus) },
        tolerations: [gpuToleration],
        node_selector: { [POOLS.label]: POOLS.gpu },
        cpu_guarantee: Math.max(1, p.vcpus * gpus - 1),
        mem_guarantee: `${Math.max(4, Math.floor(p.memoryGiB * 0.6) * gpus)}G`,
        mem_limit: `${Math.max(6, Math.floor(p.memoryGiB * 0.85) * gpus)}G`,
    });
    const profiles: Array<Record<string, unknown>> = [
        { display_name: "1 GPU", slug: "gpu-1", description: "Fine-tuning and notebooks on one GPU.", default: true, kubespawner_override: gpuOverride(1) },
        {
            display_name: "CPU only",
            slug: "cpu",
            description: "Sorting, labelling and preparing images; no GPU is held.",
            kubespawner_override: { node_selector: { [POOLS.label]: "cpu" }, cpu_guarantee: 1, cpu_limit: 4, mem_guarantee: "4G", mem_limit: "16G" },
        },
    ];
    if (p.gpusPerResearcher > 1) {
        const n = Math.min(p.gpusPerResearcher, 4);
        profiles.push({ display_name: `${n} GPUs`, slug: `gpu-${n}`, description: `Multi-GPU training (DDP) on one node with ${n} GPUs.`, kubespawner_override: gpuOverride(n) });
    }
    return profiles;
}

/**
 * The hub's culler (jupyterhub-idle-culler, z2jh `cull`): a server idle for `timeout` seconds is stopped, and with
 * maxSessionHours one `maxAge` seconds after it started even while active (idle-culler `--max-age`: age is judged on
 * the hub's `started` and checked only when the server is not already idle-culled). Without idle culling the idle
 * timeout is the maximum age: a server idle that long is that old anyway.
 */
export function cullValues(p: Pick<HubParams, "cullMinutes" | "maxSessionHours">) {
    const maxAge = (p.maxSessionHours ?? 0) * 3600;
    if (p.cullMinutes <= 0 && maxAge <= 0) return { enabled: false };
    return { enabled: true, timeout: p.cullMinutes > 0 ? p.cullMinutes * 60 : maxAge, every: 300, users: false, removeNamedServers: false, maxAge };
}

/** What the image's activity extension needs to warn an hour before the hub's maximum age (archaeo_activity/session.py). */
export function sessionEnv(p: Pick<HubParams, "maxSessionHours">): Record<string, string> {
    return p.maxSessionHours ? { ARCHAEO_MAX_SESSION_HOURS: String(p.maxSessionHours), ARCHAEO_SESSION_LIMIT_BY: "hub" } : {};
}

/**
 * Values of the Zero to JupyterHub chart (4.4.0, checked against its values.schema.yaml with
 * tools/check-hub-values.ts): per-person OAuth login, only `researchers` allowed, one server per
 * researcher from the stack image by digest, non-root, their own service account and volumes (KubeSpawner
 * expands {username} in service_account, volumes, extra_containers and environment: kubespawner 7.0.0
 * spawner.py get_pod_manifest/get_env), an SSH sidecar with their keys, profiles mapped to the
 * Karpenter pools, idle culling, hub and proxy on the system node. No pre-puller (GPU nodes come and go).
 */
export function jupyterhubValues(p: HubParams) {
    const system = { [POOLS.label]: POOLS.system };
    const env = { ...researcherEnv(p.env, "{username}"), ...sessionEnv(p) };
    return {
        hub: {
            nodeSelector: system,
            config: {
                JupyterHub: { authenticator_class: "generic-oauth" },
                Authenticator: { allowed_users: [...p.researcherIds], admin_users: [] },
                GenericOAuthenticator: {
                    client_id: p.auth.clientId,
                    oauth_callback_url: `${p.publicUrl}/hub/oauth_callback`,
                    authorize_url: p.auth.authorizeUrl,
                    token_url: p.auth.tokenUrl,
                    userdata_url: p.auth.userdataUrl,
                    username_claim: p.auth.usernameClaim,
                    scope: ["openid", "email", "profile"],
                    login_service: p.auth.loginService,
                },
            },
        },
        proxy: {
            chp: { nodeSelector: system },
            service: p.exposed
                ? {
                    type: "LoadBalancer",
                    loadBalancerSourceRanges: [...p.exposed.sourceRanges],
                    annotations: {
                        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": p.exposed.acmCertificateArn,
                        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https",
                    },
                }
                : { type: "ClusterIP" },
            ...(p.exposed ? { https: { enabled: true, type: "offload" } } : {}),
        },
        scheduling: { userScheduler: { enabled: false }, podPriority: { enabled: false }, userPlaceholder: { enabled: false } },
        prePuller: { hook: { enabled: false }, continuous: { enabled: false } },
        singleuser: {
            image: { name: p.image.name, tag: p.image.tag },
            uid: RESEARCHER_UID,
            fsGid: RESEARCHER_UID,
            allowPrivilegeEscalation: false,
            serviceAccountName: serverServiceAccount("{username}"),
            cmd: "jupyterhub-singleuser",
            defaultUrl: "/lab",
            // A GPU node may have to start and pull the image first.
            startTimeout: 1200,
            // KubeSpawner.events_enabled (z2jh 4.4.0 values.schema.yaml singleuser.events, passed through in
            // files/hub/jupyterhub_config.py; the hub's Role may get/watch/list events, templates/hub/rbac.yaml): the spawn
            // page shows the pod's events (Karpenter's "Nominated", "Scheduled", "Pulling image", "Started") while a new GPU
            // node starts, not a bare spinner. The chart's default is true; set here so a values change can't drop it.
            events: true,
            // KubeSpawner.extra_annotations (z2jh 4.4.0 values.schema.yaml singleuser.extraAnnotations): Karpenter never
            // consolidates or drifts a node away under a running server.
            extraAnnotations: { ...DO_NOT_DISRUPT },
            extraEnv: env,
            storage: {
                type: "none",
                extraVolumes: researcherPodVolumes(hubClaims("{username}"), p.memoryGiB)
                    .concat([{ name: "ssh-keys", configMap: { name: "ssh-keys-{username}" } } as never]),
                extraVolumeMounts: researcherMounts(),
            },
            extraContainers: [{
                name: "sshd",
                image: `${p.image.name}:${p.image.tag}`,
                args: ["sshd"],
                ports: [{ name: "ssh", containerPort: PORTS.ssh }],
                env: [{ name: "ARCHAEO_SSHD_OPTIONAL", value: "1" }, ...Object.entries(env).map(([name, value]) => ({ name, value }))],
                resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                securityContext: { ...restricted, runAsUser: RESEARCHER_UID, runAsGroup: RESEARCHER_UID },
                volumeMounts: [
                    ...researcherMounts().filter((m) => m.name !== VOLUMES.shm),
                    { name: "ssh-keys", mountPath: "/etc/archaeo/authorized_keys", subPath: "authorized_keys", readOnly: true },
                ],
            }],
            profileList: profileList(p),
            // The SSH sidecar's processes (nohup training over SSH) are visible to the server's activity
            // extension, so an SSH job keeps the server from being culled.
            extraPodConfig: { shareProcessNamespace: true },
            // The chart's default (values.yaml singleuser.cloudMetadata.blockWithIptables: true) adds an init
            // container that is privileged, uid 0 with NET_ADMIN (files/hub/jupyterhub_config.py), which the
            // hub namespace's baseline Pod Security refuses, so no server would start. The metadata service is
            // out of reach anyway: the chart's user NetworkPolicy leaves 169.254.169.254 out
            // (egressAllowRules.cloudMetadataServer: false) and nodes answer IMDS with hop limit 1.
            cloudMetadata: { blockWithIptables: false },
            networkPolicy: { enabled: true, egressAllowRules: { cloudMetadataServer: false } },
        },
        cull: cullValues(p),
    };
}
