import { strict as assert } from "assert";
import { estimateCost } from "../infra/cost";
import { clusterAzs, clusterConnect } from "../infra/cluster";
import { carveSubnets, natUserData } from "../infra/cluster/network";
import { CORE_ADDONS } from "../infra/cluster/eks";
import { cloudInitSchema, tmpFile } from "./helpers/tools";
import { ddpJob, workbenchServices, networkPolicies, WorkbenchParams } from "../infra/cluster/manifests";
import { listStacks, readStack } from "../tools/stacks";
import { runStack, ProgramRun, RecordedResource, exampleConfig, doc } from "./helpers/program";

const clusterStacks = listStacks().filter((s) => readStack(s).raw["archaeo-workbench:mode"] === "cluster");

/** Kubernetes OpenAPI model classes (kubernetes-models is ESM-only: loaded with import()). */
async function models(): Promise<Record<string, new (o: any) => { validate(): void }>> {
    const core = await import("kubernetes-models/v1");
    const apps = await import("kubernetes-models/apps/v1");
    const batch = await import("kubernetes-models/batch/v1");
    const net = await import("kubernetes-models/networking.k8s.io/v1");
    const rbac = await import("kubernetes-models/rbac.authorization.k8s.io/v1");
    const storage = await import("kubernetes-models/storage.k8s.io/v1");
    const karpenter = await import("@kubernetes-models/karpenter/karpenter.sh/v1");
    const karpenterAws = await import("@kubernetes-models/karpenter/karpenter.k8s.aws/v1");
    return {
        "core/v1:Namespace": core.Namespace, "core/v1:Secret": core.Secret, "core/v1:ConfigMap": core.ConfigMap, "core/v1:Service": core.Service,
        "core/v1:ServiceAccount": core.ServiceAccount, "core/v1:PersistentVolumeClaim": core.PersistentVolumeClaim,
        "apps/v1:Deployment": apps.Deployment, "batch/v1:Job": batch.Job, "networking.k8s.io/v1:NetworkPolicy": net.NetworkPolicy,
        "rbac.authorization.k8s.io/v1:Role": rbac.Role, "rbac.authorization.k8s.io/v1:RoleBinding": rbac.RoleBinding,
        "storage.k8s.io/v1:StorageClass": storage.StorageClass,
        "karpenter.sh/v1:NodePool": karpenter.NodePool, "karpenter.k8s.aws/v1:EC2NodeClass": karpenterAws.EC2NodeClass,
    };
}

function asObject(r: RecordedResource): any {
    const [group, kind] = r.type.replace(/^kubernetes:/, "").split(":");
    const apiVersion = group.startsWith("core/") ? group.slice(5) : group;
    return { apiVersion, kind, ...r.inputs };
}

describe("cluster mode", () => {
    it("there is a cluster-mode institution stack", () => assert.ok(clusterStacks.length >= 1));

    for (const stack of clusterStacks) {
        describe(stack, () => {
            let run: ProgramRun;
            let M: Awaited<ReturnType<typeof models>>;
            before(async () => { run = await runStack(stack); M = await models(); });
            const one = (t: string, n?: string) => run.engine.one(t, n);
            const key = () => (run.outputs as any).kmsKeyArn as string;

            it("builds the cluster components and no workstation, no NAT gateway", () => {
                const comps = run.resources.filter((r) => !r.custom).map((r) => r.type);
                for (const t of ["archaeo:cluster:ClusterNetwork", "archaeo:cluster:EksCluster", "archaeo:cluster:GpuCapacity", "archaeo:cluster:ClusterStorage", "archaeo:cluster:K8sWorkbench", "archaeo:key:Key", "archaeo:datastore:DataStore", "archaeo:registry:ImageRegistry", "archaeo:budget:Budget"]) {
                    assert.ok(comps.includes(t), t);
                }
                assert.ok(!comps.includes("archaeo:workstation:GpuWorkstation"));
                assert.equal(run.engine.byType("aws:ec2/natGateway:NatGateway").length, 0);
                assert.equal(run.engine.byType("aws:ebs/volume:Volume").length, 0, "the workspace is on EFS");
            });

            it("network: private node subnets in two AZs, egress through an encrypted IMDSv2 NAT instance", () => {
                const subnets = run.engine.byType("aws:ec2/subnet:Subnet").map((s) => s.inputs);
                assert.deepEqual(new Set(subnets.map((s) => s.availabilityZone)).size, 2);
                const privates = subnets.filter((s) => s.tags["karpenter.sh/discovery"]);
                assert.equal(privates.length, 2);
                const nat = one("aws:ec2/instance:Instance").inputs;
                assert.deepEqual([nat.instanceType, nat.sourceDestCheck, nat.metadataOptions.httpTokens, nat.rootBlockDevice.encrypted, nat.rootBlockDevice.kmsKeyId], ["t4g.nano", false, "required", true, key()]);
                const rt = run.engine.byType("aws:ec2/routeTable:RouteTable").find((r) => r.name.endsWith("private-rt"))!;
                assert.match(rt.inputs.routes[0].networkInterfaceId, /^eni-/);
            });

            it("EKS: pinned version, API access entries, secrets encrypted with the key, private endpoint, restricted public one, KMS log group", () => {
                const c = one("aws:eks/cluster:Cluster").inputs;
                const cfg = run.cfg.cluster!;
                assert.equal(c.version, cfg.kubernetesVersion);
                assert.equal(c.accessConfig.authenticationMode, "API");
                assert.deepEqual(c.encryptionConfig, { resources: ["secrets"], provider: { keyArn: key() } });
                assert.equal(c.vpcConfig.endpointPrivateAccess, true);
                assert.equal(c.vpcConfig.endpointPublicAccess, cfg.apiCidrs.length > 0);
                assert.deepEqual(c.vpcConfig.publicAccessCidrs, cfg.apiCidrs.length ? [...cfg.apiCidrs] : undefined);
                for (const t of ["api", "audit", "authenticator"]) assert.ok(c.enabledClusterLogTypes.includes(t), t);
                const logs = one("aws:cloudwatch/logGroup:LogGroup").inputs;
                assert.deepEqual([logs.name, logs.kmsKeyId], [`/aws/eks/${c.name}/cluster`, key()]);
                const admins = run.engine.byType("aws:eks/accessEntry:AccessEntry").map((a) => a.inputs.principalArn);
                for (const a of cfg.adminArns) assert.ok(admins.includes(a), a);
                const keyPolicy = doc(one("aws:kms/key:Key").inputs.policy);
                assert.ok(keyPolicy.Statement.some((s: any) => s.Sid === "CloudWatchLogsUseKey" && s.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"].includes(`/aws/eks/${c.name}/`)));
            });

            it("addons pinned to EKS's default version for the Kubernetes version, with Pod Identity where they call AWS", () => {
                const addons = run.engine.byType("aws:eks/addon:Addon");
                assert.deepEqual(addons.map((a) => a.inputs.addonName).sort(), [...CORE_ADDONS].sort());
                for (const a of addons) assert.match(a.inputs.addonVersion, new RegExp(`k${run.cfg.cluster!.kubernetesVersion}`));
                const lookups = run.engine.invokes.filter((i) => i.token === "aws:eks/getAddonVersion:getAddonVersion");
                assert.ok(lookups.every((i) => i.args.mostRecent === false && i.args.kubernetesVersion === run.cfg.cluster!.kubernetesVersion));
                const withIdentity = addons.filter((a) => a.inputs.podIdentityAssociations).map((a) => a.inputs.addonName).sort();
                assert.deepEqual(withIdentity, ["aws-ebs-csi-driver", "aws-efs-csi-driver", "vpc-cni"]);
                assert.equal(JSON.parse(addons.find((a) => a.inputs.addonName === "vpc-cni")!.inputs.configurationValues).enableNetworkPolicy, "true");
            });

            it("system node group: one arm64 node from a launch template with an encrypted root and IMDSv2", () => {
                const ng = one("aws:eks/nodeGroup:NodeGroup").inputs;
                assert.deepEqual([ng.amiType, ng.scalingConfig.minSize, ng.scalingConfig.desiredSize, ng.capacityType], ["AL2023_ARM_64_STANDARD", 1, 1, "ON_DEMAND"]);
                const lt = one("aws:ec2/launchTemplate:LaunchTemplate").inputs;
                assert.deepEqual([lt.blockDeviceMappings[0].ebs.encrypted, lt.blockDeviceMappings[0].ebs.kmsKeyId, lt.metadataOptions.httpTokens], ["true", key(), "required"]);
            });

            it("Karpenter: pinned chart, encrypted interruption queue fed by four EventBridge rules, GPU pools that scale to zero", () => {
                const chart = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "karpenter")!.inputs;
                assert.match(chart.version, /^\d+\.\d+\.\d+$/);
                assert.equal(chart.values.settings.clusterName, one("aws:eks/cluster:Cluster").inputs.name);
                assert.equal(one("aws:sqs/queue:Queue").inputs.kmsMasterKeyId, key());
                assert.equal(run.engine.byType("aws:cloudwatch/eventTarget:EventTarget").length, 4);
                const pools = run.engine.byType("kubernetes:karpenter.sh/v1:NodePool").map((p) => p.inputs);
                assert.equal(pools.length, run.cfg.cluster!.spotForBatch ? 2 : 1);
                for (const p of pools) {
                    assert.deepEqual(p.spec.template.spec.taints[0], { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" });
                    assert.equal(p.spec.limits["nvidia.com/gpu"], String(run.cfg.cluster!.gpuLimit));
                    assert.deepEqual(p.spec.disruption, { consolidationPolicy: "WhenEmpty", consolidateAfter: `${run.cfg.cluster!.consolidateAfterMinutes}m` });
                    assert.deepEqual(p.spec.template.spec.requirements[0].values, [...run.cfg.cluster!.gpuFamilies]);
                }
                assert.deepEqual(pools[0].spec.template.spec.requirements[1].values, ["on-demand"], "interactive work never on spot");
                const nc = one("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").inputs.spec;
                assert.deepEqual([nc.blockDeviceMappings[0].ebs.encrypted, nc.blockDeviceMappings[0].ebs.kmsKeyID, nc.metadataOptions.httpTokens], [true, key(), "required"]);
                const plugin = run.engine.byType("kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === "nvidia-device-plugin")!.inputs;
                assert.equal(plugin.values.tolerations[0].key, "nvidia.com/gpu");
                const controller = doc(one("aws:iam/rolePolicy:RolePolicy", "archaeo-gpu-controller-policy").inputs.policy);
                assert.ok(controller.Statement.find((s: any) => s.Sid === "PassNodeRole").Resource.endsWith("-karpenter-node"));
            });

            it("storage: encrypted, protected EFS for a shared RWX workspace; gp3 and EFS classes Retain", () => {
                const efs = one("aws:efs/fileSystem:FileSystem");
                assert.deepEqual([efs.inputs.encrypted, efs.inputs.kmsKeyId, efs.protect, efs.retainOnDelete], [true, key(), run.cfg.protectData, run.cfg.protectData]);
                assert.equal(run.engine.byType("aws:efs/mountTarget:MountTarget").length, 2);
                const classes = run.engine.byType("kubernetes:storage.k8s.io/v1:StorageClass").map((c) => c.inputs);
                assert.ok(classes.every((c) => c.reclaimPolicy === "Retain"));
                assert.deepEqual(classes.find((c) => c.provisioner === "ebs.csi.aws.com")!.parameters, { type: "gp3", encrypted: "true", kmsKeyId: key() });
                const pvc = one("kubernetes:core/v1:PersistentVolumeClaim");
                assert.deepEqual([pvc.inputs.spec.accessModes, pvc.protect], [["ReadWriteMany"], run.cfg.protectData]);
            });

            it("workbench: non-root pods from the stack image by digest, GPU on Jupyter, /dev/shm in memory, start at zero, secret token", () => {
                const deps = run.engine.byType("kubernetes:apps/v1:Deployment");
                assert.deepEqual(deps.map((d) => d.inputs.metadata.name).sort(), ["jupyter", "sshd", "tensorboard"]);
                for (const d of deps) {
                    assert.equal(d.inputs.spec.replicas, 0);
                    assert.deepEqual(d.ignoreChanges, ["spec.replicas"]);
                    const pod = d.inputs.spec.template.spec;
                    assert.equal(pod.securityContext.runAsNonRoot, true);
                    for (const c of pod.containers) {
                        assert.equal(c.image, (run.outputs as any).imageUri);
                        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
                        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
                    }
                }
                const jupyter = deps.find((d) => d.inputs.metadata.name === "jupyter")!.inputs.spec.template.spec;
                assert.equal(jupyter.containers[0].resources.limits["nvidia.com/gpu"], "1");
                assert.deepEqual(jupyter.volumes.find((v: any) => v.name === "dshm").emptyDir.medium, "Memory");
                assert.ok(jupyter.containers.some((c: any) => c.args[0] === "idle-stop"));
                const secret = one("kubernetes:core/v1:Secret");
                assert.deepEqual(secret.secretInputs, ["stringData"]);
                assert.equal(secret.inputs.stringData.token, (run.outputs as any).jupyterToken);
                const services = run.engine.byType("kubernetes:core/v1:Service").map((s) => s.inputs.spec.type);
                assert.deepEqual(new Set(services), new Set([run.cfg.access.mode === "ssm" ? "ClusterIP" : "LoadBalancer"]));
                assert.ok(run.engine.byType("kubernetes:networking.k8s.io/v1:NetworkPolicy").some((n) => n.inputs.metadata.name === "default-deny"));
            });

            it("every Kubernetes object validates against the Kubernetes OpenAPI schemas (kubernetes-models)", () => {
                const objs = run.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh"));
                assert.ok(objs.length > 15);
                for (const r of objs) {
                    const Model = M[r.type.replace(/^kubernetes:/, "")];
                    assert.ok(Model, `no schema model for ${r.type}`);
                    assert.doesNotThrow(() => new Model(asObject(r)).validate(), `${r.type} ${r.name}`);
                }
            });

            it("the DDP template is a valid Indexed Job running torchrun across the configured nodes and GPUs", () => {
                const [svc, job] = ((run.outputs as any).ddpJobTemplate as string).split("\n---\n").map((s) => JSON.parse(s));
                new M["core/v1:Service"](svc).validate();
                new M["batch/v1:Job"](job).validate();
                const c = run.cfg.cluster!;
                assert.deepEqual([job.spec.completionMode, job.spec.completions, job.spec.parallelism], ["Indexed", c.ddp.nodes, c.ddp.nodes]);
                const ctr = job.spec.template.spec.containers[0];
                assert.ok(ctr.args.includes(`--nnodes=${c.ddp.nodes}`) && ctr.args.includes(`--nproc-per-node=${c.ddp.gpusPerNode}`));
                assert.equal(ctr.resources.limits["nvidia.com/gpu"], String(c.ddp.gpusPerNode));
                assert.equal(job.spec.template.spec.volumes.find((v: any) => v.name === "dshm").emptyDir.medium, "Memory");
            });

            it("logical names are unique per type and plain (no '/' from managed policy paths)", () => {
                assert.deepEqual(run.resources.filter((r) => r.name.includes("/")).map((r) => r.name), []);
                const keys = run.resources.map((r) => `${r.type}::${r.name}`);
                assert.equal(new Set(keys).size, keys.length);
            });

            it("idle floor from the cost model stays at or under $110/month", () => {
                const c = run.outputs.cost as ReturnType<typeof estimateCost>;
                assert.ok(c.stoppedPerMonth <= 110, `${c.stoppedPerMonth}`);
                assert.ok(c.runningPerHour > 0.5);
            });
        });
    }

    it("the schema check is live: a Deployment with a numeric container name is refused", async () => {
        const M = await models();
        assert.throws(() => new M["apps/v1:Deployment"]({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { selector: {}, template: { spec: { containers: [{ name: 1 }] } } } }).validate());
    });

    describe("pure helpers", () => {
        it("carves two private and two public subnets from the VPC", () => {
            assert.deepEqual(carveSubnets("10.80.0.0/16"), { private: ["10.80.0.0/18", "10.80.64.0/18"], public: ["10.80.128.0/18", "10.80.192.0/18"] });
            assert.deepEqual(clusterAzs("us-west-2a"), ["us-west-2a", "us-west-2b"]);
            assert.deepEqual(clusterAzs("us-west-2c"), ["us-west-2c", "us-west-2a"]);
        });

        it("cidr mode exposes NLBs only to the access CIDRs, with TLS for the web UIs, and opens the network policy for them", () => {
            const p: WorkbenchParams = { namespace: "ns", institution: "x", stack: "s", image: "i", memoryGiB: 16, idleMinutes: 60, accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], vpcCidr: "10.0.0.0/16", acmCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc" };
            const s = workbenchServices(p);
            assert.deepEqual([s.jupyter.spec.type, s.jupyter.spec.loadBalancerSourceRanges, s.jupyter.spec.ports[0].port], ["LoadBalancer", ["203.0.113.0/24"], 443]);
            assert.equal(s.jupyter.metadata.annotations!["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"], p.acmCertificateArn);
            assert.deepEqual([s.sshd.spec.ports[0].port, s.sshd.metadata.annotations!["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]], [2222, undefined]);
            assert.ok(networkPolicies(p).some((n) => n.metadata.name === "allow-access-cidrs"));
            assert.ok(!networkPolicies({ ...p, accessMode: "ssm" }).some((n) => n.metadata.name === "allow-access-cidrs"));
            const c = clusterConnect({ clusterName: "c", namespace: "ns", region: "us-east-1", accessMode: "ssm" });
            assert.equal(c.jupyterTunnel, "kubectl -n ns port-forward svc/jupyter 8888:8888");
            assert.match(c.start, /scale deployment\/jupyter deployment\/sshd deployment\/tensorboard --replicas=1/);
        });

        it("the NAT instance's user data passes cloud-init's schema check and masquerades only the VPC", () => {
            const ud = natUserData("10.80.0.0/16");
            const r = cloudInitSchema(tmpFile("nat.yaml", ud));
            assert.equal(r.status, 0, r.output);
            assert.match(ud, /net.ipv4.ip_forward = 1/);
            assert.match(ud, /-s 10.80.0.0\/16 .* -j MASQUERADE/);
        });

        it("the DDP template puts batch jobs on spot only when asked", () => {
            const base = { namespace: "ns", institution: "x", stack: "s", image: "i", nodes: 2, gpusPerNode: 4, memoryGiB: 192 };
            assert.equal(ddpJob({ ...base, spot: false }).job.spec.template.spec.nodeSelector, undefined);
            assert.deepEqual(ddpJob({ ...base, spot: true }).job.spec.template.spec.nodeSelector, { "karpenter.sh/capacity-type": "spot" });
        });

        it("instance-mode configs keep their instance cost model", () => {
            assert.equal(estimateCost(exampleConfig()).lines[0].item, "EC2 g5.xlarge (on-demand)");
        });
    });
});
