/** Cluster mode's pure Kubernetes objects: the port-forward policy, RBAC, the DDP job, hub profiles and values. */
import { strict as assert } from "assert";
import * as fs from "fs";
import { run as cel } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { KUBERNETES_VERSIONS } from "../../infra/config";
import { compareVersions } from "../../infra/data/amis";
import { clusterAzs } from "../../infra/cluster";
import { CHARTS } from "../../infra/cluster/karpenter";
import { DEVICE_LIST_STRATEGY, gpuEnvPolicy, gpuNodeUserData, TOOLKIT_CONFIG, TOOLKIT_FLAGS, TOOLKIT_USER_DATA } from "../../infra/cluster/gpu-isolation";
import { GPU_TOOLKIT_FLAGS, GPU_TOOLKIT_SCRIPT, missingToolkitFlags, toolkitScriptProblem } from "../../policies/rules/kubernetes";
import { IMAGE_CACHE_USER_DATA } from "../../infra/cluster/image-cache";
import { cullValues, ddpJob, devicePluginValues, hubImage, HUB_NAMESPACE, hubNamespaceObjects, hubResearcherObjects, hubTunnelObjects, jupyterhubValues, karpenterObjects, portForwardPolicy, profileList, researcherNamespace, researcherNamespaceObjects, researcherServicesPolicy, sessionEnv } from "../../infra/cluster/manifests";
import { carveSubnets, natUserData } from "../../infra/cluster/network";
import { hubTunnelBase, sampleValues } from "../../tools/check-hub-values";
import { models, validate } from "../helpers/k8s";
import { cloudInitSchema, tmpFile } from "../helpers/tools";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";

describe("cluster manifests", () => {
    describe("port-forwarding in the hub namespace (ValidatingAdmissionPolicy, evaluated by a real CEL engine)", () => {
        // Kubernetes evaluates VAP expressions with cel-go and its strings extension (substring, startsWith);
        // @bufbuild/cel with its strings extension implements the same CEL spec.
        const { policy, binding } = portForwardPolicy({ institution: "x", stack: "s", hubTunnel: true });
        const request = (username: string, name: string) => ({ request: new Map<string, string | Map<string, string>>([["name", name], ["userInfo", new Map([["username", username]])]]) });
        const applies = (u: string) => cel(policy.spec.matchConditions[0].expression, request(u, "any"), { funcs: strings }) === true;
        const allowedBy = (vap: typeof policy) => (u: string, pod: string) => cel(vap.spec.validations[0].expression, request(u, pod), { funcs: strings }) === true;
        const allowed = allowedBy(policy);

        it("a researcher reaches their own server and the hub tunnel, not another researcher's server nor the chart's pods", () => {
            assert.ok(applies("archaeo:alice"));
            assert.ok(allowed("archaeo:alice", "jupyter-alice"));
            assert.ok(allowed("archaeo:alice", "hub-tunnel-0"));
            assert.ok(!allowed("archaeo:alice", "jupyter-bob"));
            assert.ok(!allowed("archaeo:alice", "proxy-6f9c8d7b5-x2kq4"));
            assert.ok(!allowed("archaeo:alice", "hub-5d7f9b6c4-abcde"));
            assert.ok(!allowed("archaeo:al", "jupyter-alice"), "a prefix of another id is not enough");
        });

        it("with hubHostname there is no tunnel: only their own server", () => {
            const exposed = allowedBy(portForwardPolicy({ institution: "x", stack: "s", hubTunnel: false }).policy);
            assert.ok(exposed("archaeo:alice", "jupyter-alice"));
            assert.ok(!exposed("archaeo:alice", "hub-tunnel-0"));
        });

        it("applies to researchers only, to CONNECT of pods/portforward, in the hub namespace, and denies", () => {
            assert.ok(!applies("arn:aws:sts::123456789012:assumed-role/admins/x"));
            assert.ok(!applies("system:serviceaccount:jupyterhub:hub"));
            assert.deepEqual(policy.spec.matchConstraints.resourceRules[0], { apiGroups: [""], apiVersions: ["v1"], operations: ["CONNECT"], resources: ["pods/portforward"] });
            assert.deepEqual(binding.spec.validationActions, ["Deny"]);
            assert.deepEqual(binding.spec.matchResources!.namespaceSelector.matchLabels, { "kubernetes.io/metadata.name": "jupyterhub" });
            assert.equal(policy.spec.failurePolicy, "Fail");
        });
    });

    describe("researchers' Services stay inside the cluster (ValidatingAdmissionPolicy, evaluated by a real CEL engine)", () => {
        const { policy, binding } = researcherServicesPolicy({ institution: "x", stack: "s" });
        const toMap = (v: unknown): unknown => v && typeof v === "object" && !Array.isArray(v) ? new Map(Object.entries(v).map(([k, x]) => [k, toMap(x)])) : v;
        const vars = (username: string, spec: Record<string, unknown>) => ({ request: toMap({ userInfo: { username } }), object: toMap({ spec }) });
        const allowed = (spec: Record<string, unknown>) => policy.spec.validations.every((v) => cel(v.expression, vars("archaeo:alice", spec) as never, { funcs: strings }) === true);

        it("a headless or ClusterIP Service passes (the DDP job's rendezvous); LoadBalancer, NodePort and externalIPs are denied", () => {
            assert.ok(allowed({ clusterIP: "None", selector: { job: "ddp" } }));
            assert.ok(allowed({ type: "ClusterIP" }));
            assert.ok(!allowed({ type: "LoadBalancer" }));
            assert.ok(!allowed({ type: "NodePort" }));
            assert.ok(!allowed({ type: "ClusterIP", externalIPs: ["203.0.113.10"] }));
            assert.ok(allowed({ type: "ClusterIP", externalIPs: [] }));
        });

        it("applies to researchers' CREATE and UPDATE of services, fails closed, denies", () => {
            const applies = (u: string) => cel(policy.spec.matchConditions[0].expression, vars(u, {}) as never, { funcs: strings }) === true;
            assert.ok(applies("archaeo:alice") && !applies("system:serviceaccount:kube-system:karpenter"));
            assert.deepEqual(policy.spec.matchConstraints.resourceRules[0].operations, ["CREATE", "UPDATE"]);
            assert.deepEqual([policy.spec.failurePolicy, binding.spec.validationActions], ["Fail", ["Deny"]]);
            const ddp = ddpJob({ institution: "x", stack: "s", id: "alice", image: "i@sha256:1", nodes: 2, gpusPerNode: 1, memoryGiB: 16, spot: false, env: {} }).service;
            assert.ok(allowed(ddp.spec as never), "the program's own DDP Service passes");
        });
    });

    describe("a researcher's RBAC", () => {
        const access = { institution: "x", stack: "s", id: "alice", gpus: 2, sshPublicKeys: ["ssh-ed25519 AAAA a"], hubTunnel: true };
        const own = researcherNamespaceObjects(access);

        it("their namespace: bound to their Kubernetes user only, jobs and logs, no secrets, no cluster scope, a GPU quota", () => {
            assert.equal(own.namespace.metadata.name, "researcher-alice");
            assert.equal(own.namespace.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
            assert.deepEqual(own.roleBinding.subjects, [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "archaeo:alice" }]);
            assert.ok(own.role.rules.some((r) => r.resources.includes("jobs") && r.verbs.includes("create")));
            assert.ok(!own.role.rules.some((r) => r.resources.includes("secrets") || r.resources.includes("*") || r.verbs.includes("*")));
            assert.equal(own.quota.spec.hard["requests.nvidia.com/gpu"], "2");
            assert.ok(own.networkPolicies.some((n) => n.metadata.name === "default-deny"));
        });

        it("the hub namespace: their server's service account, their keys, their own Role bound to them", () => {
            const hub = hubResearcherObjects(access);
            assert.equal(hub.serviceAccount.metadata.name, "researcher-alice");
            assert.equal(hub.sshKeys.data.authorized_keys, "ssh-ed25519 AAAA a\n");
            assert.deepEqual(hub.roleBinding.subjects[0].name, "archaeo:alice");
            assert.deepEqual(hub.roleBinding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: hub.role.metadata.name });
            assert.equal(hubResearcherObjects({ ...access, sshPublicKeys: [] }).sshKeys.data.authorized_keys, "");
        });

        // KubeSpawner 7.0.0 writes JUPYTERHUB_API_TOKEN (scope access:servers!server) into each server's pod
        // spec as a plain env value (kubespawner/objects.py make_pod, spawner.py get_env), so a researcher who
        // can read another's pod can open their server. `kubectl port-forward pod/NAME` needs get on that pod
        // and create on pods/portforward; `port-forward svc/...` lists pods (kubectl polymorphichelpers
        // GetFirstPod: Pods(namespace).List with the service's selector), which RBAC cannot narrow by name.
        it("in the hub namespace they may get and port-forward to their own server and the tunnel, by name, and never list, watch or read secrets", () => {
            const rules = hubResearcherObjects(access).role.rules;
            for (const r of rules) {
                assert.deepEqual(r.resourceNames, ["jupyter-alice", "hub-tunnel-0"], `${r.resources} limited by name`);
                assert.ok(r.verbs.every((v) => v === "get" || v === "create"), `no list/watch on ${r.resources}`);
                assert.ok(!r.resources.includes("secrets") && !r.resources.includes("*"));
            }
            assert.deepEqual(rules.map((r) => [r.resources, r.verbs]), [[["pods"], ["get"]], [["pods/portforward"], ["create"]]]);
            assert.deepEqual(hubResearcherObjects({ ...access, hubTunnel: false }).role.rules[0].resourceNames, ["jupyter-alice"]);
            assert.ok(!("role" in hubNamespaceObjects({ institution: "x", stack: "s", gpuLimit: 4 })), "no shared Role for every researcher");
        });

        it("the hub tunnel: one pod with a stable name, the stack's tunnel image, relaying to proxy-public, non-root on the system node", () => {
            const { statefulSet: sts, networkPolicy: np } = hubTunnelObjects({ institution: "x", stack: "s", image: "repo/hub-tunnel@sha256:1" });
            assert.equal(`${sts.metadata.name}-0`, "hub-tunnel-0", "a StatefulSet's pod is <name>-0");
            assert.equal(sts.spec.replicas, 1);
            const pod = sts.spec.template.spec;
            const c = pod.containers[0];
            assert.equal(c.image, "repo/hub-tunnel@sha256:1");
            assert.deepEqual(Object.fromEntries(c.env.map((e) => [e.name, e.value])), { LISTEN_PORT: "8000", TARGET_HOST: "proxy-public.jupyterhub.svc.cluster.local", TARGET_PORT: "80" });
            assert.deepEqual(c.ports.map((x) => x.containerPort), [8000], "one port, nothing else to reach (no routing API)");
            assert.equal(pod.automountServiceAccountToken, false);
            assert.deepEqual([pod.securityContext.runAsNonRoot, c.securityContext.allowPrivilegeEscalation, c.securityContext.readOnlyRootFilesystem], [true, false, true]);
            assert.equal(sts.spec.template.metadata.labels["hub.jupyter.org/network-access-proxy-http"], "true");
            assert.deepEqual(pod.nodeSelector, { "archaeo/pool": "system" });
            // Its NetworkPolicy: no ingress (port-forwarding arrives on the pod's loopback), egress to the chart's proxy and DNS only.
            assert.deepEqual(np.spec.podSelector.matchLabels, sts.spec.selector.matchLabels);
            assert.deepEqual([np.spec.policyTypes, np.spec.ingress], [["Ingress", "Egress"], []]);
            assert.deepEqual(np.spec.egress[0], { to: [{ podSelector: { matchLabels: { component: "proxy" } } }], ports: [{ protocol: "TCP", port: 8000 }] });
        });

        // z2jh 4.4.0 values.yaml proxy.chp.image is quay.io/jupyterhub/configurable-http-proxy:5.2.0 (tools/check-hub-values.ts
        // compares it with the chart itself); the tunnel is built for the arm64 system node on an amd64 deployer,
        // which needs no emulation only while the Dockerfile has no RUN step.
        it("the hub tunnel image is the chart's proxy, with nothing run at build time", () => {
            assert.equal(hubTunnelBase(), "quay.io/jupyterhub/configurable-http-proxy:5.2.0");
            const dockerfile = fs.readFileSync("images/hub-tunnel/Dockerfile", "utf8");
            assert.ok(!/^\s*RUN\s/im.test(dockerfile), "no RUN: an arm64 build on an amd64 runner would need QEMU");
        });
    });

    describe("DDP training job", () => {
        const p = { institution: "x", stack: "s", id: "alice", image: "repo@sha256:1", nodes: 3, gpusPerNode: 2, memoryGiB: 64, spot: false, env: { ARCHAEO_RESEARCHER: "alice" } };
        const { service, job } = ddpJob(p);
        const args = job.spec.template.spec.containers[0].args;

        it("rendezvous is deterministic: index 0 hosts the store, named through a headless service that publishes not-ready pods", () => {
            assert.equal(service.spec.clusterIP, "None");
            assert.equal(service.spec.publishNotReadyAddresses, true, "pod 0's name must resolve before it is Ready (the old race)");
            assert.equal(job.spec.template.spec.subdomain, service.metadata.name);
            for (const [k, v] of Object.entries(service.spec.selector)) assert.equal((job.spec.template.metadata.labels as Record<string, string>)[k], v);
            assert.ok(args.includes("--node-rank=$(JOB_COMPLETION_INDEX)"));
            assert.ok(args.includes(`--master-addr=${job.metadata.name}-0.${service.metadata.name}`));
            assert.ok(!args.some((a) => a.startsWith("--rdzv-backend")), "static rendezvous: node rank 0 is the host, no election");
            assert.deepEqual([job.spec.completionMode, job.spec.completions, job.spec.parallelism], ["Indexed", 3, 3]);
            assert.ok(args.includes("--nnodes=3") && args.includes("--nproc-per-node=2"));
        });

        it("retries are sane: worker restarts, a few pod retries with resume, evictions free, usage errors final", () => {
            assert.ok(args.includes("--max-restarts=3"));
            assert.ok(args.includes("--resume"));
            assert.ok(job.spec.backoffLimit >= 1);
            const rules = job.spec.podFailurePolicy.rules;
            assert.deepEqual(rules[0], { action: "FailJob", onExitCodes: { containerName: "trainer", operator: "In", values: [2] } });
            assert.deepEqual(rules[1], { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] });
            assert.equal(job.spec.template.spec.restartPolicy, "Never", "podFailurePolicy needs restartPolicy Never");
        });

        it("runs archaeo-train in their namespace with their identity, volumes and /dev/shm; spot only when asked", () => {
            assert.equal(job.metadata.namespace, "researcher-alice");
            assert.equal(job.spec.template.spec.serviceAccountName, "researcher");
            assert.deepEqual(args.slice(args.indexOf("--no-python"), args.indexOf("--no-python") + 2), ["--no-python", "archaeo-train"]);
            const mounts = job.spec.template.spec.containers[0].volumeMounts.map((m) => m.mountPath);
            assert.deepEqual(mounts, ["/workspace", "/home/researcher", "/data", "/mydata", "/dev/shm"]);
            assert.equal(job.spec.template.spec.volumes.find((v) => v.name === "dshm")!.emptyDir!.sizeLimit, "16Gi");
            assert.deepEqual(job.spec.template.spec.nodeSelector, { "archaeo/pool": "gpu" });
            assert.deepEqual(ddpJob({ ...p, spot: true }).job.spec.template.spec.nodeSelector, { "archaeo/pool": "gpu-batch-spot" });
            assert.equal(ddpJob({ ...p, spot: true }).job.spec.template.spec.tolerations.length, 2);
        });
    });

    describe("JupyterHub", () => {
        // z2jh 4.4.0 files/hub/jupyterhub_config.py: when singleuser.cloudMetadata.blockWithIptables is true (the
        // chart default, values.yaml) every server pod gets init container block-cloud-metadata with privileged=True,
        // run_as_user=0 and NET_ADMIN. Pod Security "baseline" forbids privileged containers and NET_ADMIN, and the
        // hub namespace enforces baseline, so each server would be refused at creation.
        it("no privileged init container in server pods: the chart's iptables metadata block is off, its NetworkPolicy blocks IMDS instead", () => {
            for (const v of sampleValues()) {
                assert.equal(v.singleuser.cloudMetadata.blockWithIptables, false);
                assert.equal(v.singleuser.networkPolicy.enabled, true);
                assert.equal(v.singleuser.networkPolicy.egressAllowRules.cloudMetadataServer, false);
            }
            assert.equal(hubNamespaceObjects({ institution: "x", stack: "s", gpuLimit: 1 }).namespace.metadata.labels["pod-security.kubernetes.io/enforce"], "baseline");
        });

        it("profiles: one GPU by default, a CPU-only one, multi-GPU when a researcher may use more", () => {
            const profiles = profileList({ gpusPerResearcher: 4, memoryGiB: 16, vcpus: 4 }) as any[];
            assert.deepEqual(profiles.map((p) => p.slug), ["gpu-1", "cpu", "gpu-4"]);
            assert.equal(profiles[0].default, true);
            for (const p of profiles.filter((x) => x.slug.startsWith("gpu"))) {
                const o = p.kubespawner_override;
                assert.equal(o.extra_resource_limits["nvidia.com/gpu"], p.slug.split("-")[1]);
                assert.deepEqual(o.tolerations[0], { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
                assert.deepEqual(o.node_selector, { "archaeo/pool": "gpu" });
            }
            assert.equal(profiles[1].kubespawner_override.extra_resource_limits, undefined);
            assert.deepEqual(profileList({ gpusPerResearcher: 1, memoryGiB: 16, vcpus: 4 }).map((p: any) => p.slug), ["gpu-1", "cpu"]);
        });

        it("values use only paths checked against z2jh 4.4.0's values.schema.yaml (tools/check-hub-values.ts)", () => {
            // Checked on 2026-11-25 with `npx tsx tools/check-hub-values.ts <z2jh 4.4.0 jupyterhub/>`: OK (again on 2026-12-07 with
            // singleuser.extraAnnotations, schema line 2298, KubeSpawner.extra_annotations; and with singleuser.events,
            // schema line 2293, KubeSpawner.events_enabled, issue 20). A value
            // path not in this list must be checked the same way before it is added here.
            const CHECKED = [
                "cull.enabled", "cull.every", "cull.maxAge", "cull.removeNamedServers", "cull.timeout", "cull.users",
                "hub.config.Authenticator.admin_users", "hub.config.Authenticator.allowed_users", "hub.config.GenericOAuthenticator.authorize_url",
                "hub.config.GenericOAuthenticator.client_id", "hub.config.GenericOAuthenticator.client_secret", "hub.config.GenericOAuthenticator.login_service",
                "hub.config.GenericOAuthenticator.oauth_callback_url", "hub.config.GenericOAuthenticator.scope", "hub.config.GenericOAuthenticator.token_url",
                "hub.config.GenericOAuthenticator.userdata_url", "hub.config.GenericOAuthenticator.username_claim", "hub.config.JupyterHub.authenticator_class",
                "hub.nodeSelector", "prePuller.continuous.enabled", "prePuller.hook.enabled", "proxy.chp.nodeSelector", "proxy.https.enabled", "proxy.https.type",
                "proxy.service.annotations", "proxy.service.loadBalancerSourceRanges", "proxy.service.type", "scheduling.podPriority.enabled",
                "scheduling.userPlaceholder.enabled", "scheduling.userScheduler.enabled", "singleuser.allowPrivilegeEscalation", "singleuser.cloudMetadata.blockWithIptables", "singleuser.cmd",
                "singleuser.defaultUrl", "singleuser.events", "singleuser.extraAnnotations", "singleuser.extraContainers", "singleuser.extraEnv", "singleuser.extraPodConfig.shareProcessNamespace", "singleuser.fsGid", "singleuser.image.name", "singleuser.image.tag",
                "singleuser.networkPolicy.egressAllowRules.cloudMetadataServer", "singleuser.networkPolicy.enabled", "singleuser.profileList", "singleuser.serviceAccountName", "singleuser.startTimeout",
                "singleuser.storage.extraVolumeMounts", "singleuser.storage.extraVolumes", "singleuser.storage.type", "singleuser.uid",
            ];
            const leaves = (o: unknown, prefix: string, out: Set<string>): Set<string> => {
                const free = ["annotations", "extraAnnotations", "nodeSelector", "extraEnv", "scope", "allowed_users", "admin_users", "profileList", "extraContainers", "extraVolumes", "extraVolumeMounts", "loadBalancerSourceRanges"];
                if (o && typeof o === "object" && !Array.isArray(o) && !free.some((f) => prefix.endsWith(f))) for (const [k, v] of Object.entries(o)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
                else out.add(prefix);
                return out;
            };
            const used = new Set<string>();
            for (const v of sampleValues()) leaves(v, "", used);
            assert.deepEqual([...used].sort(), [...CHECKED].sort());
        });

        it("the single-user image is the stack image by tag and digest (the chart joins name:tag; the runtime pulls by digest)", () => {
            const v = sampleValues()[0];
            assert.match(`${v.singleuser.image.name}:${v.singleuser.image.tag}`, /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/\S+:ctx-[0-9a-f]{16}@sha256:[0-9a-f]{64}$/);
            assert.deepEqual(hubImage("repo.example/x@sha256:abc", "ctx-1"), { name: "repo.example/x", tag: "ctx-1@sha256:abc" });
            assert.equal(v.singleuser.extraContainers[0].image, `${v.singleuser.image.name}:${v.singleuser.image.tag}`, "the SSH sidecar runs the same image");
        });

        // jupyterhub-idle-culler handle_server: a server idle for `timeout` is culled; with `--max-age` (z2jh cull.maxAge)
        // one whose age since the hub's `started` reached it is culled even while active.
        it("maxSessionHours is the culler's maxAge, and the image's extension learns it to warn an hour ahead (server and SSH sidecar)", () => {
            assert.deepEqual(cullValues({ cullMinutes: 45, maxSessionHours: 0 }), { enabled: true, timeout: 2700, every: 300, users: false, removeNamedServers: false, maxAge: 0 });
            assert.deepEqual(cullValues({ cullMinutes: 45, maxSessionHours: 12 }), { enabled: true, timeout: 2700, every: 300, users: false, removeNamedServers: false, maxAge: 43200 });
            assert.deepEqual(cullValues({ cullMinutes: 0, maxSessionHours: 12 }), { enabled: true, timeout: 43200, every: 300, users: false, removeNamedServers: false, maxAge: 43200 }, "idle culling off: only the age");
            assert.deepEqual(cullValues({ cullMinutes: 0, maxSessionHours: 0 }), { enabled: false });
            assert.deepEqual(sessionEnv({ maxSessionHours: 0 }), {}, "nothing changes for a stack without a maximum");
            const v = sampleValues()[0];
            const values = jupyterhubValues({
                image: v.singleuser.image, researcherIds: ["alice"], publicUrl: "http://localhost:8000", cullMinutes: 60, maxSessionHours: 12, gpusPerResearcher: 1, memoryGiB: 16, vcpus: 4,
                auth: { authorizeUrl: "https://x/authorize", tokenUrl: "https://x/token", userdataUrl: "https://x/userInfo", usernameClaim: "username", clientId: "abc", loginService: "x" },
                env: { ARCHAEO_IMAGE: "x", AWS_REGION: "us-west-2" },
            }) as any;
            assert.equal(values.cull.maxAge, 43200);
            assert.equal(values.singleuser.extraEnv.ARCHAEO_MAX_SESSION_HOURS, "12");
            assert.equal(values.singleuser.extraEnv.ARCHAEO_SESSION_LIMIT_BY, "hub");
            assert.ok(values.singleuser.extraContainers[0].env.some((e: any) => e.name === "ARCHAEO_MAX_SESSION_HOURS" && e.value === "12"), "the sidecar's sessions run archaeo-extend");
            assert.equal(v.singleuser.extraEnv.ARCHAEO_MAX_SESSION_HOURS, undefined);
        });
    });

    describe("GPU isolation: a pod gets only the GPUs the device plugin gave it", () => {
        // NVIDIA/k8s-device-plugin v0.19.0 api/config/v1/consts.go: the strategies the plugin accepts (strategy.go
        // NewDeviceListStrategies refuses any other). Quoted so a typo or a strategy the chart lacks fails here.
        const PLUGIN_STRATEGIES = ["envvar", "volume-mounts", "cdi-annotations", "cdi-cri"];
        const nodes = (cache?: string) => karpenterObjects({ clusterName: "c", securityGroupId: "sg-1", nodeRoleName: "r", keyArn: "arn:aws:kms:us-west-2:123456789012:key/k", gpuFamilies: ["g6"],
            gpuLimits: { onDemand: 4, spot: 0 }, consolidateAfterMinutes: 10, spotForBatch: false, nodeAmiVersion: "v20260714", upgradeWindow: { day: 0, startMinute: 120, minutes: 240 }, tags: {},
            ...(cache ? { imageCacheSnapshotId: cache } : {}) }).nodeClasses;

        it("the device plugin passes allocated GPUs as volume mounts (not NVIDIA_VISIBLE_DEVICES, which any pod can set)", () => {
            for (const spot of [true, false]) {
                const v = devicePluginValues(spot);
                assert.equal(v.deviceListStrategy, "volume-mounts", "the toolkit flags below only isolate GPUs with volume-mounts");
                assert.ok(PLUGIN_STRATEGIES.includes(v.deviceListStrategy), "a strategy the v0.19.0 plugin accepts");
            }
            assert.equal(DEVICE_LIST_STRATEGY, "volume-mounts");
        });

        it("every GPU node class sets the toolkit's flags in its userData (with and without the image cache); CPU nodes have none", () => {
            for (const [gpu, cpu] of [nodes(), nodes("snap-0123456789abcdef0")]) {
                const ud = String(gpu.spec.userData);
                assert.ok(ud.startsWith(TOOLKIT_USER_DATA), "the flags are set first, before anything else on the node");
                assert.match(ud, /--set accept-nvidia-visible-devices-envvar-when-unprivileged=false \\\n/);
                assert.match(ud, /--set accept-nvidia-visible-devices-as-volume-mounts=true \\\n/);
                assert.equal("userData" in cpu.spec, false);
            }
            const cached = String(nodes("snap-0123456789abcdef0")[0].spec.userData);
            assert.equal(cached, gpuNodeUserData(IMAGE_CACHE_USER_DATA));
            assert.equal(cached.match(/^#!/gm)?.length, 1, "one script: the cache mount's body follows the flags");
            assert.ok(cached.includes(IMAGE_CACHE_USER_DATA.replace(/^#!\/bin\/bash\n/, "")));
            assert.deepEqual(TOOLKIT_FLAGS, { "accept-nvidia-visible-devices-envvar-when-unprivileged": false, "accept-nvidia-visible-devices-as-volume-mounts": true });
            // The pack keeps its own copy (it loads nothing from infra/): the same flags and values.
            assert.deepEqual(Object.fromEntries(GPU_TOOLKIT_FLAGS), Object.fromEntries(Object.entries(TOOLKIT_FLAGS).map(([k, v]) => [k, String(v)])));
            assert.deepEqual(missingToolkitFlags(TOOLKIT_USER_DATA), [], "the pack reads the program's script as setting every flag");
            // ... and the reviewed toolkit block line for line, with and without the image cache's script after it.
            assert.ok(TOOLKIT_USER_DATA.includes(`\n${GPU_TOOLKIT_SCRIPT.join("\n")}\n`), "the pack's GPU_TOOLKIT_SCRIPT is the program's block");
            assert.equal(toolkitScriptProblem(TOOLKIT_USER_DATA), undefined);
            assert.equal(toolkitScriptProblem(cached), undefined);
        });

        describe("the node script, run with a stand-in nvidia-ctk and systemctl", () => {
            // The stand-ins record their arguments; nvidia-ctk writes what the real one would (key = value at the top
            // level: cmd/nvidia-ctk/config/config.go saves the toml), or fails, or writes a wrong value.
            const runScript = (script: string, ctk: string) => {
                const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-ud-"));
                const cfg = path.join(dir, "config.toml");
                fs.writeFileSync(cfg, "#accept-nvidia-visible-devices-as-volume-mounts = false\n[nvidia-container-runtime]\nmode = \"auto\"\n");
                fs.writeFileSync(path.join(dir, "nvidia-ctk"), `#!/bin/bash\necho "$@" >> ${dir}/ctk.log\n${ctk}\n`, { mode: 0o755 });
                fs.writeFileSync(path.join(dir, "systemctl"), `#!/bin/bash\necho "$@" >> ${dir}/systemctl.log\n`, { mode: 0o755 });
                fs.writeFileSync(path.join(dir, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
                const f = path.join(dir, "ud.sh");
                fs.writeFileSync(f, script.split(TOOLKIT_CONFIG).join(cfg).split("/dev/xvdb").join(`${dir}/none`));
                const r = spawnSync("bash", [f], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
                const read = (n: string) => fs.existsSync(path.join(dir, n)) ? fs.readFileSync(path.join(dir, n), "utf8") : "";
                return { ...r, ctk: read("ctk.log"), systemctl: read("systemctl.log"), cfg };
            };
            const writes = (a: string, b: string) => [
                "[ \"$4\" = --in-place ] || exit 9",
                "f=\"${3#--config-file=}\"",
                `{ printf 'accept-nvidia-visible-devices-envvar-when-unprivileged = %s\\naccept-nvidia-visible-devices-as-volume-mounts = %s\\n' ${a} ${b}; cat "$f"; } > "$f.new" && mv "$f.new" "$f"`,
            ].join("\n");

            it("passes shellcheck, alone and with the cache mount", () => {
                for (const s of [gpuNodeUserData(), gpuNodeUserData(IMAGE_CACHE_USER_DATA)]) {
                    const f = tmpFile("gpu-ud.sh", s);
                    const sc = spawnSync("shellcheck", ["-s", "bash", f], { encoding: "utf8" });
                    assert.equal(sc.status, 0, sc.stdout + sc.stderr);
                }
            });

            it("sets both flags with nvidia-ctk --set in place, and the node joins", () => {
                const r = runScript(gpuNodeUserData(IMAGE_CACHE_USER_DATA), writes("false", "true"));
                assert.equal(r.status, 0, r.stderr);
                assert.match(r.ctk, /^--quiet config --config-file=\S+config\.toml --in-place --set accept-nvidia-visible-devices-envvar-when-unprivileged=false --set accept-nvidia-visible-devices-as-volume-mounts=true\n$/);
                assert.equal(r.systemctl, "", "kubelet left alone");
                assert.match(r.stdout, /takes GPUs from the device plugin's mounts only/);
                assert.match(r.stderr, /image cache .*none not mounted/, "the cache part still runs after the flags");
            });

            it("fails closed: nvidia-ctk failing, or the file still accepting the variable, masks kubelet for this boot", () => {
                for (const ctk of ["exit 1", writes("true", "true"), writes("false", "false"), "true"]) {
                    const r = runScript(gpuNodeUserData(), ctk);
                    assert.equal(r.systemctl, "mask --runtime kubelet.service\n", ctk);
                    assert.match(r.stderr, /flags not set .*kubelet masked, this node will not join/);
                }
            });
        });

        describe("admission: no NVIDIA_* variable in hub or researcher pods (ValidatingAdmissionPolicy, evaluated by a real CEL engine)", () => {
            const { policy, binding } = gpuEnvPolicy({ labels: { a: "b" }, hubNamespace: HUB_NAMESPACE, researcherNamespacePrefix: researcherNamespace("") });
            const toMap = (v: unknown): unknown => Array.isArray(v) ? v.map(toMap) : v && typeof v === "object" ? new Map(Object.entries(v).map(([k, x]) => [k, toMap(x)])) : v;
            const vars = (namespace: string, pod: Record<string, unknown>) => ({ request: toMap({ namespace, userInfo: { username: "system:serviceaccount:kube-system:job-controller" } }), object: toMap(pod) }) as never;
            const applies = (ns: string) => cel(policy.spec.matchConditions[0].expression, vars(ns, {}), { funcs: strings }) === true;
            const failing = (pod: Record<string, unknown>) => policy.spec.validations.filter((v) => cel(v.expression, vars("researcher-alice", pod), { funcs: strings }) !== true).map((v) => v.message);
            const allowed = (pod: Record<string, unknown>) => failing(pod).length === 0;
            const pod = (c: Record<string, unknown>, list = "containers", meta: Record<string, unknown> = {}) => ({ metadata: { name: "p", ...meta }, spec: { containers: [{ name: "main", image: "i" }], ...(list === "containers" ? { containers: [{ name: "main", image: "i", ...c }] } : { [list]: [{ name: "x", image: "i", ...c }] }) } });

            it("denies NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES and any NVIDIA_* in containers, initContainers and ephemeralContainers", () => {
                for (const list of ["containers", "initContainers", "ephemeralContainers"]) {
                    for (const name of ["NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_IMEX_CHANNELS", "NVIDIA_GDS", "NVIDIA_REQUIRE_CUDA"]) {
                        assert.ok(!allowed(pod({ env: [{ name: "A", value: "1" }, { name, value: "all" }] }, list)), `${list} ${name}`);
                    }
                    assert.ok(allowed(pod({ env: [{ name: "CUDA_VISIBLE_DEVICES", value: "0" }, { name: "ARCHAEO_RESEARCHER", value: "alice" }] }, list)), `${list}: other variables pass`);
                }
                assert.deepEqual(failing(pod({ env: [{ name: "NVIDIA_VISIBLE_DEVICES", value: "all" }] })), [policy.spec.validations[0].message]);
            });

            it("denies envFrom that could form an NVIDIA_* name (no prefix, N, NVIDIA_X_) and admits a safe prefix", () => {
                const from = (prefix?: string) => pod({ envFrom: [{ configMapRef: { name: "cm" }, ...(prefix === undefined ? {} : { prefix }) }] });
                for (const p of [undefined, "", "N", "NVIDIA", "NVIDIA_", "NVIDIA_X_"]) assert.ok(!allowed(from(p)), `prefix ${JSON.stringify(p)}`);
                for (const p of ["APP_", "X"]) assert.ok(allowed(from(p)), `prefix ${p}`);
            });

            it("denies CDI device annotations; admits others", () => {
                assert.ok(!allowed(pod({}, "containers", { annotations: { "cdi.k8s.io/x": "nvidia.com/gpu=all" } })));
                assert.ok(allowed(pod({}, "containers", { annotations: { "karpenter.sh/do-not-disrupt": "true" } })));
            });

            it("admits the program's own pods: the DDP job, the hub tunnel, every server shape's env", () => {
                const job = ddpJob({ institution: "x", stack: "s", id: "alice", image: "i@sha256:1", nodes: 2, gpusPerNode: 1, memoryGiB: 16, spot: true, env: { AWS_REGION: "us-west-2" } }).job;
                assert.ok(allowed(job.spec.template as never), String(failing(job.spec.template as never)));
                const tunnel = hubTunnelObjects({ institution: "x", stack: "s", image: "repo/hub-tunnel@sha256:1" }).statefulSet;
                assert.ok(allowed(tunnel.spec.template as never));
                for (const v of sampleValues()) {
                    const env = Object.entries((v as any).singleuser.extraEnv as Record<string, string>).map(([name, value]) => ({ name, value }));
                    assert.ok(allowed({ metadata: { name: "jupyter-alice", annotations: (v as any).singleuser.extraAnnotations }, spec: { containers: [{ name: "notebook", image: "i", env }, ...(v as any).singleuser.extraContainers] } }));
                }
            });

            it("covers the hub and researcher namespaces for every requester, pods and ephemeral containers, fails closed, denies", async () => {
                assert.ok(applies("jupyterhub") && applies("researcher-alice"));
                assert.ok(!applies("kube-system"), "the device plugin itself sets NVIDIA_VISIBLE_DEVICES=all (privileged to the toolkit by CAP_SYS_ADMIN)");
                assert.ok(!applies("karpenter"));
                assert.deepEqual(policy.spec.matchConstraints.resourceRules[0], { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods", "pods/ephemeralcontainers"] });
                assert.deepEqual([policy.spec.failurePolicy, binding.spec.validationActions, binding.spec.policyName], ["Fail", ["Deny"], policy.metadata.name]);
                assert.equal("matchResources" in binding.spec, false, "bound in every namespace; the match condition picks them");
                const M = await models();
                validate(M, policy);
                validate(M, binding);
            });
        });
    });

    describe("network and versions", () => {
        it("carves two private and two public subnets from the VPC; the second AZ next to the first", () => {
            assert.deepEqual(carveSubnets("10.80.0.0/16"), { private: ["10.80.0.0/18", "10.80.64.0/18"], public: ["10.80.128.0/18", "10.80.192.0/18"] });
            assert.deepEqual(clusterAzs("us-west-2a"), ["us-west-2a", "us-west-2b"]);
            assert.deepEqual(clusterAzs("us-west-2c"), ["us-west-2c", "us-west-2a"]);
        });

        it("the NAT instance's user data passes cloud-init's schema check and masquerades only the VPC", () => {
            const ud = natUserData("10.80.0.0/16");
            const r = cloudInitSchema(tmpFile("nat.yaml", ud));
            assert.equal(r.status, 0, r.output);
            assert.match(ud, /net.ipv4.ip_forward = 1/);
            assert.match(ud, /-s 10.80.0.0\/16 .* -j MASQUERADE/);
        });

        it("the pinned Karpenter chart supports every Kubernetes version config accepts", () => {
            for (const v of KUBERNETES_VERSIONS) {
                assert.ok(compareVersions(v, CHARTS.karpenter.kubernetes.min) >= 0 && compareVersions(v, CHARTS.karpenter.kubernetes.max) <= 0, `Karpenter ${CHARTS.karpenter.version} does not support Kubernetes ${v}`);
            }
        });
    });
});
