/** Cluster mode, whole program under the mock engine (national-heritage: three researchers, spot batch pool). */
import { strict as assert } from "assert";
import { parseConfig } from "../../infra/config";
import * as pulumi from "@pulumi/pulumi";
import { adminPrincipals } from "../../infra/cluster/eks";
import { GPU_NODE_LABELS } from "../../infra/cluster/manifests";
import { readStack } from "../../tools/stacks";
import { asObject, models, validate } from "../helpers/k8s";
import { doc, runProgram, runStack, ProgramRun } from "../helpers/program";
import { removeAndReAdd } from "../helpers/pv-binding";

/**
 * The NVIDIA device plugin chart's default node affinity (NVIDIA/k8s-device-plugin
 * deployments/helm/nvidia-device-plugin/values.yaml at tag v0.19.0): the DaemonSet lands only on nodes
 * matching one of these terms. Quoted here so the test fails if no pool satisfies it.
 */
const DEVICE_PLUGIN_DEFAULT_AFFINITY_TERMS = [
    { key: "feature.node.kubernetes.io/pci-10de.present", values: ["true"] },
    { key: "feature.node.kubernetes.io/cpu-model.vendor_id", values: ["NVIDIA"] },
    { key: "nvidia.com/gpu.present", values: ["true"] },
];

describe("cluster mode: national-heritage", () => {
    let run: ProgramRun;
    before(async () => { run = await runStack("national-heritage"); });
    const one = (t: string, n?: string) => run.engine.one(t, n);
    const key = () => String(run.outputs.kmsKeyArn);
    const cluster = () => { if (run.cfg.mode !== "cluster") throw new Error("cluster stack"); return run.cfg.cluster; };
    const releases = (name: string) => run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === name)!;

    it("builds the cluster, no workstation, no NAT gateway, no EBS workspace", () => {
        const comps = new Set(run.resources.filter((r) => !r.custom).map((r) => r.type));
        for (const t of ["archaeo:cluster:ClusterNetwork", "archaeo:cluster:EksCluster", "archaeo:cluster:GpuCapacity", "archaeo:cluster:ClusterStorage", "archaeo:cluster:JupyterHub", "archaeo:cluster:Researcher"]) assert.ok(comps.has(t), t);
        assert.ok(!comps.has("archaeo:instance:ResearcherWorkstation"));
        assert.equal(run.engine.byType("aws:ec2/natGateway:NatGateway").length, 0);
        assert.equal(run.engine.byType("aws:ebs/volume:Volume").length, 0);
    });

    it("EKS: explicit access entries (no creator bootstrap entry), STANDARD support, encrypted secrets, private + restricted endpoint, KMS logs", () => {
        const c = one("aws:eks/cluster:Cluster");
        assert.deepEqual(c.inputs.accessConfig, { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: false });
        assert.deepEqual(c.inputs.upgradePolicy, { supportType: "STANDARD" });
        assert.deepEqual(c.inputs.encryptionConfig, { resources: ["secrets"], provider: { keyArn: key() } });
        assert.deepEqual([c.inputs.vpcConfig.endpointPrivateAccess, c.inputs.vpcConfig.endpointPublicAccess, c.inputs.vpcConfig.publicAccessCidrs], [true, true, ["192.0.2.0/24"]]);
        const logs = one("aws:cloudwatch/logGroup:LogGroup", "archaeo-eks-logs").inputs;
        assert.deepEqual([logs.name, logs.kmsKeyId], [`/aws/eks/${c.inputs.name}/cluster`, key()]);
    });

    // z2jh 4.4.0 values.yaml: hub.db.type sqlite-pvc, accessModes [ReadWriteOnce] on the default (gp3, EBS) class:
    // an EBS volume lives in one AZ, so the one system node that runs the hub must always come up in that AZ.
    it("the system node group stays in one subnet (the hub's EBS-backed database is in one AZ)", () => {
        const ng = one("aws:eks/nodeGroup:NodeGroup");
        assert.equal(ng.inputs.subnetIds.length, 1);
        assert.ok(run.engine.byType("aws:ec2/subnet:Subnet").some((s) => s.state.id === ng.inputs.subnetIds[0]), "a subnet of the stack");
    });

    // Karpenter finds its region from AWS_REGION or IMDS; the system node answers IMDS at hop limit 1 only (not to
    // pods), so the chart's controller.env (values.yaml: "Additional environment variables for the controller pod")
    // carries the region (aws/karpenter-provider-aws#8219).
    it("Karpenter is told its region (IMDS is out of a pod's reach at hop limit 1)", () => {
        const k = releases("karpenter").inputs.values.controller.env;
        assert.deepEqual(k, [{ name: "AWS_REGION", value: run.cfg.region }]);
        assert.equal(one("aws:ec2/launchTemplate:LaunchTemplate").inputs.metadataOptions.httpPutResponseHopLimit, 1);
    });

    it("the cluster depends on its role's policy attachment (so destroy removes the cluster first)", () => {
        const attachment = one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "archaeo-eks-cluster-policy");
        assert.ok(one("aws:eks/cluster:Cluster").dependencies.includes(attachment.urn));
    });

    it("admins: the configured ones and the deployer, once each, cluster-admin; researchers get entries without any access policy", () => {
        const entries = run.engine.byType("aws:eks/accessEntry:AccessEntry");
        const admins = entries.filter((e) => e.name.startsWith("archaeo-eks-admin-")).map((e) => e.inputs.principalArn).sort();
        assert.deepEqual(admins, ["arn:aws:iam::123456789012:role/heritage-platform-admins", "arn:aws:iam::123456789012:user/engineer"]);
        const assoc = run.engine.byType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation");
        assert.deepEqual(assoc.map((a) => a.inputs.principalArn).sort(), admins);
        const researchers = entries.filter((e) => e.inputs.userName?.startsWith("archaeo:"));
        assert.deepEqual(researchers.map((e) => e.inputs.userName).sort(), ["archaeo:archivist", "archaeo:imaging-lead", "archaeo:ml-engineer"]);
        const k8sProvider = one("pulumi:providers:kubernetes");
        for (const a of assoc) assert.ok(k8sProvider.dependencies.includes(a.urn), "Kubernetes calls wait for the deployer's access");
    });

    it("a deployer that is also an admin gets one entry, not two (CreateAccessEntry would fail with 409)", () => {
        assert.deepEqual(adminPrincipals(["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"], "arn:aws:iam::1:role/a"), ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]);
        assert.throws(() => adminPrincipals([], "arn:aws:iam::1:root"), /root user/);
    });

    it("add-ons pinned per Kubernetes version (infra/data/eks.json) or held at creation, Mountpoint for S3 among them, Pod Identity where the driver itself calls AWS", () => {
        // Spelled out, not infra's CORE_ADDONS: the program registers one add-on per entry of that list.
        const expected = ["aws-ebs-csi-driver", "aws-efs-csi-driver", "aws-mountpoint-s3-csi-driver", "coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"];
        const addons = run.engine.byType("aws:eks/addon:Addon");
        assert.deepEqual(addons.map((a) => a.inputs.addonName).sort(), expected);
        // Pinned ones need no lookup; the others are looked up once (EKS's default at creation) and then held (ignoreChanges).
        const lookups = run.engine.invokes.filter((i) => i.token === "aws:eks/getAddonVersion:getAddonVersion");
        const held = addons.filter((a) => a.ignoreChanges.includes("addonVersion")).map((a) => a.inputs.addonName).sort();
        assert.deepEqual(lookups.map((i) => i.args.addonName).sort(), held);
        assert.ok(lookups.every((i) => i.args.mostRecent === false && i.args.kubernetesVersion === "1.35"));
        assert.deepEqual(addons.filter((a) => a.inputs.podIdentityAssociations).map((a) => a.inputs.addonName).sort(), ["aws-ebs-csi-driver", "aws-efs-csi-driver", "vpc-cni"]);
    });

    it("every instance and volume the stack causes carries the standard tags: system launch template and Karpenter node classes", () => {
        const tags = JSON.parse(one("pulumi:providers:aws").inputs.defaultTags).tags;
        const lt = one("aws:ec2/launchTemplate:LaunchTemplate").inputs;
        for (const type of ["instance", "volume"]) {
            const spec = lt.tagSpecifications.find((s: any) => s.resourceType === type);
            for (const [k, v] of Object.entries(tags)) assert.equal(spec.tags[k], v, `${type} ${k}`);
        }
        const classes = run.engine.byType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass");
        assert.equal(classes.length, 2);
        for (const nc of classes) for (const [k, v] of Object.entries(tags)) assert.equal(nc.inputs.spec.tags[k], v, `${nc.name} ${k}`);
    });

    it("the NVIDIA device plugin lands on every GPU node: each GPU pool satisfies the chart's default affinity and the plugin tolerates its taints", () => {
        const pools = run.engine.byType("kubernetes:karpenter.sh/v1:NodePool");
        const gpuPools = pools.filter((p) => p.inputs.spec.template.spec.taints.some((t: any) => t.key === "nvidia.com/gpu"));
        assert.deepEqual(gpuPools.map((p) => p.inputs.metadata.name).sort(), ["gpu", "gpu-batch-spot"]);
        const plugin = releases("nvidia-device-plugin").inputs.values;
        assert.equal(plugin.affinity, undefined, "the chart's own affinity is kept");
        assert.equal(plugin.deviceListStrategy, "volume-mounts", "GPUs passed as mounts: the nodes' toolkit ignores NVIDIA_VISIBLE_DEVICES from unprivileged pods");
        const gpuClass = run.engine.byType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").find((nc) => nc.inputs.metadata.name === "gpu")!;
        assert.match(String(gpuClass.inputs.spec.userData), /--set accept-nvidia-visible-devices-envvar-when-unprivileged=false/);
        const vap = run.engine.byType("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy").find((r) => r.inputs.metadata.name === "archaeo-no-toolkit-env");
        assert.ok(vap, "the NVIDIA_* admission policy is deployed");
        assert.ok(run.engine.byType("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding").some((r) => r.inputs.spec.policyName === "archaeo-no-toolkit-env"));
        for (const p of gpuPools) {
            const labels = p.inputs.spec.template.metadata.labels;
            assert.ok(DEVICE_PLUGIN_DEFAULT_AFFINITY_TERMS.some((t) => t.values.includes(labels[t.key])), `${p.name}: no default-affinity term matches ${JSON.stringify(labels)}`);
            for (const taint of p.inputs.spec.template.spec.taints) {
                assert.ok(plugin.tolerations.some((t: any) => t.key === taint.key && t.operator === "Exists" && t.effect === taint.effect), `${p.name}: ${taint.key} not tolerated`);
            }
        }
        assert.deepEqual(GPU_NODE_LABELS, { "nvidia.com/gpu.present": "true" });
        const cpu = pools.find((p) => p.inputs.metadata.name === "cpu")!;
        assert.deepEqual(cpu.inputs.spec.template.spec.taints, [], "CPU-only servers need no GPU node");
    });

    it("Karpenter reads its key-encrypted interruption queue: kms:Decrypt through SQS on that queue", () => {
        const queue = one("aws:sqs/queue:Queue");
        assert.equal(queue.inputs.kmsMasterKeyId, key());
        const policy = doc(one("aws:iam/rolePolicy:RolePolicy", "archaeo-gpu-controller-policy").inputs.policy);
        const decrypt = policy.Statement.find((s: any) => s.Sid === "InterruptionQueueDecrypt");
        assert.deepEqual([decrypt.Action, decrypt.Resource, decrypt.Condition.StringEquals["kms:ViaService"], decrypt.Condition.StringEquals["kms:EncryptionContext:aws:sqs:arn"]], ["kms:Decrypt", key(), "sqs.us-west-2.amazonaws.com", queue.state.arn]);
        const keyPolicy = doc(one("aws:kms/key:Key").inputs.policy);
        assert.ok(keyPolicy.Statement.some((s: any) => s.Principal?.Service === "events.amazonaws.com" && s.Condition.StringEquals["aws:SourceAccount"] === "123456789012"));
        const queuePolicy = doc(one("aws:sqs/queuePolicy:QueuePolicy").inputs.policy);
        assert.deepEqual(queuePolicy.Statement[0].Principal, { Service: "events.amazonaws.com" });
    });

    it("homes: protected encrypted EFS, an access point per researcher at /researchers/<id> as uid 1000, daily AWS Backup in a KMS vault", () => {
        const efs = one("aws:efs/fileSystem:FileSystem");
        assert.deepEqual([efs.inputs.encrypted, efs.inputs.kmsKeyId, efs.protect, efs.retainOnDelete], [true, key(), true, true]);
        const aps = run.engine.byType("aws:efs/accessPoint:AccessPoint");
        assert.deepEqual(aps.map((a) => a.inputs.rootDirectory.path).sort(), ["/researchers/archivist", "/researchers/imaging-lead", "/researchers/ml-engineer"]);
        assert.ok(aps.every((a) => a.inputs.posixUser.uid === 1000 && a.inputs.rootDirectory.creationInfo.permissions === "0700"));
        const vault = one("aws:backup/vault:Vault");
        assert.deepEqual([vault.inputs.kmsKeyArn, vault.protect], [key(), true]);
        const plan = one("aws:backup/plan:Plan").inputs.rules[0];
        assert.deepEqual([plan.lifecycle.deleteAfter, plan.copyActions], [14, undefined]);
        assert.deepEqual(one("aws:backup/selection:Selection").inputs.resources, [efs.state.arn]);
    });

    // Issue 17: a researcher removed and re-added got claims stuck Pending (retained PVs stay Released with the old
    // claim's uid). Their recorded PVs and claims, run through Kubernetes' binding rules (test/helpers/pv-binding.ts).
    it("a researcher removed and re-added gets every claim bound again, to the same access point path and prefixes", () => {
        const pvs = run.engine.byType("kubernetes:core/v1:PersistentVolume");
        const pvcs = run.engine.byType("kubernetes:core/v1:PersistentVolumeClaim");
        for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
            const mine = pvs.filter((p) => p.inputs.metadata.labels["archaeo/researcher"] === id);
            const outcome = removeAndReAdd(mine, pvcs);
            assert.equal(Object.keys(outcome.claims).length, 6);
            for (const [pv, phase] of Object.entries(outcome.claims)) assert.equal(phase, "Bound", `${id}: ${pv} after remove + re-add`);
        }
        // The data outlives the pointers: the file system (and so /researchers/<id>) is protected and retained.
        const efs = one("aws:efs/fileSystem:FileSystem");
        assert.deepEqual([efs.protect, efs.retainOnDelete], [true, true]);
    });

    // Issue 17: with spot batch on, each GPU NodePool had the whole gpuLimit (16 GPUs where 8 were promised).
    it("the GPU NodePools' limits add up to gpuLimit: on demand and spot split it", () => {
        const pools = run.engine.byType("kubernetes:karpenter.sh/v1:NodePool");
        const gpus = pools.map((p) => Number(p.inputs.spec.limits["nvidia.com/gpu"] ?? 0));
        assert.equal(gpus.reduce((a, b) => a + b, 0), cluster().gpuLimit);
        const spot = pools.find((p) => p.inputs.metadata.name === "gpu-batch-spot")!;
        assert.equal(spot.inputs.spec.limits["nvidia.com/gpu"], String(cluster().gpuLimits.spot));
    });

    // Issue 17: every running server was evicted whenever AWS shipped a node AMI (al2023@latest drifts every node).
    it("nodes boot a pinned AMI release, drift only in the upgrade window, and servers carry karpenter.sh/do-not-disrupt", () => {
        for (const nc of run.engine.byType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")) assert.deepEqual(nc.inputs.spec.amiSelectorTerms, [{ alias: `al2023@${cluster().nodeAmiVersion}` }]);
        assert.match(cluster().nodeAmiVersion, /^v\d{8}$/);
        for (const p of run.engine.byType("kubernetes:karpenter.sh/v1:NodePool")) {
            assert.deepEqual(p.inputs.spec.disruption.budgets, [{ nodes: "10%" }, { nodes: "0", reasons: ["Drifted"], schedule: "0 6 * * 0", duration: "164h" }], p.name);
        }
        assert.deepEqual(releases("jupyterhub").inputs.values.singleuser.extraAnnotations, { "karpenter.sh/do-not-disrupt": "true" });
    });

    it("each researcher's PVs point at their own access point and S3 prefix, with the pod's identity", () => {
        const pvs = run.engine.byType("kubernetes:core/v1:PersistentVolume");
        const aps = run.engine.byType("aws:efs/accessPoint:AccessPoint");
        for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
            const mine = pvs.filter((p) => p.inputs.metadata.labels["archaeo/researcher"] === id);
            assert.equal(mine.length, 6, `${id}: home, mydata and datasets in the hub namespace (their server) and in theirs (their jobs)`);
            const ap = aps.find((a) => a.inputs.rootDirectory.path === `/researchers/${id}`)!;
            for (const pv of mine.filter((p) => p.inputs.spec.csi.driver === "efs.csi.aws.com")) assert.ok(pv.inputs.spec.csi.volumeHandle.endsWith(`::${ap.id}`), pv.name);
            for (const pv of mine.filter((p) => p.inputs.spec.csi.driver === "s3.csi.aws.com")) {
                assert.equal(pv.inputs.spec.csi.volumeAttributes.authenticationSource, "pod");
                const prefix = pv.inputs.spec.mountOptions.find((o: string) => o.startsWith("prefix "));
                assert.ok(prefix === `prefix researchers/${id}/` || (prefix === "prefix datasets/" && pv.inputs.spec.mountOptions.includes("read-only")), `${pv.name}: ${prefix}`);
            }
            // Pointers, not data: deleted with their claims (a retained PV stays Released with the old claim's uid and a
            // re-added researcher's claims never bind: test/day-two.test.ts); Retain keeps the EFS/S3 data either way.
            assert.ok(pvs.every((p) => !p.retainOnDelete && p.inputs.spec.persistentVolumeReclaimPolicy === "Retain" && p.inputs.spec.claimRef.uid === undefined), "PVs deleted with their researcher, reclaim Retain, pre-bound by name");
        }
        const handles = pvs.map((p) => p.inputs.spec.csi.volumeHandle).filter((h: string) => !h.includes("::"));
        assert.equal(new Set(handles).size, handles.length, "S3 volume handles are unique in the cluster");
    });

    // KubeSpawner 7.0.0 (spawner.py get_pod_manifest, _expand_all) expands {username} in volumes, volume
    // mounts, service_account and extra_containers, then creates the pod in the hub namespace: every
    // claim, ConfigMap and service account it names must exist there, or the server never starts.
    it("every object a researcher's server pod names exists in the hub namespace once {username} is expanded", () => {
        const v = releases("jupyterhub").inputs.values.singleuser;
        const inHub = (type: string) => new Set(run.engine.byType(type).filter((r) => r.inputs.metadata.namespace === "jupyterhub").map((r) => r.inputs.metadata.name));
        const [claims, maps, accounts] = [inHub("kubernetes:core/v1:PersistentVolumeClaim"), inHub("kubernetes:core/v1:ConfigMap"), inHub("kubernetes:core/v1:ServiceAccount")];
        const volumes = v.storage.extraVolumes as any[];
        for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
            const x = (s: string) => s.replace(/\{username\}/g, id);
            for (const vol of volumes) {
                if (vol.persistentVolumeClaim) assert.ok(claims.has(x(vol.persistentVolumeClaim.claimName)), `${id}: claim ${x(vol.persistentVolumeClaim.claimName)}`);
                if (vol.configMap) assert.ok(maps.has(x(vol.configMap.name)), `${id}: ConfigMap ${x(vol.configMap.name)}`);
            }
            assert.ok(accounts.has(x(v.serviceAccountName)), `${id}: service account ${x(v.serviceAccountName)}`);
        }
        const names = new Set(volumes.map((vol) => vol.name));
        for (const m of [...v.storage.extraVolumeMounts, ...v.extraContainers.flatMap((c: any) => c.volumeMounts)]) assert.ok(names.has(m.name), `mount of an undeclared volume ${m.name}`);
    });

    it("Pod Identity maps each researcher's server and job service accounts to their own pods role", () => {
        const assoc = run.engine.byType("aws:eks/podIdentityAssociation:PodIdentityAssociation").filter((a) => a.inputs.tags?.researcher);
        assert.deepEqual(assoc.map((a) => `${a.inputs.namespace}/${a.inputs.serviceAccount}`).sort(), [
            "jupyterhub/researcher-archivist", "jupyterhub/researcher-imaging-lead", "jupyterhub/researcher-ml-engineer",
            "researcher-archivist/researcher", "researcher-imaging-lead/researcher", "researcher-ml-engineer/researcher",
        ]);
        // The hub runs each server as serviceAccountName with {username} expanded (KubeSpawner 7.0.0 spawner.py:
        // service_account=self._expand_all(self.service_account)); the DDP Job names its SA directly.
        const values = releases("jupyterhub").inputs.values;
        for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
            const sa = values.singleuser.serviceAccountName.replace("{username}", id);
            assert.ok(assoc.some((a) => a.inputs.namespace === "jupyterhub" && a.inputs.serviceAccount === sa && a.inputs.tags.researcher === id), `${id}'s server SA ${sa} has no association`);
            const job = JSON.parse((run.outputs.researchers as any)[id].ddpJobTemplate.split("\n---\n")[1]);
            assert.ok(assoc.some((a) => a.inputs.namespace === job.metadata.namespace && a.inputs.serviceAccount === job.spec.template.spec.serviceAccountName && a.inputs.tags.researcher === id));
            const sas = run.engine.byType("kubernetes:core/v1:ServiceAccount").map((r) => `${r.inputs.metadata.namespace}/${r.inputs.metadata.name}`);
            assert.ok(sas.includes(`jupyterhub/${sa}`) && sas.includes(`${job.metadata.namespace}/${job.spec.template.spec.serviceAccountName}`), "the service accounts exist");
        }
        for (const a of assoc) {
            const role = run.engine.byType("aws:iam/role:Role").find((r) => r.state.arn === a.inputs.roleArn)!;
            assert.equal(role.inputs.tags["archaeo-pods-of"], a.inputs.tags.researcher);
        }
    });

    it("hub namespace: each researcher gets and port-forwards only to their own server and the hub tunnel (no shared Role, no list)", () => {
        // The budget enforcer's Role there (delete of these servers only) is test/cluster/budget-enforcer.test.ts's.
        const roles = run.engine.byType("kubernetes:rbac.authorization.k8s.io/v1:Role").filter((r) => r.inputs.metadata.namespace === "jupyterhub" && r.inputs.metadata.name !== "archaeo-budget-enforcer");
        assert.deepEqual(roles.map((r) => r.inputs.metadata.name).sort(), ["researcher-archivist", "researcher-imaging-lead", "researcher-ml-engineer"]);
        for (const role of roles) {
            const id = role.inputs.metadata.name.replace(/^researcher-/, "");
            for (const rule of role.inputs.rules) assert.deepEqual([rule.resourceNames, rule.verbs.filter((v: string) => v !== "get" && v !== "create")], [[`jupyter-${id}`, "hub-tunnel-0"], []]);
            const binding = run.engine.byType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").find((b) => b.inputs.metadata.namespace === "jupyterhub" && b.inputs.roleRef.name === role.inputs.metadata.name)!;
            assert.deepEqual(binding.inputs.subjects.map((x: any) => x.name), [`archaeo:${id}`]);
        }
        const tunnel = one("kubernetes:apps/v1:StatefulSet");
        assert.deepEqual([tunnel.inputs.metadata.namespace, tunnel.inputs.metadata.name], ["jupyterhub", "hub-tunnel"]);
    });

    it("JupyterHub: pinned chart, per-person Cognito login with MFA, only the researchers, the stack image by digest, non-root, culling, a GPU quota", () => {
        const hub = releases("jupyterhub");
        assert.deepEqual([hub.inputs.chart, hub.inputs.version, hub.inputs.repositoryOpts.repo, hub.inputs.namespace], ["jupyterhub", "4.4.0", "https://hub.jupyter.org/helm-chart/", "jupyterhub"]);
        assert.ok(hub.secretInputs.includes("values"), "the values hold the OAuth client secret: kept secret in state");
        const v = hub.inputs.values;
        assert.equal(v.hub.config.JupyterHub.authenticator_class, "generic-oauth");
        assert.deepEqual(v.hub.config.Authenticator.allowed_users, ["imaging-lead", "ml-engineer", "archivist"]);
        assert.match(v.hub.config.GenericOAuthenticator.authorize_url, /^https:\/\/archaeo-national-heritage-.*\.auth\.us-west-2\.amazoncognito\.com\/oauth2\/authorize$/);
        assert.match(v.hub.config.GenericOAuthenticator.client_secret, /^mock-secret-/);
        assert.equal(`${v.singleuser.image.name}@${v.singleuser.image.tag.split("@")[1]}`, run.outputs.imageUri);
        assert.equal(v.singleuser.extraPodConfig.shareProcessNamespace, true);
        assert.deepEqual([v.singleuser.uid, v.singleuser.allowPrivilegeEscalation, v.singleuser.serviceAccountName], [1000, false, "researcher-{username}"]);
        assert.deepEqual(v.cull, { enabled: true, timeout: 45 * 60, every: 300, users: false, removeNamedServers: false, maxAge: 0 });
        assert.deepEqual(v.prePuller, { hook: { enabled: false }, continuous: { enabled: false } });
        const pool = one("aws:cognito/userPool:UserPool").inputs;
        assert.deepEqual([pool.mfaConfiguration, pool.softwareTokenMfaConfiguration.enabled, pool.adminCreateUserConfig.allowAdminCreateUserOnly], ["ON", true, true]);
        assert.deepEqual(run.engine.byType("aws:cognito/user:User").map((u) => [u.inputs.username, u.inputs.attributes.email]).sort(), [
            ["archivist", "archivist@heritage.example"], ["imaging-lead", "imaging-lead@heritage.example"], ["ml-engineer", "ml-engineer@heritage.example"],
        ]);
        const client = one("aws:cognito/userPoolClient:UserPoolClient").inputs;
        assert.deepEqual(client.callbackUrls, ["http://localhost:8000/hub/oauth_callback"]);
        const quota = run.engine.byType("kubernetes:core/v1:ResourceQuota").find((q) => q.inputs.metadata.namespace === "jupyterhub")!;
        assert.equal(quota.inputs.spec.hard["requests.nvidia.com/gpu"], String(cluster().gpuLimit));
    });

    it("every Kubernetes object validates against the Kubernetes OpenAPI schemas (kubernetes-models), the DDP templates too", async () => {
        const M = await models();
        const objects = run.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh") && r.custom).map(asObject);
        assert.ok(objects.length > 40, `${objects.length}`);
        for (const o of objects) {
            try { validate(M, o); } catch (e) { assert.fail(`${o.kind} ${o.metadata?.name}: ${(e as Error).message}`); }
        }
        for (const r of Object.values(run.outputs.researchers as Record<string, any>)) {
            for (const text of r.ddpJobTemplate.split("\n---\n")) validate(M, JSON.parse(text));
        }
        assert.throws(() => validate(M, { apiVersion: "batch/v1", kind: "Job", metadata: { name: "x" }, spec: { template: { spec: { containers: [{ name: 1 }] } } } }), "the schema check is live");
    });

    it("logical names are unique per type and plain", () => {
        const seen = new Set<string>();
        for (const r of run.resources) {
            const k = `${r.type}::${r.name}`;
            assert.ok(!seen.has(k), `duplicate ${k}`);
            seen.add(k);
            assert.ok(!r.name.includes("/"), r.name);
        }
    });

    it("outputs: the hub URL, the kubeconfig command, per researcher their profile, commands and DDP job", () => {
        const out = run.outputs as any;
        assert.equal(out.hubUrl, "http://localhost:8000");
        const r = out.researchers["ml-engineer"];
        assert.equal(r.namespace, "researcher-ml-engineer");
        assert.match(r.connect.hubTunnel, /^kubectl --context archaeo-ml-engineer -n jupyterhub port-forward pod\/hub-tunnel-0 8000:8000$/);
        assert.match(r.connect.ssh, /port-forward pod\/jupyter-ml-engineer 2222:2222 & ssh -p 2222 researcher@localhost$/);
        assert.equal(r.connect.tensorboardUrl, "http://localhost:8000/user/ml-engineer/tensorboard/");
        assert.match(r.awsProfile, /role_session_name = ml-engineer/);
        assert.match(r.ddpJobTemplate, /"namespace": "researcher-ml-engineer"/);
        // The researcher CLI's setup line (`archaeo setup`, infra/cli.ts): `archaeo open` runs connect.kubeconfig and connect.hubTunnel from it.
        const facts = JSON.parse(Buffer.from(/^archaeo setup archaeo1\.([A-Za-z0-9_-]+)$/.exec(r.cliSetup)![1], "base64url").toString("utf8"));
        assert.equal(r.connect.kubeconfig, `aws eks update-kubeconfig --profile ${facts.profile} --region ${facts.region} --name ${facts.clusterName} --alias ${facts.profile}`);
        assert.equal(r.connect.hubTunnel, `kubectl --context ${facts.profile} -n ${facts.hubNamespace} port-forward pod/${facts.hubTunnel.pod} ${facts.hubTunnel.localPort}:${facts.hubTunnel.port}`);
        assert.deepEqual([facts.mode, facts.roleArn, facts.hubUrl, facts.serverPod], ["cluster", r.roleArn, out.hubUrl, "jupyter-ml-engineer"]);
    });
});

describe("cluster mode: other shapes", () => {
    const base = readStack("national-heritage");
    const cfgWith = (o: Record<string, unknown>) => parseConfig({ ...base.raw, ...Object.fromEntries(Object.entries(o).map(([k, v]) => [`archaeo-workbench:${k}`, v])) }, { stack: "national-heritage", region: base.region });

    it("cidr access: the hub behind a TLS NLB limited to the access CIDRs, callbacks at its own name", async () => {
        const run = await runProgram(cfgWith({
            accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], hubHostname: "hub.heritage.example",
            acmCertificateArn: "arn:aws:acm:us-west-2:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        }));
        const v = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "jupyterhub")!.inputs.values;
        assert.deepEqual([v.proxy.service.type, v.proxy.service.loadBalancerSourceRanges, v.proxy.https], ["LoadBalancer", ["203.0.113.0/24"], { enabled: true, type: "offload" }]);
        assert.equal(v.proxy.service.annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"], "arn:aws:acm:us-west-2:123456789012:certificate/12345678-1234-1234-1234-123456789012");
        assert.equal(v.hub.config.GenericOAuthenticator.oauth_callback_url, "https://hub.heritage.example/hub/oauth_callback");
        assert.equal(run.engine.byType("kubernetes:apps/v1:StatefulSet").length, 0, "no hub tunnel when the hub has its own address");
        const role = run.engine.byType("kubernetes:rbac.authorization.k8s.io/v1:Role").find((r) => r.inputs.metadata.name === "researcher-archivist" && r.inputs.metadata.namespace === "jupyterhub")!;
        assert.deepEqual(role.inputs.rules[0].resourceNames, ["jupyter-archivist"]);
    });

    it("spot off: no batch pool, and the device plugin tolerates only the GPU taint", async () => {
        const run = await runProgram(cfgWith({ spotForBatch: false }));
        const pools = run.engine.byType("kubernetes:karpenter.sh/v1:NodePool").map((p) => p.inputs.metadata.name).sort();
        assert.deepEqual(pools, ["cpu", "gpu"]);
        const plugin = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "nvidia-device-plugin")!.inputs.values;
        assert.deepEqual(plugin.tolerations.map((t: any) => t.key), ["nvidia.com/gpu"]);
    });

    it("autoStopIdleMinutes 0: culling off, nothing else changes", async () => {
        const run = await runProgram(cfgWith({ autoStopIdleMinutes: 0 }));
        assert.deepEqual(run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "jupyterhub")!.inputs.values.cull, { enabled: false });
    });

    it("backups copied to a second region's vault, encrypted with that region's key", async () => {
        const run = await runProgram(cfgWith({ backupCopyRegion: "us-east-2", backupCopyKmsKeyArn: "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }));
        const vaults = run.engine.byType("aws:backup/vault:Vault");
        const copy = vaults.find((v) => v.name.endsWith("vault-copy"))!;
        assert.equal(copy.inputs.kmsKeyArn, "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        const copyProvider = run.engine.byType("pulumi:providers:aws").find((p) => p.inputs.region === "us-east-2")!;
        assert.ok(copy.provider.startsWith(copyProvider.urn));
        assert.equal(run.engine.one("aws:backup/plan:Plan").inputs.rules[0].copyActions[0].destinationVaultArn, copy.state.arn);
    });

    it("OIDC login: the institution's endpoints and the client secret from secret config", async () => {
        const cfg = cfgWith({
            clusterAuth: "oidc", oidcAuthorizeUrl: "https://login.heritage.example/auth", oidcTokenUrl: "https://login.heritage.example/token",
            oidcUserinfoUrl: "https://login.heritage.example/userinfo", oidcClientId: "jupyterhub", oidcClientSecret: "configured", oidcUsernameClaim: "upn",
        });
        // The program reads the secret itself (new pulumi.Config().requireSecret), never from the parsed config.
        pulumi.runtime.setConfig("archaeo-workbench:oidcClientSecret", "configured");
        const run = await runProgram(cfg);
        assert.equal(run.engine.byType("aws:cognito/userPool:UserPool").length, 0);
        const hub = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "jupyterhub")!;
        assert.ok(hub.secretInputs.includes("values"));
        assert.equal(hub.inputs.values.hub.config.GenericOAuthenticator.client_secret, "configured");
        const v = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "jupyterhub")!.inputs.values;
        assert.deepEqual([v.hub.config.GenericOAuthenticator.token_url, v.hub.config.GenericOAuthenticator.username_claim], ["https://login.heritage.example/token", "upn"]);
    });
});
