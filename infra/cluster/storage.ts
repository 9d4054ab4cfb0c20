/** Cluster storage: the EFS file system holding every researcher's home, its daily backups, and the default gp3 class. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { BackupConfig } from "../config";
import { RESEARCHER_UID } from "../constants";
import { assumeRolePolicy } from "../iam";
import { researcherTags } from "../tags";
import { gp3StorageClass } from "./manifests";
import { awsManagedPolicyArn } from "../arn";

export interface ClusterStorageArgs {
    institution: string;
    stack: string;
    /** Prefix of the EFS, security group and backup role names (at most 40 characters). */
    namePrefix: string;
    /**
     * AWS Backup names (1-50 of a-zA-Z0-9-_ for vaults, a-zA-Z0-9-_. for plans: the AWS Backup API model),
     * from physicalName(cfg, [...], 50) so they fit whatever the prefix.
     */
    backupNames: { vault: string; copyVault: string; plan: string };
    vpcId: pulumi.Input<string>;
    vpcCidr: string;
    privateSubnetIds: pulumi.Input<string>[];
    keyArn: pulumi.Input<string>;
    partition: pulumi.Input<string>;
    researcherIds: readonly string[];
    backup: BackupConfig;
    /** Provider of backup.copy.region, for the copy vault. */
    copyProvider?: aws.Provider;
    k8sProvider: k8s.Provider;
    /** Protect and retain the file system (default true). */
    protect: boolean;
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * EFS encrypted with the stack key (protected, elastic throughput, not pinned to an AZ: a GPU node in
 * either AZ mounts it), one access point per researcher rooted at /researchers/<id> as uid/gid 1000 —
 * a researcher's pods mount only their own — AWS Backup daily with `retentionDays`, in a vault
 * encrypted with the stack key (and copied to a second region's vault when configured), and the
 * default gp3 StorageClass (the hub database) encrypted with the stack key.
 */
export class ClusterStorage extends pulumi.ComponentResource {
    public readonly fileSystemId: pulumi.Output<string>;
    public readonly accessPointIds: Record<string, pulumi.Output<string>>;
    /** Mount targets: pods can mount the file system only once these exist. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: ClusterStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:ClusterStorage", name, {}, opts);
        const child = { parent: this };

        const fs = new aws.efs.FileSystem(`${name}-efs`, {
            encrypted: true,
            kmsKeyId: args.keyArn,
            performanceMode: "generalPurpose",
            throughputMode: "elastic",
            lifecyclePolicies: [{ transitionToIa: "AFTER_30_DAYS" }],
            tags: { Name: `${args.namePrefix}-homes` },
        }, { parent: this, protect: args.protect, retainOnDelete: args.protect });
        const sg = new aws.ec2.SecurityGroup(`${name}-efs-sg`, { vpcId: args.vpcId, description: "Archaeo EFS homes: NFS from the VPC", tags: { Name: `${args.namePrefix}-efs` } }, child);
        new aws.vpc.SecurityGroupIngressRule(`${name}-efs-nfs`, { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: 2049, toPort: 2049, cidrIpv4: args.vpcCidr, description: "NFS from the cluster" }, child);
        const targets = args.privateSubnetIds.map((subnetId, i) => new aws.efs.MountTarget(`${name}-efs-mt-${i}`, { fileSystemId: fs.id, subnetId, securityGroups: [sg.id] }, child));

        this.accessPointIds = {};
        for (const id of args.researcherIds) {
            const ap = new aws.efs.AccessPoint(`${name}-home-${id}`, {
                fileSystemId: fs.id,
                posixUser: { uid: RESEARCHER_UID, gid: RESEARCHER_UID },
                rootDirectory: { path: `/researchers/${id}`, creationInfo: { ownerUid: RESEARCHER_UID, ownerGid: RESEARCHER_UID, permissions: "0700" } },
                tags: { Name: `${args.namePrefix}-home-${id}`, ...researcherTags(id) },
            }, child);
            this.accessPointIds[id] = ap.id;
        }

        new k8s.storage.v1.StorageClass(`${name}-gp3`, gp3StorageClass({ institution: args.institution, stack: args.stack, keyArn: args.keyArn }), {
            parent: this, provider: args.k8sProvider, dependsOn: args.dependsOn as pulumi.Resource[],
        });

        // AWS Backup: daily recovery points of the homes, in a vault encrypted with the stack key.
        // AWS Backup refuses to delete a vault that holds recovery points; forceDestroy (@pulumi/aws 7.48.0
        // backup/vault.d.ts: "all recovery points stored in the vault are deleted so that the vault can be destroyed
        // without error") only in a teardown (protectData: false): with protectData the vaults are protected and retained.
        const vault = new aws.backup.Vault(`${name}-vault`, { name: args.backupNames.vault, kmsKeyArn: args.keyArn, forceDestroy: !args.protect }, { parent: this, protect: args.protect, retainOnDelete: args.protect });
        const copyVault = args.backup.copy
            ? new aws.backup.Vault(`${name}-vault-copy`, { name: args.backupNames.copyVault, kmsKeyArn: args.backup.copy.kmsKeyArn, forceDestroy: !args.protect }, {
                parent: this, provider: args.copyProvider, protect: args.protect, retainOnDelete: args.protect,
            })
            : undefined;
        const plan = new aws.backup.Plan(`${name}-plan`, {
            name: args.backupNames.plan,
            rules: [{
                ruleName: "daily",
                targetVaultName: vault.name,
                schedule: "cron(0 3 * * ? *)",
                lifecycle: { deleteAfter: args.backup.retentionDays },
                ...(copyVault ? { copyActions: [{ destinationVaultArn: copyVault.arn, lifecycle: { deleteAfter: args.backup.retentionDays } }] } : {}),
            }],
        }, child);
        const backupRole = new aws.iam.Role(`${name}-backup-role`, {
            name: `${args.namePrefix}-backup`,
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("backup.amazonaws.com")),
        }, child);
        for (const p of ["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]) {
            new aws.iam.RolePolicyAttachment(`${name}-backup-${p}`, { role: backupRole.name, policyArn: awsManagedPolicyArn(args.partition, `service-role/${p}`) }, child);
        }
        new aws.backup.Selection(`${name}-selection`, { name: "homes", planId: plan.id, iamRoleArn: backupRole.arn, resources: [fs.arn] }, child);

        this.fileSystemId = fs.id;
        this.ready = targets;
        this.registerOutputs({ fileSystemId: this.fileSystemId });
    }
}
