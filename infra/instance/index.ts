/**
 * Instance mode: a GPU EC2 workstation per researcher, sharing the institution's VPC, key, dataset
 * bucket, image and budget. No EKS, no NAT gateway: a stopped workstation costs its disks only.
 */
import * as pulumi from "@pulumi/pulumi";
import type { InstanceStackConfig } from "../config";
import { instanceCliFacts, setupCommand } from "../cli";
import type { Foundation, StackContext } from "../foundation";
import { awsProfileSnippet, ResearcherRole } from "../foundation/researcher";
import { researcherInstancePolicy } from "../iam";
import { physicalName, researcherSsmPath, snapshotTargetTag, stackSlug, standardTags } from "../tags";
import { connectInfo, ResearcherConnect } from "./connect";
import { Network } from "./network";
import { WorkspaceSnapshots } from "./snapshots";
import { ResearcherWorkstation } from "./workstation";

export type InstanceResearcherOutputs = WorkingResearcherOutputs | ParkedResearcherOutputs;

export interface WorkingResearcherOutputs {
    instanceType: string;
    instanceId: pulumi.Output<string>;
    roleArn: pulumi.Output<string>;
    awsProfile: pulumi.Output<string>;
    connect: pulumi.Output<ResearcherConnect>;
    /** `archaeo setup <code>`: the researcher CLI's facts (infra/cli.ts) in one line. */
    cliSetup: pulumi.Output<string>;
}

/** A parked researcher (researchers[].parked): no workstation; their role (their data) and their kept workspace volume. */
export interface ParkedResearcherOutputs {
    parked: true;
    roleArn: pulumi.Output<string>;
    awsProfile: pulumi.Output<string>;
    workspaceVolumeId: pulumi.Output<string>;
}

export interface InstanceOutputs {
    mode: "instance";
    researchers: Record<string, InstanceResearcherOutputs>;
    /** Each researcher's Jupyter token (secret). */
    jupyterTokens: pulumi.Output<Record<string, string>>;
}

export function buildInstance(cfg: InstanceStackConfig, f: Foundation, ctx: StackContext): InstanceOutputs {
    const opts = { providers: { aws: ctx.provider } };
    const network = new Network("archaeo-network", {
        vpcCidr: cfg.vpcCidr, availabilityZone: cfg.availabilityZone, otherZones: cfg.researchers.map((r) => r.zone), region: cfg.region,
        accessMode: cfg.access.mode, accessCidrs: cfg.access.cidrs,
    }, opts);
    const snapshotTag = snapshotTargetTag(cfg);
    new WorkspaceSnapshots("archaeo-snapshots", {
        roleName: physicalName(cfg, ["dlm"], 64),
        // DLM allows only [0-9A-Za-z _-] in a description (AWS's DLM model): no parentheses or commas.
        description: `Daily snapshots of the ${cfg.institution} ${stackSlug(cfg.stack)} workspaces - ${cfg.backup.retentionDays} kept`,
        partition: ctx.partition, region: cfg.region, targetTag: snapshotTag, backup: cfg.backup, keyArn: f.keyArn,
    }, opts);

    const researchers: Record<string, InstanceResearcherOutputs> = {};
    const tokens: Record<string, pulumi.Output<string>> = {};
    // Launch batches: the k-th workstation waits until the (k - launchBatchSize)-th has been created and stopped.
    const launched: pulumi.Resource[] = [];
    for (const r of cfg.researchers) {
        // Named by the researcher's id, never their position: reordering `researchers` replaces nothing.
        const ssmPath = researcherSsmPath(cfg, r.id);
        const ws = new ResearcherWorkstation(`archaeo-ws-${r.id}`, {
            researcher: r,
            roleName: physicalName(cfg, ["ws", r.id], 64),
            namePrefix: physicalName(cfg, [r.id], 200),
            // Their own zone (availabilityZone unless moved: README 'Moving a workstation to another zone').
            region: cfg.region, partition: ctx.partition, accountId: ctx.accountId, availabilityZone: r.zone,
            amiId: cfg.ami.id, amiSsmParameter: cfg.ami.ssmParameter,
            subnetId: network.subnetIds[r.zone], securityGroupId: network.securityGroupId,
            keyArn: f.keyArn, bucketName: f.bucketName, bucketArn: f.bucketArn, repositoryArn: f.repositoryArn, imageRef: f.imageRef,
            rootVolumeSizeGiB: cfg.rootVolumeSizeGiB, ssmPath, accessMode: cfg.access.mode,
            idleMinutes: cfg.autoStop.idleMinutes, gpuIdlePercent: cfg.autoStop.gpuUtilPercent, maxSessionHours: cfg.autoStop.maxSessionHours,
            standardTags: standardTags(cfg), snapshotTag, protect: cfg.protectData,
            // Parked researchers launch nothing: the k-th workstation is counted among those launched.
            launchAfter: cfg.launchBatchSize > 0 && launched.length >= cfg.launchBatchSize ? [launched[launched.length - cfg.launchBatchSize]] : [],
        }, opts);
        if (ws.launched) launched.push(ws.launched);
        const ownPolicy = (instanceArn?: pulumi.Input<string>) => pulumi.all([ctx.partition, ctx.accountId, instanceArn, f.bucketArn, f.keyArn]).apply(([partition, accountId, arn, bucketArn, keyArn]) =>
            JSON.stringify(researcherInstancePolicy({ partition, accountId, region: cfg.region, instanceArn: arn, bucketArn, keyArn, researcherId: r.id, researcherSsmPath: ssmPath })));
        const role = new ResearcherRole(`archaeo-researcher-${r.id}`, {
            researcher: r,
            roleName: physicalName(cfg, ["researcher", r.id], 64),
            policy: ownPolicy(ws.instanceArn),
        }, opts);
        const awsProfile = role.roleArn.apply((roleArn) => awsProfileSnippet({ id: r.id, roleArn, region: cfg.region }));
        if (!ws.instanceId || !ws.jupyterToken) {
            researchers[r.id] = { parked: true, roleArn: role.roleArn, awsProfile, workspaceVolumeId: ws.workspaceVolumeId };
            continue;
        }
        const instanceId = ws.instanceId;
        researchers[r.id] = {
            instanceType: r.instanceType,
            instanceId,
            roleArn: role.roleArn,
            awsProfile,
            connect: pulumi.all([instanceId, f.bucketName]).apply(([id, bucketName]) =>
                connectInfo({ id: r.id, instanceId: id, region: cfg.region, accessMode: cfg.access.mode, ssmPath, bucketName, gpus: r.gpu.gpus })),
            cliSetup: pulumi.all([instanceId, role.roleArn, f.bucketName]).apply(([id, roleArn, bucket]) =>
                setupCommand(instanceCliFacts({ id: r.id, region: cfg.region, roleArn, bucket, instanceId: id, ssmPath }))),
        };
        tokens[r.id] = ws.jupyterToken;
    }
    return { mode: "instance", researchers, jupyterTokens: pulumi.secret(pulumi.all(tokens)) };
}
