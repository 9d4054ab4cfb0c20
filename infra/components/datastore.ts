import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { assumeRolePolicy, denyInsecureTransportPolicy } from "../iam";

export interface DataStoreArgs {
    /** Physical name prefix, e.g. archaeo-<institution>. */
    prefix: string;
    accountId: pulumi.Input<string>;
    region: string;
    partition: pulumi.Input<string>;
    /** The stack's customer-managed KMS key. */
    keyArn: pulumi.Input<string>;
    /** The EBS /workspace volume (instance mode); cluster mode keeps its workspace on EFS instead. */
    workspace?: {
        /** AZ of the workstation: an EBS volume can only attach in its own AZ. */
        availabilityZone: string;
        /** Workspace size in GiB (gp3). 50-16384. */
        sizeGiB: number;
        /** Daily snapshots kept. 1-365. */
        snapshotRetentionDays: number;
        /** Tag (key: value) the DLM policy targets; put only on the workspace volume. */
        snapshotTag: Record<string, string>;
    };
    /** Protect and retain on delete the bucket and the workspace volume. Defaults to true. */
    protect?: boolean;
}

/**
 * Where researchers' data lives: the dataset bucket (SSE-KMS with the stack key and a bucket key,
 * versioned, public access blocked, TLS-only) and the persistent gp3 /workspace volume (encrypted with
 * the stack key, snapshotted daily by Data Lifecycle Manager).
 */
export class DataStore extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly workspaceVolume?: aws.ebs.Volume;
    public readonly workspaceVolumeId?: pulumi.Output<string>;

    constructor(name: string, args: DataStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:datastore:DataStore", name, {}, opts);
        const child = { parent: this };
        const protect = args.protect ?? true;
        const stateful = { parent: this, protect, retainOnDelete: protect };

        this.bucket = new aws.s3.Bucket(`${name}-datasets`, {
            bucket: pulumi.interpolate`${args.prefix}-${args.accountId}-${args.region}`,
            forceDestroy: false,
        }, stateful);

        new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-datasets-sse`, {
            bucket: this.bucket.id,
            rules: [{
                applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.keyArn },
                bucketKeyEnabled: true,
            }],
        }, child);

        new aws.s3.BucketVersioning(`${name}-datasets-versioning`, {
            bucket: this.bucket.id,
            versioningConfiguration: { status: "Enabled" },
        }, child);

        const pab = new aws.s3.BucketPublicAccessBlock(`${name}-datasets-pab`, {
            bucket: this.bucket.id,
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        }, child);

        new aws.s3.BucketOwnershipControls(`${name}-datasets-ownership`, {
            bucket: this.bucket.id,
            rule: { objectOwnership: "BucketOwnerEnforced" },
        }, child);

        new aws.s3.BucketPolicy(`${name}-datasets-tls-only`, {
            bucket: this.bucket.id,
            policy: this.bucket.arn.apply((arn) => JSON.stringify(denyInsecureTransportPolicy(arn))),
        }, { parent: this, dependsOn: [pab] });

        if (args.workspace) {
            const ws = args.workspace;
            this.workspaceVolume = new aws.ebs.Volume(`${name}-workspace`, {
                availabilityZone: ws.availabilityZone,
                size: ws.sizeGiB,
                type: "gp3",
                encrypted: true,
                kmsKeyId: args.keyArn,
                finalSnapshot: true,
                tags: { Name: `${args.prefix}-workspace`, ...ws.snapshotTag },
            }, stateful);

            const dlmRole = new aws.iam.Role(`${name}-dlm-role`, {
                name: `${args.prefix}-dlm`,
                description: "Data Lifecycle Manager: daily snapshots of the archaeo workspace volume",
                assumeRolePolicy: JSON.stringify(assumeRolePolicy("dlm.amazonaws.com")),
            }, child);
            new aws.iam.RolePolicyAttachment(`${name}-dlm-policy`, {
                role: dlmRole.name,
                policyArn: pulumi.interpolate`arn:${args.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole`,
            }, child);

            new aws.dlm.LifecyclePolicy(`${name}-workspace-snapshots`, {
                description: `Daily snapshots of ${args.prefix} workspace, ${ws.snapshotRetentionDays} kept`,
                executionRoleArn: dlmRole.arn,
                state: "ENABLED",
                policyDetails: {
                    policyType: "EBS_SNAPSHOT_MANAGEMENT",
                    resourceTypes: ["VOLUME"],
                    targetTags: ws.snapshotTag,
                    schedules: [{
                        name: "daily",
                        createRule: { interval: 24, intervalUnit: "HOURS", times: "03:00" },
                        retainRule: { count: ws.snapshotRetentionDays },
                        copyTags: true,
                        tagsToAdd: { "archaeo-snapshot-of": `${args.prefix}-workspace` },
                    }],
                },
            }, child);
            this.workspaceVolumeId = this.workspaceVolume.id;
        }

        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, workspaceVolumeId: this.workspaceVolumeId });
    }
}
