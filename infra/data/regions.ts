/**
 * AWS regions and which offer each GPU family: infra/data/regions.json (its `source` says where each part
 * comes from; `npm run gen:regions` refreshes it). Pure.
 */
import table from "./regions.json";

/** Every region botocore's partitions.json names (all partitions). */
export const AWS_REGIONS: readonly string[] = table.regions;

/**
 * Whether `family` is offered in `region`: true or false where a recorded describe-instance-type-offerings run
 * probed that region for it, undefined where none did (not judged).
 */
export function gpuFamilyOffered(family: string, region: string): boolean | undefined {
    const f = (table.gpuOfferings as Record<string, { probed: string[]; offered: string[] }>)[family];
    if (!f || !f.probed.includes(region)) return undefined;
    return f.offered.includes(region);
}

/** The regions a recorded run found offering `family`. */
export function regionsOffering(family: string): readonly string[] {
    return (table.gpuOfferings as Record<string, { offered: string[] }>)[family]?.offered ?? [];
}
