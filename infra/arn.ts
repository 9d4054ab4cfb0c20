import * as pulumi from "@pulumi/pulumi";

/**
 * An AWS managed policy's ARN in the stack's partition (aws, aws-cn, aws-us-gov). `path` includes the
 * policy's IAM path where AWS puts one, e.g. "service-role/AWSBackupServiceRolePolicyForBackup".
 */
export function awsManagedPolicyArn(partition: pulumi.Input<string>, path: string): pulumi.Output<string> {
    return pulumi.interpolate`arn:${partition}:iam::aws:policy/${path}`;
}
