import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { assumeRolePolicy } from "../iam";
import { INTERRUPTION_EVENTS, interruptionQueuePolicy, karpenterControllerPolicy, podIdentityTrust } from "./iam";
import { GPU_TAINT, karpenterObjects } from "./manifests";

/**
 * Chart versions installed by this stack (pinned; bump deliberately after reading their release notes).
 * Karpenter 1.11 supports Kubernetes 1.29-1.35 (karpenter.sh compatibility matrix, release 2026-04-06);
 * the NVIDIA device plugin chart 0.19.0 was released 2026-04.
 */
export const CHARTS = {
    karpenter: { chart: "oci://public.ecr.aws/karpenter/karpenter", version: "1.11.1", kubernetes: { min: "1.29", max: "1.35" } },
    nvidiaDevicePlugin: { chart: "nvidia-device-plugin", repo: "https://nvidia.github.io/k8s-device-plugin", version: "0.19.0" },
} as const;

export interface GpuCapacityArgs {
    clusterName: pulumi.Input<string>;
    clusterArn: pulumi.Input<string>;
    /** Plain cluster name for IAM condition keys and discovery tags. */
    clusterNameValue: string;
    /** The EKS cluster security group, attached to every node Karpenter launches. */
    clusterSecurityGroupId: pulumi.Input<string>;
    region: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    keyArn: pulumi.Input<string>;
    gpuFamilies: readonly string[];
    gpuLimit: number;
    consolidateAfterMinutes: number;
    spotForBatch: boolean;
    /** Kubernetes provider of the cluster. */
    k8sProvider: k8s.Provider;
    /** Addons and the system node group: Karpenter runs on the system node. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * GPU capacity that scales to zero: Karpenter (Pod Identity role, interruption queue fed by
 * EventBridge, Helm chart on the system node), an EC2NodeClass (AL2023 NVIDIA AMI, encrypted root with
 * the stack key, IMDSv2) and GPU NodePools (on-demand for interactive work, optional spot for batch)
 * with the nvidia.com/gpu taint, a GPU limit and consolidation of empty nodes; plus the NVIDIA device
 * plugin, tolerating the taint, so new nodes advertise their GPUs.
 */
export class GpuCapacity extends pulumi.ComponentResource {
    public readonly nodeRoleArn: pulumi.Output<string>;

    constructor(name: string, args: GpuCapacityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:GpuCapacity", name, {}, opts);
        const child = { parent: this };
        const k8sOpts = { parent: this, provider: args.k8sProvider };
        const managed = (p: string) => pulumi.interpolate`arn:${args.partition}:iam::aws:policy/${p}`;

        const nodeRole = new aws.iam.Role(`${name}-node-role`, { name: `${args.clusterNameValue}-karpenter-node`, assumeRolePolicy: JSON.stringify(assumeRolePolicy("ec2.amazonaws.com")) }, child);
        ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"].forEach((p) =>
            new aws.iam.RolePolicyAttachment(`${name}-node-${p}`, { role: nodeRole.name, policyArn: managed(p) }, child));
        const nodeAccess = new aws.eks.AccessEntry(`${name}-node-access`, { clusterName: args.clusterName, principalArn: nodeRole.arn, type: "EC2_LINUX" }, child);

        const queue = new aws.sqs.Queue(`${name}-interruptions`, {
            name: args.clusterNameValue,
            messageRetentionSeconds: 300,
            kmsMasterKeyId: args.keyArn,
        }, child);
        const queuePolicy = queue.arn.apply((a) => JSON.stringify(interruptionQueuePolicy(a)));
        new aws.sqs.QueuePolicy(`${name}-interruptions-policy`, { queueUrl: queue.url, policy: queuePolicy }, child);
        for (const [event, pattern] of Object.entries(INTERRUPTION_EVENTS)) {
            const rule = new aws.cloudwatch.EventRule(`${name}-${event}`, { description: `Karpenter: ${event}`, eventPattern: JSON.stringify(pattern) }, child);
            new aws.cloudwatch.EventTarget(`${name}-${event}-target`, { rule: rule.name, arn: queue.arn }, child);
        }

        const controllerRole = new aws.iam.Role(`${name}-controller-role`, { name: `${args.clusterNameValue}-karpenter`, assumeRolePolicy: JSON.stringify(podIdentityTrust()) }, child);
        const controllerPolicy = new aws.iam.RolePolicy(`${name}-controller-policy`, {
            role: controllerRole.name,
            policy: pulumi.all([args.partition, args.accountId, args.clusterArn, nodeRole.arn, queue.arn, args.keyArn]).apply(([partition, accountId, clusterArn, nodeRoleArn, queueArn, keyArn]) =>
                JSON.stringify(karpenterControllerPolicy({ partition, region: args.region, accountId, clusterName: args.clusterNameValue, clusterArn, nodeRoleArn, queueArn, keyArn }))),
        }, child);
        const identity = new aws.eks.PodIdentityAssociation(`${name}-controller-identity`, {
            clusterName: args.clusterName, namespace: "kube-system", serviceAccount: "karpenter", roleArn: controllerRole.arn,
        }, child);

        const karpenter = new k8s.helm.v3.Release(`${name}-karpenter`, {
            name: "karpenter",
            chart: CHARTS.karpenter.chart,
            version: CHARTS.karpenter.version,
            namespace: "kube-system",
            values: {
                replicas: 1,
                settings: { clusterName: args.clusterNameValue, interruptionQueue: queue.name },
                serviceAccount: { name: "karpenter" },
                controller: { resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } } },
                nodeSelector: { "archaeo/pool": "system" },
            },
        }, { ...k8sOpts, dependsOn: [...args.dependsOn, controllerPolicy, identity, nodeAccess] as pulumi.Resource[] });

        const params = {
            clusterName: args.clusterNameValue,
            nodeRoleName: `${args.clusterNameValue}-karpenter-node`,
            gpuFamilies: args.gpuFamilies,
            gpuLimit: args.gpuLimit,
            consolidateAfterMinutes: args.consolidateAfterMinutes,
            spotForBatch: args.spotForBatch,
        };
        // The key ARN and security group are known after apply; the objects' shape is known now (no resource inside apply).
        const objects = karpenterObjects({ ...params, keyArn: "", securityGroupId: "" });
        const nodeClassSpec = pulumi.all([args.keyArn, args.clusterSecurityGroupId])
            .apply(([keyArn, securityGroupId]) => karpenterObjects({ ...params, keyArn, securityGroupId }).nodeClass.spec);
        const nodeClass = new k8s.apiextensions.CustomResource(`${name}-nodeclass`, {
            apiVersion: objects.nodeClass.apiVersion, kind: objects.nodeClass.kind, metadata: objects.nodeClass.metadata, spec: nodeClassSpec,
        }, { ...k8sOpts, dependsOn: [karpenter, nodeRole] });
        for (const pool of objects.pools) {
            new k8s.apiextensions.CustomResource(`${name}-pool-${pool.metadata.name}`, {
                apiVersion: pool.apiVersion, kind: pool.kind, metadata: pool.metadata, spec: pool.spec,
            }, { ...k8sOpts, dependsOn: [nodeClass] });
        }

        new k8s.helm.v3.Release(`${name}-nvidia-device-plugin`, {
            name: "nvidia-device-plugin",
            chart: CHARTS.nvidiaDevicePlugin.chart,
            version: CHARTS.nvidiaDevicePlugin.version,
            repositoryOpts: { repo: CHARTS.nvidiaDevicePlugin.repo },
            namespace: "kube-system",
            values: {
                tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect }],
                nodeSelector: { "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia" },
            },
        }, { ...k8sOpts, dependsOn: args.dependsOn as pulumi.Resource[] });

        this.nodeRoleArn = nodeRole.arn;
        this.registerOutputs({ nodeRoleArn: this.nodeRoleArn });
    }
}
