/** Daily snapshots of every researcher's workspace volume, optionally copied to a second region. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BackupConfig } from "../config";
import { assumeRolePolicy, PolicyDocument, policyDocument, PolicyStatement } from "../iam";
import { awsManagedPolicyArn } from "../arn";

export interface WorkspaceSnapshotsArgs {
    roleName: string;
    description: string;
    partition: pulumi.Input<string>;
    region: string;
    /** Tag (key: value) on the workspace volumes. */
    targetTag: Record<string, string>;
    backup: BackupConfig;
    keyArn: pulumi.Input<string>;
}

/** The DLM role's use of the stack key and, for cross-region copies, of the copy region's key (through EC2 only). */
export function snapshotKeyPolicy(a: { keyArn: string; region: string; copy?: { region: string; kmsKeyArn: string } }): PolicyDocument {
    const use = (sid: string, keyArn: string, region: string): PolicyStatement[] => [
        {
            Sid: sid,
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            Resource: keyArn,
            Condition: { StringEquals: { "kms:ViaService": `ec2.${region}.amazonaws.com` } },
        },
        {
            Sid: `${sid}Grants`,
            Effect: "Allow",
            Action: "kms:CreateGrant",
            Resource: keyArn,
            Condition: { StringEquals: { "kms:ViaService": `ec2.${region}.amazonaws.com` }, Bool: { "kms:GrantIsForAWSResource": "true" } },
        },
    ];
    return policyDocument(...use("StackKey", a.keyArn, a.region), ...(a.copy ? use("CopyRegionKey", a.copy.kmsKeyArn, a.copy.region) : []));
}

/**
 * Data Lifecycle Manager: a snapshot of each tagged workspace volume every day at 03:00 UTC, kept
 * `retentionDays`; with a copy region, each snapshot is also copied there, encrypted with that
 * region's key, and kept as long. Snapshots outlive a researcher's departure (the volume is retained).
 */
export class WorkspaceSnapshots extends pulumi.ComponentResource {
    constructor(name: string, args: WorkspaceSnapshotsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:instance:WorkspaceSnapshots", name, {}, opts);
        const child = { parent: this };
        const b = args.backup;
        const role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            description: "Data Lifecycle Manager: daily snapshots of the archaeo workspace volumes",
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("dlm.amazonaws.com")),
        }, child);
        const managed = new aws.iam.RolePolicyAttachment(`${name}-dlm-policy`, {
            role: role.name,
            policyArn: awsManagedPolicyArn(args.partition, "service-role/AWSDataLifecycleManagerServiceRole"),
        }, child);
        const keys = new aws.iam.RolePolicy(`${name}-kms`, {
            role: role.name,
            policy: pulumi.output(args.keyArn).apply((keyArn) => JSON.stringify(snapshotKeyPolicy({ keyArn, region: args.region, copy: b.copy }))),
        }, child);
        new aws.dlm.LifecyclePolicy(`${name}-daily`, {
            description: args.description,
            executionRoleArn: role.arn,
            state: "ENABLED",
            policyDetails: {
                policyType: "EBS_SNAPSHOT_MANAGEMENT",
                resourceTypes: ["VOLUME"],
                targetTags: args.targetTag,
                schedules: [{
                    name: "daily",
                    createRule: { interval: 24, intervalUnit: "HOURS", times: "03:00" },
                    retainRule: { count: b.retentionDays },
                    copyTags: true,
                    tagsToAdd: { "archaeo-snapshot-of": Object.values(args.targetTag)[0] },
                    ...(b.copy ? {
                        crossRegionCopyRules: [{
                            target: b.copy.region,
                            encrypted: true,
                            cmkArn: b.copy.kmsKeyArn,
                            copyTags: true,
                            retainRule: { interval: b.retentionDays, intervalUnit: "DAYS" },
                        }],
                    } : {}),
                }],
            },
        }, { parent: this, dependsOn: [managed, keys] });
        this.registerOutputs({});
    }
}
