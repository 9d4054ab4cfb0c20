import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as random from "@pulumi/random";
import type { AccessMode } from "../config";
import { workstationPolicy } from "../iam";
import { connectInfo, ConnectInfo } from "../workstation/connect";
import { renderUserData } from "../workstation/userdata";

export interface GpuWorkstationArgs {
    /** Physical name prefix, e.g. archaeo-<institution>. */
    prefix: string;
    region: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    /** GPU instance type. Defaults to g5.xlarge. */
    instanceType?: string;
    /** Host memory of the instance type in GiB (sizes /dev/shm and the containers' memory limit). */
    memoryGiB: number;
    /** vCPUs of the instance type (sizes the containers' CPU limit). Defaults to 4. */
    vcpus?: number;
    /** GPUs of the instance type. Defaults to 1. */
    gpus?: number;
    /** The researcher this workstation belongs to (S3 prefix researchers/<id>/). Defaults to "researcher". */
    researcherId?: string;
    /** Pinned AMI id; when absent the AMI is resolved from `amiSsmParameter` at creation and then held. */
    amiId?: string;
    /** Public SSM parameter of the AWS Deep Learning Base OSS NVIDIA driver AMI. */
    amiSsmParameter: string;
    subnetId: pulumi.Input<string>;
    securityGroupId: pulumi.Input<string>;
    /** From WorkstationIdentity. */
    roleName: pulumi.Input<string>;
    instanceProfileName: pulumi.Input<string>;
    keyArn: pulumi.Input<string>;
    bucketArn: pulumi.Input<string>;
    repositoryArn: pulumi.Input<string>;
    /** repository@sha256:... */
    imageRef: pulumi.Input<string>;
    workspaceVolumeId: pulumi.Input<string>;
    /** Root volume in GiB. Defaults to 150. 100-2000. */
    rootVolumeSizeGiB?: number;
    /** SSM path of the stack; the workstation reads only parameters under it. */
    ssmPath: string;
    accessMode: AccessMode;
    sshPublicKeys: readonly string[];
    /** Idle minutes before auto-stop; 0 disables. Defaults to 60. */
    idleMinutes?: number;
    /** GPU utilisation (%) under which the GPU counts as idle. Defaults to 5. */
    gpuIdlePercent?: number;
    /** Tags for the root volume (provider default tags do not reach it). */
    volumeTags: Record<string, string>;
}

/**
 * The GPU EC2 workstation: Deep Learning Base OSS NVIDIA driver AMI, IMDSv2 only, encrypted root
 * volume, the workspace volume attached, Jupyter / SSH / TensorBoard from the stack's image as systemd
 * services, auto-stop when idle, shutdown behaviour "stop".
 */
export class GpuWorkstation extends pulumi.ComponentResource {
    public readonly instanceId: pulumi.Output<string>;
    public readonly instance: aws.ec2.Instance;
    public readonly publicIp: pulumi.Output<string>;
    public readonly jupyterToken: pulumi.Output<string>;
    public readonly jupyterTokenParameter: pulumi.Output<string>;
    public readonly connect: pulumi.Output<ConnectInfo>;

    constructor(name: string, args: GpuWorkstationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:workstation:GpuWorkstation", name, {}, opts);
        const child = { parent: this };
        const idleMinutes = args.idleMinutes ?? 60;

        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: args.roleName,
            policy: pulumi
                .all([args.partition, args.accountId, args.bucketArn, args.repositoryArn, args.keyArn])
                .apply(([partition, accountId, bucketArn, repositoryArn, keyArn]) =>
                    JSON.stringify(workstationPolicy({ partition, region: args.region, accountId, bucketArn, repositoryArn, keyArn, ssmPath: args.ssmPath })),
                ),
        }, child);

        const token = new random.RandomPassword(`${name}-jupyter-token`, { length: 48, special: false }, child);
        const tokenParam = new aws.ssm.Parameter(`${name}-jupyter-token`, {
            name: `${args.ssmPath}/jupyter-token`,
            description: "Jupyter token of the archaeo workstation (read at boot by the instance role)",
            type: "SecureString",
            keyId: args.keyArn,
            value: token.result,
        }, child);

        const ami = args.amiId
            ? pulumi.output(args.amiId)
            : aws.ssm.getParameterOutput({ name: args.amiSsmParameter }, { parent: this }).value;

        const userData = pulumi
            .all([args.imageRef, args.workspaceVolumeId, args.bucketArn, args.keyArn])
            .apply(([imageRef, workspaceVolumeId, bucketArn, kmsKeyArn]) =>
                renderUserData({
                    researcherId: args.researcherId ?? "researcher",
                    region: args.region,
                    imageRef,
                    workspaceVolumeId,
                    ssmPath: args.ssmPath,
                    dataBucket: bucketArn.split(":::")[1] ?? bucketArn,
                    kmsKeyArn,
                    accessMode: args.accessMode,
                    sshPublicKeys: args.sshPublicKeys,
                    memoryGiB: args.memoryGiB,
                    vcpus: args.vcpus ?? 4,
                    gpus: args.gpus ?? 1,
                    idleMinutes,
                    gpuIdlePercent: args.gpuIdlePercent ?? 5,
                }),
            );

        this.instance = new aws.ec2.Instance(`${name}-instance`, {
            ami,
            instanceType: args.instanceType ?? "g5.xlarge",
            subnetId: args.subnetId,
            vpcSecurityGroupIds: [args.securityGroupId],
            iamInstanceProfile: args.instanceProfileName,
            // A public address (no inbound rule in ssm mode) reaches SSM and ECR without a NAT gateway.
            associatePublicIpAddress: true,
            ebsOptimized: true,
            monitoring: false,
            instanceInitiatedShutdownBehavior: "stop",
            metadataOptions: {
                httpEndpoint: "enabled",
                httpTokens: "required",
                // 2 hops so containers on the docker bridge can reach IMDSv2 for the role's S3 access.
                httpPutResponseHopLimit: 2,
                instanceMetadataTags: "disabled",
            },
            rootBlockDevice: {
                volumeType: "gp3",
                volumeSize: args.rootVolumeSizeGiB ?? 150,
                encrypted: true,
                kmsKeyId: args.keyArn,
                deleteOnTermination: true,
                tags: { Name: `${args.prefix}-root`, ...args.volumeTags },
            },
            userData,
            // cloud-init reads user data only on first boot: a change must reach a new instance.
            userDataReplaceOnChange: true,
            tags: { Name: `${args.prefix}-workstation` },
        }, {
            parent: this,
            dependsOn: [policy, tokenParam],
            // The AMI resolved from SSM moves with every DLAMI release; hold it until the engineer
            // pins amiId or replaces the instance on purpose (the workspace lives on its own volume).
            ignoreChanges: args.amiId ? [] : ["ami"],
        });

        new aws.ec2.VolumeAttachment(`${name}-workspace-attachment`, {
            deviceName: "/dev/sdf",
            instanceId: this.instance.id,
            volumeId: args.workspaceVolumeId,
            stopInstanceBeforeDetaching: true,
        }, { parent: this, deleteBeforeReplace: true });

        this.instanceId = this.instance.id;
        this.publicIp = this.instance.publicIp;
        this.jupyterToken = pulumi.secret(token.result);
        this.jupyterTokenParameter = tokenParam.name;
        this.connect = pulumi
            .all([this.instance.id, this.instance.publicIp])
            .apply(([instanceId, publicIp]) => connectInfo({ instanceId, region: args.region, accessMode: args.accessMode, publicIp }));
        this.registerOutputs({ instanceId: this.instanceId, connect: this.connect });
    }
}
