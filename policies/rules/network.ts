/**
 * Ingress judged by the public address space its sources cover (policies/lib/cidr.ts), per rule and
 * per security group (many narrow rules add up), with a configurable maximum.
 */
import * as aws from "@pulumi/aws";
import { ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { cidrBreadthProblems, CidrLimits, DEFAULT_CIDR_LIMITS, publicAddressCoverage } from "../lib/cidr";
import { PUBLIC_PORTS } from "../lib/ports";
import { anyOf, label, onResource, onStack } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, get, UNKNOWN } from "../lib/util";

export interface BreadthConfig extends CidrLimits { allowedPorts: number[] }

/** configSchema properties shared by every rule that judges source CIDRs. */
export const BREADTH_SCHEMA = {
    ipv4MinPrefixLength: { type: "number", default: DEFAULT_CIDR_LIMITS.ipv4MinPrefixLength, minimum: 1, maximum: 32, description: "Sources may cover at most as many public IPv4 addresses as one /N (default /16 = 65,536)." },
    ipv6MinPrefixLength: { type: "number", default: DEFAULT_CIDR_LIMITS.ipv6MinPrefixLength, minimum: 1, maximum: 128, description: "Sources may cover at most as many public IPv6 addresses as one /N (default /48)." },
} as const;

export function limitsOf(c: Partial<CidrLimits>): CidrLimits {
    return { ipv4MinPrefixLength: c.ipv4MinPrefixLength ?? DEFAULT_CIDR_LIMITS.ipv4MinPrefixLength, ipv6MinPrefixLength: c.ipv6MinPrefixLength ?? DEFAULT_CIDR_LIMITS.ipv6MinPrefixLength };
}

const exempt = (from: unknown, to: unknown, allowed: number[]) => typeof from === "number" && from === to && allowed.includes(from);

/** The inline ingress rules of a security group (or the VPC's default one), each judged by the address space it covers. */
function inlineIngressProblems(sg: { ingress?: unknown }, args: ResourceValidationArgs, report: (m: string) => void, d: Deferrals, what: string, fix: string): void {
    const c = args.getConfig<Partial<BreadthConfig>>();
    const ingress = d.copy("ingress", () => sg.ingress) as any[] | undefined | typeof UNKNOWN;
    if (ingress === UNKNOWN) return;
    asArray(ingress).forEach((rule: any, n: number) => {
        if (exempt(rule.fromPort, rule.toPort, c.allowedPorts ?? [])) return;
        const problems = cidrBreadthProblems([...asArray(rule.cidrBlocks), ...asArray(rule.ipv6CidrBlocks)] as string[], limitsOf(c));
        if (problems.length) report(`${what} '${args.name}' ingress[${n}] (ports ${rule.fromPort}-${rule.toPort}): ${problems.join("; ")}. ${fix}`);
    });
}

const SCHEMA = {
    ...BREADTH_SCHEMA,
    allowedPorts: { type: "array", items: { type: "number" }, default: [], description: "Single ports whose sources are not limited (none by default)." },
} as const;

const SECURITY_GROUP_TYPES = ["aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"];

/**
 * Every ingress rule of the stack as { security group, ports, CIDR sources, prefix lists } (unknown
 * parts as UNKNOWN): inline rules of a SecurityGroup or of the VPC's DefaultSecurityGroup,
 * vpc.SecurityGroupIngressRule and ec2.SecurityGroupRule of type ingress. Prefix lists are the other
 * way to spell sources (prefixListIds / prefixListId): the stack rule resolves them to their entries.
 */
function ingressSets(resources: ReadonlyArray<{ type: string; name: string; urn: string; props: Record<string, any> }>) {
    type Sources = string[] | typeof UNKNOWN;
    const out: Array<{ group: unknown | (() => unknown); owner: { type: string; name: string; urn: string }; protocol: unknown; from: unknown; to: unknown; sources: Sources; prefixLists: Sources }> = [];
    const strings = (...parts: unknown[]) => parts.flatMap((x) => asArray(x as string | string[])).filter((x): x is string => typeof x === "string");
    for (const r of resources) {
        if (SECURITY_GROUP_TYPES.includes(r.type)) {
            const ingress = get(() => JSON.parse(JSON.stringify(r.props.ingress ?? [])) as any[]);
            // Inline rules belong to this group whatever its id (its URN while the id is unknown); read only when needed.
            const group = () => { const id = get(() => r.props.id); return typeof id === "string" && id ? id : r.urn; };
            if (ingress === UNKNOWN) { out.push({ group, owner: r, protocol: undefined, from: undefined, to: undefined, sources: UNKNOWN, prefixLists: UNKNOWN }); continue; }
            for (const rule of ingress ?? []) out.push({ group, owner: r, protocol: rule.protocol, from: rule.fromPort, to: rule.toPort, sources: strings(rule.cidrBlocks, rule.ipv6CidrBlocks), prefixLists: strings(rule.prefixListIds) });
            continue;
        }
        const ruleType = r.type === "aws:ec2/securityGroupRule:SecurityGroupRule" ? get(() => r.props.type) : undefined;
        // A rule whose type is unknown may be ingress: its sources count as unknown until it is known.
        if (ruleType === UNKNOWN) out.push({ group: () => get(() => r.props.securityGroupId), owner: r, protocol: undefined, from: undefined, to: undefined, sources: UNKNOWN, prefixLists: UNKNOWN });
        else if (r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" || ruleType === "ingress") {
            const field = (k: string) => get(() => JSON.parse(JSON.stringify(r.props[k] ?? null)));
            const parts = [field("cidrIpv4"), field("cidrIpv6"), field("cidrBlocks"), field("ipv6CidrBlocks")];
            const lists = [field("prefixListId"), field("prefixListIds")];
            out.push({
                group: () => get(() => r.props.securityGroupId), owner: r, from: get(() => r.props.fromPort), to: get(() => r.props.toPort),
                protocol: get(() => (r.type === "aws:ec2/securityGroupRule:SecurityGroupRule" ? r.props.protocol : r.props.ipProtocol)),
                sources: parts.includes(UNKNOWN) ? UNKNOWN : strings(...parts),
                prefixLists: lists.includes(UNKNOWN) ? UNKNOWN : strings(...lists),
            });
        }
    }
    return out;
}

/**
 * The CIDR entries of each managed prefix list the stack defines, by id: a ManagedPrefixList's
 * `entries` plus every ManagedPrefixListEntry naming it (UNKNOWN inside where not known yet).
 */
function prefixListEntries(resources: ReadonlyArray<{ type: string; name: string; urn: string; props: Record<string, any> }>) {
    const lists = resources.filter((r) => r.type === "aws:ec2/managedPrefixList:ManagedPrefixList").map((r) => ({ r, id: get(() => r.props.id) }));
    const entries = resources.filter((r) => r.type === "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry");
    return {
        unknownIds: lists.filter((x) => x.id === UNKNOWN).map((x) => x.r),
        /** The list's entries, UNKNOWN (with the paths) when some are unknown; undefined when the stack defines no list of that id. */
        of(id: string): { owner: { type: string; name: string }; cidrs: string[] | typeof UNKNOWN; unknown: string[] } | undefined {
            const list = lists.find((x) => x.id === id);
            if (!list) return undefined;
            const unknown: string[] = [];
            const cidrs: string[] = [];
            const inline = get(() => JSON.parse(JSON.stringify(list.r.props.entries ?? [])) as Array<{ cidr?: string }>);
            if (inline === UNKNOWN) unknown.push(`${label(list.r)}.entries`);
            else for (const e of inline ?? []) if (typeof e?.cidr === "string") cidrs.push(e.cidr);
            for (const e of entries) {
                const target = get(() => e.props.prefixListId);
                if (target === UNKNOWN) { unknown.push(`${label(e)}.prefixListId`); continue; }
                if (target !== id) continue;
                const cidr = get(() => e.props.cidr);
                if (cidr === UNKNOWN) unknown.push(`${label(e)}.cidr`);
                else if (typeof cidr === "string") cidrs.push(cidr);
            }
            return { owner: list.r, cidrs: unknown.length ? UNKNOWN : cidrs, unknown };
        },
    };
}

export const networkPolicies: ResourceValidationPolicy[] = [
    {
        name: "security-groups-no-public-ingress",
        description: "Checks whether each security-group ingress rule's sources cover at most the configured public address space (IPv4 and IPv6, counted by coverage, not spelling).",
        enforcementLevel: "mandatory",
        configSchema: { properties: SCHEMA },
        validateResource: anyOf(
            onResource(aws.ec2.SecurityGroup, "Security group", (sg, args, report, d) =>
                inlineIngressProblems(sg, args, report, d, "Security group", "List the institution's CIDRs or use SSM access.")),
            // The VPC's default security group takes ingress rules too (and every instance launched without a group gets it).
            onResource(aws.ec2.DefaultSecurityGroup, "Default security group", (sg, args, report, d) =>
                inlineIngressProblems(sg, args, report, d, "Default security group", "Leave the default group without ingress; list the institution's CIDRs on the workbench's own group or use SSM access.")),
            onResource(aws.vpc.SecurityGroupIngressRule, "Security group ingress rule", (r, args, report, d) => {
                const c = args.getConfig<Partial<BreadthConfig>>();
                if (exempt(r.fromPort, r.toPort, c.allowedPorts ?? [])) return;
                const v4 = d.read("cidrIpv4", () => r.cidrIpv4);
                const v6 = d.read("cidrIpv6", () => r.cidrIpv6);
                if (v4 === UNKNOWN || v6 === UNKNOWN) return;
                const problems = cidrBreadthProblems([v4, v6].filter((x): x is string => typeof x === "string"), limitsOf(c));
                if (problems.length) report(`Security group ingress rule '${args.name}' (ports ${r.fromPort}-${r.toPort}): ${problems.join("; ")}. List the institution's CIDRs or use SSM access.`);
            }),
            onResource(aws.ec2.SecurityGroupRule, "Security group rule", (r, args, report, d) => {
                const c = args.getConfig<Partial<BreadthConfig>>();
                if (r.type !== "ingress" || exempt(r.fromPort, r.toPort, c.allowedPorts ?? [])) return;
                const cidrs = d.copy("cidrBlocks", () => [...asArray(r.cidrBlocks), ...asArray(r.ipv6CidrBlocks)]) as string[] | typeof UNKNOWN;
                if (cidrs === UNKNOWN) return;
                const problems = cidrBreadthProblems(cidrs ?? [], limitsOf(c));
                if (problems.length) report(`Security group rule '${args.name}' (ports ${r.fromPort}-${r.toPort}): ${problems.join("; ")}. List the institution's CIDRs or use SSM access.`);
            }),
        ),
    },
];

export const networkStackPolicies: StackValidationPolicy[] = [
    {
        name: "security-groups-ingress-union-limited",
        description: "Checks whether all ingress sources of one security group together (CIDRs, and the entries of the managed prefix lists its rules name) cover at most the configured public address space (many narrow rules must not add up to the internet); a prefix list the stack does not define is refused unless allow-listed.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                ...SCHEMA,
                allowedPrefixListIds: { type: "array", items: { type: "string" }, default: [], description: "Ids (pl-...) of managed prefix lists this stack does not define that ingress may name anyway: the institution vouches for their entries." },
            },
        },
        // A managed prefix list is a named set of CIDRs that a rule names instead of spelling them
        // (Amazon VPC user guide, "Managed prefix lists"): its entries are the rule's sources. One the
        // stack does not define cannot be judged here (the analyzer sees no entries), and the
        // AWS-managed ones that make sense for ingress (com.amazonaws.global.cloudfront.origin-facing,
        // com.amazonaws.<region>.ec2-instance-connect, route53-healthchecks, vpc-lattice: "Available
        // AWS-managed prefix lists") are address ranges every AWS customer's traffic comes from (any
        // account's CloudFront distribution reaches an origin through origin-facing): public ingress
        // by this design's measure, and not recognisable from a pl- id anyway. So both are refused
        // unless an engineer lists the id in allowedPrefixListIds.
        validateStack: onStack((args, report, d) => {
            const c = args.getConfig<Partial<BreadthConfig> & { allowedPrefixListIds?: string[] }>();
            const allowedLists = c.allowedPrefixListIds ?? [];
            const groups = new Map<unknown, { owners: Set<string>; sources: string[]; urn: string }>();
            const lists = prefixListEntries(args.resources);
            const sets = ingressSets(args.resources).filter((s) => !exempt(s.from, s.to, c.allowedPorts ?? []));
            // Prefix lists become sources (their entries) where the stack defines them.
            const resolved = sets.map((s): typeof s & { via: string[] } => {
                if (s.sources === UNKNOWN) return { ...s, via: [] };
                if (s.prefixLists === UNKNOWN) { d.defer(`${label(s.owner)} prefix lists`); return { ...s, sources: UNKNOWN, via: [] }; }
                const sources = [...s.sources];
                const via: string[] = [];
                let unknown = false;
                for (const id of s.prefixLists) {
                    const list = lists.of(id);
                    if (list === undefined) {
                        if (lists.unknownIds.length) { for (const r of lists.unknownIds) d.defer(`${label(r)}.id (named by ${label(s.owner)})`); unknown = true; continue; }
                        if (!allowedLists.includes(id)) report(`${label(s.owner)} takes ingress from the managed prefix list ${id}, which this stack does not define, so its entries cannot be judged (an AWS-managed list such as CloudFront's origin-facing admits every AWS customer's traffic); list the institution's CIDRs, define the prefix list in this stack, or name ${id} in allowedPrefixListIds.`, s.owner.urn);
                        continue;
                    }
                    if (list.cidrs === UNKNOWN) { for (const p of list.unknown) d.defer(p); unknown = true; continue; }
                    sources.push(...list.cidrs);
                    via.push(label(list.owner));
                }
                return { ...s, sources: unknown ? UNKNOWN : sources, via };
            });
            // If all known sources together stay within the limit, no group can exceed it: nothing to defer.
            const everything = resolved.flatMap((s) => (s.sources === UNKNOWN ? [] : s.sources));
            if (!resolved.some((s) => s.sources === UNKNOWN) && cidrBreadthProblems(everything, limitsOf(c)).length === 0) return;
            for (const s of resolved) {
                if (s.sources === UNKNOWN) { d.defer(`${label(s.owner)} ingress`); continue; }
                const groupKey = typeof s.group === "function" ? (s.group as () => unknown)() : s.group;
                if (groupKey === UNKNOWN) { d.defer(`${label(s.owner)}.securityGroupId`); continue; }
                const g = groups.get(groupKey) ?? { owners: new Set<string>(), sources: [], urn: s.owner.urn };
                g.owners.add(s.via.length ? `${label(s.owner)} (prefix list ${s.via.join(", ")})` : label(s.owner));
                g.sources.push(...s.sources);
                groups.set(groupKey, g);
            }
            for (const [group, g] of groups) {
                const problems = cidrBreadthProblems(g.sources, limitsOf(c));
                if (problems.length) report(`Security group ${String(group)} ingress from ${[...g.owners].join(", ")} together: ${problems.join("; ")}. List the institution's CIDRs or use SSM access.`, g.urn);
            }
        }),
    },
    {
        name: "security-groups-public-ports-limited",
        description: "Checks whether ingress from public addresses (any source outside private, shared, loopback and link-local space, and any prefix list) reaches only the allowed TCP ports: SSH (2222) by default. Jupyter, TensorBoard and every other port are reached through SSM or an SSH tunnel, never from a public address.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                publicPorts: { type: "array", items: { type: "number" }, default: [...PUBLIC_PORTS], description: "TCP ports that ingress from public addresses may reach (default: the workbench's SSH, 2222)." },
            },
        },
        validateStack: onStack((args, report, d) => {
            const { publicPorts = [...PUBLIC_PORTS] } = args.getConfig<{ publicPorts?: number[] }>();
            const lists = prefixListEntries(args.resources);
            for (const s of ingressSets(args.resources)) {
                if (s.sources === UNKNOWN || s.prefixLists === UNKNOWN) { d.defer(`${label(s.owner)} ingress sources`); continue; }
                // A prefix list the stack defines counts by its entries; any other may hold anything (public).
                const listed = s.prefixLists.map((id) => ({ id, list: lists.of(id) }));
                const pending = listed.filter((x) => x.list?.cidrs === UNKNOWN || (!x.list && lists.unknownIds.length));
                if (pending.length) { d.defer(`${label(s.owner)} prefix lists ${pending.map((x) => x.id).join(", ")}`); continue; }
                const cover = publicAddressCoverage([...s.sources, ...listed.flatMap((x) => (x.list && x.list.cidrs !== UNKNOWN ? x.list.cidrs : []))]);
                const via = [...(cover.ipv4 > 0n || cover.ipv6 > 0n ? ["public addresses"] : []), ...cover.invalid.map((x) => `'${x}'`), ...listed.filter((x) => !x.list).map((x) => `prefix list ${x.id}`)];
                if (via.length === 0) continue;
                if ([s.protocol, s.from, s.to].includes(UNKNOWN)) { d.defer(`${label(s.owner)} protocol and ports`); continue; }
                // EC2 takes the protocol by name (any case) or number: tcp is 6.
                const tcp = String(s.protocol).toLowerCase() === "tcp" || String(s.protocol) === "6";
                const ports = typeof s.from === "number" && typeof s.to === "number" && s.from <= s.to ? { from: s.from, to: s.to } : undefined;
                // Every port of the range is an allowed one: as many distinct allowed ports inside it as it is wide.
                const allowed = tcp && ports !== undefined && new Set(publicPorts.filter((p) => p >= ports.from && p <= ports.to)).size === ports.to - ports.from + 1;
                if (!allowed) {
                    const what = tcp && ports ? `TCP ports ${ports.from}-${ports.to}` : `protocol ${String(s.protocol)} ports ${String(s.from)}-${String(s.to)} (every port)`;
                    report(`${label(s.owner)} admits ${via.join(", ")} to ${what}; from public addresses only TCP ${publicPorts.join(", ")} (publicPorts) may be reached. Jupyter and TensorBoard stay on loopback, reached through SSM or an SSH tunnel.`, s.owner.urn);
                }
            }
        }),
    },
];
