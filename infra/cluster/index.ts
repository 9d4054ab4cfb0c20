/**
 * Cluster mode: EKS with GPU capacity that scales to zero and JupyterHub with a server per researcher,
 * on the shared foundation (key, dataset bucket and audit trail, ECR image, budget, provider and tags).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { ClusterStackConfig } from "../config";
import { PORTS, RESEARCHER_USER } from "../constants";
import { clusterCliFacts, setupCommand } from "../cli";
import { PROGRAM_DIR, PROJECT_ROOT, type Foundation, type StackContext } from "../foundation";
import { ImageRegistry } from "../foundation/registry";
import { awsProfileSnippet } from "../foundation/researcher";
import { awsProfileName, cognitoDomainPrefix, dataMountsEnv, physicalName, researcherPrefix, stackSlug, standardTags } from "../tags";
import type { DeployerIdentity } from "../workbench";
import { BudgetEnforcer } from "./budget-enforcer";
import { EksCluster } from "./eks";
import { JupyterHub } from "./jupyterhub";
import { GpuCapacity } from "./karpenter";
import { ddpJob, HUB_NAMESPACE, HUB_TUNNEL, researcherEnv, researcherNamespace, serverPodName } from "./manifests";
import { ClusterNetwork } from "./network";
import { ClusterResearcher } from "./researchers";
import { ClusterStorage } from "./storage";

/** Build context of the hub tunnel image, relative to PROJECT_ROOT. */
export const HUB_TUNNEL_CONTEXT = "images/hub-tunnel";

export const NAT_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64";

export interface ClusterContext extends StackContext {
    deployer: DeployerIdentity;
}

export interface ClusterResearcherConnect {
    profile: string;
    kubeconfig: string;
    /** ssm access: forward the hub to http://localhost:8000 (cidr: not needed). */
    hubTunnel: string;
    hubUrl: string;
    tensorboardUrl: string;
    ssh: string;
    upload: string;
    ddp: string;
}

export interface ClusterResearcherOutputs {
    namespace: string;
    roleArn: pulumi.Output<string>;
    awsProfile: pulumi.Output<string>;
    connect: pulumi.Output<ClusterResearcherConnect>;
    /** `archaeo setup <code>`: the researcher CLI's facts (infra/cli.ts) in one line. */
    cliSetup: pulumi.Output<string>;
    /** A DDP training job in their namespace (JSON documents separated by ---): kubectl apply -f. */
    ddpJobTemplate: pulumi.Output<string>;
}

export interface ClusterOutputs {
    mode: "cluster";
    clusterName: pulumi.Output<string>;
    hubUrl: string;
    kubeconfigCommand: string;
    researchers: Record<string, ClusterResearcherOutputs>;
    /** Researchers with a budget: the topic their budget's ACTUAL 100% notification publishes to (the budget enforcer's). */
    budgetStopTopics: Record<string, pulumi.Output<string>>;
}

/** Names derived from the config. Pure. */
export function clusterNames(cfg: Pick<ClusterStackConfig, "institution" | "stack">) {
    return { clusterName: physicalName(cfg, [], 100) };
}

/** The second AZ next to the configured one (a<->b, otherwise a). Pure. */
export function clusterAzs(az: string): [string, string] {
    const last = az.slice(-1);
    return [az, `${az.slice(0, -1)}${last === "a" ? "b" : "a"}`];
}

/** The hub's address: its DNS name over TLS in cidr mode, the local end of a port-forward otherwise. */
export function hubUrl(cfg: Pick<ClusterStackConfig, "cluster">): string {
    return cfg.cluster.hub ? `https://${cfg.cluster.hub.hostname}` : `http://localhost:${PORTS.hub}`;
}

/** The commands a researcher runs in cluster mode, under their own profile and Kubernetes identity. Pure. */
export function clusterConnect(a: { id: string; clusterName: string; region: string; hubUrl: string; exposed: boolean; bucketName: string }): ClusterResearcherConnect {
    const profile = awsProfileName(a.id);
    const k = `kubectl --context ${profile}`;
    return {
        profile,
        kubeconfig: `aws eks update-kubeconfig --profile ${profile} --region ${a.region} --name ${a.clusterName} --alias ${profile}`,
        hubTunnel: a.exposed ? "not needed: open hubUrl" : `${k} -n ${HUB_NAMESPACE} port-forward pod/${HUB_TUNNEL.pod} ${PORTS.hub}:${HUB_TUNNEL.port}`,
        hubUrl: a.hubUrl,
        tensorboardUrl: `${a.hubUrl}/user/${a.id}/tensorboard/`,
        ssh: `${k} -n ${HUB_NAMESPACE} port-forward pod/${serverPodName(a.id)} ${PORTS.ssh}:${PORTS.ssh} & ssh -p ${PORTS.ssh} ${RESEARCHER_USER}@localhost`,
        upload: `aws --profile ${profile} s3 sync ./my-images s3://${a.bucketName}/${researcherPrefix(a.id)}my-images/`,
        ddp: `${k} apply -f ddp-train.json   # from the ddpJobTemplate output; logs: ${k} -n ${researcherNamespace(a.id)} logs -f job/ddp-train`,
    };
}

export function buildCluster(cfg: ClusterStackConfig, f: Foundation, ctx: ClusterContext): ClusterOutputs {
    const c = cfg.cluster;
    const { clusterName } = clusterNames(cfg);
    // Prefix of the cluster's IAM roles, the EFS and backup names (IAM role names: 64 characters in all).
    const namePrefix = physicalName(cfg, [], 40);
    const tags = standardTags(cfg);
    const opts = { providers: { aws: ctx.provider } };
    const natAmi = aws.ssm.getParameterOutput({ name: NAT_AMI_PARAMETER }, { provider: ctx.provider }).value;

    const network = new ClusterNetwork("archaeo-cluster-network", {
        vpcCidr: cfg.vpcCidr, region: cfg.region, availabilityZones: clusterAzs(cfg.availabilityZone), clusterName, natAmiId: natAmi, keyArn: f.keyArn, volumeTags: tags,
    }, opts);

    const eks = new EksCluster("archaeo-eks", {
        clusterName, roleNamePrefix: namePrefix, region: cfg.region, partition: ctx.partition, kubernetesVersion: c.kubernetesVersion, keyArn: f.keyArn,
        vpcId: network.vpcId, privateSubnetIds: network.privateSubnetIds, apiCidrs: c.apiCidrs, adminArns: c.adminArns, deployerArn: ctx.deployer.principalArn, tags,
    }, opts);

    // Every Kubernetes operation waits for the cluster, its add-ons and the deployer's access entry.
    const k8sProvider = new k8s.Provider("archaeo-k8s", { kubeconfig: eks.kubeconfig, enableServerSideApply: true }, { dependsOn: eks.ready });

    new GpuCapacity("archaeo-gpu", {
        clusterName: eks.clusterName, clusterArn: eks.clusterArn, clusterNameValue: clusterName, roleNamePrefix: namePrefix,
        // `${clusterName}-karpenter` as before wherever that fitted SQS's 80 characters.
        interruptionQueueName: physicalName(cfg, ["karpenter"], 80),
        clusterSecurityGroupId: eks.clusterSecurityGroupId, region: cfg.region, partition: ctx.partition, accountId: ctx.accountId, keyArn: f.keyArn,
        gpuFamilies: c.gpuFamilies, gpuLimits: c.gpuLimits, consolidateAfterMinutes: c.consolidateAfterMinutes, spotForBatch: c.spotForBatch,
        nodeAmiVersion: c.nodeAmiVersion, upgradeWindow: c.upgradeWindow, tags,
        ...(c.imageCache ? { imageCacheSnapshotId: c.imageCache.snapshotId } : {}),
        k8sProvider, dependsOn: eks.ready,
    }, opts);

    const copyProvider = cfg.backup.copy
        ? new aws.Provider("archaeo-aws-backup-copy", { region: cfg.backup.copy.region as aws.Region, defaultTags: { tags } })
        : undefined;
    const storage = new ClusterStorage("archaeo-storage", {
        institution: cfg.institution, stack: cfg.stack, namePrefix, vpcId: network.vpcId, vpcCidr: cfg.vpcCidr,
        // The vault keeps `${namePrefix}-homes` (46 at most: it never needed shortening, and a protected vault must not be
        // renamed); the copy vault and the plan are the same names as before wherever those fitted AWS Backup's 50.
        backupNames: { vault: `${namePrefix}-homes`, copyVault: physicalName(cfg, ["homes-copy"], 50), plan: physicalName(cfg, ["homes-daily"], 50) },
        privateSubnetIds: network.privateSubnetIds, keyArn: f.keyArn, partition: ctx.partition, researcherIds: cfg.researchers.map((r) => r.id),
        backup: cfg.backup, copyProvider, k8sProvider, protect: cfg.protectData, dependsOn: eks.ready,
    }, opts);

    // Without hubHostname researchers reach the hub through the tunnel pod, whose image (the chart's
    // proxy, for the arm64 system node) comes from the stack's own ECR like every workload's.
    const tunnel = c.hub ? undefined : new ImageRegistry("archaeo-hub-tunnel", {
        repositoryName: `archaeo/${cfg.institution}/${stackSlug(cfg.stack)}/hub-tunnel`,
        keyArn: f.keyArn,
        projectRoot: PROJECT_ROOT,
        programDir: PROGRAM_DIR,
        context: HUB_TUNNEL_CONTEXT,
        platform: "linux/arm64",
        buildArgs: {},
        retentionDays: cfg.imageRetentionDays,
        protect: cfg.protectData,
    }, opts);

    const url = hubUrl(cfg);
    const env = pulumi.all([f.imageRef, f.bucketName]).apply(([image, bucket]) => ({
        ARCHAEO_IMAGE: image,
        ARCHAEO_DATA_MOUNTS: dataMountsEnv(bucket, "{username}"),
        AWS_REGION: cfg.region,
    }));
    const hub = new JupyterHub("archaeo-hub", {
        institution: cfg.institution, stack: cfg.stack, region: cfg.region, namePrefix: physicalName(cfg, [], 50), cognitoDomain: cognitoDomainPrefix(cfg), researchers: cfg.researchers, auth: c.auth,
        ...(c.auth.kind === "oidc" ? { oidcClientSecret: new pulumi.Config(cfg.project).requireSecret("oidcClientSecret") } : {}),
        publicUrl: url,
        ...(c.hub ? { exposed: { acmCertificateArn: c.hub.acmCertificateArn, sourceRanges: cfg.access.cidrs } } : {}),
        ...(tunnel ? { tunnelImage: tunnel.imageDigestRef } : {}),
        image: f.imageRef, imageTag: f.imageTag, gpuLimit: c.gpuLimit, gpusPerResearcher: c.gpusPerResearcher, cullMinutes: cfg.autoStop.idleMinutes, maxSessionHours: cfg.autoStop.maxSessionHours,
        memoryGiB: cfg.gpu.memoryGiB, vcpus: cfg.gpu.vcpus, env, protect: cfg.protectData, k8sProvider, dependsOn: [...eks.ready, ...storage.ready],
    }, opts);

    const researchers: Record<string, ClusterResearcherOutputs> = {};
    const researcherNamespaces: Record<string, pulumi.Resource> = {};
    for (const r of cfg.researchers) {
        const who = new ClusterResearcher(`archaeo-researcher-${r.id}`, {
            researcher: r, institution: cfg.institution, stack: cfg.stack, region: cfg.region,
            roleName: physicalName(cfg, ["researcher", r.id], 64), podsRoleName: physicalName(cfg, ["pods", r.id], 64),
            clusterName: eks.clusterName, clusterArn: eks.clusterArn, bucketName: f.bucketName, bucketArn: f.bucketArn, keyArn: f.keyArn,
            fileSystemId: storage.fileSystemId, accessPointId: storage.accessPointIds[r.id],
            // Parked: not among the hub's users (no server) and no GPU for their jobs; their home stays on EFS.
            gpusPerResearcher: r.parked ? 0 : c.gpusPerResearcher, hubTunnel: !c.hub,
            k8sProvider, dependsOn: [hub.namespace, ...storage.ready],
        }, opts);
        researcherNamespaces[r.id] = who.namespaceObject;
        const jobEnv = env.apply((e) => researcherEnv(e, r.id));
        researchers[r.id] = {
            namespace: who.namespace,
            roleArn: who.roleArn,
            awsProfile: who.roleArn.apply((roleArn) => awsProfileSnippet({ id: r.id, roleArn, region: cfg.region })),
            connect: f.bucketName.apply((bucketName) => clusterConnect({ id: r.id, clusterName, region: cfg.region, hubUrl: url, exposed: !!c.hub, bucketName })),
            cliSetup: pulumi.all([who.roleArn, f.bucketName]).apply(([roleArn, bucket]) => setupCommand(clusterCliFacts({
                id: r.id, region: cfg.region, roleArn, bucket, clusterName, hubUrl: url, hubNamespace: HUB_NAMESPACE, serverPod: serverPodName(r.id),
                ...(c.hub ? {} : { hubTunnel: { pod: HUB_TUNNEL.pod, port: HUB_TUNNEL.port } }),
            }))),
            ddpJobTemplate: pulumi.all([f.imageRef, jobEnv]).apply(([image, e]) => {
                const d = ddpJob({ institution: cfg.institution, stack: cfg.stack, id: r.id, image, nodes: c.ddp.nodes, gpusPerNode: c.ddp.gpusPerNode, memoryGiB: cfg.gpu.memoryGiB, spot: c.spotForBatch, env: e });
                return [d.service, d.job].map((o) => JSON.stringify(o, null, 2)).join("\n---\n");
            }),
        };
    }

    // At 100% of a researcher's budget: their GPU quota to 0 and their server stopped (README 'Budgets per researcher').
    const budgeted = cfg.researchers.filter((r) => r.budgetMonthlyUsd > 0);
    const enforcer = budgeted.length === 0 ? undefined : new BudgetEnforcer("archaeo-budget-enforcer", {
        institution: cfg.institution, stack: cfg.stack, region: cfg.region, partition: ctx.partition, accountId: ctx.accountId,
        functionName: physicalName(cfg, ["budget-enforcer"], 64), roleName: physicalName(cfg, ["budget-enforcer"], 64), securityGroupName: physicalName(cfg, ["budget-enforcer"], 255),
        logGroupName: `/aws/eks/${clusterName}/budget-enforcer`,
        researchers: budgeted.map((r) => ({ id: r.id, topicName: physicalName(cfg, ["budget-stop", r.id], 256) })),
        clusterName: eks.clusterName, clusterEndpoint: eks.endpoint, clusterCertificateAuthority: eks.certificateAuthority, clusterSecurityGroupId: eks.clusterSecurityGroupId,
        vpcId: network.vpcId, privateSubnetIds: network.privateSubnetIds, keyArn: f.keyArn,
        k8sProvider, hubNamespace: hub.namespace,
        researcherNamespaces,
    }, opts);

    return {
        mode: "cluster",
        budgetStopTopics: enforcer?.topicArns ?? {},
        clusterName: eks.clusterName,
        hubUrl: url,
        kubeconfigCommand: `aws eks update-kubeconfig --region ${cfg.region} --name ${clusterName}`,
        researchers,
    };
}
