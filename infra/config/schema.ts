/**
 * The one table of the project's stack config keys: type, default, range, unit, which mode uses the
 * key, and its description. The parser (parse.ts), Pulumi.yaml's `config:` block (projectConfigBlock)
 * and the example stack all derive from it; tests keep them identical.
 */
import { DEFAULT_AMI_SSM_PARAMETER } from "../data/amis";
import { DEFAULT_NODE_AMI_VERSION } from "../data/eks";

export const PROJECT = "archaeo-workbench";

export type Mode = "instance" | "cluster";
export type KeyType = "string" | "integer" | "boolean" | "array";

export interface KeySpec {
    readonly type: KeyType;
    readonly description: string;
    /** Modes the key applies to; setting it in another mode is an error naming the mode. */
    readonly modes: readonly Mode[];
    readonly default?: string | number | boolean | readonly string[];
    /** Integer keys: inclusive range, and the unit said in errors. */
    readonly min?: number;
    readonly max?: number;
    readonly unit?: string;
    /** Declared as `secret: true` in Pulumi.yaml: the stack value must be encrypted. */
    readonly secret?: boolean;
    /**
     * false: not declared in Pulumi.yaml, because the project schema has no object type
     * (pulumi/pulumi sdk/go/common/workspace/project.json: simpleConfigType is string | integer |
     * boolean | array, and array items can only nest those). Undeclared project keys are allowed
     * (workspace/config.go validates declared keys only); parse.ts validates these instead.
     */
    readonly declared?: false;
}

const BOTH: readonly Mode[] = ["instance", "cluster"];
const INSTANCE: readonly Mode[] = ["instance"];
const CLUSTER: readonly Mode[] = ["cluster"];

export const CONFIG_KEYS = {
    institution: { type: "string", modes: BOTH, description: "Institution slug: 3-24 chars, a-z 0-9 and '-', starting with a letter. Names every resource (with the stack), tag and the KMS alias." },
    dataClassification: { type: "string", modes: BOTH, default: "confidential", description: "Data classification tag: public | internal | confidential | restricted." },
    mode: { type: "string", modes: BOTH, default: "instance", description: "instance (a GPU EC2 workstation per researcher) or cluster (EKS, GPU nodes scaling to zero, JupyterHub)." },
    researchers: {
        type: "array", modes: BOTH, declared: false,
        description: "The researchers: a list of { id, iamPrincipalArn, sessionName?, email?, sshPublicKeys, budgetMonthlyUsd?, parked?, instanceType?, workspaceSizeGiB?, restoreFromSnapshot? }. Each gets their own server, storage, token, identity and cost line.",
    },
    instanceType: { type: "string", modes: BOTH, default: "g5.xlarge", description: "Instance mode: default GPU instance type of a researcher's workstation. Cluster mode: the reference GPU node for the cost estimate (in gpuFamilies)." },
    availabilityZone: { type: "string", modes: BOTH, description: "AZ of the workstations and their workspace volumes (instance mode) or the first of the two cluster AZs. Defaults to <region>a." },
    vpcCidr: { type: "string", modes: BOTH, default: "10.42.0.0/16", description: "IPv4 CIDR of the workbench VPC: /16 to /24 (instance mode), /16 to /20 (cluster mode)." },
    launchBatchSize: { type: "integer", modes: INSTANCE, default: 8, min: 0, max: 200, unit: "workstations", description: "Workstations a `pulumi up` launches at once; each is stopped once created (it starts on connect), so a deploy uses at most this many workstations' G/VT vCPUs. 0: all at once." },
    rootVolumeSizeGiB: { type: "integer", modes: INSTANCE, default: 150, min: 100, max: 2000, unit: "GiB", description: "Root volume of each workstation in GiB (holds the OS and the pulled image): 100-2000." },
    workspaceSizeGiB: { type: "integer", modes: INSTANCE, default: 500, min: 50, max: 16384, unit: "GiB", description: "Default persistent /workspace volume of each researcher in GiB: 50-16384." },
    snapshotRetentionDays: { type: "integer", modes: BOTH, default: 14, min: 7, max: 365, unit: "days", description: "Daily backups kept: EBS workspace snapshots (instance mode) or AWS Backup recovery points of the EFS homes (cluster mode): 7-365 (at least a week of restore points)." },
    backupCopyRegion: { type: "string", modes: BOTH, description: "Copy each daily backup to this second region (disaster recovery). Needs backupCopyKmsKeyArn, a key in that region." },
    backupCopyKmsKeyArn: { type: "string", modes: BOTH, description: "Customer-managed KMS key in backupCopyRegion that encrypts the copies." },
    accessMode: { type: "string", modes: BOTH, default: "ssm", description: "ssm: no inbound port at all (SSM Session Manager / kubectl port-forward). cidr: SSH (instance) or the hub over TLS (cluster) open to accessCidrs." },
    accessCidrs: { type: "array", modes: BOTH, default: [], description: "IPv4 CIDRs allowed in when accessMode is cidr, at most accessCidrMaxAddresses addresses in all; 0.0.0.0/0 is refused." },
    accessCidrMaxAddresses: { type: "integer", modes: BOTH, default: 65536, min: 1, max: 16777216, unit: "addresses", description: "Most public IPv4 addresses accessCidrs (and clusterApiCidrs) may cover together (a /16 is 65536; the pack's ipv4MinPrefixLength is the same limit)." },
    autoStopIdleMinutes: { type: "integer", modes: BOTH, default: 60, min: 0, max: 1440, unit: "minutes", description: "Stop a workstation (instance) or cull a server (cluster) after this many minutes with no work (kernels, terminals, SSH, processes, GPU): 15-1440, or 0 to disable." },
    autoStopGpuUtilPercent: { type: "integer", modes: BOTH, default: 5, min: 0, max: 100, unit: "%", description: "GPU utilisation (%) under which a GPU counts as idle: 0-100." },
    maxSessionHours: { type: "integer", modes: BOTH, default: 0, min: 0, max: 720, unit: "hours", description: "Hours after a start at which a workstation or server stops even while busy, warned an hour ahead (instance mode: archaeo-extend extends it, recorded). 0 (default): none; else 2-720." },
    budgetMonthlyUsd: { type: "integer", modes: BOTH, default: 500, min: 1, max: 1000000, unit: "USD", description: "Monthly AWS Budget for this stack's tagged cost, in USD: 1-1000000." },
    budgetAlertEmails: { type: "array", modes: BOTH, description: "E-mail addresses alerted at 80% actual and 100% forecast of the budget (the stack's admins: also alerted about each researcher's budget)." },
    researcherBudgetMonthlyUsd: { type: "integer", modes: BOTH, default: 0, min: 0, max: 1000000, unit: "USD", description: "Monthly budget per researcher in USD: alerts them and the admins, at 100% stops their compute (README 'Budgets per researcher'). 0: none; researchers[].budgetMonthlyUsd overrides." },
    protectData: { type: "boolean", modes: BOTH, default: true, description: "Protect and retain on delete the workspaces, homes, dataset and audit buckets and KMS key." },
    kmsKeyArn: { type: "string", modes: BOTH, description: "Use this existing customer-managed KMS key (same region and account) instead of creating one." },
    imageRetentionDays: { type: "integer", modes: BOTH, default: 1825, min: 0, max: 3650, unit: "days", description: "Keep every pushed workbench image this many days so old runs can be reproduced (0 keeps them forever); untagged layers expire after 14 days." },
    auditLogRetentionDays: { type: "integer", modes: BOTH, default: 400, min: 90, max: 3650, unit: "days", description: "Days the dataset-access audit trail (CloudTrail S3 data events) is kept: 90-3650." },
    amiId: { type: "string", modes: INSTANCE, description: "Pin the workstation AMI (ami-...). Defaults to the one amiSsmParameter resolves to." },
    amiSsmParameter: { type: "string", modes: INSTANCE, default: DEFAULT_AMI_SSM_PARAMETER, description: "Public SSM parameter resolving the AWS Deep Learning Base OSS NVIDIA driver AMI." },
    baseImageDigest: { type: "string", modes: BOTH, description: "sha256 digest of the image's base (ubuntu:22.04; docker buildx imagetools inspect). Without it the build uses the tag." },
    kubernetesVersion: { type: "string", modes: CLUSTER, default: "1.35", description: "Cluster mode: pinned EKS Kubernetes version: 1.34 or 1.35 (those with pinned add-ons, infra/data/eks.json). Warned 60 days before its end of standard support, refused after." },
    clusterAdminArns: { type: "array", modes: CLUSTER, default: [], description: "Cluster mode: IAM role/user ARNs given cluster-admin through EKS access entries (at least one; the deployer gets one too)." },
    clusterApiCidrs: { type: "array", modes: CLUSTER, default: [], description: "Cluster mode: CIDRs allowed to the public EKS API endpoint; empty turns the public endpoint off (private only)." },
    gpuFamilies: { type: "array", modes: CLUSTER, default: ["g5", "g6"], description: "Cluster mode: GPU instance families Karpenter may launch (g4dn, g5, g6, g6e)." },
    gpuLimit: { type: "integer", modes: CLUSTER, default: 4, min: 1, max: 64, unit: "GPUs", description: "Cluster mode: most GPUs running at once across GPU nodes (Karpenter limit and the hub namespace quota): 1-64." },
    gpusPerResearcher: { type: "integer", modes: CLUSTER, default: 2, min: 1, max: 64, unit: "GPUs", description: "Cluster mode: most GPUs one researcher's batch jobs may request at once (their namespace's quota): 1-64." },
    spotForBatch: { type: "boolean", modes: CLUSTER, default: false, description: "Cluster mode: add a spot-only GPU NodePool for checkpointed batch jobs (never notebooks); its GPUs come out of gpuLimit (spotGpuLimit)." },
    spotGpuLimit: { type: "integer", modes: CLUSTER, min: 1, max: 63, unit: "GPUs", description: "Cluster mode, spotForBatch: GPUs of gpuLimit the spot pool may run; the on-demand pool gets the rest, so both never exceed gpuLimit. Defaults to half of gpuLimit, rounded down." },
    nodeAmiVersion: { type: "string", modes: CLUSTER, default: DEFAULT_NODE_AMI_VERSION, description: "Cluster mode: EKS AL2023 AMI release of every Karpenter node (alias al2023@<release>), e.g. v20260714. Pinned so a new AWS AMI replaces no node; 'latest' is refused." },
    nodeUpgradeWindow: { type: "string", modes: CLUSTER, default: "sun 02:00-06:00", description: "Cluster mode: weekly UTC window in which Karpenter may replace drifted nodes: '<sun|mon|..|sat> HH:MM-HH:MM', 1-24 h. Nodes running a notebook server are never replaced." },
    consolidateAfterMinutes: { type: "integer", modes: CLUSTER, default: 10, min: 1, max: 1440, unit: "minutes", description: "Cluster mode: minutes an empty GPU node lives before it is removed: 1-1440." },
    imageCacheSnapshotId: { type: "string", modes: CLUSTER, description: "Cluster mode: EBS snapshot (snap-...) of containerd's store holding the workbench image; GPU nodes mount a volume from it (stack key) and skip the pull (README 'Image cache')." },
    imageCacheImageTag: { type: "string", modes: CLUSTER, description: "Cluster mode, with imageCacheSnapshotId: the image tag the snapshot holds; the plan says when the deployed image differs and how to rebuild." },
    clusterAuth: { type: "string", modes: CLUSTER, default: "cognito", description: "Cluster mode: how researchers log in to JupyterHub: cognito (a user pool the stack creates, MFA required) or oidc (the institution's identity provider)." },
    oidcAuthorizeUrl: { type: "string", modes: CLUSTER, description: "Cluster mode, clusterAuth oidc: the provider's authorization endpoint (https://..., from its .well-known/openid-configuration)." },
    oidcTokenUrl: { type: "string", modes: CLUSTER, description: "Cluster mode, clusterAuth oidc: the provider's token endpoint (https://...)." },
    oidcUserinfoUrl: { type: "string", modes: CLUSTER, description: "Cluster mode, clusterAuth oidc: the provider's userinfo endpoint (https://...)." },
    oidcClientId: { type: "string", modes: CLUSTER, description: "Cluster mode, clusterAuth oidc: the OAuth client id registered for JupyterHub." },
    oidcClientSecret: { type: "string", modes: CLUSTER, secret: true, description: "Cluster mode, clusterAuth oidc: the OAuth client secret (pulumi config set --secret oidcClientSecret ...)." },
    oidcUsernameClaim: { type: "string", modes: CLUSTER, description: "Cluster mode, clusterAuth oidc (required): the claim whose value is a researcher's id; one your identity provider sets and users cannot change." },
    hubHostname: { type: "string", modes: CLUSTER, description: "Cluster mode with accessMode cidr: DNS name of the hub (CNAME to its load balancer), covered by acmCertificateArn." },
    acmCertificateArn: { type: "string", modes: CLUSTER, description: "Cluster mode with accessMode cidr: ACM certificate ARN for the hub's TLS load balancer." },
    ddpNodes: { type: "integer", modes: CLUSTER, default: 2, min: 1, max: 16, unit: "nodes", description: "Cluster mode: nodes in each researcher's DDP job template: 1-16." },
    ddpGpusPerNode: { type: "integer", modes: CLUSTER, default: 1, min: 1, max: 8, unit: "GPUs", description: "Cluster mode: GPUs per node in the DDP job template: 1-8." },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

export function spec(k: ConfigKey): KeySpec {
    return CONFIG_KEYS[k];
}

/** Keys removed from the schema, with where their setting went (named in the error). */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
    sshPublicKeys: "moved into researchers[].sshPublicKeys: each researcher lists their own keys",
};

/** Pulumi.yaml's `config:` block, derived from CONFIG_KEYS (declared keys only). */
export function projectConfigBlock(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const [k, s] of Object.entries(CONFIG_KEYS) as Array<[string, KeySpec]>) {
        if (s.declared === false) continue;
        out[k] = {
            type: s.type,
            ...(s.type === "array" ? { items: { type: "string" } } : {}),
            ...(s.default !== undefined ? { default: s.default } : {}),
            ...(s.secret ? { secret: true } : {}),
            description: s.description,
        };
    }
    return out;
}

/** The keys of the fields a researcher entry may have, and which mode uses each. */
export const RESEARCHER_FIELDS = {
    id: { modes: BOTH, description: "slug naming their server, storage, role and cost line: 2-20 chars of a-z, 0-9 and '-', starting with a letter" },
    iamPrincipalArn: { modes: BOTH, description: "the IAM role or user that may act as this researcher (assumes their per-researcher role)" },
    sessionName: { modes: BOTH, description: "role session name (e.g. the Identity Center user name) required when iamPrincipalArn is a role several people share" },
    email: { modes: BOTH, description: "e-mail address (cluster mode with Cognito: where the invitation goes)" },
    sshPublicKeys: { modes: BOTH, description: "OpenSSH public keys of this researcher only" },
    parked: { modes: BOTH, description: "true: no compute for this researcher, their data kept at the cheapest safe tier (README 'Parked researchers'); false or absent: working" },
    budgetMonthlyUsd: { modes: BOTH, description: "monthly budget of this researcher in USD (defaults to researcherBudgetMonthlyUsd; 0: none): 0-1000000, alerts at 80% and 100%, acts at 100%" },
    instanceType: { modes: INSTANCE, description: "GPU instance type of this researcher's workstation (defaults to instanceType)" },
    workspaceSizeGiB: { modes: INSTANCE, description: "size of this researcher's /workspace volume in GiB (defaults to workspaceSizeGiB)" },
    zone: { modes: INSTANCE, description: "availability zone of this researcher's workstation and workspace volume (defaults to availabilityZone); another zone of the stack's region, to move them where their instance type has capacity (README 'Moving a workstation to another zone')" },
    restoreFromSnapshot: {
        modes: INSTANCE,
        description: "EBS snapshot (snap-...) this researcher's /workspace volume is restored from: a new volume from it, in their workstation's zone and under the stack key, " +
            "replaces the current one, which is kept in AWS (docs/runbooks.md; `npm run restore -- workspace` checks the snapshot and sets it). Leave it set afterwards",
    },
} as const satisfies Record<string, { modes: readonly Mode[]; description: string }>;
