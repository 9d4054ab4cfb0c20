/**
 * Composes the workbench from its components for one validated StackConfig. Used by infra/index.ts
 * (the Pulumi program), the tests and the offline plan.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "./config";
import { estimateCost, CostEstimate } from "./cost";
import { resourcePrefix, snapshotTargetTag, ssmPath, standardTags } from "./tags";
import { Budget } from "./components/budget";
import { DataStore } from "./components/datastore";
import { WorkstationIdentity } from "./components/identity";
import { Key } from "./components/key";
import { Network } from "./components/network";
import { ImageRegistry } from "./components/registry";
import { GpuWorkstation } from "./components/workstation";
import { clusterNames, createCluster } from "./cluster";
import { podIdentityTrust } from "./cluster/iam";
import image from "../images/pytorch-cuda/image.json";

export const IMAGE_CONTEXT = path.join(__dirname, "..", "images", "pytorch-cuda");

export interface WorkbenchOutputs {
    mode: "instance" | "cluster";
    connect: pulumi.Input<{ [command: string]: string }>;
    jupyterUrl: pulumi.Input<string>;
    tensorboardUrl: pulumi.Input<string>;
    jupyterToken: pulumi.Output<string>;
    imageUri: pulumi.Output<string>;
    bucketName: pulumi.Output<string>;
    kmsKeyArn: pulumi.Output<string>;
    cost: CostEstimate;
    /** Instance mode. */
    instanceId?: pulumi.Output<string>;
    workstationRoleArn?: pulumi.Output<string>;
    smokeResultCommand?: string;
    /** Cluster mode. */
    clusterName?: pulumi.Output<string>;
    ddpJobTemplate?: pulumi.Output<string>;
}

export function createWorkbench(cfg: StackConfig): WorkbenchOutputs {
    const name = "archaeo";
    const prefix = resourcePrefix(cfg);
    const tags = standardTags(cfg);
    const provider = new aws.Provider(`${name}-aws`, { region: cfg.region as aws.Region, defaultTags: { tags } });
    const withProvider = { providers: { aws: provider } };
    const invokeOpts = { provider };

    const caller = aws.getCallerIdentityOutput({}, invokeOpts);
    const partition = aws.getPartitionOutput({}, invokeOpts).partition;
    const accountId = caller.accountId;

    if (!cfg.baseImageDigest) {
        pulumi.log.warn(
            `baseImageDigest is not set: the image builds FROM ${image.baseImage}:${image.baseTag} by tag, which can move. ` +
                `Pin it: docker buildx imagetools inspect ${image.baseImage}:${image.baseTag} --format '{{json .Manifest.Digest}}', ` +
                `then 'pulumi config set baseImageDigest sha256:...'.`,
        );
    }

    const network = cfg.mode === "cluster" ? undefined : new Network(`${name}-network`, {
        vpcCidr: cfg.vpcCidr,
        availabilityZone: cfg.availabilityZone,
        region: cfg.region,
        accessMode: cfg.access.mode,
        accessCidrs: cfg.access.cidrs,
    }, withProvider);

    const cluster = cfg.mode === "cluster" ? clusterNames(cfg) : undefined;
    // The role that uses the key at run time exists before the key, so the key policy can name it.
    const identity = cluster ? undefined : new WorkstationIdentity(`${name}-identity`, { prefix, partition }, withProvider);
    const workbenchRole = cluster
        ? new aws.iam.Role(`${name}-workbench-pods-role`, { name: `${prefix}-workbench-pods`, assumeRolePolicy: JSON.stringify(podIdentityTrust()) }, { provider })
        : undefined;

    const key = new Key(`${name}-key`, {
        institution: cfg.institution,
        partition,
        accountId,
        userRoleArns: [identity ? identity.roleArn : workbenchRole!.arn],
        existingKeyArn: cfg.kmsKeyArn,
        protect: cfg.protectData,
        ...(cluster ? { services: { logs: { region: cfg.region, prefix: `/aws/eks/${cluster.clusterName}/` }, eventBridge: true, autoScaling: true } } : {}),
    }, withProvider);

    const data = new DataStore(`${name}-data`, {
        prefix,
        accountId,
        region: cfg.region,
        partition,
        keyArn: key.keyArn,
        ...(cluster ? {} : { workspace: { availabilityZone: cfg.availabilityZone, sizeGiB: cfg.workspaceSizeGiB, snapshotRetentionDays: cfg.snapshotRetentionDays, snapshotTag: snapshotTargetTag(cfg) } }),
        protect: cfg.protectData,
    }, withProvider);

    const registry = new ImageRegistry(`${name}-registry`, {
        repositoryName: `archaeo/${cfg.institution}/pytorch-cuda`,
        keyArn: key.keyArn,
        contextDir: IMAGE_CONTEXT,
        baseImage: `${image.baseImage}:${image.baseTag}`,
        baseImageDigest: cfg.baseImageDigest,
    }, withProvider);

    new Budget(`${name}-budget`, {
        budgetName: `${prefix}-${cfg.stack}`,
        monthlyUsd: cfg.budget.monthlyUsd,
        tagKey: "institution",
        tagValue: cfg.institution,
        alertEmails: cfg.budget.alertEmails,
    }, withProvider);
    const common = { imageUri: registry.imageDigestRef, bucketName: data.bucketName, kmsKeyArn: key.keyArn, cost: estimateCost(cfg) };

    if (cluster) {
        const c = createCluster(cfg, { provider, partition, accountId, keyArn: key.keyArn, bucketArn: data.bucketArn, imageRef: registry.imageDigestRef, workbenchRole: workbenchRole!, tags });
        return {
            mode: "cluster",
            ...common,
            connect: { ...c.connect },
            jupyterUrl: c.connect.jupyterUrl,
            tensorboardUrl: c.connect.tensorboardUrl,
            jupyterToken: c.jupyterToken,
            clusterName: c.clusterName,
            ddpJobTemplate: c.ddpJobTemplate,
        };
    }

    const workstation = new GpuWorkstation(`${name}-workstation`, {
        prefix,
        region: cfg.region,
        partition,
        accountId,
        instanceType: cfg.instanceType,
        memoryGiB: cfg.gpu.memoryGiB,
        amiId: cfg.ami.id,
        amiSsmParameter: cfg.ami.ssmParameter,
        subnetId: network!.subnetId,
        securityGroupId: network!.securityGroupId,
        roleName: identity!.roleName,
        instanceProfileName: identity!.instanceProfileName,
        keyArn: key.keyArn,
        bucketArn: data.bucketArn,
        repositoryArn: registry.repositoryArn,
        imageRef: registry.imageDigestRef,
        workspaceVolumeId: data.workspaceVolumeId!,
        rootVolumeSizeGiB: cfg.rootVolumeSizeGiB,
        ssmPath: ssmPath(cfg),
        accessMode: cfg.access.mode,
        sshPublicKeys: cfg.sshPublicKeys,
        idleMinutes: cfg.autoStop.idleMinutes,
        gpuIdlePercent: cfg.autoStop.gpuUtilPercent,
        volumeTags: tags,
    }, withProvider);

    return {
        mode: "instance",
        ...common,
        instanceId: workstation.instanceId,
        connect: workstation.connect.apply(({ ssh, jupyterTunnel, tensorboardTunnel, start, stop }) => ({ ssh, jupyterTunnel, tensorboardTunnel, start, stop })),
        jupyterUrl: workstation.connect.jupyterUrl,
        tensorboardUrl: workstation.connect.tensorboardUrl,
        jupyterToken: workstation.jupyterToken,
        workstationRoleArn: identity!.roleArn,
        smokeResultCommand: `aws ssm get-parameter --region ${cfg.region} --name ${ssmPath(cfg)}/status/smoke --query Parameter.Value --output text`,
    };
}
