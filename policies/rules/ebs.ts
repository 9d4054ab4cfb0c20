import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, isCustomerKey } from "../lib/util";

/** Encryption at rest of block storage: volumes, instance root and data devices, launch templates. */
export const ebsPolicies: ResourceValidationPolicy[] = [
    {
        name: "ebs-volumes-encrypted-cmk",
        description: "Checks whether EBS volumes are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ebs.Volume, (v, args, report) => {
            if (v.encrypted !== true) report(`EBS volume '${args.name}' must set encrypted: true.`);
            if (!isCustomerKey(get(() => v.kmsKeyId))) report(`EBS volume '${args.name}' must be encrypted with the stack's KMS key (kmsKeyId), not the AWS-managed aws/ebs key.`);
        }),
    },
    {
        name: "ec2-instance-volumes-encrypted-cmk",
        description: "Checks whether an EC2 instance's root and data EBS devices are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, args, report) => {
            const root = i.rootBlockDevice;
            if (!root) report(`EC2 instance '${args.name}' must declare rootBlockDevice with encrypted: true and the stack's kmsKeyId (the AMI's default may be unencrypted).`);
            else {
                if (root.encrypted !== true) report(`EC2 instance '${args.name}' root volume must set encrypted: true.`);
                if (!isCustomerKey(get(() => root.kmsKeyId))) report(`EC2 instance '${args.name}' root volume must be encrypted with the stack's KMS key (rootBlockDevice.kmsKeyId).`);
            }
            asArray(i.ebsBlockDevices).forEach((d, n) => {
                if (d.encrypted !== true || !isCustomerKey(get(() => d.kmsKeyId))) {
                    report(`EC2 instance '${args.name}' ebsBlockDevices[${n}] (${d.deviceName}) must be encrypted with the stack's KMS key.`);
                }
            });
        }),
    },
    {
        name: "launch-template-volumes-encrypted-cmk",
        description: "Checks whether launch template block devices are encrypted with a customer-managed KMS key.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.LaunchTemplate, (lt, args, report) => {
            const devices = asArray(lt.blockDeviceMappings).filter((m) => m.ebs);
            if (devices.length === 0) report(`Launch template '${args.name}' must declare its root device in blockDeviceMappings with ebs.encrypted "true" and the stack's kmsKeyId.`);
            devices.forEach((m, n) => {
                // `encrypted` is a string ("true") on launch templates.
                if (String(m.ebs!.encrypted) !== "true" || !isCustomerKey(get(() => m.ebs!.kmsKeyId))) {
                    report(`Launch template '${args.name}' blockDeviceMappings[${n}] (${m.deviceName}) must set ebs.encrypted "true" and the stack's kmsKeyId.`);
                }
            });
        }),
    },
];
