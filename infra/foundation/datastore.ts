/** The institution's dataset bucket and the encrypted, versioned, non-public bucket shape every stack bucket shares. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface EncryptedBucketArgs {
    /** Physical bucket name (globally unique; includes institution, stack and an account/region hash). */
    bucketName: pulumi.Input<string>;
    /** The stack's customer-managed KMS key. */
    keyArn: pulumi.Input<string>;
    /** What the bucket holds: tagged archaeo-purpose so the policy pack knows which rules apply. */
    purpose: "datasets" | "audit-logs";
    /** The bucket policy document (JSON), from the bucket's ARN: TLS-only at least. */
    policy: (bucketArn: pulumi.Output<string>) => pulumi.Input<string>;
    /** Expire objects (current and previous versions) after this many days; absent keeps them. */
    expireAfterDays?: number;
    /** Protect and retain on delete. */
    protect: boolean;
}

/**
 * An S3 bucket as the security model wants it: SSE-KMS with the stack key and a bucket key,
 * versioned, every public access block on, owner-enforced objects (no ACLs), a bucket policy.
 */
export class EncryptedBucket extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    /** Resolves once encryption, versioning and the policy are in place. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: EncryptedBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:EncryptedBucket", name, {}, opts);
        const child = { parent: this };
        this.bucket = new aws.s3.Bucket(`${name}`, {
            bucket: args.bucketName,
            // A teardown (protectData: false) must empty the bucket for `pulumi destroy` to complete: CloudTrail
            // writes audit logs into it until the trail goes, and S3 refuses to delete a bucket that holds objects
            // (BucketNotEmpty). With protectData the bucket is protected and retained, and never emptied.
            forceDestroy: !args.protect,
            tags: { "archaeo-purpose": args.purpose },
        }, { parent: this, protect: args.protect, retainOnDelete: args.protect });
        const sse = new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-sse`, {
            bucket: this.bucket.id,
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.keyArn }, bucketKeyEnabled: true }],
        }, child);
        const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } }, child);
        const pab = new aws.s3.BucketPublicAccessBlock(`${name}-pab`, {
            bucket: this.bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
        }, child);
        new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const policy = new aws.s3.BucketPolicy(`${name}-policy`, {
            bucket: this.bucket.id,
            policy: args.policy(this.bucket.arn),
        }, { parent: this, dependsOn: [pab] });
        this.ready = [sse, versioning, policy];
        if (args.expireAfterDays !== undefined) {
            this.ready.push(new aws.s3.BucketLifecycleConfiguration(`${name}-retention`, {
                bucket: this.bucket.id,
                rules: [{
                    id: "retention",
                    status: "Enabled",
                    filter: {},
                    expiration: { days: args.expireAfterDays },
                    noncurrentVersionExpiration: { noncurrentDays: args.expireAfterDays },
                }],
            }, { parent: this, dependsOn: [versioning] }));
        }
        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
    }
}
