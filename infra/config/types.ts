/** The typed, validated stack config: a union keyed on `mode`, so mode-specific parts need no `!`. */
import type { GpuInstanceSpec } from "../data/gpus";
import type { Mode } from "./schema";

export type { Mode };
export type DataClassification = "public" | "internal" | "confidential" | "restricted";
export type AccessMode = "ssm" | "cidr";

/** One researcher: the unit of the design (their server, storage, token, identity, cost line). */
export interface Researcher {
    /** Slug naming everything that is theirs. */
    readonly id: string;
    /** IAM role or user allowed to assume this researcher's role. */
    readonly iamPrincipalArn: string;
    /** Required when several people share iamPrincipalArn (an Identity Center permission-set role). */
    readonly sessionName?: string;
    readonly email?: string;
    readonly sshPublicKeys: readonly string[];
    /** Their monthly budget in USD (researcherBudgetMonthlyUsd unless overridden); 0: none. */
    readonly budgetMonthlyUsd: number;
    /**
     * Parked: no compute of theirs (instance mode: no workstation, their workspace volume kept, moved in place to
     * Cold HDD; cluster mode: no server or jobs, their home kept on EFS, moving to Infrequent Access). Role and data stay.
     */
    readonly parked: boolean;
}

/** Instance mode: each researcher's own workstation. */
export interface InstanceResearcher extends Researcher {
    readonly instanceType: string;
    readonly gpu: GpuInstanceSpec;
    readonly workspaceSizeGiB: number;
    /** Availability zone of their workstation and workspace volume (availabilityZone unless they were moved). */
    readonly zone: string;
    /** EBS snapshot the workspace volume is created from (a restore); absent: a new, empty volume. */
    readonly restoreFromSnapshot?: string;
}

export interface BackupConfig {
    /** Daily backups kept. */
    readonly retentionDays: number;
    /** Cross-region copy of each backup, encrypted with a key in that region. */
    readonly copy?: { readonly region: string; readonly kmsKeyArn: string };
}

interface BaseConfig {
    readonly project: string;
    readonly stack: string;
    readonly region: string;
    readonly institution: string;
    readonly dataClassification: DataClassification;
    /** Instance mode: default workstation type. Cluster mode: the reference GPU node for cost. */
    readonly instanceType: string;
    readonly gpu: GpuInstanceSpec;
    readonly availabilityZone: string;
    readonly vpcCidr: string;
    readonly backup: BackupConfig;
    readonly access: { readonly mode: AccessMode; readonly cidrs: readonly string[]; readonly maxAddresses: number };
    /** maxSessionHours: the stop regardless of activity, hours after a start (0: none). */
    readonly autoStop: { readonly idleMinutes: number; readonly gpuUtilPercent: number; readonly maxSessionHours: number };
    /** researcherMonthlyUsd: researcherBudgetMonthlyUsd, the default of each researcher's budgetMonthlyUsd (0: none). */
    readonly budget: { readonly monthlyUsd: number; readonly alertEmails: readonly string[]; readonly researcherMonthlyUsd: number };
    readonly protectData: boolean;
    readonly kmsKeyArn?: string;
    readonly baseImageDigest?: string;
    readonly imageRetentionDays: number;
    readonly auditLogRetentionDays: number;
}

export interface InstanceStackConfig extends BaseConfig {
    readonly mode: "instance";
    readonly researchers: readonly InstanceResearcher[];
    readonly rootVolumeSizeGiB: number;
    /** Workstations a `pulumi up` launches at once (each is stopped once created); 0: all at once. */
    readonly launchBatchSize: number;
    readonly ami: { readonly id?: string; readonly ssmParameter: string };
}

export interface ClusterSettings {
    readonly kubernetesVersion: string;
    /** IAM principals given cluster-admin through EKS access entries. */
    readonly adminArns: readonly string[];
    /** CIDRs allowed to the public API endpoint; empty turns the public endpoint off. */
    readonly apiCidrs: readonly string[];
    readonly gpuFamilies: readonly string[];
    /** Most GPUs Karpenter may run at once; also the hub namespace's GPU quota. */
    readonly gpuLimit: number;
    /** gpuLimit split between the GPU NodePools (Karpenter limits are per pool): onDemand + spot = gpuLimit; spot 0 without spotForBatch. */
    readonly gpuLimits: { readonly onDemand: number; readonly spot: number };
    /** EKS AL2023 AMI release of every Karpenter node (alias al2023@<release>). */
    readonly nodeAmiVersion: string;
    /** Weekly UTC window in which drifted nodes may be replaced: day 0-6 (Sunday first), start minute, length. */
    readonly upgradeWindow: { readonly text: string; readonly day: number; readonly startMinute: number; readonly minutes: number };
    /** Most GPUs one researcher's jobs may request at once (their namespace's quota). */
    readonly gpusPerResearcher: number;
    readonly spotForBatch: boolean;
    readonly consolidateAfterMinutes: number;
    readonly auth: { readonly kind: "cognito" } | {
        readonly kind: "oidc";
        readonly authorizeUrl: string;
        readonly tokenUrl: string;
        readonly userinfoUrl: string;
        readonly clientId: string;
        readonly usernameClaim: string;
    };
    /** accessMode cidr: the hub's DNS name and its ACM certificate. */
    readonly hub?: { readonly hostname: string; readonly acmCertificateArn: string };
    readonly ddp: { readonly nodes: number; readonly gpusPerNode: number };
    /** The GPU nodes' image cache: an EBS snapshot holding the workbench image (imageCacheSnapshotId), and the image tag it holds. */
    readonly imageCache?: { readonly snapshotId: string; readonly imageTag?: string };
}

export interface ClusterStackConfig extends BaseConfig {
    readonly mode: "cluster";
    readonly researchers: readonly Researcher[];
    readonly cluster: ClusterSettings;
}

export type StackConfig = InstanceStackConfig | ClusterStackConfig;

export interface ConfigProblem {
    /** The stack config key, e.g. "archaeo-workbench:researchers[1].sshPublicKeys[0]". */
    readonly propertyPath: string;
    /** What is wrong and how to fix it. */
    readonly reason: string;
}

/** Thrown once with every problem found; the message lists each key and its fix. */
export class ConfigError extends Error {
    constructor(public readonly errors: readonly ConfigProblem[]) {
        super(
            `Invalid stack config (${errors.length} problem${errors.length === 1 ? "" : "s"}):\n` +
                errors.map((e) => `  - ${e.propertyPath}: ${e.reason}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}
