/**
 * Stack configuration: one pure function from raw stack config to a frozen, typed StackConfig.
 *
 * Raw values come either from the Pulumi engine (every value a string, arrays as JSON strings) or
 * from a parsed stacks/Pulumi.<stack>.yaml (typed YAML values); `parseConfig` accepts both. It never
 * stops at the first problem: every wrong key is collected with its fix and thrown once, before any
 * resource is registered.
 */
import { DEFAULT_AMI_SSM_PARAMETER } from "./data/amis";
import { GPU_INSTANCE_TYPES, GpuInstanceSpec, gpuSpec } from "./data/gpus";
import prices from "./data/prices.json";

export const PROJECT = "archaeo-workbench";

export type DataClassification = "public" | "internal" | "confidential" | "restricted";
export type Mode = "instance" | "cluster";
export type AccessMode = "ssm" | "cidr";

export interface StackConfig {
    readonly project: string;
    readonly stack: string;
    readonly region: string;
    /** Lower-case slug naming the institution in every resource name, tag and alias. */
    readonly institution: string;
    readonly dataClassification: DataClassification;
    readonly mode: Mode;
    readonly instanceType: string;
    readonly gpu: GpuInstanceSpec;
    readonly availabilityZone: string;
    readonly vpcCidr: string;
    readonly rootVolumeSizeGiB: number;
    readonly workspaceSizeGiB: number;
    readonly snapshotRetentionDays: number;
    readonly access: { readonly mode: AccessMode; readonly cidrs: readonly string[] };
    readonly sshPublicKeys: readonly string[];
    readonly autoStop: { readonly idleMinutes: number; readonly gpuUtilPercent: number };
    readonly budget: { readonly monthlyUsd: number; readonly alertEmails: readonly string[] };
    readonly protectData: boolean;
    readonly kmsKeyArn?: string;
    readonly ami: { readonly id?: string; readonly ssmParameter: string };
    readonly baseImageDigest?: string;
    /** Cluster mode only (undefined in instance mode). */
    readonly cluster?: ClusterConfig;
}

export interface ClusterConfig {
    readonly kubernetesVersion: string;
    /** IAM principals given cluster-admin through EKS access entries. */
    readonly adminArns: readonly string[];
    /** CIDRs allowed to the public API endpoint; empty turns the public endpoint off. */
    readonly apiCidrs: readonly string[];
    /** GPU instance families Karpenter may launch. */
    readonly gpuFamilies: readonly string[];
    /** Most GPUs Karpenter may run at once. */
    readonly gpuLimit: number;
    /** A second, spot-only NodePool for checkpointed batch jobs. */
    readonly spotForBatch: boolean;
    /** Minutes an empty GPU node lives before Karpenter removes it. */
    readonly consolidateAfterMinutes: number;
    /** ACM certificate for the TLS listeners of Jupyter and TensorBoard when accessMode is cidr. */
    readonly acmCertificateArn?: string;
    /** Default size of the DDP job template. */
    readonly ddp: { readonly nodes: number; readonly gpusPerNode: number };
}

export interface ConfigProblem {
    /** The stack config key, e.g. "archaeo-workbench:instanceType". */
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

/** Every project key, its type, default and meaning: the single source for Pulumi.yaml's schema. */
export const CONFIG_KEYS = {
    institution: { type: "string", description: "Institution slug: 3-24 chars, a-z 0-9 and '-', starting with a letter. Names every resource, tag and the KMS alias." },
    dataClassification: { type: "string", default: "confidential", description: "Data classification tag: public | internal | confidential | restricted." },
    mode: { type: "string", default: "instance", description: "instance (one GPU EC2 workstation) or cluster (EKS, GPU nodes scaling to zero, workbench on Kubernetes)." },
    instanceType: { type: "string", default: "g5.xlarge", description: "GPU instance type of the workstation (g4dn, g5, g6, g6e sizes in infra/data/gpus.ts)." },
    availabilityZone: { type: "string", description: "AZ of the workstation and its workspace volume (they must share it). Defaults to <region>a." },
    vpcCidr: { type: "string", default: "10.42.0.0/16", description: "IPv4 CIDR of the workbench VPC, /16 to /24." },
    rootVolumeSizeGiB: { type: "integer", default: 150, description: "Root volume in GiB (holds the OS and the pulled image): 100-2000." },
    workspaceSizeGiB: { type: "integer", default: 500, description: "Persistent /workspace volume in GiB: 50-16384." },
    snapshotRetentionDays: { type: "integer", default: 14, description: "Daily workspace snapshots kept: 1-365." },
    accessMode: { type: "string", default: "ssm", description: "ssm: no inbound port at all, connect through SSM Session Manager. cidr: open 2222/8888/6006 to accessCidrs." },
    accessCidrs: { type: "array", default: [], description: "CIDRs allowed in when accessMode is cidr. 0.0.0.0/0 and ::/0 are refused." },
    sshPublicKeys: { type: "array", description: "OpenSSH public keys allowed to log in as the researcher (ssh-ed25519, ecdsa-sha2-*, ssh-rsa)." },
    autoStopIdleMinutes: { type: "integer", default: 60, description: "Stop the workstation after this many idle minutes (no kernel activity, no SSH session, GPU idle): 15-1440, or 0 to disable." },
    autoStopGpuUtilPercent: { type: "integer", default: 5, description: "GPU utilisation (%) under which the GPU counts as idle: 0-100." },
    budgetMonthlyUsd: { type: "integer", default: 500, description: "Monthly AWS Budget for this stack's tagged cost, in USD: 1-1000000." },
    budgetAlertEmails: { type: "array", description: "E-mail addresses alerted at 80% actual and 100% forecast of the budget." },
    protectData: { type: "boolean", default: true, description: "Protect and retain on delete the workspace volume, dataset bucket and KMS key." },
    kmsKeyArn: { type: "string", description: "Use this existing customer-managed KMS key instead of creating one (same region)." },
    amiId: { type: "string", description: "Pin the workstation AMI (ami-...). Defaults to the one amiSsmParameter resolves to." },
    amiSsmParameter: { type: "string", default: DEFAULT_AMI_SSM_PARAMETER, description: "Public SSM parameter resolving the AWS Deep Learning Base OSS NVIDIA driver AMI." },
    baseImageDigest: { type: "string", description: "sha256 digest of the PyTorch base image tag (docker buildx imagetools inspect). Without it the build uses the tag." },
    kubernetesVersion: { type: "string", default: "1.35", description: "Cluster mode: pinned EKS Kubernetes version (1.34 or 1.35; both in EKS standard support)." },
    clusterAdminArns: { type: "array", default: [], description: "Cluster mode: IAM role/user ARNs given cluster-admin through EKS access entries (at least one)." },
    clusterApiCidrs: { type: "array", default: [], description: "Cluster mode: CIDRs allowed to the public EKS API endpoint; empty turns the public endpoint off (private only)." },
    gpuFamilies: { type: "array", default: ["g5", "g6"], description: "Cluster mode: GPU instance families Karpenter may launch (g4dn, g5, g6, g6e)." },
    gpuLimit: { type: "integer", default: 4, description: "Cluster mode: most GPUs running at once across GPU nodes: 1-64." },
    spotForBatch: { type: "boolean", default: false, description: "Cluster mode: add a spot-only GPU NodePool for checkpointed batch jobs (never for notebooks)." },
    consolidateAfterMinutes: { type: "integer", default: 10, description: "Cluster mode: minutes an empty GPU node lives before it is removed: 1-1440." },
    acmCertificateArn: { type: "string", description: "Cluster mode with accessMode cidr: ACM certificate ARN for the TLS load balancers of Jupyter and TensorBoard." },
    ddpNodes: { type: "integer", default: 2, description: "Cluster mode: nodes in the DDP job template: 1-16." },
    ddpGpusPerNode: { type: "integer", default: 1, description: "Cluster mode: GPUs per node in the DDP job template: 1-8." },
} as const satisfies Record<string, { type: "string" | "integer" | "boolean" | "array"; default?: unknown; description: string }>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

export interface ConfigContext {
    readonly stack: string;
    /** aws:region of the stack. */
    readonly region?: string;
    readonly project?: string;
}

const SLUG = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const AMI = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const IAM_PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@\/-]+$/;
const ACM_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]{36}$/;
/**
 * EKS versions accepted, all in EKS standard support (1.34 until 2026-12-02, 1.35 until 2027-03-27;
 * extended support costs $0.60/h per cluster instead of $0.10) and supported by the pinned Karpenter.
 */
export const KUBERNETES_VERSIONS = ["1.34", "1.35"] as const;
const SSH_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
];

/** Parses an IPv4 or IPv6 CIDR; returns undefined when malformed. */
export function parseCidr(cidr: string): { version: 4 | 6; prefix: number; hostBitsSet: boolean; network: string } | undefined {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
    if (!m) return undefined;
    const prefix = Number(m[2]);
    const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(m[1]);
    if (v4) {
        const octets = v4.slice(1).map(Number);
        if (octets.some((o) => o > 255) || prefix > 32) return undefined;
        const value = octets.reduce((acc, o) => acc * 256 + o, 0);
        const size = 2 ** (32 - prefix);
        const base = Math.floor(value / size) * size;
        const network = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".") + `/${prefix}`;
        return { version: 4, prefix, hostBitsSet: base !== value, network };
    }
    if (m[1].includes(":") && prefix <= 128) {
        const groups = expandIpv6(m[1]);
        if (!groups) return undefined;
        let bits = groups.map((g) => g.toString(2).padStart(16, "0")).join("");
        const hostBitsSet = bits.slice(prefix).includes("1");
        bits = bits.slice(0, prefix).padEnd(128, "0");
        const network = compressIpv6(Array.from({ length: 8 }, (_, i) => parseInt(bits.slice(i * 16, i * 16 + 16), 2))) + `/${prefix}`;
        return { version: 6, prefix, hostBitsSet, network };
    }
    return undefined;
}

function expandIpv6(addr: string): number[] | undefined {
    const parts = addr.split("::");
    if (parts.length > 2) return undefined;
    const head = parts[0] ? parts[0].split(":") : [];
    const tail = parts.length === 2 && parts[1] ? parts[1].split(":") : [];
    const missing = 8 - head.length - tail.length;
    if ((parts.length === 1 && missing !== 0) || missing < 0 || (parts.length === 2 && missing < 1)) return undefined;
    const all = [...head, ...Array(parts.length === 2 ? missing : 0).fill("0"), ...tail];
    if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
    return all.map((g) => parseInt(g, 16));
}

function compressIpv6(groups: number[]): string {
    let best = { start: -1, len: 0 };
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best.start < 0) return hex.join(":");
    return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

/** Checks an OpenSSH public key line: known type, base64 body whose embedded type matches. */
export function checkSshPublicKey(line: string): string | undefined {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2) return "is not an OpenSSH public key line ('<type> <base64> [comment]')";
    const [type, body] = fields;
    if (!SSH_KEY_TYPES.includes(type)) return `has key type '${type}'; use one of ${SSH_KEY_TYPES.join(", ")}`;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return "has a body that is not base64";
    const blob = Buffer.from(body, "base64");
    if (blob.length < 4) return "has a truncated body";
    const n = blob.readUInt32BE(0);
    const embedded = blob.subarray(4, 4 + n).toString("latin1");
    if (embedded !== type) return `says '${type}' but its body encodes '${embedded.slice(0, 40)}'`;
    if (type === "ssh-rsa" && blob.length < 270) return "is an RSA key under 2048 bits; use ssh-ed25519";
    return undefined;
}

type Raw = Record<string, unknown>;

/**
 * Validates raw stack config (keys with or without the "archaeo-workbench:" prefix; values as the
 * engine passes them or as YAML parses them) and returns a frozen StackConfig, or throws ConfigError
 * naming every wrong key and its fix.
 */
export function parseConfig(rawIn: Raw, ctx: ConfigContext): StackConfig {
    const project = ctx.project ?? PROJECT;
    const errors: ConfigProblem[] = [];
    const key = (k: string) => `${project}:${k}`;
    const fail = (k: string, reason: string) => errors.push({ propertyPath: key(k), reason });

    const raw: Raw = {};
    for (const [k, v] of Object.entries(rawIn)) {
        const short = k.startsWith(`${project}:`) ? k.slice(project.length + 1) : k;
        if (k.includes(":") && !k.startsWith(`${project}:`)) continue; // other namespaces (aws:region, ...)
        if (!(short in CONFIG_KEYS)) {
            const hint = closestKey(short);
            errors.push({
                propertyPath: key(short),
                reason: `is not a config key of this project${hint ? `; did you mean '${hint}'?` : ""} (see Pulumi.yaml for every key)`,
            });
            continue;
        }
        raw[short] = v;
    }

    const str = (k: ConfigKey): string | undefined => {
        const v = raw[k];
        if (v === undefined || v === null || v === "") return undefined;
        if (typeof v !== "string") { fail(k, `must be a string, got ${JSON.stringify(v)}`); return undefined; }
        return v.trim();
    };
    const int = (k: ConfigKey, min: number, max: number, fallback: number, unit = ""): number => {
        const v = raw[k];
        if (v === undefined || v === null || v === "") return fallback;
        const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
        if (!Number.isInteger(n)) { fail(k, `must be a whole number${unit}, got ${JSON.stringify(v)}`); return fallback; }
        if (n < min || n > max) { fail(k, `must be ${min}-${max}${unit}, got ${n}`); return fallback; }
        return n;
    };
    const bool = (k: ConfigKey, fallback: boolean): boolean => {
        const v = raw[k];
        if (v === undefined || v === null || v === "") return fallback;
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        fail(k, `must be true or false, got ${JSON.stringify(v)}`);
        return fallback;
    };
    const list = (k: ConfigKey): string[] => {
        let v = raw[k];
        if (v === undefined || v === null || v === "") return [];
        if (typeof v === "string") {
            try { v = JSON.parse(v); } catch { fail(k, `must be a list (YAML list, or a JSON array with 'pulumi config set --path'), got ${JSON.stringify(v)}`); return []; }
        }
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) { fail(k, "must be a list of strings"); return []; }
        return v.map((x: string) => x.trim());
    };
    const oneOf = <T extends string>(k: ConfigKey, allowed: readonly T[], fallback: T): T => {
        const v = str(k);
        if (v === undefined) return fallback;
        if (!(allowed as readonly string[]).includes(v)) { fail(k, `must be one of ${allowed.join(" | ")}, got '${v}'`); return fallback; }
        return v as T;
    };

    // Region (aws:region, outside this project's namespace).
    const region = (ctx.region ?? "").trim();
    if (!region) errors.push({ propertyPath: "aws:region", reason: "is not set; run 'pulumi config set aws:region us-east-1' (or your region)" });
    else if (!REGION.test(region)) errors.push({ propertyPath: "aws:region", reason: `'${region}' is not an AWS region name like us-east-1` });

    const institution = str("institution") ?? "";
    if (!institution) fail("institution", "is required; run 'pulumi config set institution <slug>' (e.g. 'bristol-archaeology')");
    else if (!SLUG.test(institution)) fail("institution", `'${institution}' must be 3-24 chars of a-z, 0-9 and '-', start with a letter and not end with '-'`);

    const dataClassification = oneOf<DataClassification>("dataClassification", ["public", "internal", "confidential", "restricted"], "confidential");
    const mode = oneOf<Mode>("mode", ["instance", "cluster"], "instance");

    const instanceType = str("instanceType") ?? "g5.xlarge";
    const gpu = gpuSpec(instanceType);
    if (!gpu) {
        fail("instanceType", `${instanceType} is not a supported GPU instance type (it has no GPU or is not in infra/data/gpus.ts); use one of ${Object.keys(GPU_INSTANCE_TYPES).join(", ")}`);
    } else if (!(instanceType in prices.ec2OnDemandPerHour)) {
        fail("instanceType", `${instanceType} has no price in infra/data/prices.json; add it there`);
    }

    let availabilityZone = str("availabilityZone") ?? (region ? `${region}a` : "");
    if (region && !new RegExp(`^${region}[a-z]$`).test(availabilityZone)) {
        fail("availabilityZone", `'${availabilityZone}' is not an AZ of ${region}; use e.g. ${region}a (check 'aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=instance-type,Values=${instanceType}')`);
        availabilityZone = `${region}a`;
    }

    const vpcCidr = str("vpcCidr") ?? "10.42.0.0/16";
    const vpc = parseCidr(vpcCidr);
    if (!vpc || vpc.version !== 4 || vpc.prefix < 16 || vpc.prefix > 24) fail("vpcCidr", `'${vpcCidr}' must be an IPv4 CIDR from /16 to /24, e.g. 10.42.0.0/16`);
    else if (vpc.hostBitsSet) fail("vpcCidr", `'${vpcCidr}' has host bits set; did you mean ${vpc.network}?`);

    const rootVolumeSizeGiB = int("rootVolumeSizeGiB", 100, 2000, 150, " GiB");
    const workspaceSizeGiB = int("workspaceSizeGiB", 50, 16384, 500, " GiB");
    const snapshotRetentionDays = int("snapshotRetentionDays", 1, 365, 14, " days");

    const accessMode = oneOf<AccessMode>("accessMode", ["ssm", "cidr"], "ssm");
    const cidrs = list("accessCidrs");
    cidrs.forEach((c, i) => {
        const p = parseCidr(c);
        if (!p) fail(`accessCidrs[${i}]`, `'${c}' is not a valid CIDR (e.g. 203.0.113.0/24 or 2001:db8::/48)`);
        else if (p.prefix === 0) fail(`accessCidrs[${i}]`, `'${c}' opens the workbench to the whole internet; list your institution's CIDRs or use accessMode: ssm`);
        else if (p.hostBitsSet) fail(`accessCidrs[${i}]`, `'${c}' has host bits set; did you mean ${p.network}?`);
    });
    if (accessMode === "cidr" && cidrs.length === 0) fail("accessCidrs", "is empty but accessMode is cidr; list your institution's CIDRs, or use accessMode: ssm");
    if (accessMode === "ssm" && cidrs.length > 0) fail("accessCidrs", "is only used with accessMode: cidr; remove it, or set accessMode: cidr to open ports to it");

    const sshPublicKeys = list("sshPublicKeys");
    if (sshPublicKeys.length === 0) fail("sshPublicKeys", "needs at least one OpenSSH public key (e.g. the contents of ~/.ssh/id_ed25519.pub)");
    sshPublicKeys.forEach((k, i) => {
        const problem = checkSshPublicKey(k);
        if (problem) fail(`sshPublicKeys[${i}]`, `${problem}`);
    });

    const idleMinutes = int("autoStopIdleMinutes", 0, 1440, 60, " minutes");
    if (idleMinutes > 0 && idleMinutes < 15) fail("autoStopIdleMinutes", `must be 0 (disabled) or 15-1440 minutes, got ${idleMinutes}`);
    const gpuUtilPercent = int("autoStopGpuUtilPercent", 0, 100, 5, "%");

    const monthlyUsd = int("budgetMonthlyUsd", 1, 1_000_000, 500, " USD");
    const alertEmails = list("budgetAlertEmails");
    if (alertEmails.length === 0) fail("budgetAlertEmails", "needs at least one e-mail address to alert about spend");
    alertEmails.forEach((e, i) => { if (!EMAIL.test(e)) fail(`budgetAlertEmails[${i}]`, `'${e}' is not an e-mail address`); });

    const protectData = bool("protectData", true);

    const kmsKeyArn = str("kmsKeyArn");
    if (kmsKeyArn) {
        const m = KMS_ARN.exec(kmsKeyArn);
        if (!m) fail("kmsKeyArn", `'${kmsKeyArn}' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases are not accepted`);
        else if (region && m[1] !== region) fail("kmsKeyArn", `the key is in ${m[1]} but the stack is in ${region}; use a key in ${region}`);
    }

    const amiId = str("amiId");
    if (amiId && !AMI.test(amiId)) fail("amiId", `'${amiId}' is not an AMI id (ami- followed by 8 or 17 hex digits)`);
    const amiSsmParameter = str("amiSsmParameter") ?? DEFAULT_AMI_SSM_PARAMETER;
    if (!amiSsmParameter.startsWith("/")) fail("amiSsmParameter", `'${amiSsmParameter}' must be an SSM parameter path starting with '/'`);

    const baseImageDigest = str("baseImageDigest");
    if (baseImageDigest && !DIGEST.test(baseImageDigest)) fail("baseImageDigest", `'${baseImageDigest}' must look like sha256:<64 hex digits> (docker buildx imagetools inspect <tag>)`);

    const clusterKeys = ["kubernetesVersion", "clusterAdminArns", "clusterApiCidrs", "gpuFamilies", "gpuLimit", "spotForBatch", "consolidateAfterMinutes", "acmCertificateArn", "ddpNodes", "ddpGpusPerNode"] as const;
    let cluster: ClusterConfig | undefined;
    if (mode === "cluster") {
        const kubernetesVersion = oneOf("kubernetesVersion", KUBERNETES_VERSIONS, "1.35");
        const adminArns = list("clusterAdminArns");
        if (adminArns.length === 0) fail("clusterAdminArns", "needs at least one IAM role or user ARN to administer the cluster (EKS access entries)");
        adminArns.forEach((a, i) => { if (!IAM_PRINCIPAL.test(a)) fail(`clusterAdminArns[${i}]`, `'${a}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)`); });
        const apiCidrs = list("clusterApiCidrs");
        apiCidrs.forEach((c, i) => {
            const p = parseCidr(c);
            if (!p) fail(`clusterApiCidrs[${i}]`, `'${c}' is not a valid CIDR`);
            else if (p.prefix === 0) fail(`clusterApiCidrs[${i}]`, `'${c}' opens the Kubernetes API to the internet; list your institution's CIDRs, or leave clusterApiCidrs empty for a private endpoint`);
            else if (p.hostBitsSet) fail(`clusterApiCidrs[${i}]`, `'${c}' has host bits set; did you mean ${p.network}?`);
        });
        const families = [...new Set(Object.values(GPU_INSTANCE_TYPES).map((g) => g.family))];
        const gpuFamilies = raw.gpuFamilies === undefined ? ["g5", "g6"] : list("gpuFamilies");
        if (gpuFamilies.length === 0) fail("gpuFamilies", `needs at least one GPU family: ${families.join(", ")}`);
        gpuFamilies.forEach((f, i) => { if (!families.includes(f)) fail(`gpuFamilies[${i}]`, `'${f}' is not a supported GPU family; use ${families.join(", ")}`); });
        const acmCertificateArn = str("acmCertificateArn");
        if (acmCertificateArn) {
            const m = ACM_ARN.exec(acmCertificateArn);
            if (!m) fail("acmCertificateArn", `'${acmCertificateArn}' is not an ACM certificate ARN`);
            else if (region && m[1] !== region) fail("acmCertificateArn", `the certificate is in ${m[1]} but the stack is in ${region}`);
        }
        if (accessMode === "cidr" && !acmCertificateArn) fail("acmCertificateArn", "is required with accessMode cidr in cluster mode: Jupyter and TensorBoard are only exposed over TLS");
        if (vpc && vpc.prefix > 20) fail("vpcCidr", `'${vpcCidr}' is too small for cluster mode (pods take VPC addresses); use /16 to /20`);
        if (gpu && !gpuFamilies.includes(gpu.family)) fail("instanceType", `${instanceType} (the reference GPU node for cost) is not in gpuFamilies ${gpuFamilies.join(", ")}`);
        cluster = {
            kubernetesVersion,
            adminArns,
            apiCidrs,
            gpuFamilies,
            gpuLimit: int("gpuLimit", 1, 64, 4),
            spotForBatch: bool("spotForBatch", false),
            consolidateAfterMinutes: int("consolidateAfterMinutes", 1, 1440, 10, " minutes"),
            ...(acmCertificateArn ? { acmCertificateArn } : {}),
            ddp: { nodes: int("ddpNodes", 1, 16, 2), gpusPerNode: int("ddpGpusPerNode", 1, 8, 1) },
        };
    } else {
        for (const k of clusterKeys) {
            // Pulumi passes project defaults (Pulumi.yaml) to every stack, as strings: those are fine.
            if (!isUnsetOrDefault(raw[k], (CONFIG_KEYS[k] as { default?: unknown }).default)) {
                fail(k, "is only used in cluster mode; remove it, or set mode: cluster");
            }
        }
    }

    if (errors.length) throw new ConfigError(errors);

    return deepFreeze({
        project,
        stack: ctx.stack,
        region,
        institution,
        dataClassification,
        mode,
        instanceType,
        gpu: gpu!,
        availabilityZone,
        vpcCidr,
        rootVolumeSizeGiB,
        workspaceSizeGiB,
        snapshotRetentionDays,
        access: { mode: accessMode, cidrs },
        sshPublicKeys,
        autoStop: { idleMinutes, gpuUtilPercent },
        budget: { monthlyUsd, alertEmails },
        protectData,
        ...(kmsKeyArn ? { kmsKeyArn } : {}),
        ami: { ...(amiId ? { id: amiId } : {}), ssmParameter: amiSsmParameter },
        ...(baseImageDigest ? { baseImageDigest } : {}),
        ...(cluster ? { cluster } : {}),
    });
}

function isUnsetOrDefault(v: unknown, def: unknown): boolean {
    if (v === undefined || v === null || v === "") return true;
    let value = v;
    if (typeof v === "string" && (Array.isArray(def) || typeof def === "number" || typeof def === "boolean")) {
        try { value = JSON.parse(v); } catch { return false; }
    }
    if (Array.isArray(value) && value.length === 0) return true;
    return JSON.stringify(value) === JSON.stringify(def);
}

function closestKey(k: string): string | undefined {
    let best: { key: string; d: number } | undefined;
    for (const candidate of Object.keys(CONFIG_KEYS)) {
        const d = editDistance(k.toLowerCase(), candidate.toLowerCase());
        if (!best || d < best.d) best = { key: candidate, d };
    }
    return best && best.d <= Math.max(2, Math.floor(k.length / 3)) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = tmp;
        }
    }
    return row[b.length];
}

function deepFreeze<T>(o: T): T {
    if (o && typeof o === "object") {
        Object.values(o as object).forEach(deepFreeze);
        Object.freeze(o);
    }
    return o;
}
