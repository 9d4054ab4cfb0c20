/**
 * EKS facts with dates and versions: each Kubernetes version's support window, the add-on versions pinned
 * per Kubernetes version, and the EKS node AMI releases Karpenter may pin. infra/data/eks.json holds them,
 * with its `source` per part. Pure.
 */
import table from "./eks.json";

/** The cluster's EKS upgrade policy (infra/cluster/eks.ts): never billed extended support. */
export const EKS_SUPPORT_TYPE = "STANDARD" as const;

export interface SupportWindow {
    /** Last day (UTC) of standard support, as AWS's calendar names it; from the day after: extended support, or with STANDARD an automatic upgrade. */
    readonly standardSupportEnd: string;
    readonly extendedSupportEnd: string;
}

/** The release calendar: every version the table records, oldest first. */
export const SUPPORT_WINDOWS: Readonly<Record<string, SupportWindow>> = table.kubernetes;

/** The core add-ons the cluster installs, in the order it installs them. */
export const CORE_ADDONS = ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "aws-efs-csi-driver", "aws-mountpoint-s3-csi-driver"] as const;
export type CoreAddon = typeof CORE_ADDONS[number];

const ADDONS = table.addons as Record<string, Record<CoreAddon, string | null>>;

/** Kubernetes versions with a row of pinned add-ons (the versions the stack accepts, with Karpenter's range). */
export const ADDON_KUBERNETES_VERSIONS: readonly string[] = Object.keys(ADDONS);

/**
 * The add-on version pinned for a Kubernetes version, or undefined where no version is recorded (the cluster
 * then holds the version EKS chose at creation: see infra/cluster/eks.ts).
 */
export function pinnedAddonVersion(kubernetesVersion: string, addon: CoreAddon): string | undefined {
    const row = ADDONS[kubernetesVersion];
    if (!row) throw new Error(`no add-on row for Kubernetes ${kubernetesVersion} in infra/data/eks.json`);
    return row[addon] ?? undefined;
}

/**
 * Versions AWS publishes per Kubernetes version for an add-on held here (eks.json addonsPublished, with its source):
 * today the VPC CNI's table ('Amazon VPC CNI versions'). Shown by the plan's upgrade warning; never pinned (see the source).
 */
export const PUBLISHED_ADDON_VERSIONS: Readonly<Partial<Record<CoreAddon, Readonly<Record<string, string>>>>> = table.addonsPublished;

export function publishedAddonVersion(kubernetesVersion: string, addon: CoreAddon): string | undefined {
    return PUBLISHED_ADDON_VERSIONS[addon]?.[kubernetesVersion];
}

export interface NodeAmiRelease {
    readonly kubernetes: readonly string[];
    readonly nvidiaDriver: string;
}

/** EKS-optimized AL2023 AMI releases the table records (Karpenter alias al2023@<release>). */
export const NODE_AMI_RELEASES: Readonly<Record<string, NodeAmiRelease>> = table.nodeAmis;

/** Newest recorded release: the default of nodeAmiVersion. */
export const DEFAULT_NODE_AMI_VERSION = Object.keys(table.nodeAmis).sort().at(-1)!;

const DAY_MS = 24 * 3600 * 1000;

/** Whole days from `today` to `date` (both YYYY-MM-DD, UTC); negative when `date` is past. */
export function daysUntil(date: string, today: string): number {
    return Math.round((Date.parse(`${date}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY_MS);
}

/** Today in UTC as YYYY-MM-DD, from a clock (a Date, or the system's). */
export function utcDate(clock: Date = new Date()): string {
    return clock.toISOString().slice(0, 10);
}

/** Days before the end of standard support from which the plan warns. */
export const SUPPORT_WARNING_DAYS = 60;
