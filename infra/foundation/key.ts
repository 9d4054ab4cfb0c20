/** The institution's customer-managed KMS key (or an existing one it names): every byte at rest in the stack. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { keyPolicy, KeyPolicyArgs } from "../iam";

export interface KeyArgs {
    /** Alias name without "alias/": archaeo/<institution>/<stack>. */
    aliasName: string;
    description: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    region: string;
    /** AWS services that encrypt with the key on the stack's behalf (see infra/iam.ts keyPolicy). */
    services: Omit<KeyPolicyArgs, "partition" | "accountId" | "region">;
    /** Use this existing customer-managed key instead of creating one (its policy must allow what keyPolicy allows). */
    existingKeyArn?: string;
    /** Protect the key and retain it on delete (default true): losing it loses every byte it encrypts. */
    protect?: boolean;
}

/** Rotation on, 30-day deletion window, an alias per stack; the key policy from infra/iam.ts keyPolicy. */
export class Key extends pulumi.ComponentResource {
    public readonly keyArn: pulumi.Output<string>;
    /** The policy the key has (or, for an existing key, must allow), for the README and the plan. */
    public readonly policy: pulumi.Output<string>;
    public readonly aliasName?: pulumi.Output<string>;

    constructor(name: string, args: KeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:Key", name, {}, opts);
        const protect = args.protect ?? true;
        this.policy = pulumi
            .all([args.partition, args.accountId])
            .apply(([partition, accountId]) => JSON.stringify(keyPolicy({ partition, accountId, region: args.region, ...args.services })));

        if (args.existingKeyArn) {
            this.keyArn = pulumi.output(args.existingKeyArn);
        } else {
            const key = new aws.kms.Key(`${name}-cmk`, {
                description: args.description,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                keyUsage: "ENCRYPT_DECRYPT",
                customerMasterKeySpec: "SYMMETRIC_DEFAULT",
                policy: this.policy,
            }, { parent: this, protect, retainOnDelete: protect });
            const alias = new aws.kms.Alias(`${name}-alias`, { name: `alias/${args.aliasName}`, targetKeyId: key.keyId }, { parent: this });
            this.keyArn = key.arn;
            this.aliasName = alias.name;
        }
        this.registerOutputs({ keyArn: this.keyArn });
    }
}
