/**
 * The data is kept: every workspace volume in a daily, enabled snapshot policy, every EFS file system
 * in a daily AWS Backup plan, each keeping its copies at least the configured days; and no ECR
 * lifecycle rule deleting tagged images (the runs researchers reproduce) sooner than the configured age.
 *
 * Upstream: DLM (Pulumi aws.dlm.LifecyclePolicy: `state` defaults to ENABLED; createRule is interval +
 * intervalUnit HOURS + times, or cronExpression, EventBridge cron syntax); AWS Backup plan rules
 * (`schedule` "cron(...)", lifecycle.deleteAfter in days, absent = kept); ECR lifecycle policies (Amazon
 * ECR user guide, "Lifecycle policy properties" and "Examples": tagStatus tagged|untagged|any; countType
 * imageCountMoreThan|sinceImagePushed|sinceImagePulled|sinceImageTransitioned; action expire|transition).
 */
import { StackValidationPolicy } from "@pulumi/policy";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { asArray, get, globMatch, json, known, UNKNOWN } from "../lib/util";

/** Defaults equal the stack config's lowest accepted values (infra/config/schema.ts snapshotRetentionDays, imageRetentionDays 1..). */
/**
 * The lowest retention the stack config accepts (infra/config: snapshotRetentionDays 7-365; imageRetentionDays
 * 0 = forever or 365-3650), so a change that keeps less than any valid config would is refused by default.
 */
export const RETENTION_DEFAULTS = Object.freeze({ minBackupRetentionDays: 7, minImageRetentionDays: 365 });
type RetentionConfig = typeof RETENTION_DEFAULTS;

const DLM = "aws:dlm/lifecyclePolicy:LifecyclePolicy";
const VOLUME = "aws:ebs/volume:Volume";
const EFS = "aws:efs/fileSystem:FileSystem";
const PLAN = "aws:backup/plan:Plan";
const SELECTION = "aws:backup/selection:Selection";
const ECR_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy";

/** How many values an AWS cron minutes/hours field takes: "*", "a", "a-b", lists, "/step" (EventBridge cron syntax). */
function fieldCount(field: string, lo: number, hi: number): number | undefined {
    let n = 0;
    for (const item of field.split(",")) {
        const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
        if (!m) return undefined;
        const [a, b] = m[1] === "*" ? [lo, hi] : m[1].includes("-") ? m[1].split("-").map(Number) : [Number(m[1]), m[2] ? hi : Number(m[1])];
        const step = m[2] ? Number(m[2]) : 1;
        if (a < lo || b > hi || a > b || step < 1) return undefined;
        n += Math.floor((b - a) / step) + 1;
    }
    return n;
}

/**
 * Runs per day of an AWS cron expression (DLM createRule.cronExpression, AWS Backup rule schedule:
 * "cron(minutes hours day-of-month month day-of-week year)", EventBridge syntax) that runs every day:
 * every day of the month, every month, every day of the week, every year. undefined otherwise.
 */
export function cronRunsPerDay(expr: unknown): number | undefined {
    const fields = /^cron\((.*)\)$/.exec(String(expr ?? "").trim())?.[1].trim().split(/\s+/);
    if (!fields || fields.length !== 6) return undefined;
    const [minutes, hours, dom, month, dow, year] = fields;
    if (!["*", "?"].includes(dom) || month !== "*" || !["*", "?"].includes(dow) || year !== "*") return undefined;
    const m = fieldCount(minutes, 0, 59);
    const h = fieldCount(hours, 0, 23);
    return m && h ? m * h : undefined;
}

/** Whether an AWS cron expression runs at least once every day. */
export const dailyCron = (expr: unknown): boolean => cronRunsPerDay(expr) !== undefined;

/** AWS Backup's schedule when a rule gives none (BackupRule.ScheduleExpression: "cron(0 5 ? * * *)"). */
const BACKUP_DEFAULT_SCHEDULE = "cron(0 5 ? * * *)";

/**
 * Days a DLM schedule keeps snapshots: count-based, the last `count` snapshots (taken every
 * createRule.interval hours, or as often as its cron runs); age-based, interval in DAYS/WEEKS/MONTHS/YEARS.
 */
function dlmRetainDays(rule: any, createRule: any): number {
    if (typeof rule?.count === "number") {
        const perDay = createRule?.cronExpression ? cronRunsPerDay(createRule.cronExpression) ?? Infinity : 24 / Math.min(24, Number(createRule?.interval ?? 24));
        return rule.count / perDay;
    }
    const per: Record<string, number> = { DAYS: 1, WEEKS: 7, MONTHS: 28, YEARS: 365 };
    return typeof rule?.interval === "number" ? rule.interval * (per[rule.intervalUnit] ?? 0) : 0;
}

/** Whether a Backup selection's conditions (stringEquals, stringLike, ... lists) select by tag at all. */
const hasConditions = (c: unknown) => asArray(c as any[]).some((x) => Object.values(x ?? {}).some((v) => asArray(v as any[]).length > 0));

export const backupStackPolicies: StackValidationPolicy[] = [
    {
        name: "stateful-data-backed-up",
        description: "Checks whether every EBS volume is targeted by an enabled, daily Data Lifecycle Manager snapshot policy and every EFS file system is selected by a daily AWS Backup plan, each keeping copies at least minBackupRetentionDays; and whether ECR lifecycle rules expire tagged images only by age, never sooner than minImageRetentionDays.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                minBackupRetentionDays: { type: "number", default: RETENTION_DEFAULTS.minBackupRetentionDays, minimum: 1, description: "Fewest days a daily snapshot or recovery point is kept." },
                minImageRetentionDays: { type: "number", default: RETENTION_DEFAULTS.minImageRetentionDays, minimum: 1, description: "Fewest days after push before a lifecycle rule may expire a tagged image." },
            },
        },
        validateStack: onStack((args, report, d) => {
            const c: RetentionConfig = { ...RETENTION_DEFAULTS, ...args.getConfig<Partial<RetentionConfig>>() };
            const of = (type: string) => args.resources.filter((r) => r.type === type);

            // EBS: DLM policies that snapshot volumes daily and keep them long enough, by their target tags.
            const daily: Array<Record<string, string>> = [];
            const unsureDlm: string[] = [];
            for (const p of of(DLM)) {
                const details = known(() => p.props.policyDetails) as any;
                const state = get(() => p.props.state);
                if (details === UNKNOWN || state === UNKNOWN) { unsureDlm.push(`${label(p)}.policyDetails`); continue; }
                if (details?.policyType && details.policyType !== "EBS_SNAPSHOT_MANAGEMENT") continue;
                if (!asArray(details?.resourceTypes).includes("VOLUME")) continue;
                if (state === "DISABLED") { report(`${label(p)} is DISABLED: the volumes it targets get no snapshots; set state: "ENABLED".`, p.urn); continue; }
                const schedules = asArray(details?.schedules) as any[];
                const good = schedules.filter((s) => {
                    const cr = s?.createRule ?? {};
                    const everyDay = cr.cronExpression ? dailyCron(cr.cronExpression) : (cr.intervalUnit ?? "HOURS") === "HOURS" && typeof cr.interval === "number" && cr.interval <= 24;
                    return everyDay && dlmRetainDays(s?.retainRule, cr) >= c.minBackupRetentionDays;
                });
                if (good.length === 0) { report(`${label(p)} has no schedule that snapshots every day and keeps each snapshot at least ${c.minBackupRetentionDays} day(s) (createRule interval <= 24 HOURS or a daily cron; retainRule count or interval): minBackupRetentionDays.`, p.urn); continue; }
                daily.push(Object.fromEntries(Object.entries(details?.targetTags ?? {}).map(([k, v]) => [k, String(v)])));
            }
            for (const v of of(VOLUME)) {
                const tags = effectiveTags(v);
                if (tags === UNKNOWN) { d.defer(`${label(v)}.tags`); continue; }
                // A volume counts as covered when it carries every target tag of one daily policy (whatever
                // DLM does with several target tags, a volume with all of them is targeted).
                const covered = daily.some((t) => Object.keys(t).length > 0 && Object.entries(t).every(([k, val]) => String(tags[k] ?? "") === val));
                if (covered) continue;
                if (unsureDlm.length) unsureDlm.forEach((x) => d.defer(`${x} (does it snapshot ${label(v)}?)`));
                else report(`${label(v)} is in no enabled daily snapshot policy: give it the target tag of the stack's Data Lifecycle Manager policy (snapshotTag).`, v.urn);
            }

            // EFS: a Backup selection whose resources match the file system (ARN globs), that excludes it
            // nowhere (notResources) and narrows nothing by tag (conditions, selectionTags: counted as not
            // covering, since the pack does not evaluate them), in a plan with a daily rule that keeps long enough.
            const plans = of(PLAN).map((p) => ({ p, id: get(() => p.props.id), rules: known(() => p.props.rules) as any }));
            const dailyPlanIds = plans.filter((p) => p.id !== UNKNOWN && p.rules !== UNKNOWN && asArray(p.rules).some((r: any) => dailyCron(r?.schedule ?? BACKUP_DEFAULT_SCHEDULE)
                && (r?.lifecycle?.deleteAfter === undefined || r.lifecycle.deleteAfter >= c.minBackupRetentionDays))).map((p) => p.id);
            const selections = of(SELECTION).map((s) => ({
                s, planId: get(() => s.props.planId),
                fields: known(() => ({ resources: s.props.resources, notResources: s.props.notResources, conditions: s.props.conditions, selectionTags: s.props.selectionTags })) as any,
            }));
            const unsureBackup = [
                ...plans.filter((p) => p.id === UNKNOWN || p.rules === UNKNOWN).map((p) => `${label(p.p)}.id/rules`),
                ...selections.filter((x) => x.planId === UNKNOWN || x.fields === UNKNOWN).map((x) => `${label(x.s)}.planId/resources`),
            ];
            const matches = (patterns: unknown, arn: string) => asArray(patterns as string[]).some((p) => typeof p === "string" && globMatch(p, arn));
            for (const fs of of(EFS)) {
                const arn = get(() => fs.props.arn);
                if (arn === UNKNOWN) { d.defer(`${label(fs)}.arn`); continue; }
                const covered = selections.some((x) => x.fields !== UNKNOWN && dailyPlanIds.includes(x.planId) && matches(x.fields.resources, String(arn))
                    && !matches(x.fields.notResources, String(arn)) && !hasConditions(x.fields.conditions) && asArray(x.fields.selectionTags).length === 0);
                if (covered) continue;
                if (unsureBackup.length) unsureBackup.forEach((x) => d.defer(`${x} (does it back up ${label(fs)}?)`));
                else report(`${label(fs)} is in no AWS Backup plan with a daily rule keeping recovery points at least ${c.minBackupRetentionDays} day(s) (an aws.backup.Selection whose resources name its ARN, without notResources, conditions or selectionTags that could leave it out; rule schedule cron(... * * ? *); lifecycle.deleteAfter): minBackupRetentionDays.`, fs.urn);
            }

            // ECR: expire tagged images only by age since push, never sooner than the minimum.
            for (const lp of of(ECR_LIFECYCLE)) {
                const text = known(() => lp.props.policy);
                if (text === UNKNOWN) { d.defer(`${label(lp)}.policy`); continue; }
                const rules = asArray(json(text)?.rules) as any[];
                for (const r of rules) {
                    if ((r?.action?.type ?? "expire") !== "expire" || r?.selection?.tagStatus === "untagged") continue;
                    const s = r.selection ?? {};
                    const byAge = s.countType === "sinceImagePushed" && (s.countUnit ?? "days") === "days" && typeof s.countNumber === "number";
                    if (!byAge || s.countNumber < c.minImageRetentionDays) {
                        report(`${label(lp)} rule ${r.rulePriority ?? "?"} expires ${s.tagStatus ?? "any"} images ${byAge ? `after ${s.countNumber} day(s)` : `by ${s.countType ?? "an unknown count type"}`}; tagged images (the runs researchers reproduce) may expire only by sinceImagePushed after at least ${c.minImageRetentionDays} day(s): minImageRetentionDays.`, lp.urn);
                    }
                }
            }
        }),
    },
];
