/**
 * Cluster stacks: can this machine reach the EKS API? `pulumi up` (and a preview of Kubernetes
 * resources) talks to the cluster's API, which is private to the VPC or open only to clusterApiCidrs.
 * From a hosted CI runner outside both, the run would hang until a timeout deep inside a Kubernetes
 * call; this fails first, with the fix.
 *
 *   npx tsx tools/preflight.ts --stack <name> [--endpoint https://....eks.amazonaws.com]
 *   npx tsx tools/preflight.ts --stack <name> --cluster-name      (prints the EKS cluster's name)
 *   npx tsx tools/preflight.ts --stack <name> --quotas            (the account's quota values against the plan's needs)
 *
 * The runner's egress address comes from RUNNER_EGRESS_IP or https://checkip.amazonaws.com; its own
 * addresses from its interfaces. With --endpoint (an existing cluster) the API port is probed too.
 * Exit 0: reachable (or instance mode), 1: not reachable (message says what to change), 2: usage.
 *
 * --quotas: evaluates the stack offline as `npm run plan` does, then reads each quota's value in this
 * account with the AWS CLI and the deployer's credentials (Service Quotas GetServiceQuota, or the default
 * where none is applied) and prints the plan's quota table against them. Exit 1 when a need exceeds the
 * account's value, 0 otherwise (a value it could not read is reported, not assumed).
 *
 * --service-linked-roles [--create]: the account-wide service-linked roles the stack needs but cannot create itself:
 * AWSServiceRoleForEC2Spot for a cluster stack with spotForBatch (without it Karpenter's spot launches fail with
 * AuthFailure.ServiceLinkedRoleCreationNotPermitted and batch jobs wait forever). Read with `aws iam get-role`;
 * --create runs `aws iam create-service-linked-role` for a missing one. Exit 1 when one is missing (and not created).
 *
 * --image-cache: a cluster stack's imageCacheSnapshotId is checked in this account before `up` (issue 20 review,
 * defect 2): a snapshot every GPU node's launch template names can stop every GPU node launching when it is missing,
 * foreign, unfinished or under another key. DescribeSnapshots (botocore ec2 Snapshot: OwnerId, State, Encrypted,
 * KmsKeyId, Tags) must show this account as owner (STS GetCallerIdentity), State completed, Encrypted, KmsKeyId the
 * stack key (KMS DescribeKey on the stack's alias) and the tag archaeo-image-tag equal to imageCacheImageTag.
 * Exit 1 when one fails, 0 when all hold or the stack has no cache.
 */
import * as net from "net";
import * as os from "os";
import { parseCidr, parseConfig } from "../infra/config";
import { readStack } from "./stacks";
import { execFile } from "child_process";
import { AwsCli, globalRegion, readAppliedQuotas, renderQuotaTable, QuotaLine, quotaStatus } from "./quotas";
import type { StackConfig } from "../infra/config";
import { stackSlug } from "../infra/tags";
import { IMAGE_CACHE_TAG_KEY } from "../infra/cluster/image-cache";

export interface AccessFacts {
    /** Public endpoint CIDRs (empty: the endpoint is private only). */
    apiCidrs: readonly string[];
    vpcCidr: string;
    /** The runner's public egress address, when known. */
    egressIp?: string;
    /** The runner's own interface addresses. */
    localIps: readonly string[];
}

/** Whether `ip` is in `cidr`: the address masked to the CIDR's prefix is the CIDR's network. */
const inside = (ip: string, cidr: string) => {
    const c = parseCidr(cidr);
    const a = c && parseCidr(`${ip}/${c.prefix}`);
    return !!a && a.version === c.version && a.network === c.network;
};

/** Decides whether a runner can reach the EKS API; returns undefined when it can, else the reason and the fix. Pure. */
export function clusterAccessProblem(f: AccessFacts): string | undefined {
    if (f.localIps.some((ip) => inside(ip, f.vpcCidr))) return undefined; // inside the VPC: the private endpoint answers
    if (f.apiCidrs.length === 0) {
        return `the EKS API endpoint is private (clusterApiCidrs is empty) and this runner (${f.localIps.join(", ") || "no IPv4"}) is not in the VPC ${f.vpcCidr}. ` +
            "Run cluster stacks on a self-hosted runner inside the VPC (set the repository variable CLUSTER_RUNS_ON, e.g. '[\"self-hosted\",\"archaeo-vpc\"]'), " +
            "or open the public endpoint to your runners' egress addresses with clusterApiCidrs.";
    }
    if (!f.egressIp) return "this runner's public address is unknown (set RUNNER_EGRESS_IP); it must be inside clusterApiCidrs or the VPC.";
    if (!f.apiCidrs.some((c) => inside(f.egressIp!, c))) {
        return `this runner's public address ${f.egressIp} is not in clusterApiCidrs (${f.apiCidrs.join(", ")}) and the runner is not in the VPC ${f.vpcCidr}. ` +
            "Add the runner's egress CIDR to clusterApiCidrs, or run cluster stacks on a self-hosted runner inside the VPC (repository variable CLUSTER_RUNS_ON).";
    }
    return undefined;
}

/** Opens a TCP connection to the endpoint's port (443 unless the URL names one) within `timeoutMs`; resolves to an error message or undefined. */
export function probe(endpoint: string, timeoutMs = 10_000): Promise<string | undefined> {
    const url = new URL(endpoint);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || 443);
    return new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: timeoutMs });
        const done = (msg?: string) => { s.destroy(); resolve(msg); };
        s.once("connect", () => done());
        s.once("timeout", () => done(`no answer from ${host}:${port} within ${timeoutMs / 1000} s`));
        s.once("error", (e) => done(`${host}:${port}: ${e.message}`));
    });
}

/**
 * The verdict. With an endpoint (an existing cluster) the probe decides: a runner that reaches the API
 * over a route the config cannot see (VPN, peering, Transit Gateway: an address outside vpcCidr) passes,
 * and one the config allows but the network blocks fails. Without one (the first deploy), the config does.
 */
export async function preflightVerdict(f: AccessFacts, endpoint?: string, timeoutMs?: number): Promise<{ ok: boolean; message: string }> {
    const problem = clusterAccessProblem(f);
    if (endpoint) {
        const failed = await probe(endpoint, timeoutMs);
        if (!failed) return { ok: true, message: problem ? `the EKS API answers at ${endpoint}, over a route outside what the config describes (${problem})` : "the EKS API is reachable from this runner" };
        return { ok: false, message: `${failed}. ${problem ?? "Check clusterApiCidrs and where this runner runs (CLUSTER_RUNS_ON)."}` };
    }
    return problem ? { ok: false, message: problem } : { ok: true, message: "the EKS API is reachable from this runner" };
}

async function egressIp(): Promise<string | undefined> {
    if (process.env.RUNNER_EGRESS_IP) return process.env.RUNNER_EGRESS_IP.trim();
    try {
        const r = await fetch("https://checkip.amazonaws.com", { signal: AbortSignal.timeout(5000) });
        return (await r.text()).trim();
    } catch { return undefined; }
}

/** The AWS CLI on PATH, with the caller's environment (AWS_PROFILE, SSO cache). */
const awsCli: AwsCli = (args) => new Promise((resolve) => {
    execFile("aws", [...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === "number" ? (err as any).code : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: (err && (err as any).code === "ENOENT") ? "the AWS CLI (aws) is not installed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html" : String(stderr) });
    });
});

/** The quota table against the account's values; ok false when a need exceeds a value read. Pure but for `cli`. */
export async function quotaPreflight(stack: string, lines: readonly QuotaLine[], region: string, cli: AwsCli): Promise<{ ok: boolean; output: string }> {
    const applied = await readAppliedQuotas(lines, region, cli);
    const values = new Map(applied.filter((a) => a.value !== undefined).map((a) => [a.code, a.value!]));
    const { table, warnings } = renderQuotaTable(lines, values, { stack, region });
    const over = lines.filter((l) => l.quota.code && values.has(l.quota.code) && quotaStatus(l.need, values.get(l.quota.code)!) === "over");
    const out = [`preflight: ${stack}: AWS quotas in ${region} (this account's values where read):`, ...table];
    for (const a of applied) out.push(`  ${a.code}: ${a.value !== undefined ? `${a.value}` : "not read"} (${a.note})`);
    for (const w of warnings) out.push(`  → ${w}`);
    // Deploying needs one launch batch; researchers working at once need the peak: a warning, not a failure.
    for (const l of lines.filter((x) => x.peak !== undefined && x.quota.code && values.has(x.quota.code) && x.peak! > values.get(x.quota.code)!)) {
        out.push(`::warning title=AWS quota below everyone working at once::${stack}: ${l.quota.name}: the deploy fits (${l.need}), but all workstations running at once need ${l.peak} and the account has ${values.get(l.quota.code!)}; request ${l.peak} (--quota-code ${l.quota.code})`);
    }
    out.push(over.length ? `::error title=AWS quota too low::${stack}: ${over.map((l) => `${l.quota.name} needs ${l.need}, the account has ${values.get(l.quota.code!)}`).join("; ")}` : `preflight: ${stack}: every quota read holds what the stack needs`);
    return { ok: over.length === 0, output: out.join("\n") };
}

/** An account-wide service-linked role a stack needs, and why. */
export interface ServiceLinkedRole {
    readonly roleName: string;
    /** The service principal CreateServiceLinkedRole takes (AWSServiceName). */
    readonly service: string;
    readonly why: string;
}

/**
 * The service-linked roles a stack needs but does not create. Spot: EC2 creates AWSServiceRoleForEC2Spot only when
 * the caller may (Karpenter's controller may not: aws/karpenter-provider-aws v1.11 troubleshooting.md, 'Missing
 * Service Linked Role'). The stack does not declare it as an aws.iam.ServiceLinkedRole: CreateServiceLinkedRole
 * refuses a role that exists (InvalidInput, 'has been taken in this account'), so `up` would fail in every account
 * that ever used Spot, and the role is the account's, shared with every other Spot user there: a `destroy` must
 * not delete it. An administrator creates it once (preflight --service-linked-roles --create).
 */
export function neededServiceLinkedRoles(cfg: StackConfig): ServiceLinkedRole[] {
    if (cfg.mode !== "cluster" || !cfg.cluster.spotForBatch) return [];
    return [{
        roleName: "AWSServiceRoleForEC2Spot", service: "spot.amazonaws.com",
        why: "spotForBatch: Karpenter launches spot GPU nodes for batch jobs; without this role EC2 refuses every spot launch (AuthFailure.ServiceLinkedRoleCreationNotPermitted) and batch jobs never start",
    }];
}

/**
 * Checks each role with `aws iam get-role` (botocore iam GetRole: NoSuchEntity when absent) and, with `create`,
 * creates a missing one with `aws iam create-service-linked-role --aws-service-name` (InvalidInput 'has been taken'
 * means another caller created it meanwhile: present). IAM is global: asked in the partition's home region.
 */
export async function serviceLinkedRolePreflight(stack: string, roles: readonly ServiceLinkedRole[], region: string, cli: AwsCli, create = false): Promise<{ ok: boolean; output: string }> {
    if (!roles.length) return { ok: true, output: `preflight: ${stack}: needs no service-linked role beyond what AWS creates itself` };
    const where = globalRegion(region);
    const out: string[] = [];
    let ok = true;
    for (const role of roles) {
        const create_ = `aws iam create-service-linked-role --aws-service-name ${role.service}`;
        const got = await cli(["iam", "get-role", "--role-name", role.roleName, "--region", where, "--output", "json"]);
        if (got.code === 0) { out.push(`preflight: ${stack}: ${role.roleName} exists`); continue; }
        if (!/\(NoSuchEntity\)/.test(got.stderr)) {
            ok = false;
            const why = /AccessDenied/.test(got.stderr) ? "access denied: grant iam:GetRole on it, or ask an administrator" : (got.stderr.trim().split("\n").pop() ?? `exit ${got.code}`);
            out.push(`::error title=Service-linked role not checked::${stack}: ${role.roleName} could not be read (${why}). It is needed because ${role.why}. An administrator creates it once: ${create_}`);
            continue;
        }
        if (create) {
            const made = await cli(["iam", "create-service-linked-role", "--aws-service-name", role.service, "--region", where, "--output", "json"]);
            if (made.code === 0 || /\(InvalidInput\).*has been taken/.test(made.stderr)) { out.push(`preflight: ${stack}: ${role.roleName} created (${create_})`); continue; }
            ok = false;
            out.push(`::error title=Service-linked role missing::${stack}: ${role.roleName} does not exist and could not be created (${made.stderr.trim().split("\n").pop()}); it needs iam:CreateServiceLinkedRole for ${role.service}`);
            continue;
        }
        ok = false;
        out.push(`::error title=Service-linked role missing::${stack}: ${role.roleName} does not exist in this account; ${role.why}. Create it once (an account administrator): ${create_} (or rerun with --create)`);
    }
    return { ok, output: out.join("\n") };
}

/** The stack key's alias (infra/foundation/index.ts: archaeo/<institution>/<stack slug>). */
export function stackKeyAlias(cfg: Pick<StackConfig, "institution" | "stack">): string {
    return `alias/archaeo/${cfg.institution}/${stackSlug(cfg.stack)}`;
}

const lastLine = (s: string, code: number) => s.trim().split("\n").pop() || `exit ${code}`;

/**
 * The image-cache snapshot against this account, the stack key and the recorded image tag (see the header). Pure but
 * for `cli` (the AWS CLI, injectable: tests answer it from recordings checked against botocore's models).
 */
export async function imageCachePreflight(stack: string, cfg: StackConfig, cli: AwsCli): Promise<{ ok: boolean; output: string }> {
    const cache = cfg.mode === "cluster" ? cfg.cluster.imageCache : undefined;
    if (!cache) return { ok: true, output: `preflight: ${stack}: no image cache (imageCacheSnapshotId unset): nothing to check` };
    const region = cfg.region;
    const fail = (why: string) => ({ ok: false, output: `::error title=Image cache not usable::${stack}: imageCacheSnapshotId ${cache.snapshotId}: ${why}. ` +
        "Until it is fixed every new GPU node would be launched with it (its launch can fail); rebuild it (npm run plan: Image cache) or remove imageCacheSnapshotId" });
    const who = await cli(["sts", "get-caller-identity", "--region", region, "--output", "json"]);
    if (who.code !== 0) return fail(`this account could not be read (${lastLine(who.stderr, who.code)})`);
    const account = (JSON.parse(who.stdout) as { Account: string }).Account;
    const key = await cli(["kms", "describe-key", "--key-id", stackKeyAlias(cfg), "--region", region, "--output", "json"]);
    if (key.code !== 0) return fail(`the stack key ${stackKeyAlias(cfg)} could not be read (${lastLine(key.stderr, key.code)})`);
    const keyArn = (JSON.parse(key.stdout) as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn;
    const got = await cli(["ec2", "describe-snapshots", "--snapshot-ids", cache.snapshotId, "--region", region, "--output", "json"]);
    if (got.code !== 0) {
        return fail(/InvalidSnapshot\.NotFound/.test(got.stderr) ? `no such snapshot in ${region} (InvalidSnapshot.NotFound): a placeholder, deleted, or in another region/account`
            : `DescribeSnapshots failed (${lastLine(got.stderr, got.code)})`);
    }
    const snap = (JSON.parse(got.stdout) as { Snapshots: Array<{ OwnerId?: string; State?: string; Encrypted?: boolean; KmsKeyId?: string; Tags?: Array<{ Key: string; Value: string }> }> }).Snapshots[0];
    if (!snap) return fail(`DescribeSnapshots returned no snapshot`);
    const problems: string[] = [];
    if (snap.OwnerId !== account) problems.push(`owned by ${snap.OwnerId ?? "an unknown account"}, not this account ${account} (the node role may launch from this account's snapshots only)`);
    if (snap.State !== "completed") problems.push(`State ${snap.State ?? "unknown"}, not completed`);
    if (snap.Encrypted !== true) problems.push("not encrypted");
    else if (snap.KmsKeyId !== keyArn) problems.push(`encrypted under ${snap.KmsKeyId ?? "an unknown key"}, not the stack key ${keyArn}`);
    const tag = snap.Tags?.find((t) => t.Key === IMAGE_CACHE_TAG_KEY)?.Value;
    if (tag === undefined) problems.push(`no ${IMAGE_CACHE_TAG_KEY} tag (the image tag it holds is unknown)`);
    else if (tag !== cache.imageTag) problems.push(`its ${IMAGE_CACHE_TAG_KEY} tag is ${tag}, but imageCacheImageTag is ${cache.imageTag ?? "unset"}`);
    if (problems.length) return fail(problems.join("; "));
    return { ok: true, output: `preflight: ${stack}: image cache ${cache.snapshotId}: this account's (${account}), completed, encrypted under the stack key, holds ${tag}` };
}

export const USAGE = `usage: npx tsx tools/preflight.ts --stack <name> [--endpoint URL | --cluster-name | --quotas | --service-linked-roles [--create] | --image-cache]

Checks, before \`pulumi up\`, what the offline plan cannot: whether this machine reaches the stack's EKS API
(cluster stacks), and with --quotas whether this account's AWS quotas hold what the stack needs.

  --stack NAME     stacks/Pulumi.NAME.yaml
  --endpoint URL   an existing cluster's API endpoint: also probe its port
  --cluster-name   print the stack's EKS cluster name and exit
  --quotas         read this account's quota values with the AWS CLI and compare them with the plan's needs
  --service-linked-roles
                   check the account-wide service-linked roles the stack needs (spotForBatch: AWSServiceRoleForEC2Spot)
  --create         with --service-linked-roles: create a missing one (aws iam create-service-linked-role)
  --image-cache    check imageCacheSnapshotId in this account: owner, completed, encrypted under the stack key, its image tag
  --help, -h       this text

Exit: 0 reachable / quotas hold / roles exist / the cache checks out (or an instance-mode stack), 1 not, 2 usage.`;

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) { console.log(USAGE); return 0; }
    const stack = argv[argv.indexOf("--stack") + 1];
    const endpoint = argv.includes("--endpoint") ? argv[argv.indexOf("--endpoint") + 1] : undefined;
    if (!argv.includes("--stack") || !stack) { console.error(USAGE.split("\n")[0]); return 2; }
    const f = readStack(stack);
    const cfg = parseConfig(f.raw, { stack, region: f.region });
    if (argv.includes("--service-linked-roles")) {
        const r = await serviceLinkedRolePreflight(stack, neededServiceLinkedRoles(cfg), cfg.region, awsCli, argv.includes("--create"));
        console.log(r.output);
        return r.ok ? 0 : 1;
    }
    if (argv.includes("--image-cache")) {
        const r = await imageCachePreflight(stack, cfg, awsCli);
        console.log(r.output);
        return r.ok ? 0 : 1;
    }
    if (argv.includes("--quotas")) {
        const { plan } = require("./plan") as typeof import("./plan");
        const planned = await plan({ stack });
        if (!planned.quotaLines) { process.stdout.write(planned.output); return 2; }
        const r = await quotaPreflight(stack, planned.quotaLines, cfg.region, awsCli);
        console.log(r.output);
        return r.ok ? 0 : 1;
    }
    // The cluster module loads the Pulumi SDKs: only when needed, so --help and instance stacks start at once.
    const { clusterNames } = require("../infra/cluster") as typeof import("../infra/cluster");
    if (argv.includes("--cluster-name")) { if (cfg.mode === "cluster") console.log(clusterNames(cfg).clusterName); return 0; }
    if (cfg.mode !== "cluster") { console.log(`preflight: ${stack} is an instance-mode stack; no Kubernetes API to reach`); return 0; }
    const localIps = Object.values(os.networkInterfaces()).flat().filter((i) => i && i.family === "IPv4" && !i.internal).map((i) => i!.address);
    const verdict = await preflightVerdict({ apiCidrs: cfg.cluster.apiCidrs, vpcCidr: cfg.vpcCidr, egressIp: await egressIp(), localIps }, endpoint);
    if (!verdict.ok) { console.log(`::error title=EKS API not reachable::${stack}: ${verdict.message}`); return 1; }
    console.log(`preflight: ${stack}: ${verdict.message}`);
    return 0;
}

if (require.main === module) main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
