/** Sizing of the workbench containers from the instance's memory and vCPUs. Pure. */

/** /dev/shm for DataLoader workers: a quarter of host memory, at least 2 GiB (Docker's default is 64 MB). */
export function shmSizeGiB(memoryGiB: number): number {
    return Math.max(2, Math.floor(memoryGiB / 4));
}
