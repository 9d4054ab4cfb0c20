/**
 * Stack configuration: one pure function from raw stack config to a frozen, typed StackConfig.
 *
 * Raw values come either from the Pulumi engine (every value a string, lists and objects as JSON) or
 * from a parsed stacks/Pulumi.<stack>.yaml (typed YAML values); `parseConfig` accepts both. It never
 * stops at the first problem: each section validator returns its problems with the key and the fix,
 * and they are thrown together once, before any resource is registered.
 */
import { SSH_KEY_LIMITS } from "../constants";
import { GPU_INSTANCE_TYPES, GpuInstanceSpec, gpuSpec } from "../data/gpus";
import { AWS_REGIONS, gpuFamilyOffered, regionsOffering } from "../data/regions";
import prices from "../data/prices.json";
import { compareVersions } from "../data/amis";
import { ADDON_KUBERNETES_VERSIONS, daysUntil, EKS_SUPPORT_TYPE, NODE_AMI_RELEASES, SUPPORT_WARNING_DAYS, SUPPORT_WINDOWS } from "../data/eks";
import image from "../../images/pytorch-cuda/image.json";
// The same pure CIDR arithmetic the policy pack judges ingress with: config and pack agree.
import { parseCidr, publicAddressCoverage } from "../../policies/lib/cidr";
import { CONFIG_KEYS, ConfigKey, KeySpec, Mode, MOVED_KEYS, PROJECT, RESEARCHER_FIELDS } from "./schema";
import { checkSshPublicKey } from "./ssh";
import { zoneSubnetProblems } from "./zones";
import {
    AccessMode, BackupConfig, ClusterSettings, ClusterStackConfig, ConfigError, ConfigProblem, DataClassification, InstanceResearcher,
    InstanceStackConfig, Researcher, StackConfig,
} from "./types";

export interface ConfigContext {
    readonly stack: string;
    /** aws:region of the stack. */
    readonly region?: string;
    readonly project?: string;
    /**
     * How many researchers a stack may have (MAX_RESEARCHERS). Only the scale bench and its test raise it, to
     * measure growth beyond what a stack may deploy; stack config cannot.
     */
    readonly maxResearchers?: number;
    /**
     * The account the stack deploys to, when known before the program runs (the offline plan's --account):
     * every ARN is checked against it (accountProblems) with the other problems. The program itself learns
     * it from aws.getCallerIdentity and checks it there (infra/workbench.ts checkAccount).
     */
    readonly accountId?: string;
    /** No account given (the offline plan without --account): the ARNs' accounts must agree, and name it (stackAccount). */
    readonly inferAccount?: boolean;
    /**
     * Today (YYYY-MM-DD, UTC), from the caller's clock: judges dated facts (a Kubernetes version past its end of EKS
     * standard support is refused). Absent: nothing dated is judged (tests without a clock stay deterministic).
     */
    readonly today?: string;
}

const SLUG = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
const RESEARCHER_ID = /^[a-z][a-z0-9-]{0,18}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const AMI = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
/** EC2 snapshot ids: snap- and 8 (older) or 17 hex digits, as DescribeSnapshots returns them. */
export const SNAPSHOT_ID = /^snap-[0-9a-f]{8}([0-9a-f]{9})?$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** IAM role or user ARN (paths allowed: Identity Center roles live under aws-reserved/sso.amazonaws.com/). */
export const IAM_PRINCIPAL = /^arn:aws[a-z-]*:iam::(\d{12}):(role|user)\/([\w+=,.@/-]+)$/;
const ACM_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]{36}$/;
const HOSTNAME = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** Role session names (sts:AssumeRole RoleSessionName): 2-64 of [\w+=,.@-]. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
/** Researchers per stack: the size the plan, the pack (test/scale.test.ts) and the quota table are proven at. */
export const MAX_RESEARCHERS = 200;
/**
 * AWS Budgets' most e-mail subscribers per notification: the Subscribers list takes 11, but "a notification can
 * have one SNS subscriber and up to 10 email subscribers, for a total of 11 subscribers" (botocore budgets
 * NotificationWithSubscribers): 11 e-mail addresses are refused by CreateBudget.
 */
export const MAX_BUDGET_SUBSCRIBERS = 10;

/**
 * EKS versions accepted: those with a row of pinned add-ons and support dates in infra/data/eks.json, within the
 * pinned Karpenter's range (1.29-1.35). Whether one is still in EKS standard support is judged against a clock
 * (ConfigContext.today): the cluster is pinned to STANDARD (extended support costs $0.60/h per cluster instead of
 * $0.10), so EKS upgrades it on its own once standard support ends.
 */
export const KUBERNETES_VERSIONS: readonly string[] = ADDON_KUBERNETES_VERSIONS.filter((v) => v in SUPPORT_WINDOWS && compareVersions(v, "1.29") >= 0 && compareVersions(v, "1.35") <= 0);

/** A weekly UTC window: day 0-6 (Sunday first, as cron), start minute of that day, length in minutes. */
const WINDOW = /^(sun|mon|tue|wed|thu|fri|sat) ([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const NODE_AMI_VERSION = /^v\d{8}$/;

type Raw = Record<string, unknown>;

/** Reads raw values of one object (the stack or a researcher entry), collecting problems. */
class Reader {
    constructor(private readonly raw: Raw, private readonly path: (k: string) => string, private readonly problems: ConfigProblem[]) {}

    fail(k: string, reason: string): void {
        this.problems.push({ propertyPath: this.path(k), reason });
    }

    has(k: string): boolean {
        const v = this.raw[k];
        return !(v === undefined || v === null || v === "");
    }

    str(k: string): string | undefined {
        const v = this.raw[k];
        if (v === undefined || v === null || v === "") return undefined;
        if (typeof v !== "string") { this.fail(k, `must be a string, got ${JSON.stringify(v)}`); return undefined; }
        return v.trim();
    }

    int(k: string, s: Pick<KeySpec, "min" | "max" | "unit">, fallback: number): number {
        const v = this.raw[k];
        const unit = s.unit ? ` ${s.unit}` : "";
        if (v === undefined || v === null || v === "") return fallback;
        const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
        if (!Number.isInteger(n)) { this.fail(k, `must be a whole number${unit}, got ${JSON.stringify(v)}`); return fallback; }
        if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) { this.fail(k, `must be ${s.min}-${s.max}${unit}, got ${n}`); return fallback; }
        return n;
    }

    bool(k: string, fallback: boolean): boolean {
        const v = this.raw[k];
        if (v === undefined || v === null || v === "") return fallback;
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        this.fail(k, `must be true or false, got ${JSON.stringify(v)}`);
        return fallback;
    }

    /** A list of strings (YAML list, or a JSON array string as the engine passes it). */
    list(k: string): string[] {
        const v = this.json(k);
        if (v === undefined) return [];
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) { this.fail(k, "must be a list of strings"); return []; }
        return v.map((x: string) => x.trim());
    }

    /** A value that may arrive as JSON text from the engine. */
    json(k: string): unknown {
        const v = this.raw[k];
        if (v === undefined || v === null || v === "") return undefined;
        if (typeof v !== "string") return v;
        try { return JSON.parse(v); } catch {
            this.fail(k, `must be a list (a YAML list, or 'pulumi config set --path' entries), got ${JSON.stringify(v)}`);
            return undefined;
        }
    }

    oneOf<T extends string>(k: string, allowed: readonly T[], fallback: T): T {
        const v = this.str(k);
        if (v === undefined) return fallback;
        if (!(allowed as readonly string[]).includes(v)) { this.fail(k, `must be one of ${allowed.join(" | ")}, got '${v}'`); return fallback; }
        return v as T;
    }
}

/**
 * Validates raw stack config (keys with or without the "archaeo-workbench:" prefix; values as the
 * engine passes them or as YAML parses them) and returns a frozen StackConfig, or throws ConfigError
 * naming every wrong key and its fix.
 */
export function parseConfig(rawIn: Raw, ctx: ConfigContext): StackConfig {
    const project = ctx.project ?? PROJECT;
    if (ctx.today !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(ctx.today)) throw new Error(`parseConfig: today must be YYYY-MM-DD, got '${ctx.today}'`);
    const problems: ConfigProblem[] = [];
    const key = (k: string) => `${project}:${k}`;

    const raw: Raw = {};
    for (const [k, v] of Object.entries(rawIn)) {
        if (k.includes(":") && !k.startsWith(`${project}:`)) {
            // Other namespaces (aws:region, a provider's keys) are not ours, but a misspelt project prefix would drop
            // the key silently: Pulumi passes it to the program under that namespace, where nothing reads it.
            const [ns, ...rest] = k.split(":");
            const name = rest.join(":");
            if (nearMissNamespace(ns, project)) {
                const right = name in CONFIG_KEYS || name in MOVED_KEYS ? name : closest(name, Object.keys(CONFIG_KEYS)) ?? name;
                problems.push({ propertyPath: k, reason: `'${ns}' is not this project's name; did you mean '${project}:${right}'? (as written, the key is ignored)` });
            }
            continue;
        }
        const short = k.startsWith(`${project}:`) ? k.slice(project.length + 1) : k;
        if (short in MOVED_KEYS) { problems.push({ propertyPath: key(short), reason: `is no longer a key: ${MOVED_KEYS[short]}` }); continue; }
        if (!(short in CONFIG_KEYS)) {
            const hint = closest(short, Object.keys(CONFIG_KEYS));
            problems.push({ propertyPath: key(short), reason: `is not a config key of this project${hint ? `; did you mean '${hint}'?` : ""} (see Pulumi.yaml for every key)` });
            continue;
        }
        raw[short] = v;
    }
    const r = new Reader(raw, key, problems);
    const spec = (k: ConfigKey): KeySpec => CONFIG_KEYS[k];
    const dflt = <T>(k: ConfigKey) => spec(k).default as T;

    // Region (aws:region, outside this project's namespace).
    const region = (ctx.region ?? "").trim();
    if (!region) problems.push({ propertyPath: "aws:region", reason: "is not set; run 'pulumi config set aws:region us-east-1' (or your region)" });
    else if (!REGION.test(region)) problems.push({ propertyPath: "aws:region", reason: `'${region}' is not an AWS region name like us-east-1` });
    else if (!AWS_REGIONS.includes(region)) problems.push({ propertyPath: "aws:region", reason: unknownRegion(region) });

    const institution = r.str("institution") ?? "";
    if (!institution) r.fail("institution", "is required; run 'pulumi config set institution <slug>' (e.g. 'bristol-archaeology')");
    else if (!SLUG.test(institution)) r.fail("institution", `'${institution}' must be 3-24 chars of a-z, 0-9 and '-', start with a letter and not end with '-'`);

    const dataClassification = r.oneOf<DataClassification>("dataClassification", ["public", "internal", "confidential", "restricted"], dflt("dataClassification"));
    const mode = r.oneOf<Mode>("mode", ["instance", "cluster"], dflt("mode"));

    // Keys of the other mode are refused (Pulumi passes Pulumi.yaml defaults to every stack: those are fine).
    for (const [k, s] of Object.entries(CONFIG_KEYS) as Array<[ConfigKey, KeySpec]>) {
        if (!s.modes.includes(mode) && !isUnsetOrDefault(raw[k], s.default)) {
            r.fail(k, `is only used in ${s.modes.join(" and ")} mode; remove it, or set mode: ${s.modes[0]}`);
            delete raw[k];
        }
    }

    const instanceType = r.str("instanceType") ?? dflt<string>("instanceType");
    const gpu = checkInstanceType(instanceType, (reason) => r.fail("instanceType", reason));
    if (gpu && region && gpuFamilyOffered(gpu.family, region) === false) r.fail("instanceType", notOffered(gpu.family, region));

    let availabilityZone = r.str("availabilityZone") ?? (region ? `${region}a` : "");
    if (region && !new RegExp(`^${region}[a-z]$`).test(availabilityZone)) {
        r.fail("availabilityZone", `'${availabilityZone}' is not an AZ of ${region}; use e.g. ${region}a (check 'aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=instance-type,Values=${instanceType}')`);
        availabilityZone = `${region}a`;
    }

    const vpcCidr = r.str("vpcCidr") ?? dflt<string>("vpcCidr");
    const vpc = parseCidr(vpcCidr);
    const maxVpcPrefix = mode === "cluster" ? 20 : 24;
    if (!vpc || vpc.version !== 4 || vpc.prefix < 16 || vpc.prefix > maxVpcPrefix) {
        r.fail("vpcCidr", `'${vpcCidr}' must be an IPv4 CIDR from /16 to /${maxVpcPrefix}${mode === "cluster" ? " in cluster mode (pods take VPC addresses)" : ""}, e.g. 10.42.0.0/16`);
    } else if (vpc.hostBitsSet) r.fail("vpcCidr", `'${vpcCidr}' has host bits set; did you mean ${vpc.network}?`);

    const backup = backupSection(r, region);
    const access = accessSection(r, mode);
    const autoStop = {
        idleMinutes: r.int("autoStopIdleMinutes", spec("autoStopIdleMinutes"), dflt("autoStopIdleMinutes")),
        gpuUtilPercent: r.int("autoStopGpuUtilPercent", spec("autoStopGpuUtilPercent"), dflt("autoStopGpuUtilPercent")),
        maxSessionHours: r.int("maxSessionHours", spec("maxSessionHours"), dflt("maxSessionHours")),
    };
    if (autoStop.idleMinutes > 0 && autoStop.idleMinutes < 15) r.fail("autoStopIdleMinutes", `must be 0 (disabled) or 15-1440 minutes, got ${autoStop.idleMinutes}`);
    if (autoStop.maxSessionHours === 1) r.fail("maxSessionHours", "must be 0 (no maximum) or 2-720 hours, got 1: the warning comes an hour before the stop, so a 1-hour session would be warned as it starts");
    const budget = budgetSection(r);
    const researcherDefaults = { budgetMonthlyUsd: budget.researcherMonthlyUsd, adminEmails: budget.alertEmails.length };
    const protectData = r.bool("protectData", dflt("protectData"));

    const kmsKeyArn = r.str("kmsKeyArn");
    if (kmsKeyArn) {
        const m = KMS_ARN.exec(kmsKeyArn);
        if (!m) r.fail("kmsKeyArn", `'${kmsKeyArn}' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases are not accepted`);
        else if (region && m[1] !== region) r.fail("kmsKeyArn", `the key is in ${m[1]} but the stack is in ${region}; use a key in ${region}`);
    }
    const baseImageDigest = r.str("baseImageDigest");
    if (baseImageDigest && !DIGEST.test(baseImageDigest)) r.fail("baseImageDigest", `'${baseImageDigest}' must look like sha256:<64 hex digits> (docker buildx imagetools inspect <tag>)`);
    const imageRetentionDays = r.int("imageRetentionDays", spec("imageRetentionDays"), dflt("imageRetentionDays"));
    if (imageRetentionDays > 0 && imageRetentionDays < 365) r.fail("imageRetentionDays", `must be 0 (forever) or 365-3650 days so runs stay reproducible, got ${imageRetentionDays}`);
    const auditLogRetentionDays = r.int("auditLogRetentionDays", spec("auditLogRetentionDays"), dflt("auditLogRetentionDays"));

    const base = {
        project, stack: ctx.stack, region, institution, dataClassification, instanceType, gpu: gpu!, availabilityZone, vpcCidr, backup, access, autoStop, budget,
        protectData, ...(kmsKeyArn ? { kmsKeyArn } : {}), ...(baseImageDigest ? { baseImageDigest } : {}), imageRetentionDays, auditLogRetentionDays,
    };

    let cfg: StackConfig;
    if (mode === "cluster") {
        const cluster = clusterSection(r, { region, instanceType, gpu, access: access.mode, today: ctx.today });
        const researchers = researchersSection(raw.researchers, { mode, key, problems, defaults: { instanceType, workspaceSizeGiB: 0, zone: "", ...researcherDefaults }, clusterAuth: cluster.auth.kind, max: ctx.maxResearchers });
        cfg = { ...base, mode, researchers, cluster } satisfies ClusterStackConfig;
    } else {
        const workspaceSizeGiB = r.int("workspaceSizeGiB", spec("workspaceSizeGiB"), dflt("workspaceSizeGiB"));
        const researchers = researchersSection(raw.researchers, { mode, key, problems, defaults: { instanceType, workspaceSizeGiB, zone: availabilityZone, ...researcherDefaults }, region, max: ctx.maxResearchers }) as InstanceResearcher[];
        problems.push(...zoneSubnetProblems(researchers, { availabilityZone, vpcCidr, key }));
        const amiId = r.str("amiId");
        if (amiId && !AMI.test(amiId)) r.fail("amiId", `'${amiId}' is not an AMI id (ami- followed by 8 or 17 hex digits)`);
        const ssmParameter = r.str("amiSsmParameter") ?? dflt<string>("amiSsmParameter");
        if (!ssmParameter.startsWith("/")) r.fail("amiSsmParameter", `'${ssmParameter}' must be an SSM parameter path starting with '/'`);
        cfg = {
            ...base, mode, researchers,
            rootVolumeSizeGiB: r.int("rootVolumeSizeGiB", spec("rootVolumeSizeGiB"), dflt("rootVolumeSizeGiB")),
            launchBatchSize: r.int("launchBatchSize", spec("launchBatchSize"), dflt("launchBatchSize")),
            ami: { ...(amiId ? { id: amiId } : {}), ssmParameter },
        } satisfies InstanceStackConfig;
    }

    if (ctx.accountId !== undefined) problems.push(...accountProblems(cfg, ctx.accountId));
    else if (ctx.inferAccount) problems.push(...accountConflicts(cfg));

    if (problems.length) throw new ConfigError(problems);
    return deepFreeze(cfg);
}

/** A region name that botocore's partitions.json does not list, with the nearest that it does. */
function unknownRegion(region: string): string {
    const hint = closest(region, AWS_REGIONS);
    return `'${region}' is not an AWS region (botocore's partitions.json, infra/data/regions.json)${hint ? `; did you mean '${hint}'?` : ""}`;
}

function notOffered(family: string, region: string): string {
    return `${family} instances are not offered in ${region} (recorded describe-instance-type-offerings, infra/data/regions.json); ` +
        `regions that offer them: ${regionsOffering(family).join(", ")}. Choose another family or region, or refresh the table with npm run gen:regions -- --from-aws`;
}

function checkInstanceType(instanceType: string, fail: (reason: string) => void): GpuInstanceSpec | undefined {
    const gpu = gpuSpec(instanceType);
    if (!gpu) fail(`${instanceType} is not a supported GPU instance type (it has no GPU or is not in infra/data/gpus.ts); use one of ${Object.keys(GPU_INSTANCE_TYPES).join(", ")}`);
    else if (!(instanceType in prices.ec2OnDemandPerHour)) fail(`${instanceType} has no price in infra/data/prices.json; add it there`);
    return gpu;
}

/** backupCopyRegion / backupCopyKmsKeyArn come together; the key lives in the copy region. */
function backupSection(r: Reader, region: string): BackupConfig {
    const retentionDays = r.int("snapshotRetentionDays", CONFIG_KEYS.snapshotRetentionDays, CONFIG_KEYS.snapshotRetentionDays.default);
    const copyRegion = r.str("backupCopyRegion");
    const copyKey = r.str("backupCopyKmsKeyArn");
    if (!copyRegion && !copyKey) return { retentionDays };
    if (copyRegion && !REGION.test(copyRegion)) r.fail("backupCopyRegion", `'${copyRegion}' is not an AWS region name like eu-west-1`);
    else if (copyRegion && !AWS_REGIONS.includes(copyRegion)) r.fail("backupCopyRegion", unknownRegion(copyRegion));
    else if (copyRegion && copyRegion === region) r.fail("backupCopyRegion", `is the stack's own region (${region}); name a second region for disaster recovery, or remove it`);
    if (copyRegion && !copyKey) r.fail("backupCopyKmsKeyArn", `is required with backupCopyRegion: a customer-managed key in ${copyRegion} that encrypts the copies`);
    if (copyKey && !copyRegion) r.fail("backupCopyRegion", "is required with backupCopyKmsKeyArn: the region the key is in");
    if (copyKey) {
        const m = KMS_ARN.exec(copyKey);
        if (!m) r.fail("backupCopyKmsKeyArn", `'${copyKey}' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`);
        else if (copyRegion && m[1] !== copyRegion) r.fail("backupCopyKmsKeyArn", `the key is in ${m[1]} but backupCopyRegion is ${copyRegion}; use a key in ${copyRegion}`);
    }
    return copyRegion && copyKey ? { retentionDays, copy: { region: copyRegion, kmsKeyArn: copyKey } } : { retentionDays };
}

/**
 * accessMode / accessCidrs: IPv4 only (the VPC has no IPv6), judged by the address space covered
 * (not by spelling: 0.0.0.0/1 + 128.0.0.0/1 is the whole internet too), at most accessCidrMaxAddresses.
 */
function accessSection(r: Reader, mode: Mode): StackConfig["access"] {
    const accessMode = r.oneOf<AccessMode>("accessMode", ["ssm", "cidr"], CONFIG_KEYS.accessMode.default);
    const maxAddresses = r.int("accessCidrMaxAddresses", CONFIG_KEYS.accessCidrMaxAddresses, CONFIG_KEYS.accessCidrMaxAddresses.default);
    const cidrs = checkCidrList(r, "accessCidrs", maxAddresses, "the workbench");
    if (accessMode === "cidr" && cidrs.length === 0) r.fail("accessCidrs", "is empty but accessMode is cidr; list your institution's CIDRs, or use accessMode: ssm");
    if (accessMode === "ssm" && cidrs.length > 0) r.fail("accessCidrs", `is only used with accessMode: cidr; remove it, or set accessMode: cidr to open ${mode === "cluster" ? "the hub" : "SSH"} to it`);
    return { mode: accessMode, cidrs, maxAddresses };
}

/**
 * Checks a list of IPv4 CIDRs one by one and by the public address space they cover together
 * (policies/lib/cidr.ts publicAddressCoverage, the pack's own measure: 0.0.0.0/1 + 128.0.0.0/1 is the
 * whole internet too), at most accessCidrMaxAddresses.
 */
function checkCidrList(r: Reader, k: ConfigKey, maxAddresses: number, what: string): string[] {
    const cidrs = r.list(k);
    const good: string[] = [];
    cidrs.forEach((c, i) => {
        const p = parseCidr(c);
        if (!p) r.fail(`${k}[${i}]`, `'${c}' is not a valid CIDR (e.g. 203.0.113.0/24)`);
        else if (p.version === 6) r.fail(`${k}[${i}]`, `'${c}' is IPv6, but the workbench VPC is IPv4-only; list IPv4 CIDRs`);
        else if (p.prefix === 0) r.fail(`${k}[${i}]`, `'${c}' opens ${what} to the whole internet; list your institution's CIDRs${k === "accessCidrs" ? " or use accessMode: ssm" : ""}`);
        else if (p.hostBitsSet) r.fail(`${k}[${i}]`, `'${c}' has host bits set; did you mean ${p.canonical}?`);
        else good.push(c);
    });
    const covered = publicAddressCoverage(good).ipv4;
    if (covered > BigInt(maxAddresses)) {
        r.fail(k, `covers ${covered} public IPv4 addresses, more than accessCidrMaxAddresses (${maxAddresses}); list your institution's own ranges (raise accessCidrMaxAddresses, and the pack's ipv4MinPrefixLength, only if they really are that large)`);
    }
    return cidrs;
}

function budgetSection(r: Reader): StackConfig["budget"] {
    const monthlyUsd = r.int("budgetMonthlyUsd", CONFIG_KEYS.budgetMonthlyUsd, CONFIG_KEYS.budgetMonthlyUsd.default);
    const alertEmails = r.list("budgetAlertEmails");
    if (alertEmails.length === 0) r.fail("budgetAlertEmails", "needs at least one e-mail address to alert about spend");
    alertEmails.forEach((e, i) => { if (!EMAIL.test(e)) r.fail(`budgetAlertEmails[${i}]`, `'${e}' is not an e-mail address`); });
    // AWS Budgets: 1-10 e-mail subscribers per notification (botocore budgets NotificationWithSubscribers: one SNS and up to 10 e-mail).
    if (alertEmails.length > MAX_BUDGET_SUBSCRIBERS) r.fail("budgetAlertEmails", `has ${alertEmails.length} addresses; AWS Budgets alerts at most ${MAX_BUDGET_SUBSCRIBERS} per notification (use a mailing list address)`);
    const researcherMonthlyUsd = r.int("researcherBudgetMonthlyUsd", CONFIG_KEYS.researcherBudgetMonthlyUsd, CONFIG_KEYS.researcherBudgetMonthlyUsd.default);
    return { monthlyUsd, alertEmails, researcherMonthlyUsd };
}

function clusterSection(r: Reader, c: { region: string; instanceType: string; gpu?: GpuInstanceSpec; access: AccessMode; today?: string }): ClusterSettings {
    const K = CONFIG_KEYS;
    const kubernetesVersion = r.oneOf("kubernetesVersion", KUBERNETES_VERSIONS, K.kubernetesVersion.default);
    if (c.today) supportProblem(kubernetesVersion, c.today, (reason) => r.fail("kubernetesVersion", reason));
    const nodeAmiVersion = r.str("nodeAmiVersion") ?? K.nodeAmiVersion.default;
    if (!NODE_AMI_VERSION.test(nodeAmiVersion)) {
        r.fail("nodeAmiVersion", `'${nodeAmiVersion}' must be an EKS AMI release like ${K.nodeAmiVersion.default} (github.com/awslabs/amazon-eks-ami/releases)` +
            `${nodeAmiVersion === "latest" ? ": 'latest' moves with every AWS release, and each move replaces every node and evicts running servers" : ""}`);
    } else {
        const release = NODE_AMI_RELEASES[nodeAmiVersion];
        if (release && !release.kubernetes.includes(kubernetesVersion)) {
            r.fail("nodeAmiVersion", `release ${nodeAmiVersion} has no AL2023 AMI for Kubernetes ${kubernetesVersion} (it has ${release.kubernetes.join(", ")}); choose a release for ${kubernetesVersion}`);
        } else if (release && compareVersions(release.nvidiaDriver, image.minNvidiaDriver) < 0) {
            r.fail("nodeAmiVersion", `release ${nodeAmiVersion} ships NVIDIA driver ${release.nvidiaDriver}; the image's CUDA ${image.cuda} needs ${image.minNvidiaDriver} or newer`);
        }
    }
    const upgradeWindow = windowSection(r, r.str("nodeUpgradeWindow") ?? K.nodeUpgradeWindow.default);
    const adminArns = r.list("clusterAdminArns");
    if (adminArns.length === 0) r.fail("clusterAdminArns", "needs at least one IAM role or user ARN to administer the cluster (EKS access entries)");
    adminArns.forEach((a, i) => { if (!IAM_PRINCIPAL.test(a)) r.fail(`clusterAdminArns[${i}]`, `'${a}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)`); });
    const maxAddresses = r.int("accessCidrMaxAddresses", K.accessCidrMaxAddresses, K.accessCidrMaxAddresses.default);
    const apiCidrs = checkCidrList(r, "clusterApiCidrs", maxAddresses, "the Kubernetes API");

    const families = [...new Set(Object.values(GPU_INSTANCE_TYPES).map((g) => g.family))];
    const gpuFamilies = r.has("gpuFamilies") ? r.list("gpuFamilies") : [...K.gpuFamilies.default];
    if (gpuFamilies.length === 0) r.fail("gpuFamilies", `needs at least one GPU family: ${families.join(", ")}`);
    gpuFamilies.forEach((f, i) => {
        if (!families.includes(f)) r.fail(`gpuFamilies[${i}]`, `'${f}' is not a supported GPU family; use ${families.join(", ")}`);
        else if (c.region && gpuFamilyOffered(f, c.region) === false) r.fail(`gpuFamilies[${i}]`, notOffered(f, c.region));
    });
    if (c.gpu && !gpuFamilies.includes(c.gpu.family)) r.fail("instanceType", `${c.instanceType} (the reference GPU node for cost) is not in gpuFamilies ${gpuFamilies.join(", ")}`);

    const gpuLimit = r.int("gpuLimit", K.gpuLimit, K.gpuLimit.default);
    const gpusPerResearcher = r.int("gpusPerResearcher", K.gpusPerResearcher, K.gpusPerResearcher.default);
    if (gpusPerResearcher > gpuLimit) r.fail("gpusPerResearcher", `is ${gpusPerResearcher} but gpuLimit (all GPUs) is ${gpuLimit}; lower it or raise gpuLimit`);
    const ddp = { nodes: r.int("ddpNodes", K.ddpNodes, K.ddpNodes.default), gpusPerNode: r.int("ddpGpusPerNode", K.ddpGpusPerNode, K.ddpGpusPerNode.default) };
    if (ddp.nodes * ddp.gpusPerNode > gpusPerResearcher) r.fail("ddpNodes", `the DDP template asks for ${ddp.nodes} x ${ddp.gpusPerNode} GPUs, more than gpusPerResearcher (${gpusPerResearcher}); its pods would wait forever`);
    const cacheSnapshot = r.str("imageCacheSnapshotId");
    const cacheTag = r.str("imageCacheImageTag");
    if (cacheSnapshot !== undefined && !SNAPSHOT_ID.test(cacheSnapshot)) r.fail("imageCacheSnapshotId", `'${cacheSnapshot}' is not an EBS snapshot id (snap- and 8 or 17 hex digits); build one as README 'Image cache' says, or remove the key`);
    if (cacheTag !== undefined && !/^ctx-[0-9a-f]{16}$/.test(cacheTag)) r.fail("imageCacheImageTag", `'${cacheTag}' is not a workbench image tag (ctx- and 16 hex digits, as the plan's image-cache line prints)`);
    if (cacheTag !== undefined && cacheSnapshot === undefined) r.fail("imageCacheImageTag", "is set without imageCacheSnapshotId; set the snapshot that holds this tag, or remove it");
    const imageCache = cacheSnapshot !== undefined && SNAPSHOT_ID.test(cacheSnapshot) ? { snapshotId: cacheSnapshot, ...(cacheTag ? { imageTag: cacheTag } : {}) } : undefined;
    const spotForBatch = r.bool("spotForBatch", K.spotForBatch.default);
    const gpuLimits = gpuBudget(r, { gpuLimit, spotForBatch, ddpGpus: ddp.nodes * ddp.gpusPerNode });

    const authKind = r.oneOf("clusterAuth", ["cognito", "oidc"] as const, K.clusterAuth.default);
    let auth: ClusterSettings["auth"] = { kind: "cognito" };
    const oidcUrls = ["oidcAuthorizeUrl", "oidcTokenUrl", "oidcUserinfoUrl"] as const;
    if (authKind === "oidc") {
        const urls = oidcUrls.map((k) => {
            const u = r.str(k);
            if (!u) r.fail(k, "is required with clusterAuth: oidc (see your provider's .well-known/openid-configuration)");
            else if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(u)) r.fail(k, `'${u}' must be an https:// URL`);
            return u ?? "";
        });
        const clientId = r.str("oidcClientId");
        if (!clientId) r.fail("oidcClientId", "is required with clusterAuth: oidc: the client id your identity provider issued for JupyterHub");
        if (!r.has("oidcClientSecret")) r.fail("oidcClientSecret", "is required with clusterAuth: oidc; set it with 'pulumi config set --secret oidcClientSecret <secret>'");
        // The hub's user name is this claim's value and must equal a researcher id: a claim users can edit would let
        // anyone become anyone (OpenID Connect Core 1.0 §5.1: preferred_username may be any string, and relying
        // parties MUST NOT rely on it being unique), so there is no default; the institution names one it controls.
        const usernameClaim = r.str("oidcUsernameClaim");
        if (!usernameClaim) r.fail("oidcUsernameClaim", "is required with clusterAuth: oidc: the claim whose value is each researcher's id, one your identity provider sets and users cannot change (not a self-editable preferred_username or nickname)");
        auth = {
            kind: "oidc", authorizeUrl: urls[0], tokenUrl: urls[1], userinfoUrl: urls[2], clientId: clientId ?? "",
            usernameClaim: usernameClaim ?? "",
        };
    } else {
        for (const k of [...oidcUrls, "oidcClientId", "oidcClientSecret", "oidcUsernameClaim"] as const) if (r.has(k)) r.fail(k, "is only used with clusterAuth: oidc; remove it, or set clusterAuth: oidc");
    }

    const hostname = r.str("hubHostname");
    const acmCertificateArn = r.str("acmCertificateArn");
    if (acmCertificateArn) {
        const m = ACM_ARN.exec(acmCertificateArn);
        if (!m) r.fail("acmCertificateArn", `'${acmCertificateArn}' is not an ACM certificate ARN`);
        else if (c.region && m[1] !== c.region) r.fail("acmCertificateArn", `the certificate is in ${m[1]} but the stack is in ${c.region}`);
    }
    if (hostname && !HOSTNAME.test(hostname)) r.fail("hubHostname", `'${hostname}' is not a DNS name like hub.archaeology.example.ac.uk`);
    if (c.access === "cidr") {
        if (!acmCertificateArn) r.fail("acmCertificateArn", "is required with accessMode cidr in cluster mode: the hub is only exposed over TLS");
        if (!hostname) r.fail("hubHostname", "is required with accessMode cidr in cluster mode: the hub's DNS name (login callbacks go to https://<hubHostname>/hub/oauth_callback)");
    } else {
        if (acmCertificateArn) r.fail("acmCertificateArn", "is only used with accessMode: cidr (in ssm mode the hub is reached with kubectl port-forward); remove it");
        if (hostname) r.fail("hubHostname", "is only used with accessMode: cidr; remove it");
    }

    return {
        kubernetesVersion,
        adminArns,
        apiCidrs,
        gpuFamilies,
        gpuLimit,
        gpuLimits,
        gpusPerResearcher,
        spotForBatch,
        nodeAmiVersion,
        upgradeWindow,
        consolidateAfterMinutes: r.int("consolidateAfterMinutes", K.consolidateAfterMinutes, K.consolidateAfterMinutes.default),
        auth,
        ...(c.access === "cidr" && hostname && acmCertificateArn ? { hub: { hostname, acmCertificateArn } } : {}),
        ddp,
        ...(imageCache ? { imageCache } : {}),
    };
}

/**
 * A Kubernetes version already out of EKS standard support on `today` (AWS's release calendar, infra/data/eks.json).
 * The calendar's "End of Standard Support" date is the last day of standard support ("Once a version is past the end of
 * standard support date, it enters extended support": awsdocs/amazon-eks-user-guide kubernetes-versions.adoc), so the
 * version is refused from the day after it, never on it (that day only warns: lifecycleWarnings).
 * The cluster's upgradePolicy is STANDARD (never billed extended support): from then EKS upgrades the control plane
 * on its own, and an `up` that still asks for the old version would try to move it back.
 */
function supportProblem(version: string, today: string, fail: (reason: string) => void): void {
    const w = SUPPORT_WINDOWS[version];
    if (!w || daysUntil(w.standardSupportEnd, today) >= 0) return;
    const next = KUBERNETES_VERSIONS.find((v) => compareVersions(v, version) > 0 && daysUntil(SUPPORT_WINDOWS[v].standardSupportEnd, today) >= 0);
    fail(`Kubernetes ${version} left EKS standard support after ${w.standardSupportEnd} (its last day; AWS's EKS release calendar, infra/data/eks.json); ` +
        `the cluster's upgradePolicy is ${EKS_SUPPORT_TYPE}, so EKS now upgrades it on its own. ` +
        (next ? `Set the next version: pulumi config set kubernetesVersion ${next} (one minor version per up: README 'Day two')`
            : "No newer version is pinned here yet: add its row to infra/data/eks.json (support dates and add-on versions)"));
}

/** nodeUpgradeWindow: '<day> HH:MM-HH:MM' UTC, 1-24 hours; an end at or before the start is the next day. */
function windowSection(r: Reader, text: string): ClusterSettings["upgradeWindow"] {
    const m = WINDOW.exec(text.trim().toLowerCase());
    const fallback = { text: "sun 02:00-06:00", day: 0, startMinute: 120, minutes: 240 };
    if (!m) { r.fail("nodeUpgradeWindow", `'${text}' must look like 'sun 02:00-06:00' (a weekday, then a UTC start and end time)`); return fallback; }
    const start = Number(m[2]) * 60 + Number(m[3]);
    const end = Number(m[4]) * 60 + Number(m[5]);
    const minutes = end > start ? end - start : end + 1440 - start;
    if (minutes < 60) { r.fail("nodeUpgradeWindow", `'${text}' is ${minutes} minutes; give Karpenter at least an hour to replace nodes`); return fallback; }
    return { text: text.trim().toLowerCase(), day: DAYS.indexOf(m[1] as typeof DAYS[number]), startMinute: start, minutes };
}

/**
 * How gpuLimit is split between the GPU NodePools: Karpenter's limits are per NodePool, so with a spot batch pool the
 * two limits must add up to gpuLimit (spotGpuLimit for spot, the rest on demand), never gpuLimit each.
 */
function gpuBudget(r: Reader, c: { gpuLimit: number; spotForBatch: boolean; ddpGpus: number }): ClusterSettings["gpuLimits"] {
    if (!c.spotForBatch) {
        if (r.has("spotGpuLimit")) r.fail("spotGpuLimit", "is only used with spotForBatch: true; remove it, or turn the spot batch pool on");
        return { onDemand: c.gpuLimit, spot: 0 };
    }
    if (c.gpuLimit < 2) {
        r.fail("spotForBatch", `needs gpuLimit of at least 2: the spot pool's GPUs come out of gpuLimit (${c.gpuLimit}) and the on-demand pool keeps at least one for notebook servers`);
        return { onDemand: c.gpuLimit, spot: 0 };
    }
    const fallback = Math.floor(c.gpuLimit / 2);
    const spot = r.int("spotGpuLimit", CONFIG_KEYS.spotGpuLimit, fallback);
    if (spot > c.gpuLimit - 1) {
        r.fail("spotGpuLimit", `is ${spot} but gpuLimit is ${c.gpuLimit}: the spot pool takes its GPUs out of gpuLimit and the on-demand pool (servers) needs at least one; use 1-${c.gpuLimit - 1}`);
        return { onDemand: c.gpuLimit - fallback, spot: fallback };
    }
    if (c.ddpGpus > spot) r.fail("ddpNodes", `the DDP template runs on the spot pool and asks for ${c.ddpGpus} GPUs, more than spotGpuLimit (${spot}); its pods would wait forever`);
    return { onDemand: c.gpuLimit - spot, spot };
}

/**
 * What the plan (and `pulumi up`) warns about on `today`, without refusing: a Kubernetes version within
 * SUPPORT_WARNING_DAYS of its end of EKS standard support, a node AMI release the table does not record. Pure.
 */
export function lifecycleWarnings(cfg: StackConfig, today: string): string[] {
    if (cfg.mode !== "cluster") return [];
    const out: string[] = [];
    const v = cfg.cluster.kubernetesVersion;
    const w = SUPPORT_WINDOWS[v];
    const days = w ? daysUntil(w.standardSupportEnd, today) : undefined;
    if (w && days !== undefined && days >= 0 && days <= SUPPORT_WARNING_DAYS) {
        const next = KUBERNETES_VERSIONS.find((x) => compareVersions(x, v) > 0);
        out.push(`${cfg.project}:kubernetesVersion: Kubernetes ${v} leaves EKS standard support on ${w.standardSupportEnd}, in ${days} day(s) ` +
            `(${w.standardSupportEnd} is its last day of standard support${days === 0 ? ": today" : ""}; refused from the day after) ` +
            `(AWS's EKS release calendar, infra/data/eks.json); then EKS upgrades the cluster on its own (upgradePolicy ${EKS_SUPPORT_TYPE}). ` +
            (next ? `Upgrade first, in a quiet hour: pulumi config set kubernetesVersion ${next}` : "Record the next version's row in infra/data/eks.json and upgrade first"));
    }
    if (!(cfg.cluster.nodeAmiVersion in NODE_AMI_RELEASES)) {
        out.push(`${cfg.project}:nodeAmiVersion: release ${cfg.cluster.nodeAmiVersion} is not in infra/data/eks.json: whether it has AMIs for Kubernetes ${v} and a new enough NVIDIA driver (${image.minNvidiaDriver}) is not checked; add its row from the amazon-eks-ami release notes`);
    }
    return out;
}

interface ResearcherContext {
    mode: Mode;
    key: (k: string) => string;
    problems: ConfigProblem[];
    /** budgetMonthlyUsd: researcherBudgetMonthlyUsd; adminEmails: how many budgetAlertEmails each researcher's alerts also go to. */
    defaults: { instanceType: string; workspaceSizeGiB: number; zone: string; budgetMonthlyUsd?: number; adminEmails?: number };
    /** aws:region (instance mode: each researcher's zone must be one of its zones). */
    region?: string;
    clusterAuth?: "cognito" | "oidc";
    max?: number;
}

/** researchers: unique ids and principals, well-formed keys and ARNs, per-researcher overrides of this mode. */
export function researchersSection(value: unknown, c: ResearcherContext): Array<Researcher | InstanceResearcher> {
    const top = new Reader({ researchers: value }, c.key, c.problems);
    const example = "researchers: [{ id: alice, iamPrincipalArn: arn:aws:iam::123456789012:role/alice, sshPublicKeys: [ssh-ed25519 AAAA...] }]";
    if (!top.has("researchers")) { top.fail("researchers", `needs at least one researcher, e.g. ${example}`); return []; }
    const list = top.json("researchers");
    if (list === undefined) return [];
    if (!Array.isArray(list)) { top.fail("researchers", `must be a list of researchers, e.g. ${example}`); return []; }
    if (list.length === 0) top.fail("researchers", `needs at least one researcher, e.g. ${example}`);
    const max = c.max ?? MAX_RESEARCHERS;
    if (list.length > max) top.fail("researchers", `has ${list.length} entries; at most ${max} per stack, the size the plan and the policy pack are proven at. ` +
        "Put the others in a second stack. It shares this account's quotas: IAM roles and instance profiles per account (every region), running G/VT vCPUs, gp3 TiB and VPCs " +
        "per account and region; another region relieves the regional ones, only another account the IAM ones. `npm run plan` prints each quota this stack needs, with its code to request an increase");

    const out: Array<Researcher | InstanceResearcher> = [];
    const ids = new Map<string, number>();
    const principals = new Map<string, number[]>();
    list.forEach((entry, i) => {
        const at = (k: string) => c.key(`researchers[${i}]${k ? `.${k}` : ""}`);
        if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
            c.problems.push({ propertyPath: at(""), reason: `must be an object like { id: alice, iamPrincipalArn: ..., sshPublicKeys: [...] }, got ${JSON.stringify(entry)}` });
            return;
        }
        const e = entry as Raw;
        // The key path stays the one `pulumi config set --path` takes (researchers[0]...); the reason names the person.
        const named = typeof e.id === "string" && e.id.trim() ? e.id.trim() : undefined;
        const problems: ConfigProblem[] = [];
        const r = new Reader(e, at, problems);
        for (const f of Object.keys(e)) {
            if (!(f in RESEARCHER_FIELDS)) {
                const hint = closest(f, Object.keys(RESEARCHER_FIELDS));
                r.fail(f, `is not a researcher field${hint ? `; did you mean '${hint}'?` : ""} (fields: ${Object.keys(RESEARCHER_FIELDS).join(", ")})`);
            } else if (!(RESEARCHER_FIELDS[f as keyof typeof RESEARCHER_FIELDS].modes as readonly Mode[]).includes(c.mode)) {
                r.fail(f, `is only used in ${RESEARCHER_FIELDS[f as keyof typeof RESEARCHER_FIELDS].modes.join(" and ")} mode; remove it`);
            }
        }

        const id = r.str("id") ?? "";
        if (!id) r.fail("id", `is required: ${RESEARCHER_FIELDS.id.description}`);
        else if (!RESEARCHER_ID.test(id) || id.includes("--")) r.fail("id", `'${id}' must be 2-20 chars of a-z, 0-9 and single '-', start with a letter and not end with '-' (it names their server pod, namespace and roles)`);
        else if (ids.has(id)) r.fail("id", `'${id}' is also researchers[${ids.get(id)}]; ids must be unique`);
        else ids.set(id, i);

        const iamPrincipalArn = r.str("iamPrincipalArn") ?? "";
        const principal = IAM_PRINCIPAL.exec(iamPrincipalArn);
        if (!iamPrincipalArn) r.fail("iamPrincipalArn", "is required: the IAM role or user that may act as this researcher (e.g. their Identity Center permission-set role)");
        else if (!principal) r.fail("iamPrincipalArn", `'${iamPrincipalArn}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>)`);
        const sessionName = r.str("sessionName");
        if (sessionName && !SESSION_NAME.test(sessionName)) r.fail("sessionName", `'${sessionName}' is not a role session name (2-64 of letters, digits and _+=,.@-)`);
        const identityCenter = principal?.[2] === "role" && /^aws-reserved\/sso\.amazonaws\.com\//.test(principal[3]);
        if (sessionName && principal?.[2] === "user") r.fail("sessionName", "is only used when iamPrincipalArn is a role; an IAM user is one person already");
        // Identity Center sets the session name of its permission-set roles to the signed-in user's name; with any
        // other role, whoever calls sts:AssumeRole chooses RoleSessionName, so a session name tells no one apart.
        else if (sessionName && principal?.[2] === "role" && !identityCenter) r.fail("sessionName", `is only trusted for Identity Center permission-set roles (aws-reserved/sso.amazonaws.com/...): with '${iamPrincipalArn}' whoever assumes the role chooses the session name; give this researcher a role or user of their own`);
        if (identityCenter && !sessionName) {
            r.fail("sessionName", "is required: an Identity Center permission-set role is shared by everyone with that permission set; give this person's Identity Center user name so only they can act as this researcher");
        }
        if (principal) principals.set(`${iamPrincipalArn}#${sessionName ?? ""}`, [...(principals.get(`${iamPrincipalArn}#${sessionName ?? ""}`) ?? []), i]);

        const email = r.str("email");
        if (email && !EMAIL.test(email)) r.fail("email", `'${email}' is not an e-mail address`);
        if (c.mode === "cluster" && c.clusterAuth === "cognito" && !email) r.fail("email", "is required with clusterAuth: cognito: the invitation with a temporary password goes there");

        const sshPublicKeys = r.list("sshPublicKeys");
        if (c.mode === "instance" && sshPublicKeys.length === 0) r.fail("sshPublicKeys", "needs at least one OpenSSH public key (e.g. the contents of ~/.ssh/id_ed25519.pub): SSH is how batch training runs");
        if (sshPublicKeys.length > SSH_KEY_LIMITS.perResearcher) r.fail("sshPublicKeys", `has ${sshPublicKeys.length} keys; at most ${SSH_KEY_LIMITS.perResearcher} per researcher (they must fit one 8 KB SSM parameter)`);
        sshPublicKeys.forEach((k, j) => { const problem = checkSshPublicKey(k); if (problem) r.fail(`sshPublicKeys[${j}]`, problem); });

        const budgetMonthlyUsd = r.int("budgetMonthlyUsd", CONFIG_KEYS.researcherBudgetMonthlyUsd, c.defaults.budgetMonthlyUsd ?? 0);
        // AWS Budgets: at most 10 e-mail subscribers per notification (botocore budgets NotificationWithSubscribers:
        // one SNS and up to 10 e-mail, 11 in all), and their budget's notifications go to the admins and them.
        if (budgetMonthlyUsd > 0 && email && (c.defaults.adminEmails ?? 0) + 1 > MAX_BUDGET_SUBSCRIBERS) {
            r.fail("budgetMonthlyUsd", `their budget alerts go to budgetAlertEmails and ${email}: ${(c.defaults.adminEmails ?? 0) + 1} addresses, but AWS Budgets alerts at most ${MAX_BUDGET_SUBSCRIBERS} per notification; list at most ${MAX_BUDGET_SUBSCRIBERS - 1} budgetAlertEmails (a mailing list address)`);
        }
        const parked = r.bool("parked", false);
        const common: Researcher = { id, iamPrincipalArn, ...(sessionName ? { sessionName } : {}), ...(email ? { email } : {}), sshPublicKeys, budgetMonthlyUsd, parked };
        if (c.mode === "instance") {
            const instanceType = r.str("instanceType") ?? c.defaults.instanceType;
            const gpu = r.has("instanceType") ? checkInstanceType(instanceType, (reason) => r.fail("instanceType", reason)) : gpuSpec(instanceType);
            const workspaceSizeGiB = r.int("workspaceSizeGiB", CONFIG_KEYS.workspaceSizeGiB, c.defaults.workspaceSizeGiB);
            const zone = r.str("zone") ?? c.defaults.zone;
            if (c.region && zone !== c.defaults.zone && !new RegExp(`^${c.region}[a-z]$`).test(zone)) {
                r.fail("zone", `'${zone}' is not an availability zone of ${c.region}, the stack's region (a workspace moves between zones of one region only), e.g. ${c.region}b`);
            }
            const restoreFromSnapshot = r.str("restoreFromSnapshot");
            if (restoreFromSnapshot !== undefined && !SNAPSHOT_ID.test(restoreFromSnapshot)) {
                r.fail("restoreFromSnapshot", `'${restoreFromSnapshot}' is not an EBS snapshot id (snap- and 8 or 17 hex digits); ` +
                    `list this researcher's snapshots with \`npm run restore -- workspace --stack <stack> --researcher ${named ?? "<id>"}\``);
            }
            out.push({ ...common, instanceType, gpu: gpu!, workspaceSizeGiB, zone, ...(restoreFromSnapshot && SNAPSHOT_ID.test(restoreFromSnapshot) ? { restoreFromSnapshot } : {}) });
        } else {
            out.push(common);
        }
        for (const p of problems) c.problems.push(named && !p.propertyPath.endsWith(".id") ? { ...p, reason: `researcher '${named}': ${p.reason}` } : p);
    });
    for (const [p, at] of principals) {
        if (at.length > 1) {
            const [arn] = p.split("#");
            const name = (i: number) => { const v = (list[i] as Raw).id; return typeof v === "string" && v ? v : undefined; };
            c.problems.push({
                propertyPath: c.key(`researchers[${at[1]}].iamPrincipalArn`),
                reason: `${name(at[1]) ? `researcher '${name(at[1])}': ` : ""}${arn} also acts as researchers[${at[0]}]${name(at[0]) ? ` (${name(at[0])})` : ""}; ` +
                    "give each researcher their own principal, or a distinct sessionName when they share a role",
            });
        }
    }
    return out;
}

/**
 * Checks that need the deploying account (known only after aws.getCallerIdentity): the existing key,
 * the backup-copy key, researchers' principals and cluster admins must all be in it.
 */
export function accountProblems(cfg: StackConfig, accountId: string): ConfigProblem[] {
    const key = (k: string) => `${cfg.project}:${k}`;
    const out: ConfigProblem[] = [];
    const keyAccount = cfg.kmsKeyArn ? KMS_ARN.exec(cfg.kmsKeyArn)?.[2] : undefined;
    if (keyAccount && keyAccount !== accountId) {
        out.push({ propertyPath: key("kmsKeyArn"), reason: `the key is in account ${keyAccount} but the stack deploys to ${accountId}; the institution's data must be encrypted with a key its own account controls` });
    }
    const copyAccount = cfg.backup.copy ? KMS_ARN.exec(cfg.backup.copy.kmsKeyArn)?.[2] : undefined;
    if (copyAccount && copyAccount !== accountId) {
        out.push({ propertyPath: key("backupCopyKmsKeyArn"), reason: `the key is in account ${copyAccount} but the stack deploys to ${accountId}; use a key of ${accountId} in ${cfg.backup.copy!.region}` });
    }
    cfg.researchers.forEach((r, i) => {
        const a = IAM_PRINCIPAL.exec(r.iamPrincipalArn)?.[1];
        if (a && a !== accountId) out.push({ propertyPath: key(`researchers[${i}].iamPrincipalArn`), reason: `researcher '${r.id}': is in account ${a} but the stack deploys to ${accountId}; name a role or user of ${accountId}` });
    });
    if (cfg.mode === "cluster") {
        cfg.cluster.adminArns.forEach((arn, i) => {
            const a = IAM_PRINCIPAL.exec(arn)?.[1];
            if (a && a !== accountId) out.push({ propertyPath: key(`clusterAdminArns[${i}]`), reason: `is in account ${a} but the stack deploys to ${accountId}` });
        });
        const cert = cfg.cluster.hub ? /^arn:aws[a-z-]*:acm:[a-z0-9-]+:(\d{12}):/.exec(cfg.cluster.hub.acmCertificateArn)?.[1] : undefined;
        if (cert && cert !== accountId) out.push({ propertyPath: key("acmCertificateArn"), reason: `the certificate is in account ${cert} but the stack deploys to ${accountId}; a load balancer uses certificates of its own account (import or request it in ${accountId})` });
    }
    return out;
}

/** Every ARN of the config that names an account, with its key (and researcher), in key order. */
export function namedAccounts(cfg: StackConfig): Array<{ propertyPath: string; account: string; researcher?: string }> {
    const key = (k: string) => `${cfg.project}:${k}`;
    const out: Array<{ propertyPath: string; account: string; researcher?: string }> = [];
    const add = (k: string, account: string | undefined, researcher?: string) => { if (account) out.push({ propertyPath: key(k), account, ...(researcher ? { researcher } : {}) }); };
    add("kmsKeyArn", cfg.kmsKeyArn ? KMS_ARN.exec(cfg.kmsKeyArn)?.[2] : undefined);
    add("backupCopyKmsKeyArn", cfg.backup.copy ? KMS_ARN.exec(cfg.backup.copy.kmsKeyArn)?.[2] : undefined);
    if (cfg.mode === "cluster") {
        cfg.cluster.adminArns.forEach((arn, i) => add(`clusterAdminArns[${i}]`, IAM_PRINCIPAL.exec(arn)?.[1]));
        if (cfg.cluster.hub) add("acmCertificateArn", /^arn:aws[a-z-]*:acm:[a-z0-9-]+:(\d{12}):/.exec(cfg.cluster.hub.acmCertificateArn)?.[1]);
    }
    cfg.researchers.forEach((r, i) => add(`researchers[${i}].iamPrincipalArn`, IAM_PRINCIPAL.exec(r.iamPrincipalArn)?.[1], r.id));
    return out;
}

/**
 * The account the stack's ARNs name (its existing key, researchers, admins, certificate): the one most of them
 * name, the key's on a tie (the provider refuses any account but the key's). Undefined when no ARN names one.
 */
export function stackAccount(cfg: StackConfig): string | undefined {
    const named = namedAccounts(cfg);
    const count = new Map<string, number>();
    for (const n of named) count.set(n.account, (count.get(n.account) ?? 0) + 1);
    let best: string | undefined;
    for (const n of named) if (best === undefined || count.get(n.account)! > count.get(best)!) best = n.account;
    return best;
}

/** With no account given, the ARNs must agree on one: each that names another is a problem naming the account the rest agree on. */
function accountConflicts(cfg: StackConfig): ConfigProblem[] {
    const account = stackAccount(cfg);
    const named = namedAccounts(cfg);
    const agreeing = named.filter((n) => n.account === account).map((n) => n.propertyPath.slice(cfg.project.length + 1));
    const list = agreeing.length > 3 ? `${agreeing.slice(0, 3).join(", ")} and ${agreeing.length - 3} more` : agreeing.join(", ");
    return named.filter((n) => n.account !== account).map((n) => ({
        propertyPath: n.propertyPath,
        reason: `${n.researcher ? `researcher '${n.researcher}': ` : ""}is in account ${n.account}, but ${list} ${agreeing.length === 1 ? "is" : "are"} in ${account}; ` +
            `a stack deploys to one account: use an ARN of ${account} here (or, if ${n.account} is the account you deploy to, run the plan with --account ${n.account} to see every ARN to change)`,
    }));
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

function closest(k: string, candidates: readonly string[]): string | undefined {
    let best: { key: string; d: number } | undefined;
    for (const candidate of candidates) {
        const d = editDistance(k.toLowerCase(), candidate.toLowerCase());
        if (!best || d < best.d) best = { key: candidate, d };
    }
    return best && best.d <= Math.max(2, Math.floor(k.length / 3)) ? best.key : undefined;
}

/** A config namespace that is this project's name misspelt (archeo-workbench, archaeo_workbench, Archaeo-Workbench), not another package's. */
function nearMissNamespace(ns: string, project: string): boolean {
    const a = ns.toLowerCase().replace(/[-_.\s]/g, "");
    const b = project.toLowerCase().replace(/[-_.\s]/g, "");
    return ns !== project && (a === b || editDistance(ns.toLowerCase(), project.toLowerCase()) <= Math.max(2, Math.floor(project.length / 5)));
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
