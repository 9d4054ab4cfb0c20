/**
 * Network interfaces and IPv4 addresses per interface of the instance types a cluster stack runs, for the
 * subnet-address line of the quota table (tools/quotas.ts).
 *
 * Source: aws/karpenter-provider-aws pkg/providers/instancetype/zz_generated.vpclimits.go (`Interface`,
 * `IPv4PerInterface`; generated 2026-08-06, read at 1d927085), each cross-checked against
 * aws/amazon-vpc-cni-k8s misc/eni-max-pods.txt (maxPods = ENIs x (IPv4 per ENI - 1) + 2, read at b5218838).
 * test/quotas.test.ts checks that every GPU type in data/gpus.ts is here.
 */
export interface EniLimits {
    readonly enis: number;
    readonly ipv4PerEni: number;
}

export const ENI_LIMITS: Readonly<Record<string, EniLimits>> = Object.freeze({
    "g4dn.xlarge": { enis: 3, ipv4PerEni: 10 },
    "g4dn.2xlarge": { enis: 3, ipv4PerEni: 10 },
    "g4dn.4xlarge": { enis: 3, ipv4PerEni: 10 },
    "g4dn.12xlarge": { enis: 8, ipv4PerEni: 30 },
    "g5.xlarge": { enis: 4, ipv4PerEni: 15 },
    "g5.2xlarge": { enis: 4, ipv4PerEni: 15 },
    "g5.4xlarge": { enis: 8, ipv4PerEni: 30 },
    "g5.12xlarge": { enis: 15, ipv4PerEni: 50 },
    "g6.xlarge": { enis: 4, ipv4PerEni: 15 },
    "g6.2xlarge": { enis: 4, ipv4PerEni: 15 },
    "g6.4xlarge": { enis: 8, ipv4PerEni: 30 },
    "g6.12xlarge": { enis: 8, ipv4PerEni: 30 },
    "g6e.xlarge": { enis: 4, ipv4PerEni: 15 },
    "g6e.2xlarge": { enis: 4, ipv4PerEni: 15 },
    "g6e.4xlarge": { enis: 8, ipv4PerEni: 30 },
    "g6e.12xlarge": { enis: 10, ipv4PerEni: 30 },
    "t4g.large": { enis: 3, ipv4PerEni: 12 },
    "t4g.nano": { enis: 2, ipv4PerEni: 2 },
    "m7i.large": { enis: 3, ipv4PerEni: 10 },
    "c7i.large": { enis: 3, ipv4PerEni: 10 },
    "r7i.large": { enis: 3, ipv4PerEni: 10 },
});

/** Pods a node of this type can run with the VPC CNI (eni-max-pods.txt's formula). */
export function maxPods(l: EniLimits): number {
    return l.enis * (l.ipv4PerEni - 1) + 2;
}

/**
 * Addresses a node holds with the VPC CNI's default WARM_ENI_TARGET=1 ("ipamd attempts to keep 1 elastic
 * network interface and all of its IP addresses available for pod assignment", amazon-vpc-cni-k8s README):
 * the ENI its pods use plus one whole spare, or all of them on a type with fewer.
 */
export function addressesHeld(l: EniLimits): number {
    return Math.min(2, l.enis) * l.ipv4PerEni;
}
