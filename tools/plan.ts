/**
 * Offline plan: `npm run plan -- --stack <name> [--account ID] [--preview] [--json FILE] [--diff BASE.json] [--policy-config FILE]`
 *
 * Evaluates the Pulumi program with stacks/Pulumi.<name>.yaml under an in-process mock engine (no
 * cloud, no Pulumi CLI, no credentials), prints the resource tree, runs the whole CrossGuard pack
 * over what was registered, prints the cost estimate, and optionally writes a canonical manifest and
 * a property-level diff against a base manifest.
 *
 * The mock account is the stack's own: the account its ARNs name (existing key, researchers, admins,
 * certificate), which must agree, or `--account ID`, against which every ARN is checked; the region is
 * `aws:region`. Account problems are config problems: all reported at once, exit 2.
 *
 * Default: values resolved, as `pulumi up` checks them. `--preview`: a first `pulumi preview` of a new
 * stack, where computed values are unknown; checks that need them are listed as deferred to `up`.
 * `--policy-config FILE` takes the CLI's `--policy-pack-config` format.
 *
 * It also checks every name, description, identifier and enumerated value against the rules of the API
 * that receives it (tools/api-rules: AWS's service models, the provider's validation, Kubernetes' syntax).
 *
 * Progress (each stage as it starts, with the time so far) goes to stderr; the plan itself to stdout.
 * `--help` prints usage without loading the Pulumi SDKs: they are required inside plan(), after the
 * arguments are read.
 *
 * Exit codes: 0 clean, 1 mandatory policy violations or a value the API would refuse, 2 invalid config or usage.
 */
import { imageCachePlaceholder as isCachePlaceholder } from "../infra/cluster/image-cache";
import * as fs from "fs";
import * as path from "path";
import type { StackConfig } from "../infra/config";
import type { RecordedResource } from "./mock-engine";
import type { Manifest } from "./manifest";
import type { PackConfig } from "./policy-runner";
import type { QuotaLine } from "./quotas";
import type { ResearcherCost } from "../infra/cost";
import { listStacks, readStack } from "./stacks";

export const USAGE = `usage: npm run plan -- --stack <name> [--account <12 digits>] [--preview] [--json FILE] [--diff BASE.json] [--policy-config FILE] [--destroy]

The offline plan: evaluates the stack's Pulumi program under a mock engine (no cloud, no Pulumi CLI, no
credentials), then prints the resource tree, the policy pack's verdict, AWS API rule checks, the cost
estimate and the AWS quotas the stack needs.

  --stack, -s NAME      stacks/Pulumi.NAME.yaml
  --stack-file FILE     read this stack file instead (the stack name still names resources)
  --account ID          the AWS account the stack deploys to; every ARN in the config is checked against it.
                        Default: the account the stack's ARNs name (they must agree)
  --preview             as a first \`pulumi preview\` of a new stack: computed values unknown, their checks deferred
  --json FILE           write the canonical manifest (diffable, secrets redacted)
  --diff BASE.json      the property-level diff against a manifest written earlier
  --policy-config FILE  policy enforcement levels, in the CLI's --policy-pack-config format
  --destroy             also rehearse \`pulumi destroy\` of what this plan deploys: what it keeps (protected), what would
                        fail to delete (a bucket or repository not emptied, deletion protection on), what it leaves
  --today YYYY-MM-DD    the date dated facts are judged on (EKS support windows). Default: ARCHAEO_TODAY, or today (UTC)
  --help, -h            this text

Progress goes to stderr, the plan to stdout. Exit: 0 clean, 1 mandatory violations or a value AWS would
refuse (or, with --destroy, a destroy that would not complete), 2 invalid config or usage.`;

export interface PlanOptions {
    stack: string;
    json?: string;
    diff?: string;
    policyConfig?: string;
    /** Evaluate as a first `pulumi preview`: computed values unknown, their checks deferred to `up`. */
    preview?: boolean;
    /** Read this stack file instead of stacks/Pulumi.<stack>.yaml. */
    stackFile?: string;
    /** The AWS account the stack deploys to (12 digits); default: the one its ARNs name. */
    account?: string;
    /** Also rehearse `pulumi destroy` of what this plan deploys (tools/lifecycle.ts planDestroy). */
    destroy?: boolean;
    /** Called as each stage starts (the CLI writes it to stderr). */
    progress?: (stage: string) => void;
    /**
     * The date (YYYY-MM-DD, UTC) dated facts are judged on: a Kubernetes version near or past its end of EKS standard
     * support. Default: ARCHAEO_TODAY, else the system clock's date.
     */
    today?: string;
}

export interface PlanResult {
    exitCode: 0 | 1 | 2;
    output: string;
    manifest?: Manifest;
    /** What the stack needs of each AWS quota (tools/quotas.ts), for `preflight --quotas`. */
    quotaLines?: QuotaLine[];
}

function usage(msg: string): PlanResult {
    return {
        exitCode: 2,
        output: `${msg}\n${USAGE.split("\n")[0]}\nstacks: ${listStacks().join(", ")} (--help for every option)\n`,
    };
}

/** The options, "help", or what is wrong with the arguments. */
export function parseArgs(argv: string[]): PlanOptions | "help" | string {
    if (argv.includes("--help") || argv.includes("-h")) return "help";
    const o: Partial<PlanOptions> = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value`);
            return v;
        };
        try {
            if (a === "--stack" || a === "-s") o.stack = next();
            else if (a.startsWith("--stack=")) o.stack = a.slice(8);
            else if (a === "--json") o.json = next();
            else if (a === "--diff") o.diff = next();
            else if (a === "--policy-config") o.policyConfig = next();
            else if (a === "--stack-file") o.stackFile = next();
            else if (a === "--today" || a.startsWith("--today=")) {
                const v = a === "--today" ? next() : a.slice(8);
                if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v))) return `--today must be a date like 2026-12-07, got '${v}'`;
                o.today = v;
            }
            else if (a === "--account" || a.startsWith("--account=")) {
                const v = a === "--account" ? next() : a.slice(10);
                if (!/^\d{12}$/.test(v)) return `--account must be a 12-digit AWS account id, got '${v}'`;
                o.account = v;
            } else if (a === "--preview") o.preview = true;
            else if (a === "--destroy") o.destroy = true;
            else return `unknown argument '${a}'`;
        } catch (e) {
            return (e as Error).message;
        }
    }
    if (!o.stack) return "missing --stack";
    return o as PlanOptions;
}

function tree(resources: readonly RecordedResource[]): string[] {
    const children = new Map<string, RecordedResource[]>();
    for (const r of resources) {
        const list = children.get(r.parent) ?? [];
        list.push(r);
        children.set(r.parent, list);
    }
    const known = new Set(resources.map((r) => r.urn));
    const roots = resources.filter((r) => !r.parent || !known.has(r.parent));
    const lines: string[] = [];
    const walk = (r: RecordedResource, prefix: string, last: boolean, depth: number) => {
        const flags = [r.protect ? "protected" : "", r.retainOnDelete ? "retained" : ""].filter(Boolean).join(", ");
        lines.push(`${depth === 0 ? "  " : `${prefix}${last ? "└─ " : "├─ "}`}${r.type}  ${r.name}${flags ? `  [${flags}]` : ""}`);
        const kids = (children.get(r.urn) ?? []).slice().sort((a, b) => a.name.localeCompare(b.name));
        kids.forEach((k, i) => walk(k, depth === 0 ? "  " : `${prefix}${last ? "   " : "│  "}`, i === kids.length - 1, depth + 1));
    };
    roots.sort((a, b) => a.name.localeCompare(b.name)).forEach((r) => walk(r, "", true, 0));
    return lines;
}

const money = (x: number, digits = 2) => `$${x.toFixed(digits)}`;

/** A researcher's cost heading in the plan: running and stopped, or (parked) the parked price beside the stopped one. */
export function researcherCostHeading(id: string, r: ResearcherCost): string {
    return r.parked
        ? `  researcher ${id} (parked): ${money(r.stoppedPerMonth)}/month parked (${money(r.parked.unparkedStoppedPerMonth)}/month stopped once unparked)`
        : `  researcher ${id}: ${money(r.runningPerHour, 3)}/hour running, ${money(r.stoppedPerMonth)}/month stopped`;
}

export async function plan(opts: PlanOptions): Promise<PlanResult> {
    const out: string[] = [];
    const started = Date.now();
    const progress = (stage: string) => opts.progress?.(`plan: ${stage} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    let file;
    try {
        file = readStack(opts.stack, opts.stackFile);
    } catch (e) {
        return usage((e as Error).message);
    }

    progress(`reading stack '${opts.stack}'`);
    const { ConfigError, lifecycleWarnings, parseConfig, stackAccount } = require("../infra/config") as typeof import("../infra/config");
    const { utcDate } = require("../infra/data/eks") as typeof import("../infra/data/eks");
    const today = opts.today ?? process.env.ARCHAEO_TODAY ?? utcDate();
    let cfg: StackConfig;
    try {
        // Account problems (ARNs of several accounts, or of another than --account) come with every other problem;
        // a Kubernetes version past its end of EKS standard support on `today` too.
        cfg = parseConfig(file.raw, { stack: opts.stack, region: file.region, today, ...(opts.account ? { accountId: opts.account } : { inferAccount: true }) });
    } catch (e) {
        if (e instanceof ConfigError) return { exitCode: 2, output: `Stack '${opts.stack}': ${e.message}\n` };
        throw e;
    }

    let packConfig: PackConfig = {};
    if (opts.policyConfig) {
        try { packConfig = JSON.parse(fs.readFileSync(opts.policyConfig, "utf8")); } catch (e) { return usage(`cannot read --policy-config: ${(e as Error).message}`); }
    }

    progress("loading the Pulumi SDKs and the program");
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const { installMockEngine, MOCK_ACCOUNT_ID } = require("./mock-engine") as typeof import("./mock-engine");
    const accountId = opts.account ?? stackAccount(cfg) ?? MOCK_ACCOUNT_ID;
    const engine = await installMockEngine({ project: cfg.project, stack: opts.stack, region: cfg.region, accountId, preview: opts.preview ?? false });
    // Loaded after the mocks, as the Pulumi SDK requires.
    const { program } = require("../infra/workbench") as typeof import("../infra/workbench");
    const { resourcePolicies, stackValidationPolicies, POLICY_PACK_NAME } = require("../policies/rules") as typeof import("../policies/rules");
    progress(`evaluating the program (${cfg.mode} mode, ${cfg.researchers.length} researcher(s), account ${accountId}, ${cfg.region})`);
    let evaluated;
    try {
        evaluated = await program(cfg);
    } catch (e) {
        // The program's own account check (the same rules as parseConfig's): a config problem, not a crash.
        if (e instanceof ConfigError) return { exitCode: 2, output: `Stack '${opts.stack}': ${e.message}\n` };
        throw e;
    }
    const { workbench: wb, outputs: stackOutputs } = evaluated;
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stackOutputs)) {
        const o = pulumi.output(v) as any;
        const secret = await o.isSecret;
        const isKnown = await o.isKnown;
        outputs[k] = secret ? "[secret]" : isKnown ? await o.promise() : "[unknown until up]";
    }
    await engine.settle();
    const resources = [...engine.resources];
    const { canonical, diffManifests, manifestResources, renderDiff, serializeManifest } = require("./manifest") as typeof import("./manifest");
    const { runPolicies } = require("./policy-runner") as typeof import("./policy-runner");
    const { checkApiRules, renderFinding } = require("./api-rules/check") as typeof import("./api-rules/check");
    const { loadTable } = require("./api-rules/generate") as typeof import("./api-rules/generate");
    const { quotaNeeds, renderQuotaTable } = require("./quotas") as typeof import("./quotas");

    const customs = resources.filter((r) => r.custom);
    out.push(`archaeo-workbench offline plan: stack '${opts.stack}' (${cfg.region}, ${cfg.mode} mode, ${cfg.researchers.length} researcher(s): ${cfg.researchers.map((r) => r.id).join(", ")}; access ${cfg.access.mode})`);
    out.push("Evaluated under an in-process mock engine: no cloud calls, no Pulumi CLI, no credentials.");
    out.push(opts.preview
        ? "Mode: first preview of a new stack (computed values unknown, as `pulumi preview` shows a PR)."
        : "Mode: values resolved, as `pulumi up` checks them (use --preview for a first preview).");
    out.push("");
    out.push(`Resources: ${resources.length} (${resources.length - customs.length} components, ${customs.length} cloud/provider resources)`);
    out.push(...tree(resources));
    const counts = new Map<string, number>();
    for (const r of customs) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    out.push("");
    out.push("By type:");
    for (const [t, n] of [...counts].sort()) out.push(`  ${String(n).padStart(3)}  ${t}`);

    progress(`running ${resourcePolicies.length + stackValidationPolicies.length} policies over ${resources.length} resources`);
    const policy = await runPolicies(resources, { resource: resourcePolicies, stack: stackValidationPolicies }, packConfig, { packName: POLICY_PACK_NAME });
    const findings = policy.violations.filter((v) => !v.deferred);
    const deferred = policy.violations.filter((v) => v.deferred);
    out.push("");
    out.push(`Policies: ${POLICY_PACK_NAME}, ${policy.policiesRun} policies run: ${policy.mandatory} mandatory and ${policy.advisory - policy.deferred} advisory violation(s), ${policy.deferred} check(s) deferred to \`up\``);
    for (const v of findings) {
        out.push(`  ${v.enforcementLevel === "mandatory" ? "✘ mandatory" : "! advisory "}  ${v.policyName}  ${v.resourceType ?? ""} ${v.resourceName ?? ""}`);
        out.push(`      ${v.message}`);
    }
    if (findings.length === 0) out.push("  ✔ no violations");
    if (deferred.length) {
        out.push("");
        out.push(`Deferred to \`pulumi up\` (unknown until resources exist; re-checked on resolved values there, where they are mandatory):`);
        for (const v of deferred) {
            out.push(`  … ${v.policyName}  ${v.resourceType ?? "(stack)"} ${v.resourceName ?? ""}`.trimEnd());
            out.push(`      ${v.message.replace(/^can't run policy '[^']+' from policy pack '[^']+' during preview: /, "")}`);
        }
    }

    // Every name, description, identifier and enumerated value against the rules of the API that receives it.
    progress("checking values against the AWS and Kubernetes API rules");
    const table = loadTable();
    const api = checkApiRules(resources, table);
    out.push("");
    out.push(`AWS and Kubernetes API rules: ${api.checked} value(s) checked against AWS's service models (botocore ${table.botocore}), the provider's validation and Kubernetes' name syntax${api.deferred ? `; ${api.deferred} unknown at this preview (computed by AWS or another resource: the plan without --preview checks them with stand-ins)` : ""}: ${api.findings.length} refused`);
    for (const f of api.findings) out.push(`  ✘ ${renderFinding(f)}`);
    if (api.findings.length === 0) out.push("  ✔ nothing AWS or Kubernetes would refuse");

    progress("cost estimate and quotas");
    const c = wb.cost;
    out.push("");
    out.push(`Cost estimate (${c.currency}, list prices of ${c.priceDate}; excludes ${c.excludes}):`);
    const line = (l: { item: string; hourly: number; monthly: number }, indent: string) =>
        out.push(`${indent}${l.item.padEnd(72 - indent.length)} ${l.hourly ? `${money(l.hourly, 4)}/h` : `${money(l.monthly)}/month`}`);
    out.push("  shared:");
    for (const l of c.lines) line(l, "    ");
    for (const [id, r] of Object.entries(c.perResearcher)) {
        out.push(researcherCostHeading(id, r));
        for (const l of r.lines) line(l, "    ");
    }
    out.push(`  total: ${money(c.runningPerHour, 3)}/hour with every researcher's ${cfg.mode === "instance" ? "workstation" : "server"} running, ${money(c.stoppedPerMonth)}/month with all stopped`);
    for (const n of c.notes) out.push(`  note: ${n}`);

    const quotaLines = quotaNeeds(cfg, resources);
    const quotas = renderQuotaTable(quotaLines, undefined, { stack: opts.stack, region: cfg.region });
    out.push("");
    out.push(`AWS quotas this stack needs (✔ under 80% of the limit, ! near it, ✘ over it, ? check your account's value (a new account's is low); defaults of a new account, per region unless said; \`npx tsx tools/preflight.ts --stack ${opts.stack} --quotas\` reads your account's values):`);
    out.push(...quotas.table);
    for (const w of quotas.warnings) out.push(`  → ${w}`);

    // Issue 20: how long a researcher waits for a notebook on each path (tools/ttn.ts), and the cluster's image cache.
    const { renderTtn, ttnModel } = require("./ttn") as typeof import("./ttn");
    out.push("");
    out.push(...renderTtn(ttnModel(cfg, undefined, wb.foundation.imageTag)));
    if (cfg.mode === "cluster") {
        const { imageCacheRebuild, imageCacheStatus, IMAGE_CACHE_VOLUME } = require("../infra/cluster/image-cache") as typeof import("../infra/cluster/image-cache");
        const tag = wb.foundation.imageTag;
        const cache = cfg.cluster.imageCache;
        out.push("");
        if (!cache) {
            out.push(`Image cache: none (imageCacheSnapshotId unset): every new GPU node pulls the workbench image ${tag} from ECR. To build one:`);
        } else {
            const st = imageCacheStatus(cache.snapshotId, cache.imageTag, tag);
            out.push(`Image cache: GPU node class data volume ${IMAGE_CACHE_VOLUME.deviceName} from ${st.snapshotId} (gp3 ${IMAGE_CACHE_VOLUME.sizeGiB} GiB, ` +
                `initialization ${IMAGE_CACHE_VOLUME.initializationRateMiBps} MiB/s), encrypted under the stack key, mounted at ${IMAGE_CACHE_VOLUME.mountPoint}: ` +
                (st.current ? `holds the image this stack deploys (${tag}).` : `holds ${st.holdsTag ?? "an unrecorded tag (imageCacheImageTag unset)"}, but this stack deploys ${tag}: STALE, new nodes pull the whole image (no layer reuse assumed: tools/ttn.ts cl-cold-stale). Rebuild:`));
        }
        if (cache) {
            out.push(`  Before pulumi up: npx tsx tools/preflight.ts --stack ${opts.stack} --image-cache (the snapshot is this account's, completed, encrypted under the stack key, tagged ${cache.imageTag ?? "with its image tag"}): a missing or foreign snapshot stops every GPU node launching, and the offline plan cannot see it.`);
            if (isCachePlaceholder(cache)) out.push(`  PLACEHOLDER: ${cache.snapshotId} / ${cache.imageTag} is the example's stand-in, not a built snapshot: build one (the steps below) or remove imageCacheSnapshotId before a real up.`);
        }
        if (!cache || cache.imageTag !== tag) for (const l of imageCacheRebuild({ stack: opts.stack, region: cfg.region, imageTag: tag, nodeAmiVersion: cfg.cluster.nodeAmiVersion })) out.push(`  ${l}`);
    }

    const { neededServiceLinkedRoles } = require("./preflight") as typeof import("./preflight");
    const warnings = [
        ...lifecycleWarnings(cfg, today),
        ...neededServiceLinkedRoles(cfg).map((r) => `${r.roleName} must exist in the account (${r.why}); the stack does not create it (it is the account's, shared with every Spot user): ` +
            `npx tsx tools/preflight.ts --stack ${opts.stack} --service-linked-roles [--create]`),
        ...engine.warnings,
        ...(cfg.mode === "cluster" && cfg.cluster.imageCache ? [`imageCacheSnapshotId ${cfg.cluster.imageCache.snapshotId}: ` +
            (isCachePlaceholder(cfg.cluster.imageCache) ? "a PLACEHOLDER (imageCacheImageTag all zeros): a real up would launch every GPU node from a snapshot that does not exist; build the cache or remove the key. " : "") +
            `run npx tsx tools/preflight.ts --stack ${opts.stack} --image-cache before up`] : []),
    ];
    if (warnings.length) {
        out.push("");
        out.push("Warnings:");
        for (const w of warnings) out.push(`  - ${w}`);
    }

    out.push("");
    out.push(`Outputs (mock values${opts.preview ? ", unknown ones as at a first preview" : ""}; secrets redacted):`);
    // Long values (DDP templates, key policies) are cut here; the --json manifest has them whole.
    const short = (v: unknown) => {
        const s = typeof v === "string" ? v : JSON.stringify(v);
        return (s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars; see --json)` : s).replace(/\n/g, "\n          ");
    };
    for (const [k, v] of Object.entries(outputs)) {
        if (k === "researchers" && v && typeof v === "object") {
            out.push("  researchers:");
            for (const [id, r] of Object.entries(v as Record<string, Record<string, unknown>>)) {
                out.push(`    ${id}:`);
                for (const [rk, rv] of Object.entries(r)) {
                    if (rk === "connect" && rv && typeof rv === "object") for (const [ck, cv] of Object.entries(rv)) out.push(`      ${ck}: ${short(cv)}`);
                    else out.push(`      ${rk}: ${short(rv)}`);
                }
            }
        } else out.push(`  ${k}: ${short(v)}`);
    }

    const manifest: Manifest = canonical({
        format: "archaeo-plan/v1",
        project: cfg.project,
        stack: opts.stack,
        config: cfg,
        resources: manifestResources(resources),
        outputs,
        policies: { mandatory: policy.mandatory, advisory: policy.advisory, violations: policy.violations },
        cost: {
            runningPerHour: c.runningPerHour, stoppedPerMonth: c.stoppedPerMonth, priceDate: c.priceDate,
            perResearcher: Object.fromEntries(Object.entries(c.perResearcher).map(([id, r]) => [id, { runningPerHour: r.runningPerHour, stoppedPerMonth: r.stoppedPerMonth }])),
        },
    });
    if (opts.json) {
        fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
        fs.writeFileSync(opts.json, serializeManifest(manifest));
        out.push("");
        out.push(`Manifest written to ${path.relative(process.cwd(), path.resolve(opts.json)) || opts.json}`);
    }
    if (opts.diff) {
        let base: Manifest;
        try { base = JSON.parse(fs.readFileSync(opts.diff, "utf8")); } catch (e) { return usage(`cannot read --diff base: ${(e as Error).message}`); }
        out.push("");
        out.push(`Diff against ${opts.diff}:`);
        out.push(renderDiff(diffManifests(base, manifest)));
        for (const w of stopsRunningWorkstations(base, manifest)) out.push(`  ! ${w}`);
        const { dayTwoWarnings } = require("./day-two") as typeof import("./day-two");
        for (const w of dayTwoWarnings(base.config as never, manifest.config as never)) out.push(`  ! ${w}`);
    }
    let destroyFails = false;
    if (opts.destroy) {
        // The state this plan's `up` leaves, then `pulumi destroy` of it, with the engine's and the providers' rules.
        const { EMPTY_STATE, planDestroy, planUp } = require("./lifecycle") as typeof import("./lifecycle");
        const d = planDestroy(planUp(EMPTY_STATE, resources).state);
        destroyFails = !d.ok;
        out.push("");
        out.push(`pulumi destroy, rehearsed (tools/lifecycle.ts): ${d.deleted.length} deleted, ${d.retained.length} retained, ${d.refused.length} protected, ${d.failures.length} would fail`);
        if (d.refused.length) out.push(`  Refused: protected (protectData: true keeps them; a teardown sets protectData: false and \`pulumi up\` first, README 'Tearing a stack down'):`);
        for (const r of d.refused) out.push(`    ✘ ${r.name}`);
        for (const f of d.failures) out.push(`  ✘ ${f.name}: ${f.reason} (${f.source})`);
        for (const r of d.retained) out.push(`  kept in AWS (retainOnDelete): ${r}`);
        for (const l of d.leftBehind) out.push(`  left behind: ${l.name}: ${l.what}`);
        out.push(d.ok ? "  ✔ the destroy completes" : "  the destroy would not complete");
    }
    out.push("");
    const refused = api.findings.length;
    if (refused) out.push(`FAILED: ${refused} value(s) the receiving API would refuse (listed under "API rules"); \`pulumi up\` would fail on them.`);
    out.push(policy.mandatory
        ? `FAILED: ${policy.mandatory} mandatory policy violation(s).`
        : refused
            ? `The policy pack found no violation${deferred.length ? ` among the values known now (${deferred.length} check(s) deferred to \`up\`)` : ""}.`
            : deferred.length
                ? `OK at preview: no violation among the values known now; ${deferred.length} check(s) deferred to \`up\` (listed above), never passed silently.`
                : "OK: the stack is clean under the policy pack.");
    if (destroyFails) out.push("FAILED: `pulumi destroy` would not complete (listed under \"pulumi destroy, rehearsed\").");
    return { exitCode: policy.mandatory || refused || destroyFails ? 1 : 0, output: out.join("\n") + "\n", manifest, quotaLines };
}

/**
 * Workstations that exist in `base` without their stop-once-created resource (aws_ec2_instance_state), which
 * this plan adds: creating it stops the instance (terraform-provider-aws ec2_instance_state.go: create sets
 * the state), so the first `up` after upgrading to launch batches stops a workstation in use.
 */
export function stopsRunningWorkstations(base: Manifest, next: Manifest): string[] {
    const STATE = "aws:ec2transitgateway/instanceState:InstanceState";
    const had = new Set(base.resources.map((r) => r.name));
    return next.resources
        .filter((r) => r.type === STATE && !had.has(r.name) && had.has(r.name.replace(/-stopped$/, "-instance")))
        .map((r) => `${r.name.replace(/-stopped$/, "")}: this \`up\` stops the existing workstation (its new ${r.name} marks it stopped once created, ` +
            "then is never applied again): run it when nobody is working on it, or tell its researcher to save and restart it afterwards");
}

async function main() {
    const parsed = parseArgs(process.argv.slice(2));
    if (parsed === "help") {
        process.stdout.write(`${USAGE}\nstacks: ${listStacks().join(", ")}\n`);
        return;
    }
    const result = typeof parsed === "string" ? usage(parsed) : await plan({ ...parsed, progress: (s) => process.stderr.write(`${s}\n`) });
    process.stdout.write(result.output);
    process.exitCode = result.exitCode;
}

if (require.main === module) {
    main().catch((e) => {
        process.stderr.write(`plan failed: ${e?.stack ?? e}\n`);
        process.exitCode = 2;
    });
}
