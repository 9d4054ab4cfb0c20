/**
 * Outsider cases (GPU isolation: the device plugin, the GPU node class and pool, the toolkit's settings, the pods that ask for GPUs):
 * written from DESIGN.md's security model, the README's claims and the program, without reading the pack's rules.
 * test/adversarial/cases.ts adds them to CASES.
 *
 * The threat they share, in cluster mode: a researcher may create Jobs in their own namespace with any image,
 * tolerations and nodeSelector. A pod that requests no GPU (so no quota counts it) but lands on a GPU node, from an
 * image whose ENV says NVIDIA_VISIBLE_DEVICES=all (the admission policy cannot see an image's ENV), gets every GPU of
 * that node wherever the node's container toolkit still honours the variable in unprivileged containers, or wherever
 * the pod can fake the device plugin's volume mounts: the GPUs the plugin gave to other researchers' servers and jobs.
 */
import type { Case } from "./cases";
import { add, edit, editUserData, indexOf, k8sLabels, replaceOnce, Rs } from "./edit";

const NH = "national-heritage";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass";
const NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool";
const QUOTA = "kubernetes:core/v1:ResourceQuota";
const PLUGIN = "archaeo-gpu-nvidia-device-plugin";
const GPU_CLASS = "archaeo-gpu-nodeclass-gpu";
const GPU_POOL = "archaeo-gpu-pool-gpu";
const SPOT_POOL = "archaeo-gpu-pool-gpu-batch-spot";
const TOOLKIT_CFG = "cfg=/etc/nvidia-container-runtime/config.toml\n";
const ENVVAR_FLAG = "accept-nvidia-visible-devices-envvar-when-unprivileged";
/** The Jupyter unit's `docker run` line of a workstation's user data, with its first flag. */
const JUPYTER_GPUS = "ExecStart=/usr/bin/docker run --rm --name archaeo-jupyter \\\n        --gpus all \\\n";
const JUPYTER_HEAD = "ExecStart=/usr/bin/docker run --rm --name archaeo-jupyter \\\n";

const plugin = (rs: Rs, fn: (values: any) => void) => edit(rs, PLUGIN, (p) => fn(p.values), RELEASE);
const hub = (rs: Rs, fn: (values: any) => void) => edit(rs, "archaeo-hub-release", (p) => fn(p.values), RELEASE);
const userData = (rs: Rs, fn: (text: string) => string) => edit(rs, GPU_CLASS, (p) => { p.spec.userData = fn(p.spec.userData); }, NODECLASS);
const remove = (rs: Rs, name: string, type?: string): Rs => { rs.splice(indexOf(rs, name, type), 1); return rs; };
/** The device plugin's time-slicing configuration (k8s-device-plugin config file v1: sharing.timeSlicing). */
const timeSlicing = (replicas: number) =>
    `version: v1\nsharing:\n  timeSlicing:\n    renameByDefault: false\n    resources:\n      - name: nvidia.com/gpu\n        replicas: ${replicas}\n`;

const dangerous: Case[] = [
    // ------------------------------------------------------------------------------------------------ the toolkit's flags
    {
        id: "gpu-toolkit-honours-envvar-again", class: 1, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "GPU nodes: pods report 'no CUDA-capable device' after the AMI bump; let the toolkit honour NVIDIA_VISIBLE_DEVICES again",
        reaches: "every GPU node's toolkit selects GPUs from NVIDIA_VISIBLE_DEVICES in unprivileged containers: a researcher's Job that requests no GPU, tolerates nvidia.com/gpu and runs an image with ENV NVIDIA_VISIBLE_DEVICES=all gets every GPU of the node, the ones allocated to other researchers' servers and jobs included, outside every GPU quota",
        mutate: (rs) => userData(rs, (t) => t.split(`${ENVVAR_FLAG}=false`).join(`${ENVVAR_FLAG}=true`).split(`${ENVVAR_FLAG}[[:space:]]*=[[:space:]]*false`).join(`${ENVVAR_FLAG}[[:space:]]*=[[:space:]]*true`)),
    },
    {
        id: "gpu-toolkit-config-path-from-operator-docs", class: 2, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "GPU nodes: write the toolkit flags to the config path the GPU Operator docs show",
        reaches: "nvidia-ctk creates and edits a file the AL2023 AMI's runtime never reads (it reads /etc/nvidia-container-runtime/config.toml), the grep checks that same file and passes, so every GPU node joins with the toolkit's defaults: NVIDIA_VISIBLE_DEVICES=all in an unprivileged pod's image reaches every GPU of the node, other researchers' included",
        mutate: (rs) => userData(rs, (t) => replaceOnce(t, TOOLKIT_CFG, "cfg=/usr/local/nvidia/toolkit/.config/nvidia-container-runtime/config.toml\n")),
    },
    {
        id: "gpu-toolkit-failure-keeps-node", class: 2, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "GPU nodes: a failed nvidia-ctk edit should not cost us the node; log it and let kubelet start",
        reaches: "a GPU node where the toolkit edit fails (an AMI whose toolkit lacks nvidia-ctk, a changed config layout) joins the cluster with the default accept-nvidia-visible-devices-envvar-when-unprivileged=true: a no-GPU pod with NVIDIA_VISIBLE_DEVICES=all in its image gets every GPU there",
        mutate: (rs) => userData(rs, (t) => replaceOnce(t, "  systemctl mask --runtime kubelet.service\n", "  echo \"archaeo: continuing with the toolkit's defaults\" >&2\n")),
    },
    // ------------------------------------------------------------------------------------------------ node classes and pools
    {
        id: "gpu-new-l40s-nodeclass-without-toolkit-flags", class: 1, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "capacity: a g6e (L40S) pool for the larger models, with its own node class (copied from the cpu class: no image cache)",
        reaches: "g6e nodes boot without the toolkit script: a researcher's Job with nodeSelector archaeo/pool=gpu-l40s, no GPU request and NVIDIA_VISIBLE_DEVICES=all in its image sees all 4 or 8 L40S of a node that also runs other researchers' servers and jobs",
        mutate: (rs) => {
            const gpuClass = rs[indexOf(rs, GPU_CLASS, NODECLASS)].inputs;
            const spec = structuredClone(gpuClass.spec);
            delete spec.userData;
            spec.blockDeviceMappings = spec.blockDeviceMappings.filter((b: any) => b.deviceName === "/dev/xvda");
            spec.tags = { ...spec.tags, Name: `${spec.tags.Name}-l40s` };
            add(rs, { type: NODECLASS, name: "archaeo-gpu-nodeclass-gpu-l40s", parent: "archaeo-gpu", inputs: { apiVersion: gpuClass.apiVersion, kind: gpuClass.kind, metadata: { name: "gpu-l40s" }, spec } });
            const pool = structuredClone(rs[indexOf(rs, GPU_POOL, NODEPOOL)].inputs);
            pool.metadata = { name: "gpu-l40s" };
            pool.spec.template.metadata.labels["archaeo/pool"] = "gpu-l40s";
            pool.spec.template.spec.nodeClassRef.name = "gpu-l40s";
            pool.spec.template.spec.requirements[0].values = ["g6e"];
            pool.spec.limits = { "nvidia.com/gpu": "2" };
            add(rs, { type: NODEPOOL, name: "archaeo-gpu-pool-gpu-l40s", parent: "archaeo-gpu", inputs: pool });
            // The on-demand pools still add up to the same gpuLimit.
            return edit(rs, GPU_POOL, (p) => { p.spec.limits = { "nvidia.com/gpu": "2" }; }, NODEPOOL);
        },
    },
    {
        id: "gpu-spot-pool-on-cpu-nodeclass", class: 1, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "cost: spot batch nodes don't need the 150 GiB root and the image cache; point the spot pool at the cpu node class",
        reaches: "spot GPU nodes boot from the cpu node class, without the toolkit script: a researcher's Job tolerating the GPU and batch taints, requesting no GPU, with NVIDIA_VISIBLE_DEVICES=all in its image, gets every GPU of a spot node running another researcher's DDP ranks",
        mutate: (rs) => edit(rs, SPOT_POOL, (p) => { p.spec.template.spec.nodeClassRef.name = "cpu"; }, NODEPOOL),
    },
    {
        id: "gpu-spot-pool-limit-in-vcpus", class: 2, stack: NH,
        caughtBy: ["gpu-pools-capped"],
        title: "capacity: cap the spot pool by vCPUs like the cpu pool (finance reads vCPUs)",
        reaches: "the spot pool has no GPU limit: 64 vCPUs of g5/g6 are up to 16 GPUs instead of 4, so the cluster runs up to 20 GPUs where gpuLimit promises 8 (researchers' job quotas add up to 12)",
        mutate: (rs) => edit(rs, SPOT_POOL, (p) => { p.spec.limits = { cpu: "64" }; }, NODEPOOL),
    },
    // ------------------------------------------------------------------------------------------------ the device plugin
    {
        id: "gpu-device-plugin-time-slicing", class: 1, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "cost: time-slice each GPU four ways so more researchers fit on a node (device plugin sharing config)",
        reaches: "one physical GPU is advertised as four nvidia.com/gpu: up to four researchers' servers and jobs share the same GPU with no memory or fault isolation (each sees the others' processes and memory use, one's OOM or Xid fault kills the others' work), and a quota of 8 GPUs buys 2 physical ones",
        mutate: (rs) => plugin(rs, (v) => { v.config = { map: { default: timeSlicing(4) }, default: "default" }; }),
    },
    {
        id: "gpu-device-plugin-sharing-from-configmap", class: 2, stack: NH,
        caughtBy: ["gpu-nodes-isolate-devices"],
        title: "device plugin: keep its configuration in a ConfigMap (config.name) so it can be tuned without a chart upgrade",
        reaches: "the ConfigMap time-slices every GPU four ways: different researchers' pods land on the same physical GPU with no memory or fault isolation, and GPU quotas count replicas, not GPUs",
        mutate: (rs) => {
            add(rs, {
                type: "kubernetes:core/v1:ConfigMap", name: "archaeo-gpu-device-plugin-config", parent: "archaeo-gpu",
                inputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nvidia-device-plugin-config", namespace: "kube-system", labels: k8sLabels(NH, "nvidia-device-plugin") }, data: { "sharing.yaml": timeSlicing(4) } },
            });
            return plugin(rs, (v) => { v.config = { name: "nvidia-device-plugin-config", default: "sharing.yaml" }; });
        },
    },
    {
        id: "gpu-operator-replaces-device-plugin", class: 2, stack: NH,
        caughtBy: ["helm-releases-pinned-and-unprivileged"],
        title: "capacity: replace the device plugin chart with the NVIDIA GPU Operator (driver from the AMI: driver.enabled=false)",
        reaches: "the operator's toolkit DaemonSet (toolkit.enabled defaults to true) installs its own runtime on every GPU node and points containerd at its config, where NVIDIA_VISIBLE_DEVICES is honoured in unprivileged containers, and its device plugin passes GPUs by env var: the node class's flags no longer apply, and a no-GPU pod with the variable in its image gets every GPU of the node",
        mutate: (rs) => {
            const tolerations = structuredClone(rs[indexOf(rs, PLUGIN, RELEASE)].inputs.values.tolerations);
            remove(rs, PLUGIN, RELEASE);
            return add(rs, {
                type: RELEASE, name: "archaeo-gpu-gpu-operator", parent: "archaeo-gpu",
                inputs: {
                    chart: "gpu-operator", compat: "true", name: "gpu-operator", namespace: "kube-system", version: "v25.3.2",
                    repositoryOpts: { repo: "https://helm.ngc.nvidia.com/nvidia" },
                    values: { driver: { enabled: false }, nfd: { enabled: false }, daemonsets: { tolerations } },
                },
            });
        },
    },
    // ------------------------------------------------------------------------------------------------ admission and pod security
    {
        id: "gpu-env-policy-namespace-prefix-typo", class: 2, stack: NH,
        caughtBy: ["gpu-pods-no-toolkit-env"],
        title: "admission: tidy the NVIDIA_* policy's namespace condition (the researchers' namespaces)",
        reaches: "the condition matches 'researchers-', a prefix no namespace has: pods in researcher-<id> namespaces may again set NVIDIA_VISIBLE_DEVICES=all, an envFrom of their own ConfigMap, or a cdi.k8s.io/ annotation, the second line of defence gone on every GPU node",
        mutate: (rs) => edit(rs, "archaeo-hub-gpu-env-policy", (p) => {
            p.spec.matchConditions[0].expression = replaceOnce(p.spec.matchConditions[0].expression, "startsWith('researcher-')", "startsWith('researchers-')");
        }),
    },
    {
        id: "gpu-researcher-namespace-privileged-pod-security", class: 1, stack: NH,
        caughtBy: ["k8s-namespaces-pod-security"],
        title: "archivist's namespace: Pod Security 'privileged' so Nsight Systems profiling jobs can run",
        reaches: "archivist's Job may mount hostPath /dev/null at /var/run/nvidia-container-devices/all, which the toolkit reads as the device plugin's allocation: every GPU of the node, other researchers' included (or simply run privileged: the node's root)",
        mutate: (rs) => edit(rs, "archaeo-researcher-archivist-namespace", (p) => {
            p.metadata.labels["pod-security.kubernetes.io/enforce"] = "privileged";
            p.metadata.labels["pod-security.kubernetes.io/warn"] = "restricted";
        }),
    },
    // ------------------------------------------------------------------------------------------------ GPU quotas
    {
        id: "gpu-researcher-quota-counts-limits", class: 2, stack: NH,
        caughtBy: ["jupyterhub-image-and-gpu-quota"],
        title: "quotas: count GPU limits, the same key as the profiles' extra_resource_limits",
        reaches: "Kubernetes tracks extended resources in a quota only as requests.<name>: limits.nvidia.com/gpu counts nothing, so ml-engineer's Jobs take every GPU the pools allow (8), past gpusPerResearcher (4), leaving other researchers' servers pending",
        mutate: (rs) => edit(rs, "archaeo-researcher-ml-engineer-quota", (p) => { p.spec.hard = { "limits.nvidia.com/gpu": p.spec.hard["requests.nvidia.com/gpu"] }; }, QUOTA),
    },
    {
        id: "gpu-researcher-quota-as-limitrange", class: 2, stack: NH,
        caughtBy: ["pack-judges-every-type"],
        title: "quotas: a LimitRange (4 GPUs per container) instead of archivist's 'gpus' ResourceQuota, which held back Job retries",
        reaches: "a LimitRange caps each container, not the namespace: archivist runs any number of 4-GPU pods and takes every GPU both pools allow, past gpusPerResearcher",
        mutate: (rs) => {
            remove(rs, "archaeo-researcher-archivist-quota", QUOTA);
            return add(rs, {
                type: "kubernetes:core/v1:LimitRange", name: "archaeo-researcher-archivist-gpu-limits", parent: "archaeo-researcher-archivist",
                inputs: {
                    apiVersion: "v1", kind: "LimitRange",
                    metadata: { name: "gpus", namespace: "researcher-archivist", labels: { ...k8sLabels(NH, "researcher"), "archaeo/researcher": "archivist" } },
                    spec: { limits: [{ type: "Container", max: { "nvidia.com/gpu": "4" } }] },
                },
            });
        },
    },
    // ------------------------------------------------------------------------------------------------ instance mode
    {
        id: "gpu-workstation-nvml-fix-all-devices", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: 'Failed to initialize NVML: Unknown Error' after a systemd reload; let Jupyter re-see /dev/nvidia* (device cgroup rule and /dev)",
        reaches: "phd-tiles' Jupyter container may open every host device (cgroup rule a *:* rwm, the host's /dev mounted): raw writes to the root volume /dev/nvme0n1 make them root on the host (no-sudo model broken: idle and budget stop, host scripts)",
        mutate: (rs) => editUserData(rs, "archaeo-ws-phd-tiles-instance",
            (s) => replaceOnce(s, JUPYTER_HEAD, `${JUPYTER_HEAD}        --device-cgroup-rule='a *:* rwm' -v /dev:/dev \\\n`)),
    },
];

const harmless: Case[] = [
    {
        id: "gpu-pool-adds-larger-gpu-family", class: "harmless", stack: NH,
        title: "capacity: allow g6e (L40S, 48 GB) in the on-demand GPU pool for the larger models",
        reaches: "larger GPUs from the same node class (toolkit flags, key, IMDS), under the same GPU limit and taint",
        mutate: (rs) => edit(rs, GPU_POOL, (p) => { p.spec.template.spec.requirements[0].values.push("g6e"); }, NODEPOOL),
    },
    {
        id: "gpu-limit-raised-consistently", class: "harmless", stack: NH,
        title: "capacity: gpuLimit 8 -> 12 (hub quota 12, on-demand and spot pools 6 each)",
        reaches: "more GPUs in total, still bounded: pools adding up to the hub's quota, per-researcher quotas unchanged",
        mutate: (rs) => {
            edit(rs, "archaeo-hub-gpu-quota", (p) => { p.spec.hard["requests.nvidia.com/gpu"] = "12"; }, QUOTA);
            edit(rs, GPU_POOL, (p) => { p.spec.limits["nvidia.com/gpu"] = "6"; }, NODEPOOL);
            return edit(rs, SPOT_POOL, (p) => { p.spec.limits["nvidia.com/gpu"] = "6"; }, NODEPOOL);
        },
    },
    {
        id: "gpu-profile-drops-redundant-guarantee", class: "harmless", stack: NH,
        title: "hub profiles: drop extra_resource_guarantees (Kubernetes defaults an extended resource's request to its limit)",
        reaches: "the same pods: requests.nvidia.com/gpu equals the limit, the quota counts them as before",
        mutate: (rs) => hub(rs, (v) => { for (const p of v.singleuser.profileList) delete p.kubespawner_override.extra_resource_guarantees; }),
    },
    {
        id: "gpu-workstation-gpus-first-device", class: "harmless", stack: "example",
        title: "workstation: give Jupyter the first GPU by index (--gpus device=0) instead of all",
        reaches: "the same single GPU of alice's g5.xlarge, still through the toolkit",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (s) => replaceOnce(s, JUPYTER_GPUS, `${JUPYTER_HEAD}        --gpus device=0 \\\n`)),
    },
];

export const GPU_CASES: Case[] = [...dangerous, ...harmless];
