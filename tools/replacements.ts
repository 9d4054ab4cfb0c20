/**
 * Properties whose change makes the provider replace the resource (Terraform "forces new resource"
 * in the AWS provider documentation), for the types this stack creates. The offline plan cannot ask
 * the provider, so it uses this table to mark `+-` replacements in a diff; unlisted properties show
 * as in-place updates. Review against the provider docs when adding resource types.
 */
export const REPLACE_ON_CHANGE: Readonly<Record<string, readonly string[]>> = {
    "aws:ec2/vpc:Vpc": ["cidrBlock"],
    "aws:ec2/subnet:Subnet": ["availabilityZone", "cidrBlock", "vpcId"],
    "aws:ec2/securityGroup:SecurityGroup": ["description", "name", "vpcId"],
    "aws:ec2/vpcEndpoint:VpcEndpoint": ["serviceName", "vpcEndpointType", "vpcId"],
    "aws:ec2/instance:Instance": ["ami", "associatePublicIpAddress", "availabilityZone", "subnetId", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId", "tenancy"],
    "aws:ebs/volume:Volume": ["availabilityZone", "encrypted", "kmsKeyId", "snapshotId"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "instanceId", "volumeId"],
    // terraform-provider-aws internal/service/ec2/ec2_instance_state.go: instance_id is ForceNew; state and force update in place.
    "aws:ec2transitgateway/instanceState:InstanceState": ["instanceId"],
    "aws:s3/bucket:Bucket": ["bucket"],
    "aws:kms/key:Key": ["customerMasterKeySpec", "keyUsage", "multiRegion"],
    "aws:kms/alias:Alias": ["name"],
    "aws:ecr/repository:Repository": ["name", "encryptionConfigurations"],
    "aws:ssm/parameter:Parameter": ["name"],
    "aws:iam/role:Role": ["name"],
    "aws:iam/instanceProfile:InstanceProfile": ["name"],
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": [],
    "aws:budgets/budget:Budget": ["name"],
    "random:index/randomPassword:RandomPassword": ["length", "special", "upper", "lower", "numeric"],
    "docker:index/image:Image": ["imageName", "build"],
};

/** Changed paths (as the manifest diff reports them) that force a replacement. */
export function replacementCauses(type: string, changedPaths: readonly string[], inputs: Record<string, unknown>): string[] {
    const keys = [...(REPLACE_ON_CHANGE[type] ?? [])];
    // User data (either form) replaces the instance only when userDataReplaceOnChange is set (it is, in
    // this stack); otherwise EC2 stops and starts it. @pulumi/aws 7.48.0 ec2/instance.d.ts, userData and
    // userDataBase64: "If the `userDataReplaceOnChange` is set then updates to this field will trigger a
    // destroy and recreate of the EC2 instance."
    if (type === "aws:ec2/instance:Instance" && inputs.userDataReplaceOnChange === true) keys.push("userData", "userDataBase64");
    return changedPaths.filter((p) => keys.some((k) => p === k || p.startsWith(`${k}.`) || p.startsWith(`${k}[`)));
}
