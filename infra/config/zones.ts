/**
 * Instance mode's zones: where each workstation and its workspace volume live (availabilityZone, or a researcher's
 * own `zone` after a move), the subnet each zone takes, and whether the deploying account's zones offer each
 * workstation's instance type. Pure: the offerings come from EC2 DescribeInstanceTypeOfferings at deploy time
 * (infra/workbench.ts), answered in the deploying account's own zone names.
 */
import { parseCidr } from "../../policies/lib/cidr";
import type { ConfigProblem, InstanceResearcher, InstanceStackConfig } from "./types";

/**
 * The /24 each zone's workstation subnet takes (instance/network.ts zoneSubnet): the VPC's first for availabilityZone,
 * the (letter + 1)-th for another zone, so adding or leaving a zone never moves another's subnet.
 */
export function zoneSubnetIndex(zone: string, availabilityZone: string): number {
    return zone === availabilityZone ? 0 : zone.charCodeAt(zone.length - 1) - "a".charCodeAt(0) + 1;
}

/**
 * The index-th /24 of the VPC: index 0 is the VPC's first /24 (the whole VPC when it is a /24; instance/network.ts
 * firstSubnet), the workstation subnet of availabilityZone; another zone's at zoneSubnetIndex.
 */
export function zoneSubnet(vpcCidr: string, index: number): string {
    const [addr, prefix] = vpcCidr.split("/");
    if (index === 0) return `${addr}/${Math.max(Number(prefix), 24)}`;
    const n = addr.split(".").reduce((x, o) => x * 256 + Number(o), 0) + index * 256;
    return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")}/24`;
}

/** A researcher in a zone other than availabilityZone needs a subnet there: the VPC must have room for it. */
export function zoneSubnetProblems(researchers: readonly InstanceResearcher[], c: { availabilityZone: string; vpcCidr: string; key: (k: string) => string }): ConfigProblem[] {
    const vpc = parseCidr(c.vpcCidr);
    if (!vpc || vpc.version !== 4 || vpc.prefix > 24) return [];
    const slots = 2 ** (24 - vpc.prefix);
    const out: ConfigProblem[] = [];
    researchers.forEach((r, i) => {
        if (!r.zone || r.zone === c.availabilityZone) return;
        const index = zoneSubnetIndex(r.zone, c.availabilityZone);
        if (index >= slots) {
            out.push({
                propertyPath: c.key(`researchers[${i}].zone`),
                reason: `researcher '${r.id}': ${r.zone} needs a workstation subnet of its own, /24 number ${index + 1} of vpcCidr ${c.vpcCidr}, which holds ${slots}; ` +
                    `a zone other than availabilityZone (${c.availabilityZone}) needs a vpcCidr of /${24 - Math.ceil(Math.log2(index + 1))} or larger (changing vpcCidr replaces the VPC and every workstation)`,
            });
        }
    });
    return out;
}

/** Instance type -> the zones of the region that offer it, in the deploying account. */
export type ZoneOfferings = Readonly<Record<string, readonly string[]>>;

/** The README's relocation steps for researcher index i, with the zones that offer their type. */
function relocation(cfg: InstanceStackConfig, r: InstanceResearcher, i: number, zones: readonly string[]): string {
    const to = zones.find((z) => z !== r.zone) ?? "<zone>";
    return `To move '${r.id}' (README 'Moving a workstation to another zone'): npm run restore -- workspace --stack ${cfg.stack} --researcher ${r.id} (pick a snapshot), ` +
        `pulumi config set --path 'researchers[${i}].zone' ${to}, pulumi config set --path 'researchers[${i}].restoreFromSnapshot' snap-..., ` +
        `pulumi state unprotect '<urn of their workspace volume>', npm run plan -- --stack ${cfg.stack} --diff base.json, pulumi up`;
}

/**
 * Zones that do not offer a workstation's instance type (EC2 DescribeInstanceTypeOfferings in the deploying account).
 * Parked researchers have no workstation and are skipped. Each problem names the key (availabilityZone for researchers
 * left in the stack's zone, researchers[i].zone for one moved), the researchers, the zones that do offer the type and
 * the relocation steps.
 *
 * These are WARNINGS at deploy time (infra/workbench.ts checkZones), never a refusal of the whole `up`: offline the
 * program cannot tell a workstation that already exists from a new one, and the two need different answers.
 * - An existing workstation is unaffected: EC2 does not remove instances when a zone stops offering their type; only a
 *   replacement there would fail. Refusing would block every `up` of the stack (and everyone else's changes) until
 *   the researcher is moved, which itself needs an `up`.
 * - A new workstation is still refused, by AWS itself and for that workstation alone: RunInstances in a zone not
 *   offering the type fails ("Unsupported"), and the warning printed at preview, before `pulumi up` asks to go on,
 *   says why and where it would run.
 * A refusal only for "the default zone of a new stack" would need the stack's state, which the program does not read.
 */
export function zoneOfferingProblems(cfg: InstanceStackConfig, offered: ZoneOfferings): ConfigProblem[] {
    const key = (k: string) => `${cfg.project}:${k}`;
    const out: ConfigProblem[] = [];
    const zonesFor = (type: string) => [...(offered[type] ?? [])].sort();
    const fix = (type: string) => {
        const zones = zonesFor(type);
        return zones.length ? `zones of ${cfg.region} offering it: ${zones.join(", ")}` : `no zone of ${cfg.region} offers it in this account: choose another instanceType or region`;
    };
    const existing = "A workstation already there keeps running (EC2 does not remove it) but cannot be replaced there; a new one fails RunInstances (Unsupported).";
    const active = cfg.researchers.map((r, i) => ({ r, i })).filter(({ r }) => !r.parked);
    // The stack's zone: one problem listing every type it lacks and whose workstations those are.
    const atDefault = active.filter(({ r }) => r.zone === cfg.availabilityZone && !zonesFor(r.instanceType).includes(r.zone));
    const types = [...new Set(atDefault.map(({ r }) => r.instanceType))];
    if (types.length) {
        const both = [...new Set(active.filter(({ r }) => r.zone === cfg.availabilityZone).map(({ r }) => r.instanceType))]
            .reduce<string[] | undefined>((acc, t) => (acc ? acc.filter((z) => zonesFor(t).includes(z)) : zonesFor(t)), undefined) ?? [];
        out.push({
            propertyPath: key("availabilityZone"),
            reason: `${cfg.availabilityZone} does not offer ${types.join(", ")} in this account (EC2 DescribeInstanceTypeOfferings, location type availability-zone), ` +
                `the type of researcher(s) ${atDefault.map(({ r }) => `'${r.id}'`).join(", ")}: ` +
                `${types.map((t) => `${t}: ${fix(t)}`).join("; ")}. ${existing} ` +
                (both.length ? `A new stack: set availabilityZone to one offering every workstation's type: ${both.join(", ")}. An existing one moves researchers with researchers[].zone. ` : "No zone offers all of them: give researchers a zone of their own (researchers[].zone). ") +
                atDefault.map(({ r, i }) => relocation(cfg, r, i, zonesFor(r.instanceType))).join(". "),
        });
    }
    for (const { r, i } of active) {
        if (r.zone === cfg.availabilityZone || zonesFor(r.instanceType).includes(r.zone)) continue;
        out.push({
            propertyPath: key(`researchers[${i}].zone`),
            reason: `researcher '${r.id}': ${r.zone} does not offer ${r.instanceType} in this account; ${fix(r.instanceType)}. ${existing} ${relocation(cfg, r, i, zonesFor(r.instanceType))}`,
        });
    }
    return out;
}

/** The offerings as DescribeInstanceTypeOfferings lists them (parallel arrays), by instance type. */
export function offeringsByType(answer: { instanceTypes: readonly string[]; locations: readonly string[] }): ZoneOfferings {
    const out: Record<string, string[]> = {};
    answer.instanceTypes.forEach((t, i) => { (out[t] ??= []).push(answer.locations[i]); });
    return out;
}
