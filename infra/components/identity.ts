import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { assumeRolePolicy } from "../iam";

export interface WorkstationIdentityArgs {
    /** Physical name prefix, e.g. archaeo-<institution>. */
    prefix: string;
    /** Partition of the account ("aws", "aws-us-gov", ...). */
    partition: pulumi.Input<string>;
}

/**
 * The workstation's IAM role and instance profile, created before the KMS key so the key policy can
 * name the role. Permissions are attached by GpuWorkstation once the bucket, repository and key exist:
 * SSM managed core plus an inline policy scoped to this stack's ARNs.
 */
export class WorkstationIdentity extends pulumi.ComponentResource {
    public readonly roleArn: pulumi.Output<string>;
    public readonly roleName: pulumi.Output<string>;
    public readonly instanceProfileName: pulumi.Output<string>;

    constructor(name: string, args: WorkstationIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:identity:WorkstationIdentity", name, {}, opts);
        const child = { parent: this };

        const role = new aws.iam.Role(`${name}-role`, {
            name: `${args.prefix}-workstation`,
            description: "Archaeo GPU workstation: SSM, ECR pull, dataset bucket, stack KMS key, own SSM parameters",
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("ec2.amazonaws.com")),
        }, child);

        new aws.iam.RolePolicyAttachment(`${name}-ssm-core`, {
            role: role.name,
            policyArn: pulumi.interpolate`arn:${args.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
        }, child);

        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { name: `${args.prefix}-workstation`, role: role.name }, child);

        this.roleArn = role.arn;
        this.roleName = role.name;
        this.instanceProfileName = profile.name;
        this.registerOutputs({ roleArn: this.roleArn, instanceProfileName: this.instanceProfileName });
    }
}
