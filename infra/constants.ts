/** Constants written once: ports, the researcher's uid, taints, Kubernetes names, mount points. */

/** Ports the workbench serves inside its containers (SSH from the image's unprivileged sshd). */
export const PORTS = { ssh: 2222, jupyter: 8888, tensorboard: 6006, hub: 8000 } as const;

/** The one Unix account of the image: uid/gid 1000, no sudo. */
export const RESEARCHER_UID = 1000;
export const RESEARCHER_USER = "researcher";

/** Where things are inside every workbench container and job. */
export const MOUNTS = { workspace: "/workspace", home: "/home/researcher", data: "/data", mydata: "/mydata", runs: "/workspace/runs" } as const;

/** Taints Karpenter puts on GPU nodes; only pods that tolerate them land there. */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" } as const;
export const BATCH_TAINT = { key: "archaeo/batch", value: "true", effect: "NoSchedule" } as const;

/** Cluster mode's fixed parts, as infra/cluster builds them and infra/cost.ts prices them: the arm64 system node, the NAT instance, GPU node root size. */
export const CLUSTER_SHAPE = { systemInstanceType: "t4g.large", systemRootGiB: 20, natInstanceType: "t4g.nano", natRootGiB: 8, gpuNodeRootGiB: 150, cpuNodeRootGiB: 100 } as const;

/** Karpenter NodePool names and the node label they set. */
export const POOLS = { gpu: "gpu", batchSpot: "gpu-batch-spot", system: "system", label: "archaeo/pool" } as const;

/** Per researcher: at most 6 OpenSSH keys of at most 800 characters (an RSA-4096 key is ~725 plus its comment),
 *  so they fit one Advanced SSM parameter (8 KB) that the workstation reads at boot (<ssmPath>/ssh-keys), and the
 *  cluster's ssh-keys ConfigMap. */
export const SSH_KEY_LIMITS = { perResearcher: 6, chars: 800 } as const;

/** Cold HDD's smallest size (botocore ec2 ModifyVolume Size: "st1 and sc1: 125 - 16,384 GiB"). */
export const SC1_MIN_GIB = 125;

/**
 * The EBS type of a workspace: gp3 while its researcher works; parked, Cold HDD (sc1, in place through ModifyVolume:
 * type is not a replace-on-change input of aws_ebs_volume, tools/replace-rules) when the volume is at least sc1's
 * minimum size, since a volume never shrinks back (ModifyVolume: "The target volume size must be greater than or
 * equal to the existing size"); a smaller one stays gp3.
 */
export function workspaceVolumeType(r: { parked: boolean; workspaceSizeGiB: number }): "gp3" | "sc1" {
    return r.parked && r.workspaceSizeGiB >= SC1_MIN_GIB ? "sc1" : "gp3";
}

/**
 * gp3's baseline, set explicitly on a gp3 workspace (and left out on sc1, which takes neither). Unparking changes
 * sc1 to gp3, and on a type change to gp3 terraform-provider-aws's aws_ebs_volume update sends
 * ModifyVolume Iops = the iops it holds (ebs_volume.go: "if you change the volume type to io1, io2, or gp3" ...
 * input.Iops = d.Get("iops")), which for an sc1 volume is what EC2 reports: nothing (botocore ec2 Volume.Iops is
 * defined for gp3, io1, io2 and gp2 only), so 0, below gp3's 3,000 - 80,000 (ModifyVolume Iops): the unpark would be
 * refused. Explicit values are also what a gp3 volume created without them has (CreateVolume defaults), so a
 * working workspace's plan does not change.
 */
export const GP3_BASELINE = { iops: 3000, throughputMiBps: 125 } as const;
