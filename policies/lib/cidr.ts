/**
 * CIDR sets judged by the public address space they cover (IPv4 and IPv6), not by how they are
 * written: 0.0.0.0/1 + 128.0.0.0/1 is the whole internet although neither is /0. Pure and
 * dependency-free: the policy pack and the stack config validation (infra/config.ts) share it.
 */

export interface ParsedCidr {
    readonly version: 4 | 6;
    /** The address as written (host bits included), as an unsigned integer. */
    readonly address: bigint;
    /** The network address (host bits cleared). */
    readonly network: bigint;
    readonly prefix: number;
    /** True when bits after the prefix are set (e.g. 10.0.0.1/8): AWS accepts some, rejects others. */
    readonly hostBitsSet: boolean;
    /** Canonical text of the network, e.g. "10.0.0.0/8" or "2001:db8::/32". */
    readonly canonical: string;
}

/** Limits as prefix lengths: a CIDR set may cover at most as many public addresses as one /N. */
export interface CidrLimits {
    /** Defaults to 16: at most 65,536 public IPv4 addresses. */
    readonly ipv4MinPrefixLength: number;
    /** Defaults to 48: at most one site allocation (2^80 public IPv6 addresses). */
    readonly ipv6MinPrefixLength: number;
}

export const DEFAULT_CIDR_LIMITS: CidrLimits = Object.freeze({ ipv4MinPrefixLength: 16, ipv6MinPrefixLength: 48 });

const BITS = { 4: 32, 6: 128 } as const;

function parseIpv4(s: string): bigint | undefined {
    const parts = s.split(".");
    if (parts.length !== 4) return undefined;
    let v = 0n;
    for (const p of parts) {
        if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p.startsWith("0"))) return undefined;
        v = (v << 8n) | BigInt(Number(p));
    }
    return v;
}

function parseIpv6(s: string): bigint | undefined {
    if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split("::").length > 2) return undefined;
    let tail4: bigint | undefined;
    let text = s;
    const lastColon = s.lastIndexOf(":");
    if (s.slice(lastColon + 1).includes(".")) {
        tail4 = parseIpv4(s.slice(lastColon + 1));
        if (tail4 === undefined) return undefined;
        text = `${s.slice(0, lastColon + 1)}0:0`;
    }
    const [head, rest] = text.split("::");
    const h = head ? head.split(":") : [];
    const t = rest === undefined ? [] : rest ? rest.split(":") : [];
    const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    if (groups.length !== 8 || (rest !== undefined && h.length + t.length > 7)) return undefined;
    let v = 0n;
    for (const g of groups) {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        v = (v << 16n) | BigInt(parseInt(g, 16));
    }
    if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
    return v;
}

function formatIpv6(v: bigint): string {
    const groups = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
    // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
    let best = -1, bestLen = 0;
    for (let i = 0; i < 8;) {
        if (groups[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best < 0) return hex.join(":");
    return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function format(version: 4 | 6, v: bigint): string {
    if (version === 6) return formatIpv6(v);
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

/** Parses "a.b.c.d/n" or an IPv6 "x::y/n"; undefined when it is not a CIDR. */
export function parseCidr(text: string): ParsedCidr | undefined {
    if (typeof text !== "string") return undefined;
    const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
    if (!m) return undefined;
    const version: 4 | 6 = m[1].includes(":") ? 6 : 4;
    const address = version === 4 ? parseIpv4(m[1]) : parseIpv6(m[1]);
    const prefix = Number(m[2]);
    if (address === undefined || prefix > BITS[version] || (m[2].length > 1 && m[2].startsWith("0"))) return undefined;
    const hostBits = BigInt(BITS[version] - prefix);
    const network = (address >> hostBits) << hostBits;
    return { version, address, network, prefix, hostBitsSet: network !== address, canonical: `${format(version, network)}/${prefix}` };
}

type Interval = [bigint, bigint]; // [start, end)

function interval(c: ParsedCidr): Interval {
    return [c.network, c.network + (1n << BigInt(BITS[c.version] - c.prefix))];
}

function union(intervals: Interval[]): Interval[] {
    const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out: Interval[] = [];
    for (const [s, e] of sorted) {
        const last = out[out.length - 1];
        if (last && s <= last[1]) last[1] = e > last[1] ? e : last[1];
        else out.push([s, e]);
    }
    return out;
}

function subtract(from: Interval[], remove: Interval[]): Interval[] {
    let cur = from;
    for (const [rs, re] of remove) {
        const next: Interval[] = [];
        for (const [s, e] of cur) {
            if (re <= s || rs >= e) { next.push([s, e]); continue; }
            if (s < rs) next.push([s, rs]);
            if (re < e) next.push([re, e]);
        }
        cur = next;
    }
    return cur;
}

const ranges = (list: string[]): Interval[] => list.map((c) => interval(parseCidr(c)!));

/**
 * Address space that is not reachable from the internet, so it does not count towards breadth:
 * IPv4 RFC 1918, shared (RFC 6598), loopback, link-local, "this network", multicast and reserved
 * (RFC 6890); IPv6 is public only inside global unicast 2000::/3 (RFC 4291), minus nothing.
 */
const NON_PUBLIC_IPV4 = ranges(["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3"]);
const IPV6_GLOBAL_UNICAST = ranges(["2000::/3"]);

const sum = (xs: Interval[]) => xs.reduce((n, [s, e]) => n + (e - s), 0n);

export interface AddressCoverage {
    /** Public IPv4 addresses the set covers (overlaps counted once). */
    readonly ipv4: bigint;
    /** Public (global unicast) IPv6 addresses the set covers. */
    readonly ipv6: bigint;
    /** Entries that are not CIDRs. */
    readonly invalid: readonly string[];
}

/** Counts the public addresses a set of CIDRs covers, per IP version. */
export function publicAddressCoverage(cidrs: readonly string[]): AddressCoverage {
    const v4: Interval[] = [];
    const v6: Interval[] = [];
    const invalid: string[] = [];
    for (const c of cidrs) {
        const p = parseCidr(c);
        if (!p) invalid.push(String(c));
        else (p.version === 4 ? v4 : v6).push(interval(p));
    }
    const ipv4 = sum(subtract(union(v4), NON_PUBLIC_IPV4));
    const ipv6 = sum(union(union(v6).flatMap(([s, e]) => IPV6_GLOBAL_UNICAST.flatMap(([gs, ge]) => {
        const lo = s > gs ? s : gs, hi = e < ge ? e : ge;
        return lo < hi ? [[lo, hi] as Interval] : [];
    }))));
    return { ipv4, ipv6, invalid };
}

/** The longest prefix whose block holds at least `count` addresses ("as many as a /N"). */
export function prefixEquivalent(count: bigint, version: 4 | 6): number {
    const bits = BITS[version];
    let p = bits;
    while (p > 0 && (1n << BigInt(bits - p)) < count) p--;
    return p;
}

const group = (n: bigint) => n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const describe = (n: bigint, version: 4 | 6) => version === 4 ? `${group(n)} public IPv4 addresses` : `2^${n.toString(2).length - 1}${(n & (n - 1n)) === 0n ? "" : "+"} public IPv6 addresses`;

/**
 * Problems with a CIDR set as source of inbound traffic: entries that are not CIDRs, and coverage
 * beyond the limits. Empty when the set is acceptable. Messages say what the set covers and the limit.
 */
export function cidrBreadthProblems(cidrs: readonly string[], limits: CidrLimits = DEFAULT_CIDR_LIMITS): string[] {
    const c = publicAddressCoverage(cidrs);
    const out = c.invalid.map((x) => `'${x}' is not a CIDR (e.g. 203.0.113.0/24 or 2001:db8::/48)`);
    const max4 = 1n << BigInt(32 - limits.ipv4MinPrefixLength);
    const max6 = 1n << BigInt(128 - limits.ipv6MinPrefixLength);
    if (c.ipv4 > max4) {
        out.push(`the IPv4 sources cover ${describe(c.ipv4, 4)} (as many as a /${prefixEquivalent(c.ipv4, 4)}); at most one /${limits.ipv4MinPrefixLength} (${group(max4)}) is allowed`);
    }
    if (c.ipv6 > max6) {
        out.push(`the IPv6 sources cover ${describe(c.ipv6, 6)} (as many as a /${prefixEquivalent(c.ipv6, 6)}); at most one /${limits.ipv6MinPrefixLength} is allowed`);
    }
    return out;
}
