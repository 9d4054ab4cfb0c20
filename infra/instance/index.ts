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

export interface InstanceResearcherOutputs {
    instanceType: string;
    instanceId: pulumi.Output<string>;
    roleArn: pulumi.Output<string>;
    awsProfile: pulumi.Output<string>;
    connect: pulumi.Output<ResearcherConnect>;
    /** `archaeo setup <code>`: the researcher CLI's facts (infra/cli.ts) in one line. */
    cliSetup: pulumi.Output<string>;
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
    for (const [k, r] of cfg.researchers.entries()) {
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
            launchAfter: cfg.launchBatchSize > 0 && k >= cfg.launchBatchSize ? [launched[k - cfg.launchBatchSize]] : [],
        }, opts);
        launched.push(ws.launched);
        const role = new ResearcherRole(`archaeo-researcher-${r.id}`, {
            researcher: r,
            roleName: physicalName(cfg, ["researcher", r.id], 64),
            policy: pulumi.all([ctx.partition, ctx.accountId, ws.instanceArn, f.bucketArn, f.keyArn]).apply(([partition, accountId, instanceArn, bucketArn, keyArn]) =>
                JSON.stringify(researcherInstancePolicy({ partition, accountId, region: cfg.region, instanceArn, bucketArn, keyArn, researcherId: r.id, researcherSsmPath: ssmPath }))),
        }, opts);
        researchers[r.id] = {
            instanceType: r.instanceType,
            instanceId: ws.instanceId,
            roleArn: role.roleArn,
            awsProfile: role.roleArn.apply((roleArn) => awsProfileSnippet({ id: r.id, roleArn, region: cfg.region })),
            connect: pulumi.all([ws.instanceId, f.bucketName]).apply(([instanceId, bucketName]) =>
                connectInfo({ id: r.id, instanceId, region: cfg.region, accessMode: cfg.access.mode, ssmPath, bucketName, gpus: r.gpu.gpus })),
            cliSetup: pulumi.all([ws.instanceId, role.roleArn, f.bucketName]).apply(([instanceId, roleArn, bucket]) =>
                setupCommand(instanceCliFacts({ id: r.id, region: cfg.region, roleArn, bucket, instanceId, ssmPath }))),
        };
        tokens[r.id] = ws.jupyterToken;
    }
    return { mode: "instance", researchers, jupyterTokens: pulumi.secret(pulumi.all(tokens)) };
}
