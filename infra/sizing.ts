/** Sizing of the workbench containers from the instance's memory and vCPUs. Pure. */

/** /dev/shm for DataLoader workers: a quarter of host memory, at least 2 GiB (Docker's default is 64 MB). */
export function shmSizeGiB(memoryGiB: number): number {
    return Math.max(2, Math.floor(memoryGiB / 4));
}

/** Addresses AWS keeps in every subnet: network, VPC router, DNS, future use, broadcast (Amazon VPC User Guide, "Subnet CIDR blocks"). */
export const SUBNET_RESERVED_ADDRESSES = 5;

/** Usable addresses of a subnet with this prefix length. */
export function usableAddresses(prefix: number): number {
    return 2 ** (32 - prefix) - SUBNET_RESERVED_ADDRESSES;
}
