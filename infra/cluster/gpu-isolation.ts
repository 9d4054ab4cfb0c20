/**
 * GPU isolation on shared GPU nodes: a container gets the GPUs the device plugin allocated to it, and no others.
 *
 * The hole: the NVIDIA container toolkit selects a container's GPUs from NVIDIA_VISIBLE_DEVICES, and by default it
 * honours that variable in unprivileged containers (nvidia-container-toolkit api/config/v1/config.go GetDefault:
 * `AcceptEnvvarUnprivileged: true`; NVIDIA/k8s-device-plugin#61). A researcher's pod that requests no GPU but lands on
 * a GPU node (they control tolerations and nodeSelector in their own namespace) and sets NVIDIA_VISIBLE_DEVICES=all, in
 * its spec or in an image's ENV, would get every GPU of that node: past the GPU quota, and onto another researcher's GPU.
 *
 * The fix is NVIDIA's documented one, in two halves that only work together:
 * 1. the device plugin passes the allocated GPUs as volume mounts (chart 0.19.0 `deviceListStrategy: volume-mounts`;
 *    k8s-device-plugin v0.19.0 internal/plugin/server.go updateResponseForDeviceMounts: a /dev/null mount at
 *    /var/run/nvidia-container-devices/<uuid> per GPU, and NVIDIA_VISIBLE_DEVICES set to that directory, which names no
 *    device). The chart then gives the plugin's own container CAP_SYS_ADMIN (templates/_helpers.tpl
 *    nvidia-device-plugin.requiresCapSysAdmin / deviceListStrategyIncludesVolumeMount), which the toolkit counts as
 *    privileged (internal/config/image/privileged.go IsPrivileged: CAP_SYS_ADMIN in the bounding set), so the plugin's
 *    NVIDIA_VISIBLE_DEVICES=all still shows it every GPU;
 * 2. the toolkit on every GPU node reads devices from those mounts and ignores the variable in unprivileged
 *    containers: `accept-nvidia-visible-devices-as-volume-mounts = true`,
 *    `accept-nvidia-visible-devices-envvar-when-unprivileged = false` in /etc/nvidia-container-runtime/config.toml.
 *
 * Every runtime mode reads the same two flags: the nvidia runtime (legacy, csv, cdi and jit-cdi, the default since
 * toolkit 1.18) builds its image from them (internal/runtime/runtime_factory.go initRuntimeModeAndImage:
 * image.WithAcceptDeviceListAsVolumeMounts / WithAcceptEnvvarUnprivileged), the CDI and jit-cdi modifiers take their
 * devices from image.VisibleDevices() (internal/modifier/cdi.go cdiDeviceRequestor), and VisibleDevices
 * (internal/config/image/cuda_image.go) returns the mounts first and the variable only `if i.isPrivileged ||
 * i.acceptEnvvarUnprivileged`; IMEX channels (NVIDIA_IMEX_CHANNELS) follow the same rule (ImexChannelRequests). The
 * legacy hook reads them too (cmd/nvidia-container-runtime-hook/container_config.go). Checked at toolkit v1.19.0 and
 * v1.20.0 (identical cuda_image.go).
 *
 * Mounts from /dev/null under /var/run/nvidia-container-devices could also be asked for by a pod with a hostPath
 * volume; Pod Security refuses hostPath (researcher namespaces restricted, the hub's baseline), and CAP_SYS_ADMIN.
 *
 * Third, cheap, defence in depth: a ValidatingAdmissionPolicy refuses pods in the hub namespace and researcher
 * namespaces that set any NVIDIA_* variable (gpuEnvPolicy). It cannot see an image's ENV, which is why 1 and 2 are the fix.
 */
/** The device plugin's device list strategy (k8s-device-plugin v0.19.0 api/config/v1/consts.go: envvar, volume-mounts, cdi-annotations, cdi-cri). */
export const DEVICE_LIST_STRATEGY = "volume-mounts" as const;

/** The toolkit's config file on the AL2023 NVIDIA AMI (api/config/v1/config.go GetConfigFilePath: /etc + nvidia-container-runtime/config.toml). */
export const TOOLKIT_CONFIG = "/etc/nvidia-container-runtime/config.toml";

/** The toolkit flags every GPU node sets (api/config/v1/config.go Config toml tags), with their values. */
export const TOOLKIT_FLAGS = {
    "accept-nvidia-visible-devices-envvar-when-unprivileged": false,
    "accept-nvidia-visible-devices-as-volume-mounts": true,
} as const;

/**
 * The shell script that sets TOOLKIT_FLAGS on a GPU node before any pod starts. Karpenter v1.11 (nodeclasses.md
 * 'AL2023') makes a shell-script userData a MIME part after its own NodeConfig; cloud-init runs it in cloud-final, and
 * the AMI starts containerd and kubelet only after that (awslabs/amazon-eks-ami v20260714
 * templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service: `After=nodeadm-config.service
 * cloud-final.service`). The AMI installs the toolkit from NVIDIA's repository (templates/al2023/provisioners/
 * install-nvidia-driver.sh: dnf install nvidia-container-toolkit), whose package writes the default config with
 * `nvidia-ctk config --in-place` (packaging/rpm/SPECS/nvidia-container-toolkit.spec %post base); nodeadm only points
 * containerd at /usr/bin/nvidia-container-runtime (nodeadm/internal/containerd/runtime_config_nvidia.go). The edit is
 * that same command with `--set` (cmd/nvidia-ctk/config/config.go: key=value on the config's toml tags), so it is
 * idempotent, and the runtime reads the file at every container start.
 *
 * Fail-closed: unless the file then holds both flags, kubelet is masked for this boot, the node never registers, and
 * Karpenter replaces it (registration timeout) rather than run pods on a node where the variable still selects GPUs.
 */
export const TOOLKIT_USER_DATA = [
    "#!/bin/bash",
    "# archaeo-workbench GPU isolation (infra/cluster/gpu-isolation.ts): a container's GPUs come only from the device",
    "# plugin's volume mounts, never from NVIDIA_VISIBLE_DEVICES in an unprivileged container.",
    `cfg=${TOOLKIT_CONFIG}`,
    "if nvidia-ctk --quiet config --config-file=\"$cfg\" --in-place \\",
    ...Object.entries(TOOLKIT_FLAGS).map(([k, v]) => `    --set ${k}=${v} \\`),
    ...Object.entries(TOOLKIT_FLAGS).map(([k, v], i, all) => `  && grep -Eq '^[[:space:]]*${k}[[:space:]]*=[[:space:]]*${v}[[:space:]]*$' "$cfg"${i === all.length - 1 ? "; then" : " \\"}`),
    "  echo \"archaeo: NVIDIA toolkit takes GPUs from the device plugin's mounts only ($cfg)\"",
    "else",
    "  echo \"archaeo: NVIDIA toolkit flags not set in $cfg; kubelet masked, this node will not join\" >&2",
    "  systemctl mask --runtime kubelet.service",
    "fi",
    "",
].join("\n");

/** The GPU node class's userData: the toolkit flags first, then (with an image cache) the cache mount script's body. */
export function gpuNodeUserData(cacheScript?: string): string {
    return cacheScript ? TOOLKIT_USER_DATA + cacheScript.replace(/^#!\/bin\/bash\n/, "") : TOOLKIT_USER_DATA;
}

/** Prefix of every variable the toolkit reads from a container (internal/config/image/envvars.go; gated devices NVIDIA_GDS, _MOFED, _GDRCOPY, _NVSWITCH in internal/modifier/cdi.go). */
export const TOOLKIT_ENV_PREFIX = "NVIDIA_";

/** The namespaces the admission policy covers, as a CEL condition on request.namespace: the hub's, and every name with the researcher prefix. */
export const gpuEnvNamespacesCel = (hubNamespace: string, researcherPrefix: string) =>
    `request.namespace == '${hubNamespace}' || request.namespace.startsWith('${researcherPrefix}')`;

const LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;
const everyContainer = (test: string) => LISTS.map((l) => `(!has(object.spec.${l}) || object.spec.${l}.all(c, ${test}))`).join(" && ");

/**
 * A ValidatingAdmissionPolicy, failing closed, bound cluster-wide with Deny: in the hub namespace and every researcher
 * namespace, no pod (CREATE, or UPDATE of its ephemeral containers) sets a toolkit variable: no env entry named
 * NVIDIA_*, no envFrom whose prefix could make one (envFrom's keys are not visible at admission), and no CDI
 * annotation (cdi.k8s.io/, read by the toolkit in cdi mode: cuda_image.go cdiDeviceRequestsFromAnnotations). Every
 * requester: pods in researcher namespaces are created by the Job controller, servers by the hub.
 */
export function gpuEnvPolicy(p: { labels: Record<string, string>; hubNamespace: string; researcherNamespacePrefix: string }) {
    const name = "archaeo-no-toolkit-env";
    const P = TOOLKIT_ENV_PREFIX;
    return {
        policy: {
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicy" as const,
            metadata: { name, labels: p.labels },
            spec: {
                failurePolicy: "Fail",
                matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods", "pods/ephemeralcontainers"] }] },
                matchConditions: [{ name: "hub-and-researcher-namespaces", expression: gpuEnvNamespacesCel(p.hubNamespace, p.researcherNamespacePrefix) }],
                validations: [
                    {
                        expression: everyContainer(`!has(c.env) || c.env.all(e, !e.name.startsWith('${P}'))`),
                        message: `no container may set an ${P}* variable: the device plugin alone chooses a pod's GPUs (NVIDIA_VISIBLE_DEVICES=all would reach every GPU of the node)`,
                    },
                    {
                        expression: everyContainer(`!has(c.envFrom) || c.envFrom.all(f, has(f.prefix) && f.prefix != '' && !f.prefix.startsWith('${P}') && !'${P}'.startsWith(f.prefix))`),
                        message: `envFrom needs a prefix that cannot form an ${P}* variable (its keys are not visible at admission)`,
                    },
                    {
                        expression: "!has(object.metadata.annotations) || object.metadata.annotations.all(k, !k.startsWith('cdi.k8s.io/'))",
                        message: "pods may not carry CDI device annotations (cdi.k8s.io/): the device plugin alone chooses a pod's GPUs",
                    },
                ],
            },
        },
        binding: {
            apiVersion: "admissionregistration.k8s.io/v1" as const,
            kind: "ValidatingAdmissionPolicyBinding" as const,
            metadata: { name, labels: p.labels },
            spec: { policyName: name, validationActions: ["Deny"] },
        },
    };
}
