/** CIDR parsing and address-space arithmetic for stack config. Pure. */

export interface ParsedCidr {
    readonly version: 4 | 6;
    readonly prefix: number;
    readonly hostBitsSet: boolean;
    /** The network with host bits cleared, e.g. 203.0.113.0/24. */
    readonly network: string;
    /** First and last address as big integers. */
    readonly first: bigint;
    readonly last: bigint;
}

/** Parses an IPv4 or IPv6 CIDR; returns undefined when malformed. */
export function parseCidr(cidr: string): ParsedCidr | undefined {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
    if (!m) return undefined;
    const prefix = Number(m[2]);
    const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(m[1]);
    if (v4) {
        const octets = v4.slice(1).map(Number);
        if (octets.some((o) => o > 255) || prefix > 32) return undefined;
        const value = octets.reduce((acc, o) => (acc << 8n) + BigInt(o), 0n);
        return finish(4, value, prefix, 32);
    }
    if (m[1].includes(":") && prefix <= 128) {
        const groups = expandIpv6(m[1]);
        if (!groups) return undefined;
        const value = groups.reduce((acc, g) => (acc << 16n) + BigInt(g), 0n);
        return finish(6, value, prefix, 128);
    }
    return undefined;
}

function finish(version: 4 | 6, value: bigint, prefix: number, bits: number): ParsedCidr {
    const size = 1n << BigInt(bits - prefix);
    const first = (value / size) * size;
    const network = version === 4
        ? [24n, 16n, 8n, 0n].map((s) => String((first >> s) & 255n)).join(".")
        : compressIpv6(Array.from({ length: 8 }, (_, i) => Number((first >> BigInt(112 - 16 * i)) & 0xffffn)));
    return { version, prefix, hostBitsSet: first !== value, network: `${network}/${prefix}`, first, last: first + size - 1n };
}

function expandIpv6(addr: string): number[] | undefined {
    const parts = addr.split("::");
    if (parts.length > 2) return undefined;
    const head = parts[0] ? parts[0].split(":") : [];
    const tail = parts.length === 2 && parts[1] ? parts[1].split(":") : [];
    const missing = 8 - head.length - tail.length;
    if ((parts.length === 1 && missing !== 0) || missing < 0 || (parts.length === 2 && missing < 1)) return undefined;
    const all = [...head, ...Array(parts.length === 2 ? missing : 0).fill("0"), ...tail];
    if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
    return all.map((g) => parseInt(g, 16));
}

function compressIpv6(groups: number[]): string {
    let best = { start: -1, len: 0 };
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best.start < 0) return hex.join(":");
    return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

/** Distinct addresses a set of CIDRs of one IP version covers (overlaps counted once). */
export function addressesCovered(cidrs: readonly ParsedCidr[]): bigint {
    const sorted = [...cidrs].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    let total = 0n;
    let end = -1n;
    for (const c of sorted) {
        if (c.last <= end) continue;
        const start = c.first > end ? c.first : end + 1n;
        total += c.last - start + 1n;
        end = c.last;
    }
    return total;
}

/** True when the CIDR overlaps a range reserved for private or special use (RFC 1918, CGNAT, loopback...). */
export function isPrivateIpv4(c: ParsedCidr): boolean {
    const ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"].map((r) => parseCidr(r)!);
    return c.version === 4 && ranges.some((r) => c.first >= r.first && c.last <= r.last);
}
