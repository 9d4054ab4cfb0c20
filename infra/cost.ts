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

type CostInput = Pick<StackConfig, "instanceType" | "rootVolumeSizeGiB" | "workspaceSizeGiB" | "snapshotRetentionDays" | "kmsKeyArn" | "mode">;

/** Cluster mode's fixed parts (infra/cluster): arm64 system node, NAT instance, GPU node root size. */
export const CLUSTER_SHAPE = { systemInstanceType: "t4g.medium", systemRootGiB: 20, natInstanceType: "t4g.nano", natRootGiB: 8, gpuNodeRootGiB: 150 } as const;

export function estimateCost(cfg: CostInput, table: PriceTable = prices): CostEstimate {
    return cfg.mode === "cluster" ? estimateClusterCost(cfg, table) : estimateInstanceCost(cfg, table);
}

function price(table: PriceTable, type: string): number {
    const p = (table.ec2OnDemandPerHour as Record<string, number>)[type];
    if (p === undefined) throw new Error(`No price for ${type} in infra/data/prices.json`);
    return p;
}

/**
 * Cluster mode: the idle floor is the control plane, one small arm64 system node and a NAT instance;
 * GPU nodes exist only while the workbench or a job runs (Karpenter scales them to zero). EFS bytes
 * are data, left out like S3.
 */
export function estimateClusterCost(cfg: CostInput, table: PriceTable = prices): CostEstimate {
    const h = table.hoursPerMonth;
    const s = CLUSTER_SHAPE;
    const gpu = price(table, cfg.instanceType);
    const lines: CostLine[] = [
        { item: "EKS control plane", monthly: table.eksControlPlanePerHour * h, hourly: 0 },
        { item: `system node ${s.systemInstanceType} (on-demand)`, monthly: price(table, s.systemInstanceType) * h, hourly: 0 },
        { item: `system node root ${s.systemRootGiB} GiB gp3`, monthly: s.systemRootGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: `NAT instance ${s.natInstanceType} + ${s.natRootGiB} GiB root`, monthly: price(table, s.natInstanceType) * h + s.natRootGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: "NAT public IPv4 address", monthly: table.publicIpv4PerHour * h, hourly: 0 },
        { item: `ECR image (~${image.estimatedCompressedGiB} GiB)`, monthly: image.estimatedCompressedGiB * table.ecrStoragePerGiBMonth, hourly: 0 },
        { item: `GPU node ${cfg.instanceType} (on-demand, while the workbench runs)`, monthly: 0, hourly: gpu },
        { item: `GPU node root ${s.gpuNodeRootGiB} GiB gp3 (while it exists)`, monthly: 0, hourly: (s.gpuNodeRootGiB * table.ebsGp3PerGiBMonth) / h },
    ];
    if (!cfg.kmsKeyArn) lines.push({ item: "KMS customer-managed key", monthly: table.kmsKeyPerMonth, hourly: 0 });
    return summarise(lines, table, "EFS workspace bytes and S3 dataset storage, data transfer, control-plane log volume, and taxes");
}

function summarise(lines: CostLine[], table: PriceTable, excludes: string): CostEstimate {
    const stoppedPerMonth = round(lines.reduce((s, l) => s + l.monthly, 0));
    const runningPerHour = round(lines.reduce((s, l) => s + l.hourly, 0) + stoppedPerMonth / table.hoursPerMonth);
    return {
        currency: table.currency,
        priceDate: table.date,
        priceSource: table.source,
        lines: lines.map((l) => ({ ...l, monthly: round(l.monthly), hourly: round(l.hourly) })),
        runningPerHour,
        stoppedPerMonth,
        excludes,
    };
}

function estimateInstanceCost(cfg: CostInput, table: PriceTable): CostEstimate {
    const ec2 = price(table, cfg.instanceType);
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
    return summarise(lines, table, "dataset storage in S3, data transfer, and taxes");
}

/** Monthly cost for a researcher pattern: `hoursPerMonth` of running time on top of the stopped floor. */
export function monthlyAt(estimate: CostEstimate, hoursRunning: number): number {
    const hourlyOnly = estimate.lines.reduce((s, l) => s + l.hourly, 0);
    return round(estimate.stoppedPerMonth + hourlyOnly * hoursRunning);
}

function round(x: number): number {
    return Math.round(x * 10000) / 10000;
}
