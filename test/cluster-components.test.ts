import { strict as assert } from "assert";
import * as k8s from "@pulumi/kubernetes";
import { engine, value } from "./helpers/program";
import type { MockEngine } from "../tools/mock-engine";

const KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const load = <T>(m: string): T => require(m) as T;

describe("cluster components in isolation", () => {
    let e: MockEngine;
    let provider: k8s.Provider;
    before(async () => { e = await engine(); });
    beforeEach(() => {
        e.reset();
        provider = new k8s.Provider("test-k8s", { kubeconfig: "{}" });
    });

    function children(type: string, name: string) {
        const comp = e.one(type, name);
        const kids = e.resources.filter((r) => r.parent === comp.urn);
        for (const k of kids) assert.ok(k.name.startsWith(`${name}-`), `${k.name} must be named ${name}-<role>`);
        return kids;
    }

    it("ClusterNetwork: two private and two public subnets, a NAT instance and no NAT gateway", async () => {
        const { ClusterNetwork } = load<typeof import("../infra/cluster/network")>("../infra/cluster/network");
        new ClusterNetwork("net", { vpcCidr: "10.9.0.0/16", region: "us-west-2", availabilityZones: ["us-west-2a", "us-west-2b"], clusterName: "c", natAmiId: "ami-0123456789abcdef0", keyArn: KEY, volumeTags: { institution: "x", "data-classification": "c" } });
        await e.settle();
        const kids = children("archaeo:cluster:ClusterNetwork", "net");
        assert.equal(kids.filter((k) => k.type === "aws:ec2/subnet:Subnet").length, 4);
        assert.equal(kids.filter((k) => k.type === "aws:ec2/instance:Instance").length, 1);
        assert.equal(e.byType("aws:ec2/natGateway:NatGateway").length, 0);
        assert.deepEqual(e.byType("aws:ec2/subnet:Subnet").filter((s) => s.inputs.tags["karpenter.sh/discovery"] === "c").map((s) => s.inputs.cidrBlock), ["10.9.0.0/18", "10.9.64.0/18"]);
    });

    it("EksCluster: encrypted secrets, API auth, restricted endpoint, admins, system nodes, six addons", async () => {
        const { EksCluster } = load<typeof import("../infra/cluster/eks")>("../infra/cluster/eks");
        const c = new EksCluster("eks", { clusterName: "c", region: "us-west-2", partition: "aws", kubernetesVersion: "1.35", keyArn: KEY, vpcId: "vpc-1", privateSubnetIds: ["subnet-1", "subnet-2"], apiCidrs: [], adminArns: ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:user/b"] });
        const kubeconfig = JSON.parse(await value(c.kubeconfig));
        await e.settle();
        children("archaeo:cluster:EksCluster", "eks");
        const cluster = e.one("aws:eks/cluster:Cluster").inputs;
        assert.deepEqual([cluster.vpcConfig.endpointPrivateAccess, cluster.vpcConfig.endpointPublicAccess, cluster.vpcConfig.publicAccessCidrs], [true, false, undefined]);
        assert.equal(e.byType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").length, 2);
        assert.equal(e.byType("aws:eks/addon:Addon").length, 6);
        assert.deepEqual(kubeconfig.users[0].user.exec.args.slice(0, 4), ["eks", "get-token", "--cluster-name", "c"]);
        const trust = JSON.parse(e.byType("aws:iam/role:Role").find((r) => r.name === "eks-vpc-cni-role")!.inputs.assumeRolePolicy);
        assert.deepEqual(trust.Statement[0].Principal, { Service: "pods.eks.amazonaws.com" });
    });

    it("GpuCapacity: scoped Karpenter role, encrypted queue, on-demand GPU pool only unless spot is asked", async () => {
        const { GpuCapacity } = load<typeof import("../infra/cluster/karpenter")>("../infra/cluster/karpenter");
        const args = { clusterName: "c", clusterArn: "arn:aws:eks:us-west-2:123456789012:cluster/c", clusterNameValue: "c", clusterSecurityGroupId: "sg-0123456789abcdef0", region: "us-west-2", partition: "aws", accountId: "123456789012", keyArn: KEY, gpuFamilies: ["g6"], gpuLimit: 2, consolidateAfterMinutes: 5, spotForBatch: false, k8sProvider: provider, dependsOn: [] };
        new GpuCapacity("gpu", args);
        await e.settle();
        children("archaeo:cluster:GpuCapacity", "gpu");
        assert.deepEqual(e.byType("kubernetes:karpenter.sh/v1:NodePool").map((p) => p.inputs.metadata.name), ["gpu"]);
        assert.equal(e.one("aws:sqs/queue:Queue").inputs.kmsMasterKeyId, KEY);
        const policy = JSON.parse(e.one("aws:iam/rolePolicy:RolePolicy").inputs.policy);
        const wildcards = policy.Statement.filter((s: any) => [s.Resource].flat().includes("*")).map((s: any) => s.Sid).sort();
        assert.deepEqual(wildcards, ["InstanceProfileList", "PricingReadActions", "RegionalReadActions"]);
        const mutating = policy.Statement.find((s: any) => s.Sid === "ScopedInstanceProfileActions");
        assert.equal(mutating.Condition.StringEquals["aws:ResourceTag/kubernetes.io/cluster/c"], "owned", "only profiles Karpenter made for this cluster");
        assert.deepEqual(e.one("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").inputs.spec.securityGroupSelectorTerms, [{ id: "sg-0123456789abcdef0" }]);
        e.reset();
        new GpuCapacity("gpu", { ...args, spotForBatch: true });
        await e.settle();
        assert.deepEqual(e.byType("kubernetes:karpenter.sh/v1:NodePool").map((p) => p.inputs.metadata.name).sort(), ["gpu", "gpu-batch-spot"]);
    });

    it("the pinned Karpenter chart supports every Kubernetes version config accepts", () => {
        const { CHARTS } = load<typeof import("../infra/cluster/karpenter")>("../infra/cluster/karpenter");
        const { KUBERNETES_VERSIONS } = load<typeof import("../infra/config")>("../infra/config");
        const { compareVersions } = load<typeof import("../infra/data/amis")>("../infra/data/amis");
        for (const v of KUBERNETES_VERSIONS) {
            assert.ok(compareVersions(v, CHARTS.karpenter.kubernetes.min) >= 0 && compareVersions(v, CHARTS.karpenter.kubernetes.max) <= 0, `Karpenter ${CHARTS.karpenter.version} does not support Kubernetes ${v}`);
        }
    });

    it("ClusterStorage: protected encrypted EFS, mount targets per subnet, Retain classes, protected RWX claim", async () => {
        const { ClusterStorage } = load<typeof import("../infra/cluster/workloads")>("../infra/cluster/workloads");
        new ClusterStorage("st", { institution: "x", stack: "s", namespace: "ns", vpcId: "vpc-1", vpcCidr: "10.9.0.0/16", privateSubnetIds: ["subnet-1", "subnet-2"], keyArn: KEY, k8sProvider: provider, dependsOn: [] });
        await e.settle();
        children("archaeo:cluster:ClusterStorage", "st");
        const fs = e.one("aws:efs/fileSystem:FileSystem");
        assert.deepEqual([fs.inputs.encrypted, fs.inputs.kmsKeyId, fs.protect], [true, KEY, true]);
        assert.equal(e.byType("aws:efs/mountTarget:MountTarget").length, 2);
        assert.equal(e.one("kubernetes:core/v1:PersistentVolumeClaim").protect, true);
        assert.equal(e.one("kubernetes:core/v1:Namespace").inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
    });

    it("K8sWorkbench: secret token, three Deployments at zero, default-deny, DDP template", async () => {
        const { K8sWorkbench } = load<typeof import("../infra/cluster/workloads")>("../infra/cluster/workloads");
        const image = `123456789012.dkr.ecr.us-west-2.amazonaws.com/r@sha256:${"f".repeat(64)}`;
        const w = new K8sWorkbench("wb", { namespace: "ns", institution: "x", stack: "s", image, memoryGiB: 16, idleMinutes: 30, accessMode: "ssm", accessCidrs: [], vpcCidr: "10.9.0.0/16", sshPublicKeys: ["ssh-ed25519 AAAA a@b"], k8sProvider: provider, ddp: { nodes: 3, gpusPerNode: 2, spot: false }, dependsOn: [] });
        assert.equal(await (w.jupyterToken as any).isSecret, true);
        const ddp = await value(w.ddpTemplate);
        await e.settle();
        children("archaeo:cluster:K8sWorkbench", "wb");
        assert.deepEqual(e.byType("kubernetes:apps/v1:Deployment").map((d) => d.inputs.spec.replicas), [0, 0, 0]);
        assert.ok(e.byType("kubernetes:networking.k8s.io/v1:NetworkPolicy").some((n) => n.inputs.metadata.name === "default-deny"));
        assert.match(ddp, /"--nnodes=3","--nproc-per-node=2"/);
        const idle = e.byType("kubernetes:apps/v1:Deployment").find((d) => d.inputs.metadata.name === "jupyter")!.inputs.spec.template.spec.containers[1];
        assert.deepEqual(idle.env.find((v: any) => v.name === "IDLE_MINUTES"), { name: "IDLE_MINUTES", value: "30" });
    });
});
