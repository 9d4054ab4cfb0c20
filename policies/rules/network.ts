/**
 * Ingress judged by the public address space its sources cover (policies/lib/cidr.ts), per rule and
 * per security group (many narrow rules add up), with a configurable maximum.
 */
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { cidrBreadthProblems, CidrLimits, DEFAULT_CIDR_LIMITS } from "../lib/cidr";
import { label, onResource, onStack } from "../lib/rule";
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

const SCHEMA = {
    ...BREADTH_SCHEMA,
    allowedPorts: { type: "array", items: { type: "number" }, default: [], description: "Single ports whose sources are not limited (none by default)." },
} as const;

/** Every ingress rule of the stack as { security group, ports, sources } (unknown parts as UNKNOWN). */
function ingressSets(resources: ReadonlyArray<{ type: string; name: string; urn: string; props: Record<string, any> }>) {
    const out: Array<{ group: unknown | (() => unknown); owner: { type: string; name: string; urn: string }; from: unknown; to: unknown; sources: string[] | typeof UNKNOWN }> = [];
    for (const r of resources) {
        if (r.type === "aws:ec2/securityGroup:SecurityGroup") {
            const ingress = get(() => JSON.parse(JSON.stringify(r.props.ingress ?? [])) as any[]);
            // Inline rules belong to this group whatever its id (its URN while the id is unknown); read only when needed.
            const group = () => { const id = get(() => r.props.id); return typeof id === "string" && id ? id : r.urn; };
            if (ingress === UNKNOWN) { out.push({ group, owner: r, from: undefined, to: undefined, sources: UNKNOWN }); continue; }
            for (const rule of ingress ?? []) out.push({ group, owner: r, from: rule.fromPort, to: rule.toPort, sources: [...asArray(rule.cidrBlocks), ...asArray(rule.ipv6CidrBlocks)] as string[] });
        } else if (r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" || (r.type === "aws:ec2/securityGroupRule:SecurityGroupRule" && get(() => r.props.type) === "ingress")) {
            const field = (k: string) => get(() => JSON.parse(JSON.stringify(r.props[k] ?? null)));
            const parts = [field("cidrIpv4"), field("cidrIpv6"), field("cidrBlocks"), field("ipv6CidrBlocks")];
            const sources = parts.includes(UNKNOWN) ? UNKNOWN : (parts.flatMap((x) => asArray(x as string | string[])).filter((x) => typeof x === "string") as string[]);
            out.push({ group: () => get(() => r.props.securityGroupId), owner: r, from: get(() => r.props.fromPort), to: get(() => r.props.toPort), sources });
        }
    }
    return out;
}

export const networkPolicies: ResourceValidationPolicy[] = [
    {
        name: "security-groups-no-public-ingress",
        description: "Checks whether each security-group ingress rule's sources cover at most the configured public address space (IPv4 and IPv6, counted by coverage, not spelling).",
        enforcementLevel: "mandatory",
        configSchema: { properties: SCHEMA },
        validateResource: [
            onResource(aws.ec2.SecurityGroup, "Security group", (sg, args, report, d) => {
                const c = args.getConfig<Partial<BreadthConfig>>();
                const ingress = d.copy("ingress", () => sg.ingress) as any[] | undefined | typeof UNKNOWN;
                if (ingress === UNKNOWN) return;
                asArray(ingress).forEach((rule: any, n: number) => {
                    if (exempt(rule.fromPort, rule.toPort, c.allowedPorts ?? [])) return;
                    const problems = cidrBreadthProblems([...asArray(rule.cidrBlocks), ...asArray(rule.ipv6CidrBlocks)] as string[], limitsOf(c));
                    if (problems.length) report(`Security group '${args.name}' ingress[${n}] (ports ${rule.fromPort}-${rule.toPort}): ${problems.join("; ")}. List the institution's CIDRs or use SSM access.`);
                });
            }),
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
        ],
    },
];

export const networkStackPolicies: StackValidationPolicy[] = [
    {
        name: "security-groups-ingress-union-limited",
        description: "Checks whether all ingress sources of one security group together cover at most the configured public address space (many narrow rules must not add up to the internet).",
        enforcementLevel: "mandatory",
        configSchema: { properties: SCHEMA },
        validateStack: onStack((args, report, d) => {
            const c = args.getConfig<Partial<BreadthConfig>>();
            const groups = new Map<unknown, { owners: Set<string>; sources: string[]; urn: string }>();
            const sets = ingressSets(args.resources).filter((s) => !exempt(s.from, s.to, c.allowedPorts ?? []));
            // If all known sources together stay within the limit, no group can exceed it: nothing to defer.
            const everything = sets.flatMap((s) => (s.sources === UNKNOWN ? [] : s.sources));
            if (!sets.some((s) => s.sources === UNKNOWN) && cidrBreadthProblems(everything, limitsOf(c)).length === 0) return;
            for (const s of sets) {
                if (s.sources === UNKNOWN) { d.defer(`${label(s.owner)} ingress`); continue; }
                const groupKey = typeof s.group === "function" ? (s.group as () => unknown)() : s.group;
                if (groupKey === UNKNOWN) { d.defer(`${label(s.owner)}.securityGroupId`); continue; }
                const g = groups.get(groupKey) ?? { owners: new Set<string>(), sources: [], urn: s.owner.urn };
                g.owners.add(label(s.owner));
                g.sources.push(...s.sources);
                groups.set(groupKey, g);
            }
            for (const [group, g] of groups) {
                const problems = cidrBreadthProblems(g.sources, limitsOf(c));
                if (problems.length) report(`Security group ${String(group)} ingress from ${[...g.owners].join(", ")} together: ${problems.join("; ")}. List the institution's CIDRs or use SSM access.`, g.urn);
            }
        }),
    },
];
