/**
 * Cost model: pure functions over the price table in infra/data/prices.json (its source and date
 * travel with every estimate). Only what this stack creates is counted; dataset bytes in S3 and data
 * transfer depend on use and are left out (and said so in the result).
 */
import type { StackConfig } from "./config";
import prices from "./data/prices.json";
import image from "../images/pytorch-cuda/image.json";

export type PriceTable = typeof prices;

/** Share of the workspace assumed to change per day, for the incremental snapshot estimate. */
export const SNAPSHOT_DAILY_CHANGE = 0.02;

export interface CostLine {
    readonly item: string;
    /** USD per month whether the workstation runs or not. */
    readonly monthly: number;
    /** USD per hour added while the workstation runs. */
    readonly hourly: number;
}

export interface CostEstimate {
    readonly currency: string;
    readonly priceDate: string;
    readonly priceSource: string;
    readonly lines: readonly CostLine[];
    /** USD per hour while running, including the at-rest costs spread over the month's hours. */
    readonly runningPerHour: number;
    /** USD per month with the workstation stopped all month. */
    readonly stoppedPerMonth: number;
    readonly excludes: string;
}

type CostInput = Pick<StackConfig, "instanceType" | "rootVolumeSizeGiB" | "workspaceSizeGiB" | "snapshotRetentionDays" | "kmsKeyArn">;

export function estimateCost(cfg: CostInput, table: PriceTable = prices): CostEstimate {
    const ec2 = (table.ec2OnDemandPerHour as Record<string, number>)[cfg.instanceType];
    if (ec2 === undefined) throw new Error(`No price for ${cfg.instanceType} in infra/data/prices.json`);
    const snapshotGiB = cfg.workspaceSizeGiB * (1 + SNAPSHOT_DAILY_CHANGE * cfg.snapshotRetentionDays);
    const lines: CostLine[] = [
        { item: `EC2 ${cfg.instanceType} (on-demand)`, monthly: 0, hourly: ec2 },
        { item: "public IPv4 address (released when stopped)", monthly: 0, hourly: table.publicIpv4PerHour },
        { item: `EBS gp3 root ${cfg.rootVolumeSizeGiB} GiB`, monthly: cfg.rootVolumeSizeGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: `EBS gp3 workspace ${cfg.workspaceSizeGiB} GiB`, monthly: cfg.workspaceSizeGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        {
            item: `EBS snapshots (${cfg.snapshotRetentionDays} daily, ~${Math.round(SNAPSHOT_DAILY_CHANGE * 100)}%/day change)`,
            monthly: snapshotGiB * table.ebsSnapshotPerGiBMonth,
            hourly: 0,
        },
        { item: `ECR image (~${image.estimatedCompressedGiB} GiB)`, monthly: image.estimatedCompressedGiB * table.ecrStoragePerGiBMonth, hourly: 0 },
    ];
    if (!cfg.kmsKeyArn) lines.push({ item: "KMS customer-managed key", monthly: table.kmsKeyPerMonth, hourly: 0 });
    const stoppedPerMonth = round(lines.reduce((s, l) => s + l.monthly, 0));
    const runningPerHour = round(lines.reduce((s, l) => s + l.hourly, 0) + stoppedPerMonth / table.hoursPerMonth);
    return {
        currency: table.currency,
        priceDate: table.date,
        priceSource: table.source,
        lines: lines.map((l) => ({ ...l, monthly: round(l.monthly), hourly: round(l.hourly) })),
        runningPerHour,
        stoppedPerMonth,
        excludes: "dataset storage in S3, data transfer, and taxes",
    };
}

/** Monthly cost for a researcher pattern: `hoursPerMonth` of running time on top of the stopped floor. */
export function monthlyAt(estimate: CostEstimate, hoursRunning: number): number {
    const hourlyOnly = estimate.lines.reduce((s, l) => s + l.hourly, 0);
    return round(estimate.stoppedPerMonth + hourlyOnly * hoursRunning);
}

function round(x: number): number {
    return Math.round(x * 10000) / 10000;
}
