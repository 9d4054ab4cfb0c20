/**
 * Who read which images: a CloudTrail trail recording S3 data events (reads and writes) on the dataset
 * bucket's objects, into an audit bucket encrypted with the stack key, versioned, non-public, with
 * log-file validation and a retention period. S3 server access logging can't be used: its target
 * bucket may not use SSE-KMS (AWS S3 user guide, "Enabling Amazon S3 server access logging").
 * Researchers act through their own roles with their id as the session name, so each record names them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { auditBucketPolicy } from "../iam";
import { EncryptedBucket } from "./datastore";

export interface AuditTrailArgs {
    trailName: string;
    bucketName: pulumi.Input<string>;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    region: string;
    keyArn: pulumi.Input<string>;
    /** The dataset bucket whose object reads and writes are recorded. */
    datasetBucketArn: pulumi.Input<string>;
    retentionDays: number;
    protect: boolean;
    /** The key policy must let CloudTrail use the key before the trail is created. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * Advanced event selector: S3 object-level (data) events on one bucket, reads and writes.
 * Typed by the provider's own input type, so an operator it does not know (CloudTrail's API says
 * `StartsWith`; the provider's field is `startsWiths`) fails the type check instead of being dropped.
 */
export function datasetEventSelectors(datasetBucketArn: string): aws.types.input.cloudtrail.TrailAdvancedEventSelector[] {
    return [{
        name: "Dataset bucket object access",
        fieldSelectors: [
            { field: "eventCategory", equals: ["Data"] },
            { field: "resources.type", equals: ["AWS::S3::Object"] },
            { field: "resources.ARN", startsWiths: [`${datasetBucketArn}/`] },
        ],
    }];
}

export class AuditTrail extends pulumi.ComponentResource {
    public readonly trailArn: pulumi.Output<string>;
    public readonly bucketName: pulumi.Output<string>;

    constructor(name: string, args: AuditTrailArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:AuditTrail", name, {}, opts);
        const logs = new EncryptedBucket(`${name}-logs`, {
            bucketName: args.bucketName,
            keyArn: args.keyArn,
            purpose: "audit-logs",
            policy: (bucketArn) => pulumi.all([bucketArn, args.partition, args.accountId]).apply(([arn, partition, accountId]) =>
                JSON.stringify(auditBucketPolicy({ bucketArn: arn, partition, accountId, region: args.region, trailName: args.trailName }))),
            expireAfterDays: args.retentionDays,
            protect: args.protect,
        }, { parent: this });
        const trail = new aws.cloudtrail.Trail(`${name}-trail`, {
            name: args.trailName,
            s3BucketName: logs.bucketName,
            kmsKeyId: args.keyArn,
            enableLogFileValidation: true,
            includeGlobalServiceEvents: false,
            isMultiRegionTrail: false,
            enableLogging: true,
            advancedEventSelectors: pulumi.output(args.datasetBucketArn).apply(datasetEventSelectors),
        }, { parent: this, dependsOn: [...logs.ready, ...(args.dependsOn as pulumi.Resource[])] });
        this.trailArn = trail.arn;
        this.bucketName = logs.bucketName;
        this.registerOutputs({ trailArn: this.trailArn, bucketName: this.bucketName });
    }
}
