/** Kubernetes workloads, storage, node classes and services the stack creates directly. */
import { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { addedBeyondRestricted } from "../lib/capabilities";
import { cidrBreadthProblems } from "../lib/cidr";
import { label, onStack, onType, readsOnly } from "../lib/rule";
import { Deferrals, deferring } from "../lib/unknowns";
import { readableUserData } from "../lib/userdata";
import { asArray, get, kindOf, known, once, snapshot, UNKNOWN } from "../lib/util";
import { checkKey } from "./ebs";
import { BREADTH_SCHEMA, BreadthConfig, limitsOf } from "./network";

/** Where the pod spec sits in each built-in workload kind. */
const POD_SPEC_PATHS: Record<string, string[]> = {
    "kubernetes:core/v1:Pod": ["spec"],
    "kubernetes:apps/v1:Deployment": ["spec", "template", "spec"],
    "kubernetes:apps/v1:StatefulSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:DaemonSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:ReplicaSet": ["spec", "template", "spec"],
    "kubernetes:batch/v1:Job": ["spec", "template", "spec"],
    "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
};

/** Kubernetes objects whose pod specs the workload rules look for: every kind but Helm releases (judged by their values). */
const isKubernetesObject = (type: string) => type.startsWith("kubernetes:") && !type.startsWith("kubernetes:helm.sh/");

/** Built-in kinds the stack creates that hold no pod template (their API schemas have none): not searched. */
const NO_POD_TEMPLATE = new Set([
    "core/v1:Namespace", "core/v1:ConfigMap", "core/v1:Secret", "core/v1:Service", "core/v1:ServiceAccount", "core/v1:PersistentVolume",
    "core/v1:PersistentVolumeClaim", "core/v1:ResourceQuota", "core/v1:LimitRange", "storage.k8s.io/v1:StorageClass", "networking.k8s.io/v1:NetworkPolicy",
    "rbac.authorization.k8s.io/v1:Role", "rbac.authorization.k8s.io/v1:RoleBinding", "rbac.authorization.k8s.io/v1:ClusterRole", "rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    "karpenter.sh/v1:NodePool", "karpenter.k8s.aws/v1:EC2NodeClass",
].map((t) => `kubernetes:${t}`));

/**
 * Every place a pod spec sits in a Kubernetes object, wherever a pod template can sit, not by a list of
 * kinds: the known path of a built-in workload kind, and in any other kind (a v1beta1 or v2 workload, a
 * custom resource such as an Argo Rollout or a Kubeflow PyTorchJob's replica templates) every object
 * under `spec` that holds a `containers` list. A part of `spec` unknown at preview is returned as a
 * path too (a template may sit there), so the rule defers it. Paths are key lists from the props' root.
 */
export function podSpecPaths(type: string, props: any): string[][] {
    const fixed = POD_SPEC_PATHS[type];
    if (fixed) return [fixed];
    if (!isKubernetesObject(type) || NO_POD_TEMPLATE.has(type)) return [];
    const out: string[][] = [];
    const walk = (node: any, path: string[]) => {
        if (node === UNKNOWN) { out.push(path); return; }
        if (!node || typeof node !== "object" || path.length > 10) return;
        if (Array.isArray(node)) { node.forEach((x, i) => walk(x, [...path, String(i)])); return; }
        if (Array.isArray(node.containers) || node.containers === UNKNOWN) { out.push(path); return; }
        for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
    };
    walk(snapshot(() => props.spec), ["spec"]);
    return out;
}

const at_ = (props: any, path: readonly string[]) => path.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), props);

/** The pod spec at `path` as a plain object; UNKNOWN when any part of it is unknown (preview). */
export function podSpecOf(type: string, props: any): any | undefined | typeof UNKNOWN {
    const path = POD_SPEC_PATHS[type];
    if (!path) return undefined;
    return known(() => at_(props, path));
}

export function containersOf(spec: any): any[] {
    return [...asArray(spec?.initContainers), ...asArray(spec?.containers)];
}

const hasUnknown = (v: unknown): boolean => v === UNKNOWN || (!!v && typeof v === "object" && Object.values(v).some(hasUnknown));

export const DIGEST = /@sha256:[0-9a-f]{64}$/;
const EBS_CSI = ["ebs.csi.aws.com", "kubernetes.io/aws-ebs"];

/**
 * Only the parts of a pod spec a rule reads: `deps.pod` of the spec and `deps.container` of each
 * container, each a snapshot (unknown parts as UNKNOWN). Nothing else is touched, so a rule about
 * security contexts never reads an image digest that is unknown until the image is pushed.
 */
function podPartsOf(path: readonly string[], props: any, deps: { pod: string[]; container: string[] }): any {
    const spec = get(() => at_(props, path));
    if (spec === UNKNOWN || spec === undefined || spec === null) return spec;
    const pick = (node: any, keys: string[]) => Object.fromEntries(keys.map((k) => [k, snapshot(() => node[k])]));
    const out: Record<string, unknown> = pick(spec, deps.pod);
    for (const list of ["initContainers", "containers"]) {
        const cs = get(() => spec[list]);
        if (cs === undefined || cs === null) continue;
        const n = cs === UNKNOWN ? UNKNOWN : get(() => cs.length as number);
        out[list] = n === UNKNOWN ? UNKNOWN : Array.from({ length: n as number }, (_, i) => {
            const c = get(() => cs[i]);
            return c === UNKNOWN || c === undefined || c === null ? c : pick(c, deps.container);
        });
    }
    return out;
}

/**
 * A pod-spec rule reading `deps` of the pod and of each container. At preview only those parts need
 * to be known (an image digest may be unknown while the security context is written in the program);
 * a rule whose parts are unknown is deferred, naming them.
 */
function workload(name: string, description: string, deps: { pod: string[]; container: string[] }, check: (spec: any, kind: string, res: string, report: (m: string) => void) => void): ResourceValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateResource: readsOnly(isKubernetesObject, (args: ResourceValidationArgs, report) => {
            return deferring(`${kindOf(args.type)} '${args.name}'`, (d: Deferrals) => {
                for (const path of podSpecPaths(args.type, args.props)) {
                    const base = path.join(".");
                    const spec = podPartsOf(path, args.props, deps);
                    if (spec === UNKNOWN) { d.defer(base); continue; }
                    if (spec === undefined || spec === null) continue;
                    const missing: string[] = deps.pod.filter((k) => hasUnknown(spec[k])).map((k) => `${base}.${k}`);
                    for (const list of ["initContainers", "containers"]) {
                        if (spec[list] === UNKNOWN) { missing.push(`${base}.${list}`); continue; }
                        asArray(spec[list]).forEach((c: any, i: number) => {
                            if (c === UNKNOWN) missing.push(`${base}.${list}[${i}]`);
                            else for (const k of deps.container) if (hasUnknown(c[k])) missing.push(`${base}.${list}[${i}].${k}`);
                        });
                    }
                    if (missing.length) { missing.forEach((p) => d.defer(p)); continue; }
                    check(spec, kindOf(args.type), args.name, report);
                }
            });
        }),
    };
}

export const kubernetesPolicies: ResourceValidationPolicy[] = [
    workload("k8s-containers-non-root", "Checks whether every container runs as a non-root user.", { pod: ["securityContext"], container: ["name", "securityContext"] }, (spec, kind, res, report) => {
        const pod = spec.securityContext ?? {};
        for (const c of containersOf(spec)) {
            const sc = c.securityContext ?? {};
            const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
            const uid = sc.runAsUser ?? pod.runAsUser;
            if (nonRoot !== true) report(`${kind} '${res}' container '${c.name}' must set securityContext.runAsNonRoot: true.`);
            if (uid === 0) report(`${kind} '${res}' container '${c.name}' must not run as uid 0.`);
        }
    }),
    workload("k8s-no-privileged", "Checks whether containers are unprivileged and cannot escalate privileges.", { pod: ["hostNetwork", "hostPID", "hostIPC"], container: ["name", "securityContext"] }, (spec, kind, res, report) => {
        for (const c of containersOf(spec)) {
            const sc = c.securityContext ?? {};
            if (sc.privileged === true) report(`${kind} '${res}' container '${c.name}' must not be privileged.`);
            if (sc.allowPrivilegeEscalation !== false) report(`${kind} '${res}' container '${c.name}' must set securityContext.allowPrivilegeEscalation: false.`);
            const added = asArray(sc.capabilities?.add);
            const beyond = addedBeyondRestricted(added);
            if (beyond.length) report(`${kind} '${res}' container '${c.name}' must not add capabilities ${beyond.join(", ")} (the runtime reads them case-insensitively, with or without CAP_; only NET_BIND_SERVICE may be added).`);
        }
        if (spec.hostNetwork === true || spec.hostPID === true || spec.hostIPC === true) report(`${kind} '${res}' must not share the host's network, PID or IPC namespace.`);
    }),
    workload("k8s-images-pinned-by-digest", "Checks whether container images are pinned by sha256 digest.", { pod: [], container: ["name", "image"] }, (spec, kind, res, report) => {
        for (const c of containersOf(spec)) {
            if (typeof c.image !== "string" || !DIGEST.test(c.image)) report(`${kind} '${res}' container '${c.name}' image '${c.image}' must be pinned by digest (repository@sha256:...).`);
        }
    }),
    workload("k8s-gpu-limits", "Checks whether GPU containers declare nvidia.com/gpu limits (and pods on GPU nodes request GPUs).", { pod: ["tolerations", "affinity"], container: ["name", "resources"] }, (spec, kind, res, report) => {
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
        validateResource: onType("kubernetes:storage.k8s.io/v1:StorageClass", "StorageClass", (props, args, report, d) => {
            if (!EBS_CSI.includes(props.provisioner)) return;
            const p = props.parameters ?? {};
            if (String(p.encrypted) !== "true") report(`StorageClass '${args.name}' must set parameters encrypted: "true" and kmsKeyId to the stack's key.`);
            checkKey(d, report, "parameters.kmsKeyId", () => p.kmsKeyId, `StorageClass '${args.name}'`);
        }),
    },
    {
        name: "karpenter-nodeclass-secure",
        description: "Checks whether Karpenter EC2NodeClasses encrypt node volumes (root, and data volumes such as the image cache created from a snapshot) with a customer-managed KMS key and require IMDSv2.",
        enforcementLevel: "mandatory",
        validateResource: onType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "EC2NodeClass", (_props, args, report, d) => {
            const spec = args.props.spec ?? {};
            const devices = asArray(spec.blockDeviceMappings).filter((x: any) => x.ebs);
            if (devices.length === 0) report(`EC2NodeClass '${args.name}' must declare blockDeviceMappings with ebs.encrypted: true and kmsKeyID (the AMI default may be unencrypted).`);
            devices.forEach((x: any, i: number) => {
                // A volume created from a snapshot keeps the snapshot's encryption state and key unless the mapping sets
                // Encrypted and KmsKeyId (EC2 RunInstances EbsBlockDevice.Encrypted: "whether the encryption state of an EBS
                // volume is changed while being restored from a backing snapshot"): the image cache must name the stack key.
                if (x.ebs.encrypted !== true) {
                    report(x.ebs.snapshotID !== undefined
                        ? `EC2NodeClass '${args.name}' blockDeviceMappings[${i}] (${x.deviceName ?? "a data volume"} from snapshot ${String(x.ebs.snapshotID)}) must set ebs.encrypted: true and the stack's kmsKeyID: restored as it is, it keeps the snapshot's encryption, or none.`
                        : `EC2NodeClass '${args.name}' blockDeviceMappings[${i}] must set ebs.encrypted: true and the stack's kmsKeyID.`);
                }
                checkKey(d, report, `spec.blockDeviceMappings[${i}].ebs.kmsKeyID`, () => x.ebs.kmsKeyID, `EC2NodeClass '${args.name}' blockDeviceMappings[${i}]`);
            });
            if (spec.metadataOptions?.httpTokens !== "required") report(`EC2NodeClass '${args.name}' must set metadataOptions.httpTokens: required (IMDSv2).`);
        }),
    },
    {
        name: "k8s-loadbalancer-source-ranges",
        description: "Checks whether Services of type LoadBalancer restrict loadBalancerSourceRanges to at most the configured public address space.",
        enforcementLevel: "mandatory",
        configSchema: { properties: BREADTH_SCHEMA },
        validateResource: onType("kubernetes:core/v1:Service", "Service", (_props, args, report, d) => {
            const type = d.read("spec.type", () => args.props.spec?.type);
            if (type === UNKNOWN || type !== "LoadBalancer") return;
            const ranges = d.copy("spec.loadBalancerSourceRanges", () => args.props.spec?.loadBalancerSourceRanges) as string[] | undefined | typeof UNKNOWN;
            if (ranges === UNKNOWN) return;
            if (asArray(ranges).length === 0) { report(`Service '${args.name}' of type LoadBalancer must set loadBalancerSourceRanges to the institution's CIDRs (none means the whole internet).`); return; }
            const problems = cidrBreadthProblems(asArray(ranges), limitsOf(args.getConfig<Partial<BreadthConfig>>()));
            if (problems.length) report(`Service '${args.name}' loadBalancerSourceRanges: ${problems.join("; ")}.`);
        }),
    },
];

/** The URLs of this stack's ECR repositories; UNKNOWN while any is unknown (created in this update). */
export function stackRepositories(resources: ReadonlyArray<{ type: string; props: Record<string, any> }>): string[] | typeof UNKNOWN {
    const urls = resources.filter((r) => r.type === "aws:ecr/repository:Repository").map((r) => get(() => r.props.repositoryUrl));
    return urls.includes(UNKNOWN) ? UNKNOWN : urls.filter((u): u is string => typeof u === "string");
}

/**
 * The NVIDIA container toolkit flags that keep a pod's GPUs to the device plugin's allocation (nvidia-container-toolkit
 * api/config/v1/config.go: accept-nvidia-visible-devices-envvar-when-unprivileged defaults to true, so any unprivileged
 * container's NVIDIA_VISIBLE_DEVICES=all selects every GPU of its node; internal/config/image/cuda_image.go VisibleDevices).
 */
export const GPU_TOOLKIT_FLAGS: ReadonlyArray<readonly [string, string]> = [
    ["accept-nvidia-visible-devices-envvar-when-unprivileged", "false"],
    ["accept-nvidia-visible-devices-as-volume-mounts", "true"],
];

/** The toolkit flags a node's user data does not set with `nvidia-ctk config ... --set <flag>=<value>` on an uncommented line. */
export function missingToolkitFlags(text: string): string[] {
    const lines = text.split("\n").filter((l) => !/^\s*#/.test(l));
    // One command, continued with backslashes: joined as the shell joins it.
    const commands = lines.join("\n").replace(/\\\n/g, " ").split("\n");
    const ctk = commands.filter((c) => /(^|[\s;&|(])nvidia-ctk\s(.*\s)?config\s/.test(c));
    // The last --set of a flag is what the config file holds: a later `--set <flag>=true` undoes an earlier `=false`.
    const last = (k: string) => ctk.flatMap((c) => [...c.matchAll(new RegExp(`\\s--set[= ]${k}=(\\S*)`, "g"))].map((m) => m[1])).at(-1);
    return GPU_TOOLKIT_FLAGS.filter(([k, v]) => last(k) !== v).map(([k, v]) => `${k}=${v}`);
}

/**
 * The toolkit block a GPU node's userData must hold line for line, as the pack reviewed it (infra/cluster/gpu-isolation.ts
 * TOOLKIT_USER_DATA without its shebang and comments; test/cluster/manifests.test.ts holds the two equal). It sets the
 * flags in the file the AMI's runtime reads (/etc/nvidia-container-runtime/config.toml: toolkit api/config/v1/config.go
 * GetConfigFilePath), checks them there, and masks kubelet when they are not set, so the node never joins. A shell
 * script is not something the pack can judge in general: another path, or a failure that lets kubelet start, reads
 * the same to a line matcher. A change to the block is reviewed by changing this copy in the same pull request.
 */
export const GPU_TOOLKIT_SCRIPT = [
    "cfg=/etc/nvidia-container-runtime/config.toml",
    "if nvidia-ctk --quiet config --config-file=\"$cfg\" --in-place \\",
    "    --set accept-nvidia-visible-devices-envvar-when-unprivileged=false \\",
    "    --set accept-nvidia-visible-devices-as-volume-mounts=true \\",
    "  && grep -Eq '^[[:space:]]*accept-nvidia-visible-devices-envvar-when-unprivileged[[:space:]]*=[[:space:]]*false[[:space:]]*$' \"$cfg\" \\",
    "  && grep -Eq '^[[:space:]]*accept-nvidia-visible-devices-as-volume-mounts[[:space:]]*=[[:space:]]*true[[:space:]]*$' \"$cfg\"; then",
    "  echo \"archaeo: NVIDIA toolkit takes GPUs from the device plugin's mounts only ($cfg)\"",
    "else",
    "  echo \"archaeo: NVIDIA toolkit flags not set in $cfg; kubelet masked, this node will not join\" >&2",
    "  systemctl mask --runtime kubelet.service",
    "fi",
];

/**
 * Why a GPU node's user data does not hold GPU_TOOLKIT_SCRIPT as reviewed (undefined when it does). The block comes first
 * (only the shebang, comments and blank lines before it: nothing can skip it, wrap it in a here-document or a function,
 * or exit first), line for line, and no later line may touch what it set: the toolkit (nvidia-*), its config file ($cfg,
 * or the paths the toolkit takes instead: XDG_CONFIG_HOME, NVIDIA_CTK_CONFIG_FILE_PATH: api/config/v1/config.go
 * GetConfigFilePath; a deleted file means the defaults, toml.go), or kubelet (an unmask).
 */
export function toolkitScriptProblem(text: string): string | undefined {
    const lines = text.split("\n");
    const n = GPU_TOOLKIT_SCRIPT.length;
    const at = lines.findIndex((_, i) => GPU_TOOLKIT_SCRIPT.every((l, j) => lines[i + j] === l));
    if (at < 0) return "does not hold the reviewed NVIDIA toolkit block line for line (set the flags in /etc/nvidia-container-runtime/config.toml, check them there, and mask kubelet when they are not set; policies/rules/kubernetes.ts GPU_TOOLKIT_SCRIPT)";
    const before = lines.slice(0, at).filter((l, i) => !(i === 0 && l.startsWith("#!")) && !/^\s*(#.*)?$/.test(l));
    if (before.length) return `runs ${before.map((l) => `'${l.trim().slice(0, 80)}'`).join(", ")} before the reviewed NVIDIA toolkit block, which could skip it; the block comes first`;
    const after = lines.slice(at + n).filter((l) => !/^\s*#/.test(l) && /nvidia-|kubelet|\$\{?cfg\b|XDG_CONFIG_HOME|NVIDIA_CTK/.test(l));
    if (after.length) return `touches the NVIDIA toolkit, its config file or kubelet after the reviewed block (${after.map((l) => `'${l.trim().slice(0, 80)}'`).join(", ")}), which could undo it`;
    return undefined;
}

/** The NVIDIA device plugin chart, however it is named: by repository name, a repo/ prefix or an oci:// URL. */
const isDevicePluginChart = (chart: unknown) => typeof chart === "string" && /(^|\/)nvidia-device-plugin$/.test(chart);

const NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool";
/**
 * EC2 instance families with NVIDIA GPUs: g (graphics and inference: g4dn, g5, g5g, g6, g6e), gr6, p (training: p4d,
 * p5); not g4ad, whose GPUs are AMD's (no NVIDIA toolkit, no nvidia.com/gpu).
 */
const GPU_FAMILY = /^(?!g4ad)(g|gr|p)\d/i;
/**
 * Why a Karpenter NodePool template can launch GPU instances (a reason), undefined when its requirements rule them out,
 * UNKNOWN when a requirement is unknown. Karpenter v1 nodepools.md: "If a requirement is not defined for a well known
 * label, any value available to the cloud provider may be chosen", so a pool is GPU-capable unless instance-family,
 * instance-category, node.kubernetes.io/instance-type (In, every value without GPUs) or instance-gpu-count (DoesNotExist,
 * Lt 1, In 0) excludes them.
 */
export function gpuCapable(tmpl: any): string | undefined | typeof UNKNOWN {
    const reqs = tmpl?.requirements === UNKNOWN ? UNKNOWN : asArray(tmpl?.requirements);
    if (reqs === UNKNOWN) return UNKNOWN;
    const reasons: string[] = [];
    let excluded = false;
    for (const r of reqs as any[]) {
        if (r === UNKNOWN || r?.key === UNKNOWN || r?.operator === UNKNOWN || r?.values === UNKNOWN || asArray(r?.values).some((v: unknown) => v === UNKNOWN)) return UNKNOWN;
        const values = asArray(r?.values).map(String);
        const inList = r?.operator === "In";
        const familyOf = (type: string) => type.split(".")[0];
        if (r?.key === "karpenter.k8s.aws/instance-family" && inList) {
            const gpu = values.filter((v) => GPU_FAMILY.test(v));
            if (gpu.length) reasons.push(`GPU instance families (${gpu.join(", ")})`); else excluded = true;
        } else if (r?.key === "karpenter.k8s.aws/instance-category" && inList) {
            const gpu = values.filter((v) => v === "g" || v === "p");
            if (gpu.length) reasons.push(`GPU instance categories (${gpu.join(", ")})`); else excluded = true;
        } else if (r?.key === "node.kubernetes.io/instance-type" && inList) {
            const gpu = values.filter((v) => GPU_FAMILY.test(familyOf(v)));
            if (gpu.length) reasons.push(`GPU instance types (${gpu.join(", ")})`); else excluded = true;
        } else if (r?.key === "karpenter.k8s.aws/instance-gpu-count") {
            if (r.operator === "DoesNotExist" || (r.operator === "Lt" && Number(values[0]) <= 1) || (inList && values.every((v) => v === "0"))) excluded = true;
            else reasons.push(`an instance-gpu-count requirement (${r.operator} ${values.join(", ")})`);
        } else if (typeof r?.key === "string" && r.key.startsWith("karpenter.k8s.aws/instance-gpu-") && r.operator !== "DoesNotExist") {
            reasons.push(`a ${r.key} requirement`);
        }
    }
    if (excluded) return undefined;
    return reasons.length ? reasons.join("; ") : "no requirement rules GPU instances out";
}


/**
 * A NodePool that can run GPU nodes, with why (its nvidia.com/gpu limit or taint, or requirements that do not rule GPU
 * instances out: gpuCapable); undefined when it cannot; UNKNOWN, deferred, when that is not known at preview.
 */
function gpuPool(p: PolicyResource, d: Deferrals): { tmpl: any; limits: any; gpuLimit: boolean; why: string[] } | undefined | typeof UNKNOWN {
    const tmpl = snapshot(() => p.props.spec?.template?.spec);
    const limits = snapshot(() => p.props.spec?.limits);
    if (tmpl === UNKNOWN || limits === UNKNOWN) { d.defer(`${label(p)}.spec`); return UNKNOWN; }
    if (limits && typeof limits === "object" && "nvidia.com/gpu" in limits) return { tmpl, limits, gpuLimit: true, why: ["its nvidia.com/gpu limit"] };
    const taints = tmpl?.taints === UNKNOWN ? UNKNOWN : asArray(tmpl?.taints);
    if (taints === UNKNOWN || taints.some((t: any) => t === UNKNOWN || t?.key === UNKNOWN)) { d.defer(`${label(p)}.spec.template.spec.taints`); return UNKNOWN; }
    const capable = gpuCapable(tmpl);
    if (capable === UNKNOWN) { d.defer(`${label(p)}.spec.template.spec.requirements`); return UNKNOWN; }
    const why = [...(taints.some((t: any) => t?.key === "nvidia.com/gpu") ? ["its nvidia.com/gpu taint"] : []), ...(capable ? [capable] : [])];
    return why.length ? { tmpl, limits, gpuLimit: false, why } : undefined;
}

const NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass";
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";

export const kubernetesStackPolicies: StackValidationPolicy[] = [
    {
        name: "gpu-pools-capped",
        description: "Checks whether every Karpenter NodePool that can launch GPU instances (an nvidia.com/gpu taint, or requirements that do not rule GPU families, categories or types out) caps them with limits nvidia.com/gpu: a pool capped by vCPUs or memory alone launches GPUs past what the researchers' quotas were sized against.",
        enforcementLevel: "mandatory",
        // Karpenter v1 NodePool spec.limits: "Limits define a set of bounds for provisioning capacity", any resource
        // name the nodes report (nvidia.com/gpu from the device plugin); instance families and gpu keys are Karpenter's
        // well-known labels (karpenter.k8s.aws/instance-family, instance-gpu-count, -name, -manufacturer, -memory).
        validateStack: onStack((args, report, d) => {
            for (const p of args.resources) {
                if (p.type !== NODEPOOL) continue;
                const pool = gpuPool(p, d);
                if (!pool || pool === UNKNOWN || pool.gpuLimit) continue;
                const { limits } = pool;
                report(`${label(p)} can launch GPU instances (${pool.why.join("; ")}) but sets no limits nvidia.com/gpu (${limits && typeof limits === "object" ? `limits ${Object.keys(limits).join(", ") || "empty"}` : "no limits"}): it would add GPUs past the stack's gpuLimit. Cap it in GPUs, or rule GPU instances out (instance-family, instance-category or instance-type In non-GPU values).`, p.urn);
            }
        }),
    },
    {
        name: "gpu-nodes-isolate-devices",
        description: "Checks whether a pod reaches only the GPUs the NVIDIA device plugin allocated to it: the device plugin chart passes them as volume mounts (values.deviceListStrategy volume-mounts, no config map the pack cannot read), and the EC2NodeClass of every GPU NodePool (taint or limit nvidia.com/gpu, or requirements that do not rule GPU instances out) runs the reviewed toolkit block first, which sets the container toolkit in its userData, with nvidia-ctk config --set, to accept-nvidia-visible-devices-envvar-when-unprivileged=false and accept-nvidia-visible-devices-as-volume-mounts=true: otherwise any pod on a GPU node that sets NVIDIA_VISIBLE_DEVICES=all (in its spec or its image) gets every GPU there, past the quota.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            for (const r of args.resources) {
                if (r.type !== HELM_RELEASE) continue;
                const chart = get(() => r.props.chart);
                if (chart === UNKNOWN) { d.defer(`${label(r)}.chart`); continue; }
                if (!isDevicePluginChart(chart)) continue;
                const values = snapshot(() => r.props.values);
                if (values === UNKNOWN) { d.defer(`${label(r)}.values`); continue; }
                if (values?.config === UNKNOWN) { d.defer(`${label(r)}.values.config`); continue; }
                if (values?.config?.map !== undefined || values?.config?.name !== undefined) {
                    report(`${label(r)} sets values.config (a config map the pack cannot read, whose flags may set deviceListStrategy); set values.deviceListStrategy: volume-mounts instead.`, r.urn);
                    continue;
                }
                const s = values?.deviceListStrategy;
                if (s === UNKNOWN) { d.defer(`${label(r)}.values.deviceListStrategy`); continue; }
                const list = Array.isArray(s) ? s : typeof s === "string" ? s.split(",") : [];
                if (list.length !== 1 || list[0] !== "volume-mounts") {
                    report(`${label(r)} must set values.deviceListStrategy: volume-mounts (it is ${JSON.stringify(s ?? "unset: envvar")}): with NVIDIA_VISIBLE_DEVICES, which any pod can set itself, the toolkit cannot tell the plugin's allocation from a pod's own request.`, r.urn);
                }
            }
            const classes = new Map(args.resources.filter((r) => r.type === NODECLASS).map((r) => [get(() => r.props.metadata?.name), r] as const));
            for (const p of args.resources) {
                if (p.type !== NODEPOOL) continue;
                const pool = gpuPool(p, d);
                if (!pool || pool === UNKNOWN) continue;
                const ref = pool.tmpl?.nodeClassRef?.name;
                if (ref === UNKNOWN) { d.defer(`${label(p)}.spec.template.spec.nodeClassRef.name`); continue; }
                const nc = classes.get(ref);
                if (!nc && classes.has(UNKNOWN)) { d.defer(`${label(classes.get(UNKNOWN)!)}.metadata.name`); continue; }
                if (!nc) { report(`${label(p)} is a GPU pool on EC2NodeClass '${String(ref)}', which is not one of this stack's: the pack cannot check that its nodes' NVIDIA toolkit ignores NVIDIA_VISIBLE_DEVICES from unprivileged pods.`, p.urn); continue; }
                const ud = get(() => nc.props.spec?.userData);
                if (ud === UNKNOWN) { d.defer(`${label(nc)}.spec.userData`); continue; }
                const read = typeof ud === "string" ? readableUserData(ud) : { text: "" };
                if ("error" in read) { report(`${label(nc)} spec.userData ${read.error}, so the pack cannot check the GPU nodes' NVIDIA toolkit flags.`, nc.urn); continue; }
                const missing = missingToolkitFlags(read.text);
                if (missing.length) {
                    report(`${label(nc)} (GPU NodePool '${String(get(() => p.props.metadata?.name))}') must set the NVIDIA container toolkit's ${missing.join(" and ")} in spec.userData (nvidia-ctk config --in-place --set ..., before kubelet starts): otherwise a pod there that sets NVIDIA_VISIBLE_DEVICES=all gets every GPU of the node.`, nc.urn);
                    continue;
                }
                const script = toolkitScriptProblem(read.text);
                if (script) report(`${label(nc)} (GPU NodePool '${String(get(() => p.props.metadata?.name))}') spec.userData ${script}: a GPU node whose toolkit still honours NVIDIA_VISIBLE_DEVICES gives any pod there every GPU of the node.`, nc.urn);
            }
        }),
    },
    {
        name: "k8s-images-from-stack-ecr",
        description: "Checks whether every container image comes from one of this stack's ECR repositories.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const repos = once(() => stackRepositories(args.resources));
            for (const r of args.resources) {
                for (const path of podSpecPaths(r.type, r.props)) {
                    const spec = snapshot(() => at_(r.props, path));
                    if (spec === UNKNOWN) { d.defer(`${label(r)} pod spec`); continue; }
                    for (const list of ["initContainers", "containers"]) {
                        if (spec?.[list] === UNKNOWN) { d.defer(`${label(r)} ${list}`); continue; }
                        for (const c of asArray(spec?.[list])) {
                            if (c === UNKNOWN || c.image === UNKNOWN) { d.defer(`${label(r)} container '${c?.name ?? "?"}' image`); continue; }
                            const rs = repos();
                            if (rs === UNKNOWN) { d.defer(`${label(r)} container '${c.name}' (this stack's ECR URL is known once the repository exists)`); continue; }
                            if (!rs.some((u) => String(c.image).startsWith(`${u}@`))) {
                                report(`${label(r)} container '${c.name}' image '${c.image}' is not from this stack's ECR (${rs.join(", ") || "none"}).`, r.urn);
                            }
                        }
                    }
                }
            }
        }),
    },
    {
        name: "k8s-pvcs-on-encrypted-storage",
        description: "Checks whether PersistentVolumeClaims use a StorageClass of this stack that encrypts with a customer-managed key.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const classes = new Map<string, any>();
            for (const r of args.resources) {
                if (r.type !== "kubernetes:storage.k8s.io/v1:StorageClass") continue;
                const name = get(() => r.props.metadata?.name);
                const sc = known(() => ({ name, provisioner: r.props.provisioner, parameters: r.props.parameters }));
                if (name === UNKNOWN) { d.defer(`${label(r)}.metadata.name`); continue; }
                classes.set(name as string, sc === UNKNOWN ? { unknown: label(r) } : sc);
            }
            const efs = args.resources.filter((r) => r.type === "aws:efs/fileSystem:FileSystem");
            const pvs = new Map<unknown, PolicyResource>(args.resources.filter((r) => r.type === "kubernetes:core/v1:PersistentVolume").map((r) => [get(() => r.props.metadata?.name), r]));
            for (const r of args.resources) {
                if (r.type !== "kubernetes:core/v1:PersistentVolumeClaim") continue;
                const scName = get(() => r.props.spec?.storageClassName);
                if (scName === UNKNOWN) { d.defer(`${label(r)}.spec.storageClassName`); continue; }
                // Static provisioning (storageClassName "" and a volumeName): judge the PersistentVolume it binds.
                const volumeName = get(() => r.props.spec?.volumeName);
                if (scName === "" && volumeName !== undefined) {
                    if (volumeName === UNKNOWN) { d.defer(`${label(r)}.spec.volumeName`); continue; }
                    const pv = pvs.get(volumeName);
                    if (!pv) { report(`PVC '${r.name}' binds PersistentVolume '${volumeName}', which is not one of this stack's.`, r.urn); continue; }
                    const problem = staticVolumeProblem(pv, args.resources, d);
                    if (problem) report(`PVC '${r.name}' binds PersistentVolume '${volumeName}' ${problem}.`, r.urn);
                    continue;
                }
                const sc = scName ? classes.get(scName) : undefined;
                if (!sc) {
                    if ([...classes.values()].some((x) => x.unknown) && scName) d.defer(`${label(r)} StorageClass ${scName}`);
                    else report(`PVC '${r.name}' must name a StorageClass defined by this stack (found ${scName ?? "the cluster default"}).`, r.urn);
                    continue;
                }
                if (sc.unknown) { d.defer(`${sc.unknown} parameters (used by PVC '${r.name}')`); continue; }
                if (EBS_CSI.includes(sc.provisioner)) {
                    if (String(sc.parameters?.encrypted) !== "true" || !sc.parameters?.kmsKeyId) report(`PVC '${r.name}' uses StorageClass '${scName}' without parameters encrypted: "true" and kmsKeyId.`, r.urn);
                } else if (sc.provisioner === "efs.csi.aws.com") {
                    const fsId = sc.parameters?.fileSystemId;
                    const ids = efs.map((f) => ({ f, id: get(() => f.props.id) }));
                    if (ids.some((x) => x.id === UNKNOWN)) { d.defer(`${label(r)} EFS file system id`); continue; }
                    const fs = ids.find((x) => x.id === fsId)?.f;
                    if (fs && fs.props.encrypted !== true) report(`PVC '${r.name}' uses EFS file system '${fs.name}' that is not encrypted.`, r.urn);
                    if (!fs) report(`PVC '${r.name}' StorageClass '${scName}' points at EFS file system ${fsId ?? "(none)"}, which is not one of this stack's.`, r.urn);
                } else {
                    report(`PVC '${r.name}' StorageClass '${scName}' uses provisioner ${sc.provisioner}, which this pack cannot prove encrypted.`, r.urn);
                }
            }
        }),
    },
];

/**
 * Why a static PersistentVolume is not on storage this stack encrypts with its key, or undefined: an
 * EFS volume (efs.csi.aws.com, volumeHandle <fs-id>[::<access point>]) on one of the stack's encrypted
 * file systems, or a Mountpoint for S3 volume (s3.csi.aws.com, volumeAttributes.bucketName) on one of
 * the stack's buckets with SSE-KMS default encryption.
 */
function staticVolumeProblem(pv: PolicyResource, all: readonly PolicyResource[], d: Deferrals): string | undefined {
    const csi = known(() => pv.props.spec?.csi);
    if (csi === UNKNOWN) { d.defer(`${label(pv)}.spec.csi`); return undefined; }
    const driver = (csi as any)?.driver;
    if (driver === "efs.csi.aws.com") {
        const fsId = String((csi as any).volumeHandle ?? "").split(":")[0];
        const fileSystems = all.filter((r) => r.type === "aws:efs/fileSystem:FileSystem").map((f) => ({ f, id: get(() => f.props.id) }));
        if (fileSystems.some((x) => x.id === UNKNOWN)) { d.defer(`${label(pv)} EFS file system id`); return undefined; }
        const fs = fileSystems.find((x) => x.id === fsId)?.f;
        if (!fs) return `on EFS file system ${fsId || "(none)"}, which is not one of this stack's`;
        if (fs.props.encrypted !== true) return `on EFS file system '${fs.name}', which is not encrypted`;
        return undefined;
    }
    if (driver === "s3.csi.aws.com") {
        const bucket = (csi as any).volumeAttributes?.bucketName;
        const buckets = all.filter((r) => r.type === "aws:s3/bucket:Bucket").map((b) => ({ b, name: get(() => b.props.bucket), id: get(() => b.props.id) }));
        if (buckets.some((x) => x.name === UNKNOWN)) { d.defer(`${label(pv)} bucket name`); return undefined; }
        const b = buckets.find((x) => x.name === bucket);
        if (!b) return `on bucket ${bucket ?? "(none)"}, which is not one of this stack's`;
        // An encryption configuration whose bucket or rules are unknown may be this bucket's SSE-KMS: defer, don't guess.
        const configs = all.filter((r) => r.type === "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
            .map((r) => ({ r, bucket: get(() => r.props.bucket), rules: known(() => r.props.rules) }));
        const sse = configs.filter((x) => x.bucket !== UNKNOWN && [b.name, b.id].includes(x.bucket));
        const kms = sse.some((x) => x.rules !== UNKNOWN && asArray(x.rules as any[]).some((rule: any) => ["aws:kms", "aws:kms:dsse"].includes(rule?.applyServerSideEncryptionByDefault?.sseAlgorithm)));
        if (kms) return undefined;
        const unsure = configs.filter((x) => x.bucket === UNKNOWN || (sse.includes(x) && x.rules === UNKNOWN));
        if (unsure.length) { unsure.forEach((x) => d.defer(`${label(x.r)}.${x.bucket === UNKNOWN ? "bucket" : "rules"} (is it ${bucket}'s SSE-KMS?)`)); return undefined; }
        return `on bucket ${bucket}, which has no SSE-KMS default encryption`;
        return undefined;
    }
    return `uses CSI driver ${driver ?? "(none)"}, which this pack cannot prove encrypted`;
}
