/**
 * Cluster mode's image cache: the GPU node class gets a second EBS volume created from a snapshot that holds the
 * workbench image already pulled and unpacked into containerd's store, so a new GPU node starts a server without
 * pulling ~4.4 GiB from ECR (tools/ttn.ts models both paths).
 *
 * The pattern is AWS's own (aws-samples/bottlerocket-images-cache; AWS Containers blog 'Reduce container startup
 * time on Amazon EKS with Bottlerocket data volume', 2023-10-19; awslabs ai-on-eks 'container startup time'): build
 * an instance, pull the image, snapshot the volume, and give Karpenter's EC2NodeClass
 * `blockDeviceMappings[].ebs.snapshotID` (Karpenter v1.11 CRD, @kubernetes-models/karpenter BlockDevice: snapshotID,
 * kmsKeyID, volumeInitializationRate 100-300 MiB/s "only allowed if SnapshotID is set").
 *
 * Why a snapshot and not SOCI: the AL2023 EKS AMIs the stack pins (nodeAmiVersion) do ship soci-snapshotter, behind
 * nodeadm's FastImagePull feature gate (awslabs/amazon-eks-ami PR #2352, 2025-08; its unit
 * templates/al2023/runtime/rootfs/etc/systemd/system/soci-snapshotter.service), but only its *parallel pull+unpack*
 * mode (nodeadm/internal/containerd/snapshotter/soci-snapshotter.config.template.toml: pull_modes.parallel_pull_unpack):
 * every new node still downloads and unpacks all 4.4 GiB, ~60% faster (AWS's figure for a 10 GB DLC image), and only
 * with a root volume at >= 600 MiB/s and enough vCPUs (the gate is ignored on small instances, PR #2461). SOCI *lazy
 * loading* needs a SOCI index pushed beside every image and is not what the AMI configures. tools/ttn.ts models both:
 * the snapshot path is ~1.7 min P50, SOCI parallel pull ~2.3 min, a plain pull ~3.4 min, on the national-heritage
 * stack's g6.xlarge. The snapshot is an encrypted EBS volume like every other, judged by the same policies.
 *
 * Encryption: the volume is created from the snapshot with `encrypted: true` and the stack's key as `kmsKeyID`
 * (EC2 re-encrypts a volume restored from a snapshot under the key given; Karpenter's EC2NodeClass docs show
 * snapshotID, encrypted and kmsKeyID together), so the cache is under the stack key whatever key the build used.
 *
 * Rebuild: the snapshot is built outside `pulumi up` (the offline plan can't build one, and a Pulumi resource can't
 * wait for a pull to finish before snapshotting): `imageCacheSnapshotId` records the snapshot and
 * `imageCacheImageTag` the image tag it holds. The image tag is a pure function of the repository (registry.ts), so
 * the plan knows at once when the image changed and the cache is stale: it says so and prints the rebuild steps
 * (imageCacheRebuild). A stale cache is still attached, but the model (tools/ttn.ts cl-cold-stale) counts a pull of
 * the whole image: containerd skips only layers whose digests are already in its store, and nothing shows this image's
 * layer digests are reproducible between builds, so no reuse is claimed.
 */

/** The snapshot tag naming the workbench image tag the cache holds (the rebuild steps set it; preflight --image-cache reads it). */
export const IMAGE_CACHE_TAG_KEY = "archaeo-image-tag";

/** The GPU node's root volume: gp3 at its baseline throughput (the node class sets none). */
export const NODE_ROOT_VOLUME = { throughputMiBps: 125 } as const;

/**
 * The image-cache data volume: a second device (/dev/xvdb, the data-volume device of AWS's snapshot pattern), gp3
 * with provisioned throughput and a provisioned initialization rate (the rate its blocks come from S3: 100-300 MiB/s).
 */
export const IMAGE_CACHE_VOLUME = {
    deviceName: "/dev/xvdb",
    sizeGiB: 60,
    throughputMiBps: 500,
    iops: 6000,
    initializationRateMiBps: 300,
    /** Where the node mounts it: containerd's root, so the image is in its content store and snapshots. */
    mountPoint: "/var/lib/containerd",
} as const;

/**
 * The GPU node class's userData with the cache: a shell script (Karpenter v1.11 nodeclasses.md 'AL2023': userData may be
 * a shell script; Karpenter makes it a MIME part after its own NodeConfig) that mounts the cache volume as containerd's
 * root. It runs in cloud-final, before containerd starts: the AMI's nodeadm-run.service (awslabs/amazon-eks-ami
 * templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service) starts containerd and kubelet
 * `After=nodeadm-config.service cloud-final.service`. /dev/xvdb is the udev name amazon-ec2-utils'
 * 70-ec2-nvme-devices.rules gives the NVMe device of that EBS mapping. Fail-safe: without the device, or if it will not
 * mount, containerd keeps the root volume and the server's image is pulled as without a cache.
 */
export const IMAGE_CACHE_USER_DATA = [
    "#!/bin/bash",
    "# archaeo-workbench image cache: containerd's store from the snapshot volume (infra/cluster/image-cache.ts).",
    `dev=${IMAGE_CACHE_VOLUME.deviceName}`,
    "for _ in $(seq 1 60); do [ -b \"$dev\" ] && break; sleep 1; done",
    `if [ -b "$dev" ] && mount -o noatime "$dev" ${IMAGE_CACHE_VOLUME.mountPoint}; then`,
    `  echo "archaeo: image cache $dev mounted at ${IMAGE_CACHE_VOLUME.mountPoint}"`,
    "else",
    `  echo "archaeo: image cache $dev not mounted; containerd uses the root volume (images are pulled)" >&2`,
    "fi",
    "",
].join("\n");

/** The EC2NodeClass block device mapping of the cache volume, encrypted with the stack key. */
export function imageCacheDevice<Id = string>(snapshotId: string, keyArn: Id) {
    return {
        deviceName: IMAGE_CACHE_VOLUME.deviceName,
        ebs: {
            snapshotID: snapshotId,
            volumeSize: `${IMAGE_CACHE_VOLUME.sizeGiB}Gi`,
            volumeType: "gp3" as const,
            throughput: IMAGE_CACHE_VOLUME.throughputMiBps,
            iops: IMAGE_CACHE_VOLUME.iops,
            volumeInitializationRate: IMAGE_CACHE_VOLUME.initializationRateMiBps,
            encrypted: true,
            kmsKeyID: keyArn,
            deleteOnTermination: true,
        },
    };
}

export interface ImageCacheStatus {
    readonly snapshotId: string;
    readonly holdsTag?: string;
    readonly imageTag: string;
    readonly current: boolean;
}

/**
 * The example's stand-in cache (stacks/Pulumi.national-heritage.yaml): an image tag of all zeros is no image's
 * (registry.ts imageTag is a SHA-256 prefix), so the snapshot beside it was never built. The plan flags it.
 */
export function imageCachePlaceholder(c: { readonly imageTag?: string }): boolean {
    return c.imageTag === "ctx-0000000000000000";
}

/** Whether the cache holds the image this stack deploys. */
export function imageCacheStatus(snapshotId: string, holdsTag: string | undefined, imageTag: string): ImageCacheStatus {
    return { snapshotId, ...(holdsTag ? { holdsTag } : {}), imageTag, current: holdsTag === imageTag };
}

/** The steps that rebuild the cache for `imageTag` (AWS CLI; aws-samples/bottlerocket-images-cache's snapshot.sh, on the stack's own node AMI). */
export function imageCacheRebuild(o: { stack: string; region: string; imageTag: string; nodeAmiVersion: string }): string[] {
    const dev = IMAGE_CACHE_VOLUME.deviceName;
    return [
        `1. launch a builder from the node AMI al2023@${o.nodeAmiVersion} (the GPU node class's) with a ${IMAGE_CACHE_VOLUME.sizeGiB} GiB gp3 ${dev} encrypted under the stack key (kmsKeyArn output); before containerd starts, mkfs.xfs it, copy the AMI's ${IMAGE_CACHE_VOLUME.mountPoint} onto it (the cached sandbox image) and mount it there`,
        `2. on it (SSM Run Command): ctr -n k8s.io images pull --user "AWS:$(aws ecr get-login-password --region ${o.region})" <imageUri output, tag ${o.imageTag}>; then systemctl stop containerd`,
        `3. aws ec2 create-snapshot --region ${o.region} --volume-id <the ${dev} volume> --tag-specifications 'ResourceType=snapshot,Tags=[{Key=${IMAGE_CACHE_TAG_KEY},Value=${o.imageTag}}]'; terminate the builder`,
        `4. pulumi config set --stack ${o.stack} imageCacheSnapshotId snap-...; pulumi config set --stack ${o.stack} imageCacheImageTag ${o.imageTag}; npx tsx tools/preflight.ts --stack ${o.stack} --image-cache (this account's, completed, under the stack key, the tag); pulumi up (new GPU nodes take it; running ones keep theirs)`,
    ];
}
