/** Sizing of the workbench containers from the instance's memory and vCPUs. Pure. */

/** /dev/shm for DataLoader workers: a quarter of host memory, at least 2 GiB (Docker's default is 64 MB). */
export function shmSizeGiB(memoryGiB: number): number {
    return Math.max(2, Math.floor(memoryGiB / 4));
}

/** Addresses AWS keeps in every subnet: network, VPC router, DNS, future use, broadcast (Amazon VPC User Guide, "Subnet CIDR blocks"). */
export const SUBNET_RESERVED_ADDRESSES = 5;

/**
 * Prefix length of instance mode's workstation subnet for `researchers` workstations: the smallest block of
 * at least /24 holding two addresses per researcher (a workstation and, while `pulumi up` replaces it
 * create-before-delete, its successor) plus AWS's five. /24 up to 125 researchers, /23 up to 253: a stack
 * under 126 keeps the /24 it always had (a subnet's CIDR cannot change without replacing every workstation).
 */
export function workstationSubnetPrefix(researchers: number): number {
    const need = 2 * Math.max(researchers, 1) + SUBNET_RESERVED_ADDRESSES;
    return Math.min(24, 32 - Math.ceil(Math.log2(need)));
}

/** Usable addresses of a subnet with this prefix length. */
export function usableAddresses(prefix: number): number {
    return 2 ** (32 - prefix) - SUBNET_RESERVED_ADDRESSES;
}
