/**
 * Host AMIs the workstation can boot, with the NVIDIA driver each ships.
 *
 * Source: AWS Deep Learning AMI developer guide, release notes of the "Deep Learning Base OSS Nvidia
 * Driver GPU AMI" (Ubuntu 22.04 / 24.04), releases 2025-12 to 2026-10, which list nvidia_driver
 * 580.105.08 up to 595.91.07 and the NVIDIA container toolkit. `minNvidiaDriver` is the lowest driver
 * among the releases read; the image's CUDA needs image.json `minNvidiaDriver` or newer.
 */
export interface HostAmi {
    /** Public SSM parameter that resolves to the latest AMI id in the stack's region. */
    readonly ssmParameter: string;
    readonly os: string;
    readonly minNvidiaDriver: string;
    /** Docker and the NVIDIA container toolkit are preinstalled (needed for `docker run --gpus all`). */
    readonly nvidiaContainerToolkit: boolean;
    /** AWS CLI v2 is preinstalled (needed to read the Jupyter token and log in to ECR at boot). */
    readonly awsCli: boolean;
}

export const HOST_AMIS: readonly HostAmi[] = Object.freeze([
    {
        ssmParameter: "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
        os: "Ubuntu 22.04",
        minNvidiaDriver: "580.105.08",
        nvidiaContainerToolkit: true,
        awsCli: true,
    },
    {
        ssmParameter: "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id",
        os: "Ubuntu 24.04",
        minNvidiaDriver: "580.105.08",
        nvidiaContainerToolkit: true,
        awsCli: true,
    },
]);

export const DEFAULT_AMI_SSM_PARAMETER = HOST_AMIS[0].ssmParameter;

/** Compares dotted driver versions numerically ("570.26" < "580.105.08"). */
export function compareVersions(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return Math.sign(d);
    }
    return 0;
}
