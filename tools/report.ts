/**
 * `npm run report -- --stack <name>`: where a stack's money goes, read from AWS with the deployer's credentials
 * through the AWS CLI (an injectable runner, as tools/restore.ts and preflight --quotas take one):
 *
 * - workstations stopped for more than --stopped-days days (instance mode): EC2 DescribeInstances of the stack's
 *   instances (tag workbench=<prefix>) in state stopped; since when is read from StateTransitionReason ("User
 *   initiated (2026-11-02 18:04:11 GMT)"), whose text the API model leaves free ("The reason for the most recent
 *   state transition. This might be an empty string": botocore ec2 Instance.StateTransitionReason), so one without
 *   a date is listed as "since unknown";
 * - parked researchers (researchers[].parked in the stack file) and what is kept of theirs: instance mode, their
 *   workspace volume (EC2 DescribeVolumes: type, size, state); cluster mode, their home on EFS;
 * - month-to-date spend per researcher: Cost Explorer GetCostAndUsage, this month to today (the end is exclusive:
 *   botocore ce GetCostAndUsage TimePeriod), UnblendedCost, the stack's cost (tag workbench=<prefix>) grouped by the
 *   researcher tag ("researcher$<id>"; "researcher$" is what the stack shares), followed through NextPageToken
 *   (Cost Explorer has no CLI paginator: botocore ce has no paginators-1.json entry), with each researcher's budget.
 *
 * `--help` prints at once: no Pulumi SDK is loaded (test/help.test.ts).
 * Exit: 0 reported, 1 an AWS call failed (its error printed), 2 usage or stack config.
 */
import * as path from "path";
import { ConfigError, StackConfig, parseConfig } from "../infra/config";
import { COST_TAG, resourcePrefix } from "../infra/tags";
import { readStack, STACKS_DIR } from "./stacks";
import type { AwsCli } from "./quotas";

export const USAGE = `usage: npm run report -- --stack <name> [--stopped-days N] [--json]

Reads AWS with your credentials (the AWS CLI) and reports, for one stack:
  - workstations stopped for more than N days (instance mode; default 14)
  - parked researchers (researchers[].parked) and what is kept of theirs
  - month-to-date spend per researcher (Cost Explorer, by the researcher cost-allocation tag) and their budget

  --stack NAME          stacks/Pulumi.NAME.yaml
  --stack-file FILE     read this stack file instead
  --stopped-days N      the stopped-workstation threshold in days (default 14)
  --json                the report as JSON
  --help, -h            this text

Cost Explorer answers from us-east-1 and needs the cost allocation tags workbench and researcher active
(README, Deploying step 6). Exit: 0 reported, 1 an AWS call failed, 2 usage or stack config.`;

export interface ReportIo {
    readonly aws: AwsCli;
    readonly out: (line: string) => void;
    readonly now: () => Date;
    readonly cwd: string;
}

export interface StoppedWorkstation { researcher: string; instanceId: string; since?: string; days?: number }
export interface ParkedResearcher { researcher: string; kept: string }
export interface Spend { researcher: string; usd: number; budgetUsd?: number }
export interface Report {
    stack: string;
    stoppedDays: number;
    stopped: StoppedWorkstation[];
    parked: ParkedResearcher[];
    /** Month to date: start (inclusive) and end (exclusive), or undefined on the 1st (no whole day yet). */
    period?: { start: string; end: string };
    spend: Spend[];
    /** The stack's shared cost (no researcher tag) this month. */
    sharedUsd?: number;
}

class Failed extends Error { constructor(message: string, readonly code: 1 | 2) { super(message); } }

const day = (d: Date) => d.toISOString().slice(0, 10);

/** "User initiated (2026-11-02 18:04:11 GMT)" -> the date, or undefined when the reason carries none. */
export function stoppedSince(reason: string | undefined): Date | undefined {
    const m = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) GMT\)/.exec(reason ?? "");
    return m ? new Date(`${m[1]}T${m[2]}Z`) : undefined;
}

async function awsJson(io: ReportIo, args: string[]): Promise<any> {
    const r = await io.aws([...args, "--output", "json"]);
    if (r.code !== 0) throw new Failed(`aws ${args.slice(0, 2).join(" ")} failed: ${r.stderr.trim() || `exit ${r.code}`}`, 1);
    return JSON.parse(r.stdout || "{}");
}

const tagOf = (tags: Array<{ Key?: string; Value?: string }> | undefined, key: string) => (tags ?? []).find((t) => t.Key === key)?.Value;

export async function buildReport(cfg: StackConfig, io: ReportIo, stoppedDays: number): Promise<Report> {
    const prefix = resourcePrefix(cfg);
    const now = io.now();
    const report: Report = { stack: cfg.stack, stoppedDays, stopped: [], parked: [], spend: [] };
    const stackFilter = `Name=tag:${COST_TAG},Values=${prefix}`;

    if (cfg.mode === "instance") {
        const d = await awsJson(io, ["ec2", "describe-instances", "--region", cfg.region, "--filters", stackFilter, "Name=instance-state-name,Values=stopped"]);
        for (const inst of (d.Reservations ?? []).flatMap((r: any) => r.Instances ?? [])) {
            const since = stoppedSince(inst.StateTransitionReason);
            const days = since ? Math.floor((now.getTime() - since.getTime()) / 86_400_000) : undefined;
            if (days !== undefined && days <= stoppedDays) continue;
            report.stopped.push({ researcher: tagOf(inst.Tags, "researcher") ?? "(untagged)", instanceId: inst.InstanceId, ...(since ? { since: since.toISOString(), days } : {}) });
        }
        report.stopped.sort((a, b) => (b.days ?? Infinity) - (a.days ?? Infinity) || a.researcher.localeCompare(b.researcher));
    }

    const parked = cfg.researchers.filter((r) => r.parked).map((r) => r.id);
    if (parked.length && cfg.mode === "instance") {
        const d = await awsJson(io, ["ec2", "describe-volumes", "--region", cfg.region, "--filters", stackFilter, `Name=tag:researcher,Values=${parked.join(",")}`]);
        for (const id of parked) {
            const vols = (d.Volumes ?? []).filter((v: any) => tagOf(v.Tags, "researcher") === id);
            report.parked.push({ researcher: id, kept: vols.length ? vols.map((v: any) => `workspace ${v.VolumeId} (${v.VolumeType}, ${v.Size} GiB, ${v.State})`).join("; ") : "no workspace volume found: check their snapshots (npm run restore -- workspace)" });
        }
    } else {
        for (const id of parked) report.parked.push({ researcher: id, kept: `home on EFS (/researchers/${id}, Infrequent Access after 30 days) and s3 researchers/${id}/` });
    }

    const start = `${day(now).slice(0, 8)}01`;
    const end = day(now);
    if (start !== end) {
        report.period = { start, end };
        const byResearcher = new Map<string, number>();
        let token: string | undefined;
        do {
            const d = await awsJson(io, [
                "ce", "get-cost-and-usage", "--region", "us-east-1", "--time-period", `Start=${start},End=${end}`, "--granularity", "MONTHLY", "--metrics", "UnblendedCost",
                "--group-by", "Type=TAG,Key=researcher", "--filter", JSON.stringify({ Tags: { Key: COST_TAG, Values: [prefix] } }), ...(token ? ["--next-page-token", token] : []),
            ]);
            for (const period of d.ResultsByTime ?? []) {
                for (const g of period.Groups ?? []) {
                    const key = String(g.Keys?.[0] ?? "");
                    const id = key.startsWith("researcher$") ? key.slice("researcher$".length) : key;
                    byResearcher.set(id, (byResearcher.get(id) ?? 0) + Number(g.Metrics?.UnblendedCost?.Amount ?? 0));
                }
            }
            token = d.NextPageToken || undefined;
        } while (token);
        report.sharedUsd = round(byResearcher.get("") ?? 0);
        for (const r of cfg.researchers) report.spend.push({ researcher: r.id, usd: round(byResearcher.get(r.id) ?? 0), ...(r.budgetMonthlyUsd > 0 ? { budgetUsd: r.budgetMonthlyUsd } : {}) });
        // Cost of a researcher tag this stack no longer lists (a leaver's kept volume): shown too.
        for (const [id, usd] of byResearcher) if (id && !cfg.researchers.some((r) => r.id === id)) report.spend.push({ researcher: `${id} (not in the stack)`, usd: round(usd) });
    }
    return report;
}

const round = (x: number) => Math.round(x * 100) / 100;

export function renderReport(r: Report): string[] {
    const out = [`Stack ${r.stack}`, "", `Workstations stopped for more than ${r.stoppedDays} days:`];
    if (!r.stopped.length) out.push("  none");
    for (const s of r.stopped) out.push(`  ${s.researcher.padEnd(20)} ${s.instanceId.padEnd(20)} ${s.since ? `stopped since ${s.since.slice(0, 10)} (${s.days} days)` : "stopped, since unknown"}`);
    out.push("", "Parked researchers:");
    if (!r.parked.length) out.push("  none");
    for (const p of r.parked) out.push(`  ${p.researcher.padEnd(20)} ${p.kept}`);
    out.push("", r.period ? `Spend this month (${r.period.start} to ${r.period.end}, Cost Explorer, UnblendedCost USD):` : "Spend this month: none yet (the month's first day: Cost Explorer has no whole day)");
    for (const s of r.spend) out.push(`  ${s.researcher.padEnd(20)} ${`$${s.usd.toFixed(2)}`.padStart(10)}${s.budgetUsd ? `  of $${s.budgetUsd} budget (${Math.round((100 * s.usd) / s.budgetUsd)}%)` : ""}`);
    if (r.sharedUsd !== undefined) out.push(`  ${"(shared)".padEnd(20)} ${`$${r.sharedUsd.toFixed(2)}`.padStart(10)}`);
    return out;
}

export async function report(argv: string[], io: ReportIo): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) { io.out(USAGE); return 0; }
    try {
        const opt = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
        const known = new Set(["--stack", "--stack-file", "--stopped-days", "--json"]);
        const unknown = argv.filter((a, i) => a.startsWith("--") && !known.has(a) && !["--stack", "--stack-file", "--stopped-days"].includes(argv[i - 1]));
        if (unknown.length) throw new Failed(`unknown option ${unknown[0]}\n${USAGE.split("\n")[0]}`, 2);
        const stack = opt("--stack");
        if (!stack) throw new Failed(`--stack is needed\n${USAGE.split("\n")[0]}`, 2);
        const daysText = opt("--stopped-days") ?? "14";
        if (!/^\d+$/.test(daysText)) throw new Failed(`--stopped-days takes a whole number of days, got '${daysText}'`, 2);
        const stackFile = path.resolve(io.cwd, opt("--stack-file") ?? path.join(STACKS_DIR, `Pulumi.${stack}.yaml`));
        let cfg: StackConfig;
        try {
            const file = readStack(stack, stackFile);
            cfg = parseConfig(file.raw, { stack, region: file.region });
        } catch (e) {
            if (e instanceof ConfigError) throw new Failed(`Stack '${stack}': ${e.message}`, 2);
            throw new Failed((e as Error).message, 2);
        }
        const r = await buildReport(cfg, io, Number(daysText));
        if (argv.includes("--json")) io.out(JSON.stringify(r, null, 2));
        else for (const l of renderReport(r)) io.out(l);
        return 0;
    } catch (e) {
        if (e instanceof Failed) { io.out(`report: ${e.message}`); return e.code; }
        throw e;
    }
}

if (require.main === module) {
    // Loaded here, not above: --help must not need the restore tool's imports.
    const { awsCliOnPath } = require("./restore") as typeof import("./restore");
    report(process.argv.slice(2), { aws: awsCliOnPath(), out: (l) => console.log(l), now: () => new Date(), cwd: process.cwd() })
        .then((code) => { process.exitCode = code; }, (e) => { console.error(`report failed: ${e?.stack ?? e}`); process.exitCode = 1; });
}
