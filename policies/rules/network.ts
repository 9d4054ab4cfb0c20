import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, isOpenCidr } from "../lib/util";

interface IngressConfig { allowedPorts: number[] }

const coversAllowed = (from: number | undefined, to: number | undefined, allowed: number[]) =>
    from !== undefined && to !== undefined && from === to && allowed.includes(from);

/** No public ingress: 0.0.0.0/0 and ::/0 are refused on any port unless the port is allowed in config. */
export const networkPolicies: ResourceValidationPolicy[] = [
    {
        name: "security-groups-no-public-ingress",
        description: "Checks whether security groups allow ingress from 0.0.0.0/0 or ::/0.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedPorts: { type: "array", items: { type: "number" }, default: [], description: "Single ports that may be open to the internet (none by default)." },
            },
        },
        validateResource: [
            validateResourceOfType(aws.ec2.SecurityGroup, (sg, args, report) => {
                const { allowedPorts = [] } = args.getConfig<IngressConfig>();
                asArray(get(() => sg.ingress) as any[]).forEach((rule: any, n: number) => {
                    const open = [...asArray(rule.cidrBlocks), ...asArray(rule.ipv6CidrBlocks)].filter(isOpenCidr);
                    if (open.length && !coversAllowed(rule.fromPort, rule.toPort, allowedPorts)) {
                        report(`Security group '${args.name}' ingress[${n}] (ports ${rule.fromPort}-${rule.toPort}) is open to ${open.join(", ")}; list the institution's CIDRs or use SSM access.`);
                    }
                });
            }),
            validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (r, args, report) => {
                const { allowedPorts = [] } = args.getConfig<IngressConfig>();
                const open = [r.cidrIpv4, r.cidrIpv6].filter(isOpenCidr);
                if (open.length && !coversAllowed(r.fromPort, r.toPort, allowedPorts)) {
                    report(`Security group ingress rule '${args.name}' (ports ${r.fromPort}-${r.toPort}) is open to ${open.join(", ")}; list the institution's CIDRs or use SSM access.`);
                }
            }),
            validateResourceOfType(aws.ec2.SecurityGroupRule, (r, args, report) => {
                const { allowedPorts = [] } = args.getConfig<IngressConfig>();
                if (r.type !== "ingress") return;
                const open = [...asArray(r.cidrBlocks), ...asArray(r.ipv6CidrBlocks)].filter(isOpenCidr);
                if (open.length && !coversAllowed(r.fromPort, r.toPort, allowedPorts)) {
                    report(`Security group rule '${args.name}' (ports ${r.fromPort}-${r.toPort}) is open to ${open.join(", ")}; list the institution's CIDRs or use SSM access.`);
                }
            }),
        ],
    },
];
