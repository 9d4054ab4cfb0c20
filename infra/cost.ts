/**
 * Cost model: pure functions over the price table in infra/data/prices.json (its sources and date
 * travel with every estimate). Only what this stack creates is counted, per researcher and shared;
 * dataset bytes in S3 / EFS and data transfer depend on use and are left out (and said so).
 */
import type { InstanceResearcher, StackConfig } from "./config";
import { CLUSTER_SHAPE, SC1_MIN_GIB } from "./constants";
import prices from "./data/prices.json";
import image from "../images/pytorch-cuda/image.json";

export type PriceTable = typeof prices;

/** Share of a workspace assumed to change per day, for the incremental snapshot estimate. */
export const SNAPSHOT_DAILY_CHANGE = 0.02;
/** Dataset object reads/writes a researcher makes in a month (audit trail events): ~10 epochs over 20,000 images. */
export const AUDIT_EVENTS_PER_RESEARCHER_MONTH = 200_000;

/** The cluster shape priced here (defined with the other constants, built from by infra/cluster). */
export { CLUSTER_SHAPE };

export interface CostLine {
    readonly item: string;
    /** USD per month whether anything runs or not. */
    readonly monthly: number;
    /** USD per hour added while the researcher's workstation / server runs. */
    readonly hourly: number;
}

export interface ResearcherCost {
    readonly lines: readonly CostLine[];
    /** USD per hour while their workstation / server runs (their at-rest cost spread over the hours included). */
    readonly runningPerHour: number;
    /** USD per month with it stopped all month (parked: what their kept data costs). */
    readonly stoppedPerMonth: number;
    /** Parked (researchers[].parked): stoppedPerMonth is the parked price; this is what they cost stopped once unparked. */
    readonly parked?: { readonly unparkedStoppedPerMonth: number };
}

export interface CostEstimate {
    readonly currency: string;
    readonly priceDate: string;
    readonly priceSource: string;
    /** The institution's shared lines (key, image, audit, and in cluster mode the control plane and system node). */
    readonly lines: readonly CostLine[];
    readonly perResearcher: Readonly<Record<string, ResearcherCost>>;
    /** Every researcher's workstation / server running, per hour, with all at-rest costs spread over the month. */
    readonly runningPerHour: number;
    /** Everything stopped, per month: the stack's floor. */
    readonly stoppedPerMonth: number;
    readonly excludes: string;
    /** Assumptions and policies that shape the numbers (e.g. EKS standard support). */
    readonly notes: readonly string[];
}

export function estimateCost(cfg: StackConfig, table: PriceTable = prices): CostEstimate {
    return cfg.mode === "cluster" ? estimateClusterCost(cfg, table) : estimateInstanceCost(cfg, table);
}

export function price(table: PriceTable, type: string): number {
    const p = (table.ec2OnDemandPerHour as Record<string, number>)[type];
    if (p === undefined) throw new Error(`No price for ${type} in infra/data/prices.json`);
    return p;
}

function sharedLines(cfg: StackConfig, table: PriceTable): CostLine[] {
    const lines: CostLine[] = [
        { item: `ECR image (~${image.estimatedCompressedGiB} GiB; every build kept ${cfg.imageRetentionDays || "forever"}${cfg.imageRetentionDays ? " days" : ""})`, monthly: image.estimatedCompressedGiB * table.ecrStoragePerGiBMonth, hourly: 0 },
        {
            item: `dataset audit trail (CloudTrail S3 data events, ~${AUDIT_EVENTS_PER_RESEARCHER_MONTH / 1000}k per researcher-month)`,
            monthly: (cfg.researchers.length * AUDIT_EVENTS_PER_RESEARCHER_MONTH / 100_000) * table.cloudTrailDataEventsPer100k,
            hourly: 0,
        },
    ];
    if (!cfg.kmsKeyArn) lines.push({ item: "KMS customer-managed key", monthly: table.kmsKeyPerMonth, hourly: 0 });
    return lines;
}

function researcherCost(lines: CostLine[], table: PriceTable): ResearcherCost {
    const stoppedPerMonth = round(lines.reduce((s, l) => s + l.monthly, 0));
    return {
        lines: lines.map(roundLine),
        stoppedPerMonth,
        runningPerHour: round(lines.reduce((s, l) => s + l.hourly, 0) + stoppedPerMonth / table.hoursPerMonth),
    };
}

function summarise(cfg: StackConfig, shared: CostLine[], perResearcher: Record<string, ResearcherCost>, table: PriceTable, excludes: string, notes: string[]): CostEstimate {
    const sharedMonthly = shared.reduce((s, l) => s + l.monthly, 0);
    const researchers = Object.values(perResearcher);
    const stoppedPerMonth = round(sharedMonthly + researchers.reduce((s, r) => s + r.stoppedPerMonth, 0));
    const hourly = researchers.reduce((s, r) => s + r.lines.reduce((x, l) => x + l.hourly, 0), 0);
    return {
        currency: table.currency,
        priceDate: table.date,
        priceSource: table.source,
        lines: shared.map(roundLine),
        perResearcher,
        runningPerHour: round(hourly + stoppedPerMonth / table.hoursPerMonth),
        stoppedPerMonth,
        excludes,
        notes: [...notes, ...(cfg.region !== table.region ? [`prices are ${table.region} list prices; ${cfg.region} may differ`] : [])],
    };
}

/**
 * A parked researcher (instance mode): no workstation, root volume or address; their workspace volume kept, on Cold
 * HDD when it is at least sc1's minimum size (infra/instance/workstation.ts workspaceVolumeType), and its daily
 * snapshots, which change nothing while it is detached: about one full copy (copied too with backupCopyRegion).
 */
function parkedWorkspaceLines(r: InstanceResearcher, cfg: Extract<StackConfig, { mode: "instance" }>, table: PriceTable): CostLine[] {
    const sc1 = r.workspaceSizeGiB >= SC1_MIN_GIB;
    const lines: CostLine[] = [
        { item: `parked: EBS ${sc1 ? "sc1 (Cold HDD)" : "gp3"} workspace ${r.workspaceSizeGiB} GiB, detached`, monthly: r.workspaceSizeGiB * (sc1 ? table.ebsSc1PerGiBMonth : table.ebsGp3PerGiBMonth), hourly: 0 },
        { item: "parked: EBS snapshots (daily, unchanged while parked: ~one full copy)", monthly: r.workspaceSizeGiB * table.ebsSnapshotPerGiBMonth, hourly: 0 },
    ];
    if (cfg.backup.copy) lines.push({ item: `parked: snapshot copies in ${cfg.backup.copy.region}`, monthly: r.workspaceSizeGiB * table.ebsSnapshotPerGiBMonth, hourly: 0 });
    return lines;
}

function estimateInstanceCost(cfg: Extract<StackConfig, { mode: "instance" }>, table: PriceTable): CostEstimate {
    const perResearcher: Record<string, ResearcherCost> = {};
    for (const r of cfg.researchers) {
        const working = workingLines(r, cfg, table);
        perResearcher[r.id] = r.parked
            ? { ...researcherCost(parkedWorkspaceLines(r, cfg, table), table), parked: { unparkedStoppedPerMonth: researcherCost(working, table).stoppedPerMonth } }
            : researcherCost(working, table);
    }
    return summarise(cfg, sharedLines(cfg, table), perResearcher, table, "dataset bytes in S3, data transfer, and taxes", [
        "each researcher's line is what their workstation costs; a stopped workstation costs its disks and snapshots only",
        ...(cfg.researchers.some((r) => r.parked) ? ["a parked researcher's line is their kept workspace (Cold HDD from 125 GiB) and its snapshots: no workstation, root volume or address"] : []),
    ]);
}

/** A working researcher's lines: their workstation while it runs, its disks and snapshots. */
function workingLines(r: InstanceResearcher, cfg: Extract<StackConfig, { mode: "instance" }>, table: PriceTable): CostLine[] {
    const copy = cfg.backup.copy;
    const snapshotGiB = r.workspaceSizeGiB * (1 + SNAPSHOT_DAILY_CHANGE * cfg.backup.retentionDays);
    const lines: CostLine[] = [
        { item: `EC2 ${r.instanceType} (on-demand, while running)`, monthly: 0, hourly: price(table, r.instanceType) },
        { item: "public IPv4 address (released when stopped)", monthly: 0, hourly: table.publicIpv4PerHour },
        { item: `EBS gp3 root ${cfg.rootVolumeSizeGiB} GiB`, monthly: cfg.rootVolumeSizeGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: `EBS gp3 workspace ${r.workspaceSizeGiB} GiB`, monthly: r.workspaceSizeGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        {
            item: `EBS snapshots (${cfg.backup.retentionDays} daily, ~${Math.round(SNAPSHOT_DAILY_CHANGE * 100)}%/day change)`,
            monthly: snapshotGiB * table.ebsSnapshotPerGiBMonth,
            hourly: 0,
        },
    ];
    if (copy) {
        lines.push({
            item: `snapshot copies in ${copy.region} (storage + inter-region transfer of daily changes)`,
            monthly: snapshotGiB * table.ebsSnapshotPerGiBMonth + r.workspaceSizeGiB * SNAPSHOT_DAILY_CHANGE * 30 * table.interRegionTransferPerGiB,
            hourly: 0,
        });
    }
    return lines;
}

/**
 * Cluster mode: the floor is the control plane (pinned to STANDARD support: EKS upgrades the cluster
 * at the end of standard support instead of billing extended support), one arm64 system node and a
 * NAT instance; GPU nodes exist only while a researcher's server or job runs.
 */
export function estimateClusterCost(cfg: Extract<StackConfig, { mode: "cluster" }>, table: PriceTable = prices): CostEstimate {
    const h = table.hoursPerMonth;
    const s = CLUSTER_SHAPE;
    const gpu = price(table, cfg.instanceType);
    const shared: CostLine[] = [
        { item: "EKS control plane (standard support)", monthly: table.eksControlPlanePerHour * h, hourly: 0 },
        { item: `system node ${s.systemInstanceType} (on-demand; hub, proxy, Karpenter, CSI controllers)`, monthly: price(table, s.systemInstanceType) * h, hourly: 0 },
        { item: `system node root ${s.systemRootGiB} GiB gp3`, monthly: s.systemRootGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: `NAT instance ${s.natInstanceType} + ${s.natRootGiB} GiB root`, monthly: price(table, s.natInstanceType) * h + s.natRootGiB * table.ebsGp3PerGiBMonth, hourly: 0 },
        { item: "NAT public IPv4 address", monthly: table.publicIpv4PerHour * h, hourly: 0 },
        ...sharedLines(cfg, table),
    ];
    const perResearcher: Record<string, ResearcherCost> = {};
    for (const r of cfg.researchers) {
        // Parked: no server or jobs (not in the hub, a zero quota); their home stays on EFS (Infrequent Access after 30 days).
        const working = researcherCost([
            { item: `GPU node ${cfg.instanceType} (on-demand, while their 1-GPU server runs)`, monthly: 0, hourly: gpu },
            { item: `GPU node root ${s.gpuNodeRootGiB} GiB gp3 (while it exists)`, monthly: 0, hourly: (s.gpuNodeRootGiB * table.ebsGp3PerGiBMonth) / h },
        ], table);
        // Parked: no server or jobs (not among the hub's users, a zero GPU quota); their home stays on EFS (Infrequent Access after 30 days).
        perResearcher[r.id] = r.parked
            ? { ...researcherCost([{ item: "parked: no server or jobs; home kept on EFS (Infrequent Access after 30 days; bytes not counted)", monthly: 0, hourly: 0 }], table), parked: { unparkedStoppedPerMonth: working.stoppedPerMonth } }
            : working;
    }
    return summarise(cfg, shared, perResearcher, table, "EFS home bytes ($" + table.efsStandardPerGiBMonth + "/GiB-month) and their AWS Backup copies, S3 dataset bytes, data transfer, control-plane log volume, batch jobs, and taxes", [
        `EKS upgradePolicy STANDARD: the cluster never bills extended support ($${table.eksExtendedSupportPerHour}/h instead of $${table.eksControlPlanePerHour}/h); EKS upgrades it at the end of standard support, so bump kubernetesVersion before then`,
        "a researcher's line is the GPU node their server holds while it runs; servers are culled after autoStopIdleMinutes without work",
    ]);
}

/** Monthly cost for `hoursRunning` hours of every researcher's workstation / server on top of the stopped floor. */
export function monthlyAt(estimate: CostEstimate, hoursRunning: number): number {
    const hourly = Object.values(estimate.perResearcher).reduce((s, r) => s + r.lines.reduce((x, l) => x + l.hourly, 0), 0);
    return round(estimate.stoppedPerMonth + hourly * hoursRunning);
}

function roundLine(l: CostLine): CostLine {
    return { ...l, monthly: round(l.monthly), hourly: round(l.hourly) };
}

function round(x: number): number {
    return Math.round(x * 10000) / 10000;
}
