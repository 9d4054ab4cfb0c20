/**
 * AWS resource types in @pulumi/aws 7.x that take no `tags` input (associations, attachments,
 * sub-configurations of a bucket, policies). Everything else is treated as taggable.
 */
export const NON_TAGGABLE_AWS_TYPES: ReadonlySet<string> = new Set([
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:ec2transitgateway/instanceState:InstanceState",
    "aws:ec2/route:Route",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:kms/alias:Alias",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "aws:efs/mountTarget:MountTarget",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:cloudwatch/eventTarget:EventTarget",
]);
