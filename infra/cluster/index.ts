/**
 * Cluster mode: EKS with scale-to-zero GPU capacity and the workbench on Kubernetes, on the shared
 * foundation (key, dataset bucket, ECR image, budget, provider and tags).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { StackConfig } from "../config";
import { ClusterNetwork } from "./network";
import { EksCluster } from "./eks";
import { GpuCapacity } from "./karpenter";
import { ClusterStorage, K8sWorkbench } from "./workloads";
import { workbenchPodPolicy } from "./iam";

export const NAT_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64";

export interface ClusterFoundation {
    provider: aws.Provider;
    partition: pulumi.Output<string>;
    accountId: pulumi.Output<string>;
    keyArn: pulumi.Output<string>;
    bucketArn: pulumi.Output<string>;
    imageRef: pulumi.Output<string>;
    /** The role the workbench pods assume (created before the key so the key policy can name it). */
    workbenchRole: aws.iam.Role;
    /** The stack's standard tags, for volumes provider default tags do not reach. */
    tags: Record<string, string>;
}

export interface ClusterConnect {
    kubeconfig: string;
    start: string;
    stop: string;
    ssh: string;
    jupyterTunnel: string;
    tensorboardTunnel: string;
    jupyterUrl: string;
    tensorboardUrl: string;
    ddp: string;
}

/** Names derived from the config. Pure. */
export function clusterNames(cfg: Pick<StackConfig, "institution">) {
    return { clusterName: `archaeo-${cfg.institution}`, namespace: `archaeo-${cfg.institution}` };
}

/** The second AZ next to the configured one (a<->b, otherwise a). Pure. */
export function clusterAzs(az: string): [string, string] {
    const last = az.slice(-1);
    return [az, `${az.slice(0, -1)}${last === "a" ? "b" : "a"}`];
}

/** Commands researchers use in cluster mode. Pure. */
export function clusterConnect(a: { clusterName: string; namespace: string; region: string; accessMode: "ssm" | "cidr" }): ClusterConnect {
    const k = `kubectl -n ${a.namespace}`;
    const deployments = "deployment/jupyter deployment/sshd deployment/tensorboard";
    const lb = (svc: string) => `$(${k} get svc ${svc} -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')`;
    const exposed = a.accessMode === "cidr";
    return {
        kubeconfig: `aws eks update-kubeconfig --name ${a.clusterName} --region ${a.region}`,
        start: `${k} scale ${deployments} --replicas=1 && ${k} rollout status deployment/jupyter --timeout=15m`,
        stop: `${k} scale ${deployments} --replicas=0`,
        ssh: exposed ? `ssh -p 2222 researcher@${lb("sshd")}` : `${k} port-forward svc/sshd 2222:2222 & ssh -p 2222 researcher@localhost`,
        jupyterTunnel: exposed ? "not needed in cidr mode" : `${k} port-forward svc/jupyter 8888:8888`,
        tensorboardTunnel: exposed ? "not needed in cidr mode" : `${k} port-forward svc/tensorboard 6006:6006`,
        jupyterUrl: exposed ? `https://${lb("jupyter")}/lab` : "http://localhost:8888/lab",
        tensorboardUrl: exposed ? `https://${lb("tensorboard")}/` : "http://localhost:6006/",
        ddp: `pulumi stack output ddpJobTemplate | ${k} apply -f -`,
    };
}

export function createCluster(cfg: StackConfig, f: ClusterFoundation) {
    const c = cfg.cluster!;
    const { clusterName, namespace } = clusterNames(cfg);
    const withProvider = { providers: { aws: f.provider } };
    const natAmi = aws.ssm.getParameterOutput({ name: NAT_AMI_PARAMETER }, { provider: f.provider }).value;

    const network = new ClusterNetwork("archaeo-cluster-network", {
        vpcCidr: cfg.vpcCidr, region: cfg.region, availabilityZones: clusterAzs(cfg.availabilityZone), clusterName, natAmiId: natAmi,
        keyArn: f.keyArn, volumeTags: f.tags,
    }, withProvider);

    const eks = new EksCluster("archaeo-eks", {
        clusterName, region: cfg.region, partition: f.partition, kubernetesVersion: c.kubernetesVersion, keyArn: f.keyArn,
        vpcId: network.vpcId, privateSubnetIds: network.privateSubnetIds, apiCidrs: c.apiCidrs, adminArns: c.adminArns,
    }, withProvider);

    const k8sProvider = new k8s.Provider("archaeo-k8s", { kubeconfig: eks.kubeconfig, enableServerSideApply: true });

    new GpuCapacity("archaeo-gpu", {
        clusterName: eks.clusterName, clusterArn: eks.clusterArn, clusterNameValue: clusterName, clusterSecurityGroupId: eks.clusterSecurityGroupId, region: cfg.region, partition: f.partition,
        accountId: f.accountId, keyArn: f.keyArn, gpuFamilies: c.gpuFamilies, gpuLimit: c.gpuLimit, consolidateAfterMinutes: c.consolidateAfterMinutes,
        spotForBatch: c.spotForBatch, k8sProvider, dependsOn: eks.addonsReady,
    }, withProvider);

    new aws.iam.RolePolicy("archaeo-workbench-pods-policy", {
        role: f.workbenchRole.name,
        policy: pulumi.all([f.bucketArn, f.keyArn]).apply(([bucketArn, keyArn]) => JSON.stringify(workbenchPodPolicy({ bucketArn, keyArn }))),
    }, { provider: f.provider, parent: f.workbenchRole });
    new aws.eks.PodIdentityAssociation("archaeo-workbench-pods-identity", {
        clusterName: eks.clusterName, namespace, serviceAccount: "workbench", roleArn: f.workbenchRole.arn,
    }, { provider: f.provider, parent: f.workbenchRole });

    const storage = new ClusterStorage("archaeo-storage", {
        institution: cfg.institution, stack: cfg.stack, namespace, vpcId: network.vpcId, vpcCidr: cfg.vpcCidr, privateSubnetIds: network.privateSubnetIds,
        keyArn: f.keyArn, k8sProvider, protect: cfg.protectData, dependsOn: eks.addonsReady,
    }, withProvider);

    const workbench = new K8sWorkbench("archaeo-k8s-workbench", {
        namespace, institution: cfg.institution, stack: cfg.stack, image: f.imageRef, memoryGiB: cfg.gpu.memoryGiB, idleMinutes: cfg.autoStop.idleMinutes || 1440,
        accessMode: cfg.access.mode, accessCidrs: cfg.access.cidrs, vpcCidr: cfg.vpcCidr, acmCertificateArn: c.acmCertificateArn,
        sshPublicKeys: cfg.sshPublicKeys, k8sProvider, ddp: { nodes: c.ddp.nodes, gpusPerNode: c.ddp.gpusPerNode, spot: c.spotForBatch },
        dependsOn: [storage.namespace, storage.workspaceClaim],
    }, withProvider);

    return {
        clusterName: eks.clusterName,
        connect: clusterConnect({ clusterName, namespace, region: cfg.region, accessMode: cfg.access.mode }),
        jupyterToken: workbench.jupyterToken,
        ddpJobTemplate: workbench.ddpTemplate,
    };
}
