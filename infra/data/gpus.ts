/**
 * GPU instance types the workstation may run on, with what researchers care about.
 *
 * Source: AWS EC2 accelerated-computing instance specifications (G4dn, G5, G6, G6e pages),
 * read 2026-11. `computeCapability` is NVIDIA's SM version of the GPU; the pinned PyTorch wheel
 * must ship kernels for it (see images/pytorch-cuda/image.json `cudaArchs`).
 */
export interface GpuInstanceSpec {
    /** EC2 instance family, e.g. "g5". */
    readonly family: string;
    /** Number of GPUs. */
    readonly gpus: number;
    /** GPU model name as nvidia-smi reports it. */
    readonly gpuModel: string;
    /** Memory per GPU in GiB. */
    readonly gpuMemoryGiB: number;
    /** NVIDIA compute capability, e.g. "8.6". */
    readonly computeCapability: string;
    readonly vcpus: number;
    /** Host memory in GiB. */
    readonly memoryGiB: number;
}

const g4dn = { family: "g4dn", gpuModel: "NVIDIA T4", gpuMemoryGiB: 16, computeCapability: "7.5" } as const;
const g5 = { family: "g5", gpuModel: "NVIDIA A10G", gpuMemoryGiB: 24, computeCapability: "8.6" } as const;
const g6 = { family: "g6", gpuModel: "NVIDIA L4", gpuMemoryGiB: 24, computeCapability: "8.9" } as const;
const g6e = { family: "g6e", gpuModel: "NVIDIA L40S", gpuMemoryGiB: 48, computeCapability: "8.9" } as const;

export const GPU_INSTANCE_TYPES: Readonly<Record<string, GpuInstanceSpec>> = Object.freeze({
    "g4dn.xlarge": { ...g4dn, gpus: 1, vcpus: 4, memoryGiB: 16 },
    "g4dn.2xlarge": { ...g4dn, gpus: 1, vcpus: 8, memoryGiB: 32 },
    "g4dn.4xlarge": { ...g4dn, gpus: 1, vcpus: 16, memoryGiB: 64 },
    "g4dn.12xlarge": { ...g4dn, gpus: 4, vcpus: 48, memoryGiB: 192 },
    "g5.xlarge": { ...g5, gpus: 1, vcpus: 4, memoryGiB: 16 },
    "g5.2xlarge": { ...g5, gpus: 1, vcpus: 8, memoryGiB: 32 },
    "g5.4xlarge": { ...g5, gpus: 1, vcpus: 16, memoryGiB: 64 },
    "g5.12xlarge": { ...g5, gpus: 4, vcpus: 48, memoryGiB: 192 },
    "g6.xlarge": { ...g6, gpus: 1, vcpus: 4, memoryGiB: 16 },
    "g6.2xlarge": { ...g6, gpus: 1, vcpus: 8, memoryGiB: 32 },
    "g6.4xlarge": { ...g6, gpus: 1, vcpus: 16, memoryGiB: 64 },
    "g6.12xlarge": { ...g6, gpus: 4, vcpus: 48, memoryGiB: 192 },
    "g6e.xlarge": { ...g6e, gpus: 1, vcpus: 4, memoryGiB: 32 },
    "g6e.2xlarge": { ...g6e, gpus: 1, vcpus: 8, memoryGiB: 64 },
});

export function gpuSpec(instanceType: string): GpuInstanceSpec | undefined {
    return Object.prototype.hasOwnProperty.call(GPU_INSTANCE_TYPES, instanceType)
        ? GPU_INSTANCE_TYPES[instanceType]
        : undefined;
}
