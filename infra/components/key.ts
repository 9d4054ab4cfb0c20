import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { keyPolicy, KeyPolicyArgs } from "../iam";

export interface KeyArgs {
    /** Institution slug; the alias is alias/archaeo/<institution>. */
    institution: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    /** Roles allowed to use the key for encrypt/decrypt (the workstation role). */
    userRoleArns: pulumi.Input<string>[];
    /** Use this existing customer-managed key instead of creating one. Its policy must let userRoleArns use it. */
    existingKeyArn?: string;
    /** Protect the key and retain it on delete (default true): losing it loses every byte it encrypts. */
    protect?: boolean;
    /** Cluster mode: AWS services that encrypt with the key on the stack's behalf. */
    services?: Pick<KeyPolicyArgs, "logs" | "eventBridge" | "autoScaling">;
}

/**
 * The institution's customer-managed KMS key: rotation on, 30-day deletion window, alias
 * alias/archaeo/<institution>. Every byte at rest in the stack is encrypted with it.
 */
export class Key extends pulumi.ComponentResource {
    public readonly keyArn: pulumi.Output<string>;
    public readonly aliasName: pulumi.Output<string | undefined>;
    /** The KMS key resource when this component created it (undefined for an existing key). */
    public readonly key?: aws.kms.Key;

    constructor(name: string, args: KeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:key:Key", name, {}, opts);
        const protect = args.protect ?? true;

        if (args.existingKeyArn) {
            this.keyArn = pulumi.output(args.existingKeyArn);
            this.aliasName = pulumi.output(undefined);
        } else {
            const policy = pulumi
                .all([args.partition, args.accountId, pulumi.all(args.userRoleArns)])
                .apply(([partition, accountId, userRoleArns]) => JSON.stringify(keyPolicy({ partition, accountId, userRoleArns, ...args.services })));
            this.key = new aws.kms.Key(`${name}-cmk`, {
                description: `Archaeo workbench key for ${args.institution}: every byte the stack stores at rest`,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                keyUsage: "ENCRYPT_DECRYPT",
                customerMasterKeySpec: "SYMMETRIC_DEFAULT",
                policy,
            }, { parent: this, protect, retainOnDelete: protect });
            const alias = new aws.kms.Alias(`${name}-alias`, {
                name: `alias/archaeo/${args.institution}`,
                targetKeyId: this.key.keyId,
            }, { parent: this });
            this.keyArn = this.key.arn;
            this.aliasName = alias.name;
        }
        this.registerOutputs({ keyArn: this.keyArn, aliasName: this.aliasName });
    }
}
