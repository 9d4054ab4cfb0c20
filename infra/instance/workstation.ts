/** One researcher's GPU workstation: their instance, role, workspace volume, Jupyter token and auto-stop. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as random from "@pulumi/random";
import type { AccessMode, InstanceResearcher } from "../config";
import type { StackData } from "../foundation";
import { assumeRolePolicy, workstationPolicy } from "../iam";
import { researcherTags } from "../tags";
import { BOOT_PARAMETERS, renderUserDataBase64, sshKeysParameterValue } from "./userdata";
import { awsManagedPolicyArn } from "../arn";
import { GP3_BASELINE, workspaceVolumeType } from "../constants";

export interface ResearcherWorkstationArgs extends StackData {
    researcher: InstanceResearcher;
    /** Physical names: the instance role/profile and the Name tags. */
    roleName: string;
    namePrefix: string;
    region: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    availabilityZone: string;
    /** Pinned AMI id; when absent the AMI is resolved from `amiSsmParameter` at creation and then held. */
    amiId?: string;
    amiSsmParameter: string;
    subnetId: pulumi.Input<string>;
    securityGroupId: pulumi.Input<string>;
    repositoryArn: pulumi.Input<string>;
    /** repository@sha256:... */
    imageRef: pulumi.Input<string>;
    /** Root volume in GiB (holds the OS and the pulled image). */
    rootVolumeSizeGiB: number;
    /** The researcher's SSM path: token at <path>/jupyter-token, status under <path>/status/. */
    ssmPath: string;
    accessMode: AccessMode;
    /** Idle minutes before auto-stop; 0 disables. */
    idleMinutes: number;
    /** GPU utilisation (%) under which the GPU counts as idle. */
    gpuIdlePercent: number;
    /** Hours after each boot at which the workstation stops, active or not (extendable by the researcher); 0: no maximum. */
    maxSessionHours?: number;
    /** Tags (the stack's standard tags) for the root volume: provider default tags do not reach it. */
    standardTags: Record<string, string>;
    /** Tag the stack's daily snapshot policy targets. */
    snapshotTag: Record<string, string>;
    /** Protect and retain the workspace volume. */
    protect: boolean;
    /** The instance is launched only after these (earlier researchers' `launched`): launches in batches. */
    launchAfter?: pulumi.Resource[];
}

/**
 * The researcher's own workstation: Deep Learning Base OSS NVIDIA driver AMI, IMDSv2 (hop limit 2:
 * the containers on the docker bridge use the instance role for /data and uploads), encrypted root,
 * their persistent encrypted workspace volume, Jupyter / SSH from the stack's image as systemd units,
 * auto-stop when idle, shutdown behaviour "stop". Nothing here is shared with another researcher.
 */
export class ResearcherWorkstation extends pulumi.ComponentResource {
    /** Absent while the researcher is parked (no compute: only their workspace volume). */
    public readonly instanceId?: pulumi.Output<string>;
    public readonly instanceArn?: pulumi.Output<string>;
    public readonly instanceRoleArn?: pulumi.Output<string>;
    public readonly workspaceVolumeId: pulumi.Output<string>;
    public readonly jupyterToken?: pulumi.Output<string>;
    /** Done when the new workstation has been created and stopped again: the next launch batch waits on it. */
    public readonly launched?: pulumi.Resource;

    constructor(name: string, args: ResearcherWorkstationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:instance:ResearcherWorkstation", name, {}, opts);
        const child = { parent: this };
        const r = args.researcher;
        const tags = researcherTags(r.id);
        // The workspace: the same resource (same URN) parked or not, so parking and unparking only change its type in place.
        // restoreFromSnapshot (docs/runbooks.md): a new volume from the researcher's snapshot replaces this one
        // (snapshotId forces a new volume: terraform-provider-aws ebs_volume.go, ForceNew). kmsKeyId stays explicit:
        // without it EC2 CreateVolume picks the key itself (the snapshot's, or the account's default EBS key).
        const workspaceType = workspaceVolumeType(r);
        const workspace = new aws.ebs.Volume(`${name}-workspace`, {
            availabilityZone: args.availabilityZone,
            size: r.workspaceSizeGiB,
            ...(r.restoreFromSnapshot ? { snapshotId: r.restoreFromSnapshot } : {}),
            type: workspaceType,
            // gp3: its baseline, explicit, so an unpark (sc1 -> gp3) sends 3,000 IOPS, not sc1's none (GP3_BASELINE).
            ...(workspaceType === "gp3" ? { iops: GP3_BASELINE.iops, throughput: GP3_BASELINE.throughputMiBps } : {}),
            encrypted: true,
            kmsKeyId: args.keyArn,
            finalSnapshot: true,
            tags: { Name: `${args.namePrefix}-workspace`, ...tags, ...args.snapshotTag },
        }, { parent: this, protect: args.protect, retainOnDelete: args.protect });
        this.workspaceVolumeId = workspace.id;
        if (r.parked) {
            // Parked: no instance, instance role, token or boot parameters (a new token at unpark); the volume stays,
            // protected, in the daily snapshot policy (its tag), detached (the attachment goes with the instance).
            this.registerOutputs({ workspaceVolumeId: this.workspaceVolumeId });
            return;
        }

        const role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            description: `Archaeo workstation of ${r.id}: SSM, ECR pull, their data and token, the stack key through S3/SSM`,
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("ec2.amazonaws.com")),
            // Not tagged `researcher`: that tag marks the researcher's own identity (policy researcher-roles-scoped).
            tags: { "archaeo-workstation-of": r.id },
        }, child);
        const ssmCore = new aws.iam.RolePolicyAttachment(`${name}-ssm-core`, {
            role: role.name,
            policyArn: awsManagedPolicyArn(args.partition, "AmazonSSMManagedInstanceCore"),
        }, child);
        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.name,
            policy: pulumi
                .all([args.partition, args.accountId, args.bucketArn, args.repositoryArn, args.keyArn])
                .apply(([partition, accountId, bucketArn, repositoryArn, keyArn]) => JSON.stringify(workstationPolicy({
                    partition, region: args.region, accountId, bucketArn, repositoryArn, keyArn, researcherId: r.id, researcherSsmPath: args.ssmPath,
                }))),
        }, child);
        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { name: args.roleName, role: role.name, tags: { "archaeo-workstation-of": r.id } }, child);

        const token = new random.RandomPassword(`${name}-jupyter-token`, { length: 48, special: false }, child);
        const tokenParam = new aws.ssm.Parameter(`${name}-jupyter-token`, {
            name: `${args.ssmPath}/jupyter-token`,
            description: `Jupyter token of ${r.id}'s workstation (read at boot by its instance role, and by ${r.id})`,
            type: "SecureString",
            keyId: args.keyArn,
            value: token.result,
            tags,
        }, child);

        // Read at every boot (archaeo-prepare), not carried in user data: a rebuilt image or a new key reaches the
        // workstation at its next start instead of replacing it (and stopping the researcher's running work).
        const imageParam = new aws.ssm.Parameter(`${name}-image`, {
            name: `${args.ssmPath}/${BOOT_PARAMETERS.image}`,
            description: `Workbench image of ${r.id}'s workstation (repository@sha256:...), read at each boot`,
            type: "String",
            value: args.imageRef,
            tags,
        }, child);
        const keysParam = new aws.ssm.Parameter(`${name}-ssh-keys`, {
            name: `${args.ssmPath}/${BOOT_PARAMETERS.sshKeys}`,
            description: `SSH public keys of ${r.id} (authorized_keys), read at each boot`,
            type: "String",
            value: sshKeysParameterValue(r.sshPublicKeys),
            // Standard parameters hold 4 KB; six RSA-4096 keys need more (Advanced, 8 KB): SSM picks per value.
            tier: "Intelligent-Tiering",
            tags,
        }, child);

        const ami = args.amiId ? pulumi.output(args.amiId) : aws.ssm.getParameterOutput({ name: args.amiSsmParameter }, { parent: this }).value;
        // gzip + base64: far under EC2's 16 KiB user-data limit whatever the config (cloud-init inflates it).
        const userDataBase64 = pulumi.all([workspace.id, args.bucketName, args.keyArn]).apply(([workspaceVolumeId, dataBucket, kmsKeyArn]) =>
            renderUserDataBase64({
                researcherId: r.id,
                region: args.region,
                workspaceVolumeId,
                ssmPath: args.ssmPath,
                dataBucket,
                kmsKeyArn,
                accessMode: args.accessMode,
                memoryGiB: r.gpu.memoryGiB,
                vcpus: r.gpu.vcpus,
                gpus: r.gpu.gpus,
                idleMinutes: args.idleMinutes,
                gpuIdlePercent: args.gpuIdlePercent,
                maxSessionHours: args.maxSessionHours ?? 0,
            }));

        const instance = new aws.ec2.Instance(`${name}-instance`, {
            ami,
            instanceType: r.instanceType,
            availabilityZone: args.availabilityZone,
            subnetId: args.subnetId,
            vpcSecurityGroupIds: [args.securityGroupId],
            iamInstanceProfile: profile.name,
            // A public address (no inbound rule in ssm mode) reaches SSM and ECR without a NAT gateway.
            associatePublicIpAddress: true,
            ebsOptimized: true,
            monitoring: false,
            instanceInitiatedShutdownBehavior: "stop",
            metadataOptions: {
                httpEndpoint: "enabled",
                httpTokens: "required",
                // 2 hops: containers on the docker bridge reach IMDSv2 for the role (uploads with the AWS CLI, boto3).
                httpPutResponseHopLimit: 2,
                instanceMetadataTags: "disabled",
            },
            rootBlockDevice: {
                volumeType: "gp3",
                volumeSize: args.rootVolumeSizeGiB,
                encrypted: true,
                kmsKeyId: args.keyArn,
                deleteOnTermination: true,
                tags: { Name: `${args.namePrefix}-root`, ...args.standardTags, ...tags },
            },
            userDataBase64,
            // cloud-init reads user data only on first boot: a change must reach a new instance.
            userDataReplaceOnChange: true,
            tags: { Name: `${args.namePrefix}-workstation`, ...tags },
        }, {
            parent: this,
            dependsOn: [policy, ssmCore, tokenParam, imageParam, keysParam, ...(args.launchAfter ?? [])],
            // The AMI resolved from SSM moves with every DLAMI release; hold it until the engineer pins
            // amiId or replaces the instance on purpose (the workspace lives on its own volume).
            ignoreChanges: args.amiId ? [] : ["ami"],
        });

        const attachment = new aws.ec2.VolumeAttachment(`${name}-workspace-attachment`, {
            deviceName: "/dev/sdf",
            instanceId: instance.id,
            volumeId: workspace.id,
            stopInstanceBeforeDetaching: true,
        }, { parent: this, deleteBeforeReplace: true });

        // A new (or replaced) workstation is stopped as soon as it exists: it costs nothing until its researcher
        // starts it (connect), and a deploy holds the running G/VT vCPU quota only for a launch batch at a time.
        // Safe mid-boot: user data only writes files and enables units (write_files and runcmd are idempotent
        // and cloud-init reruns a stage whose semaphore it did not write); the real work (mount, pull, start)
        // runs as systemd units at every boot. `state` is ignored after creation, so an `up` (even with
        // --refresh) never stops a workstation a researcher is using. instanceId forces a new one with the instance.
        this.launched = new aws.ec2transitgateway.InstanceState(`${name}-stopped`, {
            instanceId: instance.id,
            state: "stopped",
        }, {
            parent: this, ignoreChanges: ["state"],
            // After the workspace is attached: EC2 attaches a volume only to a running or stopped instance,
            // so a stop racing the attachment (the instance caught "stopping") would fail the `up`.
            dependsOn: [attachment],
        });

        this.instanceId = instance.id;
        this.instanceArn = instance.arn;
        this.instanceRoleArn = role.arn;
        this.jupyterToken = pulumi.secret(token.result);
        this.registerOutputs({ instanceId: this.instanceId, workspaceVolumeId: this.workspaceVolumeId });
    }
}
