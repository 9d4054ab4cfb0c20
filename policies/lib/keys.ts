/** KMS key references: where each resource type names its key, and what makes a reference acceptable. */
import type { PolicyResource } from "@pulumi/policy";
import { parseArn } from "./arn";
import { get, UNKNOWN } from "./util";
import { valuesAt } from "./walk";

/**
 * Property paths holding a KMS key reference, per resource type. `sameKey: false` marks keys that are
 * by design not the stack key (a copy into another region needs a key there) but must still be the
 * stack's own.
 */
export const KEY_REFERENCES: Readonly<Record<string, ReadonlyArray<{ path: string; sameKey?: false }>>> = {
    "aws:ebs/volume:Volume": [{ path: "kmsKeyId" }],
    "aws:ec2/instance:Instance": [{ path: "rootBlockDevice.kmsKeyId" }, { path: "ebsBlockDevices[].kmsKeyId" }],
    "aws:ec2/launchTemplate:LaunchTemplate": [{ path: "blockDeviceMappings[].ebs.kmsKeyId" }],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [{ path: "rules[].applyServerSideEncryptionByDefault.kmsMasterKeyId" }],
    "aws:ecr/repository:Repository": [{ path: "encryptionConfigurations[].kmsKey" }],
    "aws:efs/fileSystem:FileSystem": [{ path: "kmsKeyId" }],
    "aws:eks/cluster:Cluster": [{ path: "encryptionConfig.provider.keyArn" }],
    "aws:ssm/parameter:Parameter": [{ path: "keyId" }],
    "aws:cloudwatch/logGroup:LogGroup": [{ path: "kmsKeyId" }],
    "aws:sqs/queue:Queue": [{ path: "kmsMasterKeyId" }],
    "aws:sns/topic:Topic": [{ path: "kmsMasterKeyId" }],
    "aws:cloudtrail/trail:Trail": [{ path: "kmsKeyId" }],
    "aws:backup/vault:Vault": [{ path: "kmsKeyArn" }],
    "aws:secretsmanager/secret:Secret": [{ path: "kmsKeyId" }],
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": [
        { path: "policyDetails.schedules[].crossRegionCopyRules[].cmkArn", sameKey: false },
        // Event-based policies copy shared snapshots with actions[].crossRegionCopies (DLM CrossRegionCopyAction).
        { path: "policyDetails.actions[].crossRegionCopies[].encryptionConfiguration.cmkArn", sameKey: false },
    ],
    // Copies of the stack's data elsewhere (another region, or another account's bucket): the key that
    // encrypts the copy must still be one of this account (S3 ReplicaKmsKeyID, EC2 CopySnapshot KmsKeyId).
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": [{ path: "rules[].destination.encryptionConfiguration.replicaKmsKeyId", sameKey: false }],
    "aws:s3/bucket:Bucket": [{ path: "replicationConfiguration.rules[].destination.replicaKmsKeyId", sameKey: false }],
    "aws:ebs/snapshotCopy:SnapshotCopy": [{ path: "kmsKeyId", sameKey: false }],
    "kubernetes:storage.k8s.io/v1:StorageClass": [{ path: "parameters.kmsKeyId" }],
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": [{ path: "spec.blockDeviceMappings[].ebs.kmsKeyID" }],
};

/**
 * Why a known key reference is not a customer-managed key of this design, or undefined when it is
 * acceptable at resource level: absent, empty, or an AWS-managed alias (alias/aws/*).
 */
export function keyReferenceProblem(v: unknown): string | undefined {
    if (v === undefined || v === null || v === "") return "is not set (the service would use its AWS-managed key)";
    if (typeof v !== "string") return `is not a key reference (${JSON.stringify(v)})`;
    if (/(^|:)alias\/aws\//.test(v)) return `names the AWS-managed key ${v.replace(/^.*alias\//, "alias/")}`;
    return undefined;
}

/** A key ARN's account, or undefined for key ids and aliases. */
export function keyAccount(ref: string): string | undefined {
    const a = parseArn(ref);
    return a?.service === "kms" && /^\d{12}$/.test(a.account) ? a.account : undefined;
}

/**
 * The stack's own key ARNs: the keys it defines (aws:kms/key:Key), or, when it defines none (an existing key
 * given as kmsKeyArn), the one key every same-key reference names (`kms-keys-are-the-stack-key` reports a stack
 * whose references name several). UNKNOWN among them while a defined key's ARN, or a reference, is not known yet.
 */
export function stackKeyArns(resources: readonly PolicyResource[]): unknown[] {
    const defined = resources.filter((r) => r.type === "aws:kms/key:Key").map((k) => get(() => k.props.arn));
    if (defined.length) return defined;
    const named = new Set<unknown>();
    for (const r of resources) {
        for (const spec of KEY_REFERENCES[r.type] ?? []) {
            if (spec.sameKey === false) continue;
            for (const f of valuesAt(r.props, spec.path)) {
                if (f.value === UNKNOWN) named.add(UNKNOWN);
                else if (typeof f.value === "string" && parseArn(f.value)?.service === "kms") named.add(f.value);
            }
        }
    }
    const arns = [...named].filter((v) => v !== UNKNOWN);
    return arns.length === 1 ? [...arns, ...(named.has(UNKNOWN) ? [UNKNOWN] : [])] : named.has(UNKNOWN) ? [UNKNOWN] : [];
}
