import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { asArray, get, isCustomerKey, isOpenCidr, UNKNOWN } from "../lib/util";

/** Where the pod spec sits in each workload kind. */
const POD_SPEC_PATHS: Record<string, string[]> = {
    "kubernetes:core/v1:Pod": ["spec"],
    "kubernetes:apps/v1:Deployment": ["spec", "template", "spec"],
    "kubernetes:apps/v1:StatefulSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:DaemonSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:ReplicaSet": ["spec", "template", "spec"],
    "kubernetes:batch/v1:Job": ["spec", "template", "spec"],
    "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
};

export function podSpecOf(type: string, props: any): any | undefined {
    const path = POD_SPEC_PATHS[type];
    if (!path) return undefined;
    return path.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), props);
}

function containersOf(spec: any): any[] {
    return [...asArray(spec?.initContainers), ...asArray(spec?.containers)];
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;
const EBS_CSI = ["ebs.csi.aws.com", "kubernetes.io/aws-ebs"];

function workload(name: string, description: string, check: (spec: any, kind: string, res: string, report: (m: string) => void) => void): ResourceValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            const spec = podSpecOf(args.type, args.props);
            if (!spec) return;
            check(spec, args.type.split(":").pop()!, args.name, report);
        },
    };
}

export const kubernetesPolicies: ResourceValidationPolicy[] = [
    workload("k8s-containers-non-root", "Checks whether every container runs as a non-root user.", (spec, kind, res, report) => {
        const pod = spec.securityContext ?? {};
        for (const c of containersOf(spec)) {
            const sc = c.securityContext ?? {};
            const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
            const uid = sc.runAsUser ?? pod.runAsUser;
            if (nonRoot !== true) report(`${kind} '${res}' container '${c.name}' must set securityContext.runAsNonRoot: true.`);
            if (uid === 0) report(`${kind} '${res}' container '${c.name}' must not run as uid 0.`);
        }
    }),
    workload("k8s-no-privileged", "Checks whether containers are unprivileged and cannot escalate privileges.", (spec, kind, res, report) => {
        for (const c of containersOf(spec)) {
            const sc = c.securityContext ?? {};
            if (sc.privileged === true) report(`${kind} '${res}' container '${c.name}' must not be privileged.`);
            if (sc.allowPrivilegeEscalation !== false) report(`${kind} '${res}' container '${c.name}' must set securityContext.allowPrivilegeEscalation: false.`);
            const added = asArray(sc.capabilities?.add);
            if (added.some((cap: string) => ["ALL", "SYS_ADMIN", "NET_ADMIN"].includes(cap))) report(`${kind} '${res}' container '${c.name}' must not add capabilities ${added.join(", ")}.`);
        }
        if (spec.hostNetwork === true || spec.hostPID === true || spec.hostIPC === true) report(`${kind} '${res}' must not share the host's network, PID or IPC namespace.`);
    }),
    workload("k8s-images-pinned-by-digest", "Checks whether container images are pinned by sha256 digest.", (spec, kind, res, report) => {
        for (const c of containersOf(spec)) {
            const image = get(() => c.image);
            if (image === UNKNOWN) continue;
            if (typeof image !== "string" || !DIGEST.test(image)) report(`${kind} '${res}' container '${c.name}' image '${image}' must be pinned by digest (repository@sha256:...).`);
        }
    }),
    workload("k8s-gpu-limits", "Checks whether GPU containers declare nvidia.com/gpu limits (and pods on GPU nodes request GPUs).", (spec, kind, res, report) => {
        const gpuContainers = containersOf(spec).filter((c) => c.resources?.limits?.["nvidia.com/gpu"] !== undefined);
        for (const c of containersOf(spec)) {
            const req = c.resources?.requests?.["nvidia.com/gpu"];
            const lim = c.resources?.limits?.["nvidia.com/gpu"];
            if (req !== undefined && String(req) !== String(lim)) report(`${kind} '${res}' container '${c.name}' requests nvidia.com/gpu ${req} but its limit is ${lim ?? "unset"}; GPUs must be set in limits.`);
        }
        const tolerates = asArray(spec.tolerations).some((t: any) => t.key === "nvidia.com/gpu");
        // A CPU pod may share a GPU node only by requiring co-location with a pod that is on it.
        const coLocated = asArray(spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution).some((t: any) => t.topologyKey === "kubernetes.io/hostname");
        if (tolerates && gpuContainers.length === 0 && !coLocated) report(`${kind} '${res}' tolerates the nvidia.com/gpu taint but no container sets limits nvidia.com/gpu and it is not bound to a GPU pod's node (required podAffinity); it would hold a GPU node without using it.`);
    }),
    {
        name: "k8s-storageclasses-encrypted",
        description: "Checks whether EBS StorageClasses encrypt volumes with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== "kubernetes:storage.k8s.io/v1:StorageClass" || !EBS_CSI.includes(args.props.provisioner)) return;
            const p = args.props.parameters ?? {};
            if (String(p.encrypted) !== "true" || !isCustomerKey(get(() => p.kmsKeyId))) {
                report(`StorageClass '${args.name}' must set parameters encrypted: "true" and kmsKeyId to the stack's key.`);
            }
        },
    },
    {
        name: "karpenter-nodeclass-secure",
        description: "Checks whether Karpenter EC2NodeClasses encrypt node volumes with a customer-managed KMS key and require IMDSv2.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass") return;
            const spec = args.props.spec ?? {};
            const devices = asArray(spec.blockDeviceMappings).filter((d: any) => d.ebs);
            if (devices.length === 0) report(`EC2NodeClass '${args.name}' must declare blockDeviceMappings with ebs.encrypted: true and kmsKeyID (the AMI default may be unencrypted).`);
            devices.forEach((d: any, i: number) => {
                if (d.ebs.encrypted !== true || !isCustomerKey(get(() => d.ebs.kmsKeyID))) {
                    report(`EC2NodeClass '${args.name}' blockDeviceMappings[${i}] must set ebs.encrypted: true and the stack's kmsKeyID.`);
                }
            });
            if (spec.metadataOptions?.httpTokens !== "required") report(`EC2NodeClass '${args.name}' must set metadataOptions.httpTokens: required (IMDSv2).`);
        },
    },
    {
        name: "k8s-loadbalancer-source-ranges",
        description: "Checks whether Services of type LoadBalancer restrict loadBalancerSourceRanges (never 0.0.0.0/0 or ::/0).",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== "kubernetes:core/v1:Service" || args.props.spec?.type !== "LoadBalancer") return;
            const ranges = asArray(args.props.spec?.loadBalancerSourceRanges) as string[];
            if (ranges.length === 0) report(`Service '${args.name}' of type LoadBalancer must set loadBalancerSourceRanges to the institution's CIDRs.`);
            const open = ranges.filter(isOpenCidr);
            if (open.length) report(`Service '${args.name}' loadBalancerSourceRanges must not include ${open.join(", ")}.`);
        },
    },
];

export const kubernetesStackPolicies: StackValidationPolicy[] = [
    {
        name: "k8s-images-from-stack-ecr",
        description: "Checks whether every container image comes from one of this stack's ECR repositories.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const repos = args.resources.filter((r) => r.type === "aws:ecr/repository:Repository").map((r) => get(() => r.props.repositoryUrl));
            if (repos.includes(UNKNOWN)) return; // repository created in this update: known after apply
            for (const r of args.resources) {
                for (const c of containersOf(podSpecOf(r.type, r.props))) {
                    const image = get(() => c.image);
                    if (image === UNKNOWN) continue;
                    if (!repos.some((u) => typeof u === "string" && String(image).startsWith(`${u}@`))) {
                        report(`${r.type.split(":").pop()} '${r.name}' container '${c.name}' image '${image}' is not from this stack's ECR (${repos.join(", ") || "none"}).`, r.urn);
                    }
                }
            }
        },
    },
    {
        name: "k8s-pvcs-on-encrypted-storage",
        description: "Checks whether PersistentVolumeClaims use a StorageClass of this stack that encrypts with a customer-managed key.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const classes = new Map<string, any>();
            for (const r of args.resources) if (r.type === "kubernetes:storage.k8s.io/v1:StorageClass") classes.set(get(() => r.props.metadata?.name) as string, r.props);
            const efs = args.resources.filter((r) => r.type === "aws:efs/fileSystem:FileSystem");
            for (const r of args.resources) {
                if (r.type !== "kubernetes:core/v1:PersistentVolumeClaim") continue;
                const scName = r.props.spec?.storageClassName;
                const sc = scName ? classes.get(scName) : undefined;
                if (!sc) { report(`PVC '${r.name}' must name a StorageClass defined by this stack (found ${scName ?? "the cluster default"}).`, r.urn); continue; }
                if (EBS_CSI.includes(sc.provisioner)) {
                    if (String(sc.parameters?.encrypted) !== "true" || !sc.parameters?.kmsKeyId) report(`PVC '${r.name}' uses StorageClass '${scName}' without parameters encrypted: "true" and kmsKeyId.`, r.urn);
                } else if (sc.provisioner === "efs.csi.aws.com") {
                    const fsId = sc.parameters?.fileSystemId;
                    const fs = efs.find((f) => get(() => f.props.id) === fsId || fsId === UNKNOWN);
                    if (fs && (fs.props.encrypted !== true)) report(`PVC '${r.name}' uses EFS file system '${fs.name}' that is not encrypted.`, r.urn);
                    if (!fs && efs.length > 0 && fsId !== undefined) report(`PVC '${r.name}' StorageClass '${scName}' points at an EFS file system outside this stack.`, r.urn);
                } else {
                    report(`PVC '${r.name}' StorageClass '${scName}' uses provisioner ${sc.provisioner}, which this pack cannot prove encrypted.`, r.urn);
                }
            }
        },
    },
];
