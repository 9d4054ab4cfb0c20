/** GPU (and CPU) capacity that scales to zero: Karpenter, its node classes and pools, and the NVIDIA device plugin. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { POOLS } from "../constants";
import { assumeRolePolicy } from "../iam";
import { INTERRUPTION_EVENTS, interruptionQueuePolicy, karpenterControllerPolicy, podIdentityTrust } from "./iam";
import { devicePluginValues, karpenterObjects } from "./manifests";
import { awsManagedPolicyArn } from "../arn";

/**
 * Chart versions installed by this stack (pinned; bump deliberately after reading their release notes).
 * Karpenter 1.11 supports Kubernetes 1.29-1.35 (karpenter.sh compatibility matrix, release 2026-04-06);
 * the NVIDIA device plugin chart 0.19.0 (NVIDIA/k8s-device-plugin tag v0.19.0); Zero to JupyterHub
 * 4.4.0 (JupyterHub 5.5.0, KubeSpawner 7.0.0, oauthenticator 17.4.0; tag 4.4.0, 2026-06-10).
 */
export const CHARTS = {
    karpenter: { chart: "oci://public.ecr.aws/karpenter/karpenter", version: "1.11.1", kubernetes: { min: "1.29", max: "1.35" } },
    nvidiaDevicePlugin: { chart: "nvidia-device-plugin", repo: "https://nvidia.github.io/k8s-device-plugin", version: "0.19.0" },
    jupyterhub: { chart: "jupyterhub", repo: "https://hub.jupyter.org/helm-chart/", version: "4.4.0", jupyterhub: "5.5.0" },
} as const;

export interface GpuCapacityArgs {
    clusterName: pulumi.Input<string>;
    clusterArn: pulumi.Input<string>;
    /** Plain cluster name for IAM condition keys and discovery tags. */
    clusterNameValue: string;
    /** Name of the interruption queue: SQS allows 1-80 of a-zA-Z0-9-_ (physicalName(cfg, ["karpenter"], 80)). */
    interruptionQueueName: string;
    roleNamePrefix: string;
    /** The EKS cluster security group, attached to every node Karpenter launches. */
    clusterSecurityGroupId: pulumi.Input<string>;
    region: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    keyArn: pulumi.Input<string>;
    gpuFamilies: readonly string[];
    /** gpuLimit split per GPU NodePool: on-demand + spot = the config's gpuLimit. */
    gpuLimits: { onDemand: number; spot: number };
    consolidateAfterMinutes: number;
    spotForBatch: boolean;
    /** EKS AL2023 AMI release of every node (alias al2023@<release>). */
    nodeAmiVersion: string;
    /** Weekly UTC window in which drifted nodes may be replaced. */
    upgradeWindow: { day: number; startMinute: number; minutes: number };
    /** The stack's standard tags, for every instance and volume Karpenter launches. */
    tags: Record<string, string>;
    /** The GPU nodes' image-cache snapshot (imageCacheSnapshotId), if any. */
    imageCacheSnapshotId?: string;
    k8sProvider: k8s.Provider;
    /** Add-ons, the system node group and the deployer's access: Karpenter runs on the system node. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * Karpenter (Pod Identity role scoped like Karpenter's published policy, interruption queue encrypted
 * with the stack key and fed by EventBridge, chart on the system node), EC2NodeClasses and NodePools
 * (on-demand GPU for servers, optional spot GPU for batch, CPU for data preparation) whose GPU limits add up
 * to gpuLimit, a pinned AMI release, drift only in the upgrade window and consolidation of empty nodes; the
 * NVIDIA device plugin on every GPU node of every pool.
 */
export class GpuCapacity extends pulumi.ComponentResource {
    public readonly nodeRoleArn: pulumi.Output<string>;
    public readonly queueArn: pulumi.Output<string>;

    constructor(name: string, args: GpuCapacityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:GpuCapacity", name, {}, opts);
        const child = { parent: this };
        const k8sOpts = { parent: this, provider: args.k8sProvider };
        const managed = (p: string) => awsManagedPolicyArn(args.partition, p);
        const nodeRoleName = `${args.roleNamePrefix}-karpenter-node`;

        const nodeRole = new aws.iam.Role(`${name}-node-role`, { name: nodeRoleName, assumeRolePolicy: JSON.stringify(assumeRolePolicy("ec2.amazonaws.com")) }, child);
        ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"].forEach((p) =>
            new aws.iam.RolePolicyAttachment(`${name}-node-${p}`, { role: nodeRole.name, policyArn: managed(p) }, child));
        const nodeAccess = new aws.eks.AccessEntry(`${name}-node-access`, { clusterName: args.clusterName, principalArn: nodeRole.arn, type: "EC2_LINUX" }, child);

        const queue = new aws.sqs.Queue(`${name}-interruptions`, {
            name: args.interruptionQueueName,
            messageRetentionSeconds: 300,
            kmsMasterKeyId: args.keyArn,
        }, child);
        new aws.sqs.QueuePolicy(`${name}-interruptions-policy`, {
            queueUrl: queue.url,
            policy: pulumi.all([queue.arn, args.accountId]).apply(([arn, accountId]) => JSON.stringify(interruptionQueuePolicy(arn, accountId))),
        }, child);
        for (const [event, pattern] of Object.entries(INTERRUPTION_EVENTS)) {
            const rule = new aws.cloudwatch.EventRule(`${name}-${event}`, { description: `Karpenter: ${event}`, eventPattern: JSON.stringify(pattern) }, child);
            new aws.cloudwatch.EventTarget(`${name}-${event}-target`, { rule: rule.name, arn: queue.arn }, child);
        }

        const controllerRole = new aws.iam.Role(`${name}-controller-role`, { name: `${args.roleNamePrefix}-karpenter`, assumeRolePolicy: JSON.stringify(podIdentityTrust()) }, child);
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
                controller: {
                    resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
                    // The region explicitly (the chart's controller.env, whose own example is AWS_REGION): without it
                    // Karpenter asks IMDS, which the system node answers only at hop limit 1, i.e. not to pods
                    // (aws/karpenter-provider-aws#8219: "panic: operation error ec2imds: GetRegion").
                    env: [{ name: "AWS_REGION", value: args.region }],
                },
                nodeSelector: { [POOLS.label]: POOLS.system },
            },
        }, { ...k8sOpts, dependsOn: [...args.dependsOn, controllerPolicy, identity, nodeAccess] as pulumi.Resource[] });

        const params = {
            clusterName: args.clusterNameValue,
            nodeRoleName,
            gpuFamilies: args.gpuFamilies,
            gpuLimits: args.gpuLimits,
            nodeAmiVersion: args.nodeAmiVersion,
            upgradeWindow: args.upgradeWindow,
            consolidateAfterMinutes: args.consolidateAfterMinutes,
            spotForBatch: args.spotForBatch,
            tags: args.tags,
            ...(args.imageCacheSnapshotId ? { imageCacheSnapshotId: args.imageCacheSnapshotId } : {}),
        };
        const objects = karpenterObjects({ ...params, keyArn: args.keyArn, securityGroupId: args.clusterSecurityGroupId });
        const nodeClasses = objects.nodeClasses.map((nc) => new k8s.apiextensions.CustomResource(`${name}-nodeclass-${nc.metadata.name}`, {
            apiVersion: nc.apiVersion, kind: nc.kind, metadata: nc.metadata, spec: nc.spec,
        }, { ...k8sOpts, dependsOn: [karpenter, nodeRole] }));
        for (const pool of objects.pools) {
            new k8s.apiextensions.CustomResource(`${name}-pool-${pool.metadata.name}`, {
                apiVersion: pool.apiVersion, kind: pool.kind, metadata: pool.metadata, spec: pool.spec,
            }, { ...k8sOpts, dependsOn: nodeClasses });
        }

        new k8s.helm.v3.Release(`${name}-nvidia-device-plugin`, {
            name: "nvidia-device-plugin",
            chart: CHARTS.nvidiaDevicePlugin.chart,
            version: CHARTS.nvidiaDevicePlugin.version,
            repositoryOpts: { repo: CHARTS.nvidiaDevicePlugin.repo },
            namespace: "kube-system",
            values: devicePluginValues(args.spotForBatch),
        }, { ...k8sOpts, dependsOn: args.dependsOn as pulumi.Resource[] });

        this.nodeRoleArn = nodeRole.arn;
        this.queueArn = queue.arn;
        this.registerOutputs({ nodeRoleArn: this.nodeRoleArn });
    }
}
