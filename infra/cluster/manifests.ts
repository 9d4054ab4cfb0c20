/**
 * Every Kubernetes object cluster mode creates, as pure functions of plain values. Components hand
 * them to @pulumi/kubernetes; tests validate them against the Kubernetes OpenAPI schemas
 * (kubernetes-models). Nothing here talks to a cluster.
 */
import type * as kin from "@pulumi/kubernetes/types/input";
import type { AccessMode } from "../config";
import { shmSize } from "../workstation/userdata";

export const JUPYTER_PORT = 8888;
export const SSH_PORT = 2222;
export const TENSORBOARD_PORT = 6006;
export const WORKSPACE_PVC = "workspace";
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" } as const;
export const BATCH_TAINT = { key: "archaeo/batch", value: "true", effect: "NoSchedule" } as const;

/** Labels on every object (one place, pure). */
export function standardLabels(institution: string, stack: string, component?: string): Record<string, string> {
    return {
        "app.kubernetes.io/part-of": "archaeo-workbench",
        "app.kubernetes.io/managed-by": "pulumi",
        "archaeo/institution": institution,
        "archaeo/stack": stack,
        ...(component ? { "app.kubernetes.io/name": component } : {}),
    };
}

export interface WorkbenchParams {
    namespace: string;
    institution: string;
    stack: string;
    /** repository@sha256:... */
    image: string;
    /** Host memory of the reference GPU node, to size /dev/shm. */
    memoryGiB: number;
    idleMinutes: number;
    accessMode: AccessMode;
    accessCidrs: readonly string[];
    vpcCidr: string;
    acmCertificateArn?: string;
}

const restricted = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
};
const podSecurity = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } };
/** /dev/shm for DataLoader workers, sized as on the workstation (a quarter of host memory, at least 2 GiB). */
const shmVolume = (memoryGiB: number) => ({ name: "dshm", emptyDir: { medium: "Memory", sizeLimit: shmSize(memoryGiB).replace(/g$/, "Gi") } });
const workspaceVolume = { name: "workspace", persistentVolumeClaim: { claimName: WORKSPACE_PVC } };
const scratch = (name: string) => ({ name, emptyDir: {} });
const gpuToleration = { key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect };
/** Co-locate with the Jupyter pod (on its GPU node) instead of holding a GPU node of its own. */
const withJupyter = {
    podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { "app.kubernetes.io/name": "jupyter" } }, topologyKey: "kubernetes.io/hostname" }],
    },
};

function deployment(p: WorkbenchParams, name: string, spec: kin.core.v1.PodSpec) {
    const labels = standardLabels(p.institution, p.stack, name);
    return {
        apiVersion: "apps/v1" as const,
        kind: "Deployment" as const,
        metadata: { name, namespace: p.namespace, labels },
        spec: <kin.apps.v1.DeploymentSpec>{
            // Started on demand (`kubectl scale --replicas=1`), stopped by idle-stop: a stopped workbench holds no node.
            replicas: 0,
            strategy: { type: "Recreate" },
            selector: { matchLabels: { "app.kubernetes.io/name": name } },
            template: { metadata: { labels }, spec: { securityContext: podSecurity, automountServiceAccountToken: false, ...spec } },
        },
    };
}

export function workbenchDeployments(p: WorkbenchParams) {
    const jupyter = deployment(p, "jupyter", {
        serviceAccountName: "workbench",
        automountServiceAccountToken: true,
        tolerations: [gpuToleration],
        containers: [
            {
                name: "jupyter",
                image: p.image,
                args: ["jupyter"],
                ports: [{ name: "http", containerPort: JUPYTER_PORT }],
                env: [{ name: "JUPYTER_TOKEN_FILE", value: "/run/secrets/archaeo/jupyter-token" }, { name: "HOME", value: "/home/researcher" }],
                resources: { requests: { cpu: "2", memory: "8Gi", "nvidia.com/gpu": "1" }, limits: { memory: "14Gi", "nvidia.com/gpu": "1" } },
                securityContext: restricted,
                volumeMounts: [
                    { name: "workspace", mountPath: "/workspace" },
                    { name: "dshm", mountPath: "/dev/shm" },
                    { name: "token", mountPath: "/run/secrets/archaeo", readOnly: true },
                    { name: "home", mountPath: "/home/researcher" },
                    { name: "tmp", mountPath: "/tmp" },
                ],
                readinessProbe: { httpGet: { path: "/api", port: JUPYTER_PORT }, periodSeconds: 10 },
            },
            {
                name: "idle-stop",
                image: p.image,
                args: ["idle-stop"],
                env: [
                    { name: "IDLE_MINUTES", value: String(p.idleMinutes) },
                    { name: "NAMESPACE", value: p.namespace },
                    { name: "DEPLOYMENTS", value: "jupyter,sshd,tensorboard" },
                    { name: "JUPYTER_TOKEN_FILE", value: "/run/secrets/archaeo/jupyter-token" },
                ],
                resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                securityContext: restricted,
                volumeMounts: [{ name: "workspace", mountPath: "/workspace", readOnly: true }, { name: "token", mountPath: "/run/secrets/archaeo", readOnly: true }],
            },
        ],
        volumes: [
            workspaceVolume,
            shmVolume(p.memoryGiB),
            { name: "token", secret: { secretName: "jupyter-token", defaultMode: 0o440, items: [{ key: "token", path: "jupyter-token" }] } },
            scratch("home"),
            scratch("tmp"),
        ],
    });
    const sshd = deployment(p, "sshd", {
        serviceAccountName: "workbench",
        tolerations: [gpuToleration],
        affinity: withJupyter,
        containers: [
            {
                name: "sshd",
                image: p.image,
                args: ["sshd"],
                ports: [{ name: "ssh", containerPort: SSH_PORT }],
                env: [{ name: "SSH_HOST_KEY_DIR", value: "/workspace/.archaeo/ssh-host-keys" }],
                resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "4Gi" } },
                securityContext: restricted,
                volumeMounts: [
                    { name: "workspace", mountPath: "/workspace" },
                    { name: "authorized-keys", mountPath: "/etc/archaeo/authorized_keys", subPath: "authorized_keys", readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "home", mountPath: "/home/researcher" },
                ],
            },
            {
                name: "ssh-heartbeat",
                image: p.image,
                args: ["ssh-heartbeat"],
                resources: { requests: { cpu: "5m", memory: "16Mi" }, limits: { memory: "64Mi" } },
                securityContext: restricted,
                volumeMounts: [{ name: "workspace", mountPath: "/workspace" }],
            },
        ],
        volumes: [workspaceVolume, { name: "authorized-keys", configMap: { name: "authorized-keys" } }, scratch("tmp"), scratch("home")],
    });
    const tensorboard = deployment(p, "tensorboard", {
        serviceAccountName: "workbench",
        tolerations: [gpuToleration],
        affinity: withJupyter,
        containers: [{
            name: "tensorboard",
            image: p.image,
            args: ["tensorboard"],
            ports: [{ name: "http", containerPort: TENSORBOARD_PORT }],
            resources: { requests: { cpu: "250m", memory: "1Gi" }, limits: { memory: "4Gi" } },
            securityContext: restricted,
            volumeMounts: [{ name: "workspace", mountPath: "/workspace", readOnly: true }, { name: "tmp", mountPath: "/tmp" }],
        }],
        volumes: [workspaceVolume, scratch("tmp")],
    });
    return { jupyter, sshd, tensorboard };
}

/** ClusterIP services; in cidr mode, NLBs restricted to the access CIDRs (TLS for the web UIs). */
export function workbenchServices(p: WorkbenchParams) {
    const svc = (name: string, port: number, tls: boolean) => {
        const exposed = p.accessMode === "cidr";
        return {
            apiVersion: "v1" as const,
            kind: "Service" as const,
            metadata: {
                name,
                namespace: p.namespace,
                labels: standardLabels(p.institution, p.stack, name),
                ...(exposed ? {
                    annotations: {
                        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                        ...(tls && p.acmCertificateArn ? {
                            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": p.acmCertificateArn,
                            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
                        } : {}),
                    },
                } : {}),
            },
            spec: {
                type: exposed ? "LoadBalancer" : "ClusterIP",
                selector: { "app.kubernetes.io/name": name },
                ports: [{ name: "main", port: exposed && tls ? 443 : port, targetPort: port, protocol: "TCP" }],
                ...(exposed ? { loadBalancerSourceRanges: [...p.accessCidrs], externalTrafficPolicy: "Local" } : {}),
            },
        };
    };
    return { jupyter: svc("jupyter", JUPYTER_PORT, true), sshd: svc("sshd", SSH_PORT, false), tensorboard: svc("tensorboard", TENSORBOARD_PORT, true) };
}

/** Default-deny, then only DNS, HTTPS/HTTP egress, EFS, traffic inside the namespace and (cidr mode) the access CIDRs. */
export function networkPolicies(p: WorkbenchParams) {
    const meta = (name: string) => ({ name, namespace: p.namespace, labels: standardLabels(p.institution, p.stack) });
    const np = (name: string, spec: kin.networking.v1.NetworkPolicySpec) => ({ apiVersion: "networking.k8s.io/v1" as const, kind: "NetworkPolicy" as const, metadata: meta(name), spec });
    const policies = [
        np("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
        np("allow-dns", {
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [{ to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }],
        }),
        np("allow-web-and-efs-egress", {
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [
                { ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 80 }] },
                { to: [{ ipBlock: { cidr: p.vpcCidr } }], ports: [{ protocol: "TCP", port: 2049 }] },
            ],
        }),
        np("allow-within-namespace", {
            podSelector: {},
            policyTypes: ["Ingress", "Egress"],
            ingress: [{ from: [{ podSelector: {} }] }],
            egress: [{ to: [{ podSelector: {} }] }],
        }),
    ];
    if (p.accessMode === "cidr") {
        policies.push(np("allow-access-cidrs", {
            podSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "In", values: ["jupyter", "sshd", "tensorboard"] }] },
            policyTypes: ["Ingress"],
            ingress: [{
                from: p.accessCidrs.map((cidr) => ({ ipBlock: { cidr } })),
                ports: [{ protocol: "TCP", port: JUPYTER_PORT }, { protocol: "TCP", port: SSH_PORT }, { protocol: "TCP", port: TENSORBOARD_PORT }],
            }],
        }));
    }
    return policies;
}

/** The workbench service account (S3 datasets through Pod Identity); idle-stop may scale only the workbench Deployments. */
export function idleStopRbac(p: WorkbenchParams) {
    const labels = standardLabels(p.institution, p.stack, "idle-stop");
    return {
        serviceAccount: { apiVersion: "v1" as const, kind: "ServiceAccount" as const, metadata: { name: "workbench", namespace: p.namespace, labels } },
        role: {
            apiVersion: "rbac.authorization.k8s.io/v1" as const,
            kind: "Role" as const,
            metadata: { name: "workbench-idle-stop", namespace: p.namespace, labels },
            rules: [{ apiGroups: ["apps"], resources: ["deployments/scale"], resourceNames: ["jupyter", "sshd", "tensorboard"], verbs: ["get", "patch", "update"] }],
        },
        roleBinding: {
            apiVersion: "rbac.authorization.k8s.io/v1" as const,
            kind: "RoleBinding" as const,
            metadata: { name: "workbench-idle-stop", namespace: p.namespace, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "workbench-idle-stop" },
            subjects: [{ kind: "ServiceAccount", name: "workbench", namespace: p.namespace }],
        },
    };
}

export interface StorageParams {
    institution: string;
    stack: string;
    namespace: string;
    keyArn: string;
    fileSystemId: string;
}

/** gp3 (default, encrypted with the stack key) and EFS StorageClasses, both Retain; the shared workspace claim. */
export function storageObjects(p: StorageParams) {
    const labels = standardLabels(p.institution, p.stack);
    return {
        gp3: {
            apiVersion: "storage.k8s.io/v1" as const,
            kind: "StorageClass" as const,
            metadata: { name: "gp3-encrypted", labels, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
            provisioner: "ebs.csi.aws.com",
            parameters: { type: "gp3", encrypted: "true", kmsKeyId: p.keyArn },
            reclaimPolicy: "Retain",
            volumeBindingMode: "WaitForFirstConsumer",
            allowVolumeExpansion: true,
        },
        efs: {
            apiVersion: "storage.k8s.io/v1" as const,
            kind: "StorageClass" as const,
            metadata: { name: "efs-workspace", labels },
            provisioner: "efs.csi.aws.com",
            parameters: { provisioningMode: "efs-ap", fileSystemId: p.fileSystemId, directoryPerms: "700", uid: "1000", gid: "1000", basePath: "/workbench" },
            reclaimPolicy: "Retain",
            volumeBindingMode: "Immediate",
        },
        workspace: {
            apiVersion: "v1" as const,
            kind: "PersistentVolumeClaim" as const,
            metadata: { name: WORKSPACE_PVC, namespace: p.namespace, labels },
            spec: { accessModes: ["ReadWriteMany"], storageClassName: "efs-workspace", resources: { requests: { storage: "1Ti" } } },
        },
    };
}

export interface KarpenterParams {
    clusterName: string;
    /** The EKS cluster security group. Selected by id: EKS strips user tags from it on cluster updates. */
    securityGroupId: string;
    nodeRoleName: string;
    keyArn: string;
    gpuFamilies: readonly string[];
    gpuLimit: number;
    consolidateAfterMinutes: number;
    spotForBatch: boolean;
}

/** EC2NodeClass (AL2023, encrypted root with the stack key, IMDSv2) and GPU NodePools that scale to zero. */
export function karpenterObjects(p: KarpenterParams) {
    const nodeClass = {
        apiVersion: "karpenter.k8s.aws/v1" as const,
        kind: "EC2NodeClass" as const,
        metadata: { name: "gpu" },
        spec: {
            // AL2023: Karpenter picks the NVIDIA variant of the EKS AMI for GPU instance types.
            amiSelectorTerms: [{ alias: "al2023@latest" }],
            role: p.nodeRoleName,
            subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": p.clusterName } }],
            securityGroupSelectorTerms: [{ id: p.securityGroupId }],
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, httpProtocolIPv6: "disabled" },
            blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeSize: "150Gi", volumeType: "gp3", encrypted: true, kmsKeyID: p.keyArn, deleteOnTermination: true } }],
            tags: { "karpenter.sh/discovery": p.clusterName },
        },
    };
    const pool = (name: string, capacity: "on-demand" | "spot", taints: Array<{ key: string; value: string; effect: string }>) => ({
        apiVersion: "karpenter.sh/v1" as const,
        kind: "NodePool" as const,
        metadata: { name },
        spec: {
            template: {
                metadata: { labels: { "archaeo/pool": name } },
                spec: {
                    nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass" as const, name: "gpu" },
                    requirements: [
                        { key: "karpenter.k8s.aws/instance-family", operator: "In", values: [...p.gpuFamilies] },
                        { key: "karpenter.sh/capacity-type", operator: "In", values: [capacity] },
                        { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
                    ],
                    taints,
                    expireAfter: "720h",
                },
            },
            limits: { "nvidia.com/gpu": String(p.gpuLimit) },
            disruption: { consolidationPolicy: "WhenEmpty", consolidateAfter: `${p.consolidateAfterMinutes}m` },
        },
    });
    const pools = [pool("gpu", "on-demand", [{ ...GPU_TAINT }])];
    if (p.spotForBatch) pools.push(pool("gpu-batch-spot", "spot", [{ ...GPU_TAINT }, { ...BATCH_TAINT }]));
    return { nodeClass, pools };
}

export interface DdpParams {
    namespace: string;
    institution: string;
    stack: string;
    image: string;
    nodes: number;
    gpusPerNode: number;
    memoryGiB: number;
    spot: boolean;
    name?: string;
    script?: string;
}

/** An Indexed Job running torchrun over N nodes x G GPUs with NCCL, the shared workspace and /dev/shm. */
export function ddpJob(p: DdpParams) {
    const name = p.name ?? "ddp-train";
    const labels = { ...standardLabels(p.institution, p.stack, name), "archaeo/job": name };
    const service = {
        apiVersion: "v1" as const,
        kind: "Service" as const,
        metadata: { name, namespace: p.namespace, labels },
        spec: { clusterIP: "None", selector: { "archaeo/job": name }, ports: [{ name: "rdzv", port: 29500 }] },
    };
    const job = {
        apiVersion: "batch/v1" as const,
        kind: "Job" as const,
        metadata: { name, namespace: p.namespace, labels },
        spec: {
            completionMode: "Indexed",
            completions: p.nodes,
            parallelism: p.nodes,
            backoffLimit: 0,
            template: {
                metadata: { labels },
                spec: {
                    subdomain: name,
                    restartPolicy: "Never",
                    securityContext: podSecurity,
                    serviceAccountName: "workbench",
                    automountServiceAccountToken: false,
                    tolerations: [gpuToleration, ...(p.spot ? [{ key: BATCH_TAINT.key, operator: "Exists", effect: BATCH_TAINT.effect }] : [])],
                    ...(p.spot ? { nodeSelector: { "karpenter.sh/capacity-type": "spot" } } : {}),
                    containers: [{
                        name: "torchrun",
                        image: p.image,
                        command: ["torchrun"],
                        args: [
                            `--nnodes=${p.nodes}`,
                            `--nproc-per-node=${p.gpusPerNode}`,
                            "--node-rank=$(JOB_COMPLETION_INDEX)",
                            "--rdzv-backend=c10d",
                            `--rdzv-endpoint=${name}-0.${name}:29500`,
                            `--rdzv-id=${name}`,
                            p.script ?? "/workspace/train.py",
                        ],
                        env: [{ name: "NCCL_DEBUG", value: "WARN" }, { name: "OMP_NUM_THREADS", value: "4" }],
                        ports: [{ name: "rdzv", containerPort: 29500 }],
                        resources: { requests: { "nvidia.com/gpu": String(p.gpusPerNode) }, limits: { "nvidia.com/gpu": String(p.gpusPerNode) } },
                        securityContext: { ...restricted, readOnlyRootFilesystem: false },
                        volumeMounts: [{ name: "workspace", mountPath: "/workspace" }, { name: "dshm", mountPath: "/dev/shm" }],
                    }],
                    volumes: [workspaceVolume, shmVolume(p.memoryGiB)],
                },
            },
        },
    };
    return { service, job };
}
