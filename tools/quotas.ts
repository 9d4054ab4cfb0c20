/**
 * The AWS quotas a stack needs, summed from what the program registers, against each quota's default: the
 * plan prints the table (tools/plan.ts), `preflight --quotas` compares it with the account's applied values.
 *
 * Counts come from the registered resources (an added resource type is counted, not a parallel model of the
 * program), except where AWS launches the capacity itself (Karpenter's nodes), which comes from the NodePool
 * limits. Defaults are those of a new account; an older account often has more, and other workloads in the
 * account use part of each: `preflight --quotas` reads the applied values where credentials exist.
 */
import type { StackConfig } from "../infra/config";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { addressesHeld, ENI_LIMITS } from "../infra/data/eni";
import { usableAddresses } from "../infra/sizing";
import { CLUSTER_SHAPE } from "../infra/constants";

export type QuotaScope = "region" | "account" | "cluster" | "subnet" | "file system";

export interface QuotaSpec {
    readonly id: string;
    /** The name Service Quotas shows. */
    readonly name: string;
    /** Service Quotas service code and quota code, where the quota is in Service Quotas. */
    readonly service?: string;
    readonly code?: string;
    readonly default: number;
    readonly unit: string;
    readonly scope: QuotaScope;
    /** Whether an increase can be requested (in Service Quotas, or through Support where `code` is absent). */
    readonly adjustable: boolean;
    /** Where the default is stated. */
    readonly source: string;
    /** The value differs widely between accounts (EC2's vCPU quotas grow with an account's use): against the default, ask for a check, not a verdict. */
    readonly variesByAccount?: true;
}

const EBS_QUOTAS = "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html";
const EKS_BP = "https://docs.aws.amazon.com/eks/latest/best-practices/known_limits_and_service_quotas.html";

/** The quotas a stack of this project can reach, with their defaults. Codes: the AWS pages cited, or `aws service-quotas list-service-quotas --service-code <service>`. */
export const QUOTAS = {
    gvtOnDemand: {
        id: "gvtOnDemand", variesByAccount: true, name: "Running On-Demand G and VT instances", service: "ec2", code: "L-DB2E81BA", default: 0, unit: "vCPUs", scope: "region", adjustable: true,
        source: "https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html (vCPU-based On-Demand quotas; a new account's G and VT value is 0 until an increase is granted)",
    },
    gvtSpot: {
        id: "gvtSpot", variesByAccount: true, name: "All G and VT Spot Instance Requests", service: "ec2", code: "L-3819A6DF", default: 0, unit: "vCPUs", scope: "region", adjustable: true,
        source: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html (\"All G and VT Spot Instance Requests | 0 | Yes\")",
    },
    standardOnDemand: {
        id: "standardOnDemand", variesByAccount: true, name: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", service: "ec2", code: "L-1216C47A", default: 5, unit: "vCPUs", scope: "region", adjustable: true,
        source: "AWS CLI reference, service-quotas get-aws-default-service-quota example (QuotaCode L-1216C47A, Value 5.0)",
    },
    gp3Storage: {
        id: "gp3Storage", name: "Storage for General Purpose SSD (gp3) volumes, in TiB", service: "ebs", code: "L-7A658B76", default: 50, unit: "TiB", scope: "region", adjustable: true,
        source: `${EBS_QUOTAS}; ${EKS_BP} ("Storage for General Purpose SSD (gp3) volumes, in TiB | L-7A658B76 | 50")`,
    },
    snapshots: {
        id: "snapshots", name: "Snapshots per Region", service: "ebs", code: "L-309BACF6", default: 100_000, unit: "snapshots", scope: "region", adjustable: true, source: EBS_QUOTAS,
    },
    iamRoles: {
        id: "iamRoles", name: "Roles per account", service: "iam", code: "L-FE177D64", default: 1000, unit: "roles", scope: "account", adjustable: true,
        source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (\"Roles in an AWS account | 1000 | 5000\")",
    },
    instanceProfiles: {
        id: "instanceProfiles", name: "Instance profiles per account", service: "iam", code: "L-6E65F664", default: 1000, unit: "instance profiles", scope: "account", adjustable: true,
        source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
    },
    vpcs: {
        id: "vpcs", name: "VPCs per Region", service: "vpc", code: "L-F678F1CE", default: 5, unit: "VPCs", scope: "region", adjustable: true,
        source: "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html",
    },
    subnetAddresses: {
        id: "subnetAddresses", name: "IPv4 addresses of the subnet(s)", default: 0, unit: "addresses", scope: "subnet", adjustable: false,
        source: "the subnet's CIDR less the 5 addresses AWS reserves in each (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html)",
    },
    eksAccessEntries: {
        id: "eksAccessEntries", name: "Access entries per cluster", default: 3000, unit: "access entries", scope: "cluster", adjustable: false,
        source: "https://docs.aws.amazon.com/general/latest/gr/eks.html (\"Access entries per cluster | Each supported Region: 3,000 | No\")",
    },
    podIdentity: {
        id: "podIdentity", name: "Pod Identity associations per cluster", default: 5000, unit: "associations", scope: "cluster", adjustable: false,
        source: "https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html (\"Up to 5,000 EKS Pod Identity associations per cluster\")",
    },
    efsAccessPoints: {
        id: "efsAccessPoints", name: "Access points for each file system", default: 10_000, unit: "access points", scope: "file system", adjustable: true,
        source: "https://docs.aws.amazon.com/efs/latest/ug/limits.html (\"Number of access points for each file system | 10,000\"; increases through AWS Support)",
    },
    ssmParameters: {
        id: "ssmParameters", name: "Standard parameters (Parameter Store)", default: 10_000, unit: "parameters", scope: "region", adjustable: false,
        source: "botocore ssm PutParameter documentation (\"You can create a maximum of 10,000 standard parameters for each Region\")",
    },
} as const satisfies Record<string, QuotaSpec>;

export interface QuotaLine {
    readonly quota: QuotaSpec;
    /** What this stack needs of it. */
    readonly need: number;
    /** The limit it is judged against: the quota's default, or what the stack's own CIDR gives (subnets). */
    readonly limit: number;
    /** How `need` is made up. */
    readonly detail: string;
    /** What everyone working at once needs, where more than a deploy does (instance mode's G/VT vCPUs): the value to request. */
    readonly peak?: number;
}

/** The registered resources the table reads (tools/mock-engine RecordedResource has these). */
export interface CountedResource {
    readonly type: string;
    readonly custom: boolean;
    readonly inputs: Record<string, any>;
}

/** Share of a quota at which the plan warns. */
export const NEAR = 0.8;

const G_FAMILY = /^(g\d+[a-z]*|vt\d+)\./;
const vcpusOf = (type: string) => GPU_INSTANCE_TYPES[type]?.vcpus;
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(1));
const prefixOf = (cidr: string) => Number(cidr.split("/")[1]);

/**
 * What the stack needs of each quota. Pure: `resources` are what the program registered for `cfg`.
 * Instance mode: the running G/VT vCPUs at a deploy (one launch batch, launchBatchSize) and with every
 * workstation running; cluster mode: the GPU NodePools' limits in vCPUs of the reference type.
 */
export function quotaNeeds(cfg: StackConfig, resources: readonly CountedResource[]): QuotaLine[] {
    const customs = resources.filter((r) => r.custom);
    const ofType = (t: string) => customs.filter((r) => r.type === t);
    const count = (t: string) => ofType(t).length;
    const lines: QuotaLine[] = [];
    const add = (quota: QuotaSpec, need: number, detail: string, limit = quota.default, peak?: number) => lines.push({ quota, need, limit, detail, ...(peak !== undefined ? { peak } : {}) });

    if (cfg.mode === "instance") {
        const gpuVcpus = ofType("aws:ec2/instance:Instance").map((r) => String(r.inputs.instanceType)).filter((t) => G_FAMILY.test(t)).map((t) => vcpusOf(t) ?? 0);
        const all = gpuVcpus.reduce((a, b) => a + b, 0);
        const batch = cfg.launchBatchSize > 0 ? cfg.launchBatchSize : gpuVcpus.length;
        const atDeploy = [...gpuVcpus].sort((a, b) => b - a).slice(0, batch).reduce((a, b) => a + b, 0);
        const n = gpuVcpus.length;
        add(QUOTAS.gvtOnDemand, atDeploy, `a deploy launches ${Math.min(batch, n)} of ${n} workstation(s) at once (launchBatchSize ${cfg.launchBatchSize}; each is stopped once created): ${fmt(atDeploy)} vCPUs; all ${n} running at once: ${fmt(all)} vCPUs`, QUOTAS.gvtOnDemand.default, all);
    }
    const k = cfg.mode === "cluster" ? clusterCapacity(ofType) : undefined;
    const perGpu = cfg.gpu.vcpus / cfg.gpu.gpus;
    if (k) {
        const { onDemand, spot, cpuPool, system, nat } = k;
        add(QUOTAS.gvtOnDemand, onDemand * perGpu, `${onDemand} GPU(s) (the on-demand GPU NodePool's limit) on ${cfg.instanceType} nodes, ${perGpu} vCPUs per GPU; Karpenter picks the cheapest type that fits, larger pods take more`);
        if (spot) add(QUOTAS.gvtSpot, spot * perGpu, `${spot} GPU(s) (the spot batch NodePool's limit) on ${cfg.instanceType} nodes`);
        add(QUOTAS.standardOnDemand, cpuPool + system + nat, `the CPU NodePool's limit (${cpuPool}) + the system node group at its maximum (${system}) + the NAT instance (${nat})`);
    }

    // gp3: every volume the stack creates, and the root volumes of the nodes Karpenter may launch.
    let gib = 0;
    const parts: string[] = [];
    const vols = ofType("aws:ebs/volume:Volume").filter((v) => (v.inputs.type ?? "gp3") === "gp3");
    if (vols.length) { const s = vols.reduce((a, v) => a + Number(v.inputs.size ?? 0), 0); gib += s; parts.push(`${vols.length} workspace volume(s) ${fmt(s)} GiB`); }
    const roots = ofType("aws:ec2/instance:Instance").filter((r) => (r.inputs.rootBlockDevice?.volumeType ?? "gp3") === "gp3");
    if (roots.length) { const s = roots.reduce((a, r) => a + Number(r.inputs.rootBlockDevice?.volumeSize ?? 8), 0); gib += s; parts.push(`${roots.length} root volume(s) ${fmt(s)} GiB`); }
    if (k) {
        // Karpenter's nodes at their pools' limits: one GPU node per GPU at most, CPU nodes of 2 vCPUs at most
        // (the smallest of the CPU families), the system node group at its maximum.
        const gpuNodes = k.onDemand + k.spot;
        const cpuNodes = Math.ceil(k.cpuPool / 2);
        const systemNodes = k.systemNodes;
        const s = gpuNodes * CLUSTER_SHAPE.gpuNodeRootGiB + cpuNodes * CLUSTER_SHAPE.cpuNodeRootGiB + systemNodes * CLUSTER_SHAPE.systemRootGiB;
        gib += s;
        parts.push(`Karpenter and system nodes at their limits (${gpuNodes} GPU x ${CLUSTER_SHAPE.gpuNodeRootGiB} GiB, ${cpuNodes} CPU x ${CLUSTER_SHAPE.cpuNodeRootGiB} GiB, ${systemNodes} system x ${CLUSTER_SHAPE.systemRootGiB} GiB) ${fmt(s)} GiB`);
    }
    add(QUOTAS.gp3Storage, gib / 1024, parts.join(" + ") || "none");

    if (cfg.mode === "instance") {
        add(QUOTAS.snapshots, vols.length * cfg.backup.retentionDays, `${vols.length} workspace volume(s) x ${cfg.backup.retentionDays} daily snapshots kept`);
    }
    add(QUOTAS.iamRoles, count("aws:iam/role:Role"), "roles this stack creates (the account's other roles count too)");
    const profiles = count("aws:iam/instanceProfile:InstanceProfile");
    if (profiles) add(QUOTAS.instanceProfiles, profiles, "instance profiles this stack creates");
    add(QUOTAS.vpcs, count("aws:ec2/vpc:Vpc"), "this stack's VPC: every stack in the region has one");

    const subnets = ofType("aws:ec2/subnet:Subnet");
    if (cfg.mode === "instance") {
        const cidr = String(subnets[0]?.inputs.cidrBlock ?? cfg.vpcCidr);
        const ws = count("aws:ec2/instance:Instance");
        const limit = usableAddresses(prefixOf(cidr));
        add(QUOTAS.subnetAddresses, ws, `${ws} workstation(s) in ${cidr}` + (2 * ws > limit
            ? `; a change that replaces every workstation in one \`up\` (AMI pin, user data) creates the new ones before deleting the old and needs ${2 * ws}: above ${Math.floor(limit / 2)} researchers it takes a second \`pulumi up\`, after the first has deleted the replaced ones`
            : `; ${2 * ws} while one \`up\` replaces them all`), limit);
    } else if (k) {
        const priv = subnets.filter((s) => String(s.inputs.tags?.Name ?? "").includes("-private-"));
        const limit = priv.reduce((a, s) => a + usableAddresses(prefixOf(String(s.inputs.cidrBlock))), 0);
        const perGpuNode = addressesHeld(ENI_LIMITS[cfg.instanceType] ?? { enis: 2, ipv4PerEni: 50 });
        const gpuNodes = ((k.onDemand + k.spot) * perGpu) / cfg.gpu.vcpus;
        const cpuNodes = Math.ceil((k.cpuPool + k.system + k.nat) / 2);
        const perCpuNode = addressesHeld(ENI_LIMITS["m7i.large"]);
        const need = gpuNodes * perGpuNode + cpuNodes * perCpuNode;
        add(QUOTAS.subnetAddresses, need, `${fmt(gpuNodes)} GPU node(s) x ${perGpuNode} + up to ${cpuNodes} 2-vCPU node(s) x ${perCpuNode} addresses each (the VPC CNI's default WARM_ENI_TARGET=1 holds a spare ENI's addresses), in the private subnets ${priv.map((s) => s.inputs.cidrBlock).join(", ")}`, limit);
        add(QUOTAS.eksAccessEntries, count("aws:eks/accessEntry:AccessEntry"), "access entries this stack creates (admins, nodes, researchers)");
        add(QUOTAS.podIdentity, count("aws:eks/podIdentityAssociation:PodIdentityAssociation"), "Pod Identity associations this stack creates");
        const aps = count("aws:efs/accessPoint:AccessPoint");
        if (aps) add(QUOTAS.efsAccessPoints, aps, "the researchers' home access points on the one file system");
    }
    const params = count("aws:ssm/parameter:Parameter");
    if (params) add(QUOTAS.ssmParameters, params, "parameters this stack creates (the account's others in the region count too)");
    return lines;
}

/**
 * What a cluster stack may run at once, read once from what it registers: the GPU NodePools' GPU limits by
 * capacity type, the CPU NodePool's vCPU limit, the system node group at its maximum (nodes and vCPUs), the NAT instance's vCPUs.
 */
function clusterCapacity(ofType: (t: string) => CountedResource[]) {
    const pools = ofType("kubernetes:karpenter.sh/v1:NodePool").map((r) => r.inputs);
    const gpuPool = (capacity: string) => pools.filter((p) => p?.spec?.limits?.["nvidia.com/gpu"] !== undefined &&
        (p.spec.template?.spec?.requirements ?? []).some((q: any) => q.key === "karpenter.sh/capacity-type" && (q.values ?? []).includes(capacity)))
        .reduce((a, p) => a + Number(p.spec.limits["nvidia.com/gpu"]), 0);
    const groups = ofType("aws:eks/nodeGroup:NodeGroup");
    return {
        onDemand: gpuPool("on-demand"),
        spot: gpuPool("spot"),
        cpuPool: pools.filter((p) => p?.spec?.limits?.cpu !== undefined).reduce((a, p) => a + Number(p.spec.limits.cpu), 0),
        systemNodes: groups.reduce((a, g) => a + Number(g.inputs.scalingConfig?.maxSize ?? 0), 0),
        system: groups.reduce((a, g) => a + (g.inputs.scalingConfig?.maxSize ?? 0) * standardVcpus(g.inputs.instanceTypes?.[0]), 0),
        nat: ofType("aws:ec2/instance:Instance").reduce((a, r) => a + standardVcpus(String(r.inputs.instanceType)), 0),
    };
}

/** vCPUs of the non-GPU types this project launches (t4g, m7i/c7i/r7i .large): from the instance type documentation. */
function standardVcpus(type: string | undefined): number {
    if (!type) return 0;
    const size = type.split(".")[1];
    return ({ nano: 2, micro: 2, small: 2, medium: 2, large: 2, xlarge: 4, "2xlarge": 8 } as Record<string, number>)[size] ?? 0;
}

/** Where a partition's global services (IAM) answer Service Quotas: us-east-1, or the partition's own. */
export function globalRegion(region: string): string {
    if (region.startsWith("us-gov-")) return "us-gov-west-1";
    if (region.startsWith("cn-")) return "cn-north-1";
    return "us-east-1";
}

export type QuotaStatus = "ok" | "near" | "over" | "check";

/**
 * ok below 80% of the limit, near from 80%, over above it; a need of 0 is ok whatever the limit. "check"
 * instead of near or over when `checkOnly`: judged against the default of a quota whose value differs
 * widely between accounts (a new account's G/VT value is 0, an older one's often hundreds).
 */
export function quotaStatus(need: number, limit: number, checkOnly = false): QuotaStatus {
    if (need === 0) return "ok";
    const status = need > limit ? "over" : need >= NEAR * limit ? "near" : "ok";
    return checkOnly && status !== "ok" ? "check" : status;
}

/** The table the plan prints, and the advice for each line near or over its limit. `applied`: quota code -> the account's value (preflight). */
export function renderQuotaTable(lines: readonly QuotaLine[], applied?: ReadonlyMap<string, number>, where: { stack?: string; region?: string } = {}): { table: string[]; warnings: string[] } {
    const table: string[] = [];
    const warnings: string[] = [];
    const sources = new Map<string, string>();
    for (const l of lines) {
        const q = l.quota;
        const real = q.code ? applied?.get(q.code) : undefined;
        const limit = real ?? l.limit;
        const status = quotaStatus(l.need, limit, real === undefined && !!q.variesByAccount);
        const mark = ({ ok: "✔", near: "!", over: "✘", check: "?" } as const)[status];
        const limitText = `${fmt(limit)} ${q.unit}${real !== undefined ? " (this account)" : q.scope === "subnet" ? "" : " (default)"}`;
        table.push(`  ${mark} ${q.name}${q.code ? ` [${q.service} ${q.code}]` : ""}, per ${q.scope}: needs ${fmt(l.need)} of ${limitText}`);
        table.push(`      ${l.detail}`);
        sources.set(q.name, q.source);
        if (status === "ok") continue;
        const how = q.code
            ? `aws service-quotas request-service-quota-increase --service-code ${q.service} --quota-code ${q.code} --desired-value ${Math.ceil(Math.max(l.need, l.peak ?? 0))} --region ${q.scope === "account" ? globalRegion(where.region ?? "us-east-1") : where.region ?? "<region>"}`
            : q.id === QUOTAS.ssmParameters.id ? "not adjustable: use the advanced tier (100,000 per region) for more"
                : q.adjustable ? "ask AWS Support for an increase" : "not adjustable: split the need across stacks";
        if (status === "check") {
            warnings.push(`${q.name}: the stack needs ${fmt(l.need)} ${q.unit}${l.peak !== undefined && l.peak > l.need ? ` to deploy and ${fmt(l.peak)} for everyone to work at once` : ""}; a new account's value is ${fmt(limit)}. Read yours with \`npx tsx tools/preflight.ts --stack ${where.stack ?? "<name>"} --quotas\`, and if it is lower: ${how}`);
            continue;
        }
        warnings.push(`${q.name}: the stack needs ${fmt(l.need)} ${q.unit}, ${status === "over" ? "more than" : "near"} the ${real !== undefined ? "account's" : "default"} ${fmt(limit)}${q.scope === "region" || q.scope === "account" ? ` (per ${q.scope}: other stacks and workloads there share it)` : ""}. ${q.id === QUOTAS.subnetAddresses.id ? "The workstation subnet is always a /24 (infra/instance/network.ts): split the researchers across stacks." : `Raise it: ${how}`}`);
    }
    table.push("  sources:");
    for (const [name, source] of sources) table.push(`    ${name}: ${source}`);
    return { table, warnings };
}

/** Runs the AWS CLI with these arguments (the deployer's credentials and profile, as `pulumi up` would use). */
export type AwsCli = (args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface AppliedQuota {
    readonly code: string;
    readonly value?: number;
    /** Where the value came from, or why there is none. */
    readonly note: string;
}

/**
 * The account's value of each quota with a code: Service Quotas GetServiceQuota (`Quota.Value`; botocore's
 * service-quotas model), and GetAWSDefaultServiceQuota where no applied value exists (NoSuchResourceException:
 * the account has the default). IAM quotas are global and answered in us-east-1. Needs
 * servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota.
 */
export async function readAppliedQuotas(lines: readonly QuotaLine[], region: string, cli: AwsCli): Promise<AppliedQuota[]> {
    const seen = new Set<string>();
    const out: AppliedQuota[] = [];
    for (const { quota: q } of lines) {
        if (!q.code || !q.service || seen.has(q.code)) continue;
        seen.add(q.code);
        const where = q.scope === "account" ? globalRegion(region) : region;
        const ask = (op: string) => cli(["service-quotas", op, "--service-code", q.service!, "--quota-code", q.code!, "--region", where, "--output", "json"]);
        const value = (stdout: string) => { const v = Number(JSON.parse(stdout)?.Quota?.Value); return Number.isFinite(v) ? v : undefined; };
        let r = await ask("get-service-quota");
        let how = `GetServiceQuota in ${where}`;
        if (r.code !== 0 && /NoSuchResourceException/.test(r.stderr)) { r = await ask("get-aws-default-service-quota"); how = `the default (GetAWSDefaultServiceQuota in ${where}): no increase applied`; }
        if (r.code !== 0) {
            const why = /AccessDenied/.test(r.stderr) ? "access denied: grant servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota"
                : /Unable to locate credentials|ExpiredToken|SSO/i.test(r.stderr) ? "no valid AWS credentials (aws sso login, or AWS_PROFILE)"
                    : (r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`);
            out.push({ code: q.code, note: why });
            continue;
        }
        try {
            const v = value(r.stdout);
            out.push(v === undefined ? { code: q.code, note: "the answer had no Quota.Value" } : { code: q.code, value: v, note: how });
        } catch { out.push({ code: q.code, note: "the answer was not JSON" }); }
    }
    return out;
}
