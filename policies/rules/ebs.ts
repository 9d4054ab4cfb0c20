/** Encryption at rest of block storage: volumes, instance root and data devices, launch templates. */
import * as aws from "@pulumi/aws";
import { ReportViolation, ResourceValidationPolicy } from "@pulumi/policy";
import { keyReferenceProblem } from "../lib/keys";
import { anyOf, onResource } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, UNKNOWN } from "../lib/util";

/**
 * Reports a key reference that is not a customer-managed key; an unknown one is deferred to `up`
 * (the stack policy kms-key-references-stack-key then checks it is the stack's own key).
 */
export function checkKey(d: Deferrals, report: ReportViolation, path: string, read: () => unknown, what: string): void {
    const k = d.read(path, read);
    if (k === UNKNOWN) return;
    const problem = keyReferenceProblem(k);
    if (problem) report(`${what} must be encrypted with the stack's KMS key: ${path} ${problem}.`);
}

export const ebsPolicies: ResourceValidationPolicy[] = [
    {
        name: "ebs-volumes-encrypted-cmk",
        description: "Checks whether EBS volumes and snapshot copies are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: anyOf(
            onResource(aws.ebs.Volume, "EBS volume", (v, args, report, d) => {
                if (v.encrypted !== true) report(`EBS volume '${args.name}' must set encrypted: true.`);
                checkKey(d, report, "kmsKeyId", () => v.kmsKeyId, `EBS volume '${args.name}'`);
            }),
            // EC2 CopySnapshot: without KmsKeyId the copy is encrypted with the account's default EBS key
            // (aws/ebs unless changed), not the institution's; kms-key-references-stack-key checks the key's account.
            onResource(aws.ebs.SnapshotCopy, "EBS snapshot copy", (c, args, report, d) => {
                if (c.encrypted !== true) report(`EBS snapshot copy '${args.name}' must set encrypted: true.`);
                checkKey(d, report, "kmsKeyId", () => c.kmsKeyId, `EBS snapshot copy '${args.name}'`);
            }),
        ),
    },
    {
        name: "ec2-instance-volumes-encrypted-cmk",
        description: "Checks whether an EC2 instance's root and data EBS devices are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ec2.Instance, "EC2 instance", (i, args, report, d) => {
            const root = i.rootBlockDevice;
            if (!root) report(`EC2 instance '${args.name}' must declare rootBlockDevice with encrypted: true and the stack's kmsKeyId (the AMI's default may be unencrypted).`);
            else {
                if (root.encrypted !== true) report(`EC2 instance '${args.name}' root volume must set encrypted: true.`);
                checkKey(d, report, "rootBlockDevice.kmsKeyId", () => root.kmsKeyId, `EC2 instance '${args.name}' root volume`);
            }
            asArray(i.ebsBlockDevices).forEach((dev, n) => {
                if (dev.encrypted !== true) report(`EC2 instance '${args.name}' ebsBlockDevices[${n}] (${dev.deviceName}) must set encrypted: true.`);
                checkKey(d, report, `ebsBlockDevices[${n}].kmsKeyId`, () => dev.kmsKeyId, `EC2 instance '${args.name}' ebsBlockDevices[${n}] (${dev.deviceName})`);
            });
        }),
    },
    {
        name: "launch-template-volumes-encrypted-cmk",
        description: "Checks whether launch template block devices are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ec2.LaunchTemplate, "Launch template", (lt, args, report, d) => {
            const devices = asArray(lt.blockDeviceMappings).filter((m) => m.ebs);
            if (devices.length === 0) report(`Launch template '${args.name}' must declare its root device in blockDeviceMappings with ebs.encrypted "true" and the stack's kmsKeyId.`);
            devices.forEach((m, n) => {
                // `encrypted` is a string ("true") on launch templates.
                if (String(m.ebs!.encrypted) !== "true") report(`Launch template '${args.name}' blockDeviceMappings[${n}] (${m.deviceName}) must set ebs.encrypted "true".`);
                checkKey(d, report, `blockDeviceMappings[${n}].ebs.kmsKeyId`, () => m.ebs!.kmsKeyId, `Launch template '${args.name}' blockDeviceMappings[${n}] (${m.deviceName})`);
            });
        }),
    },
];
