/**
 * Composes the workbench for one validated StackConfig: the AWS provider, the foundation both modes
 * share, then exactly one mode. Used by infra/index.ts (the Pulumi program), the tests and the plan.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { ConfigError, InstanceStackConfig, KMS_ARN, StackConfig, ZoneOfferings, accountProblems, offeringsByType, zoneOfferingProblems } from "./config";
import { estimateCost, CostEstimate } from "./cost";
import { buildCluster, ClusterOutputs, clusterNames } from "./cluster";
import { createFoundation, Foundation, StackContext } from "./foundation";
import { buildInstance, InstanceOutputs } from "./instance";
import { researcherBudget } from "./foundation/researcher-budget";
import { liftBudgetStopCommand } from "./cluster/budget-stop";
import { standardTags } from "./tags";
import image from "../images/pytorch-cuda/image.json";

/** Who runs `pulumi up`: cluster mode gives this principal an EKS access entry (so Pulumi's own kubectl calls work). */
export interface DeployerIdentity {
    accountId: string;
    /** The caller's ARN (an assumed-role session ARN for roles). */
    arn: string;
    /** The IAM role or user behind it (what EKS access entries and key policies name). */
    principalArn: string;
}

export type WorkbenchOutputs = (InstanceOutputs | ClusterOutputs) & {
    foundation: Foundation;
    cost: CostEstimate;
    region: string;
    /** Per researcher with a budget (budgetMonthlyUsd > 0): its name and the admin's command that lifts its action. */
    researcherBudgets: Record<string, { budgetName: pulumi.Output<string>; liftCommand: pulumi.Output<string> }>;
};

/** The one AWS provider of the stack: region, the standard tags on everything, and (with an existing key) the key's account only. */
export function createProvider(cfg: StackConfig): aws.Provider {
    const keyAccount = cfg.kmsKeyArn ? KMS_ARN.exec(cfg.kmsKeyArn)?.[2] : undefined;
    return new aws.Provider("archaeo-aws", {
        region: cfg.region as aws.Region,
        defaultTags: { tags: standardTags(cfg) },
        // The provider refuses credentials of any other account: the institution's key must be its own.
        ...(keyAccount ? { allowedAccountIds: [keyAccount] } : {}),
    });
}

/** Resolves the deploying identity (an invoke, answered at preview too). */
export async function deployerIdentity(provider: aws.Provider): Promise<DeployerIdentity> {
    const caller = await aws.getCallerIdentity({}, { provider });
    // For an assumed role the session context names the role itself (with its path).
    const principalArn = /:assumed-role\//.test(caller.arn)
        ? (await aws.iam.getSessionContext({ arn: caller.arn }, { provider })).issuerArn
        : caller.arn;
    return { accountId: caller.accountId, arn: caller.arn, principalArn };
}

/**
 * The whole program for a validated config: provider, deploying identity, account checks, the
 * workbench. Returns what createWorkbench built and the stack outputs. infra/index.ts, the offline plan
 * and the tests all run exactly this.
 */
export async function program(cfg: StackConfig): Promise<{ workbench: WorkbenchOutputs; outputs: Record<string, unknown> }> {
    const provider = createProvider(cfg);
    const identity = await deployerIdentity(provider);
    checkAccount(cfg, identity);
    if (cfg.mode === "instance") checkZones(cfg, await zoneOfferings(cfg, provider));
    const workbench = createWorkbench(cfg, provider, identity);
    return { workbench, outputs: stackOutputs(workbench) };
}

/** Throws a ConfigError when the config names keys or principals outside the deploying account. */
export function checkAccount(cfg: StackConfig, identity: DeployerIdentity): void {
    const problems = accountProblems(cfg, identity.accountId);
    if (problems.length) throw new ConfigError(problems);
}

/**
 * Which of the region's zones offer each workstation's instance type, in the deploying account: EC2
 * DescribeInstanceTypeOfferings with location type availability-zone (an invoke: answered at preview too, and by
 * the mock engine offline). Zone names are the account's own (us-east-1a is not the same place in every account),
 * which is why this is asked at deploy time rather than read from a table.
 */
export async function zoneOfferings(cfg: InstanceStackConfig, provider: aws.Provider): Promise<ZoneOfferings> {
    const types = [...new Set(cfg.researchers.map((r) => r.instanceType))].sort();
    const answer = await aws.ec2.getInstanceTypeOfferings({ locationType: "availability-zone", filters: [{ name: "instance-type", values: types }] }, { provider });
    return offeringsByType(answer);
}

/**
 * Warns (pulumi.log.warn, shown at preview) naming availabilityZone or researchers[i].zone, the researchers and the
 * relocation steps when a workstation's zone lacks its instance type; returns the warnings. Never refuses the `up`:
 * an existing workstation there is unaffected, and a new one is refused by RunInstances itself (zoneOfferingProblems).
 */
export function checkZones(cfg: InstanceStackConfig, offered: ZoneOfferings): string[] {
    const warnings = zoneOfferingProblems(cfg, offered).map((p) => `${p.propertyPath}: ${p.reason}`);
    for (const w of warnings) pulumi.log.warn(w);
    return warnings;
}

export function createWorkbench(cfg: StackConfig, provider: aws.Provider, identity: DeployerIdentity): WorkbenchOutputs {
    const ctx: StackContext = { provider, partition: pulumi.output(identity.arn.split(":")[1] ?? "aws"), accountId: pulumi.output(identity.accountId) };

    if (!cfg.baseImageDigest) {
        pulumi.log.warn(
            `baseImageDigest is not set: the image builds FROM ${image.baseImage}:${image.baseTag} by tag, which can move. ` +
                `Pin it: docker buildx imagetools inspect ${image.baseImage}:${image.baseTag} --format '{{json .Manifest.Digest}}', ` +
                `then 'pulumi config set baseImageDigest sha256:...'.`,
        );
    }

    const foundation = createFoundation(cfg, { ...ctx, ...(cfg.mode === "cluster" ? { clusterName: clusterNames(cfg).clusterName } : {}) });
    const common = { foundation, cost: estimateCost(cfg), region: cfg.region };
    let built: InstanceOutputs | ClusterOutputs;
    switch (cfg.mode) {
        case "instance":
            built = buildInstance(cfg, foundation, ctx);
            break;
        case "cluster":
            built = buildCluster(cfg, foundation, { ...ctx, deployer: identity });
            break;
        default: {
            const never: never = cfg;
            throw new Error(`unknown mode ${(never as StackConfig).mode}`);
        }
    }
    return { ...built, ...common, researcherBudgets: researcherBudgets(cfg, built, ctx) };
}

/**
 * Each researcher's budget (infra/foundation/researcher-budget.ts), on what their mode built: their role (its
 * name is the last part of its ARN: the stack's roles have no path) and, in instance mode, their workstation.
 */
function researcherBudgets(cfg: StackConfig, built: InstanceOutputs | ClusterOutputs, ctx: StackContext): WorkbenchOutputs["researcherBudgets"] {
    const out: WorkbenchOutputs["researcherBudgets"] = {};
    const opts = { providers: { aws: ctx.provider } };
    for (const r of cfg.researchers) {
        const who = built.researchers[r.id];
        const mine = built.mode === "instance" ? built.researchers[r.id] : undefined;
        const instanceId = mine && "instanceId" in mine ? mine.instanceId : undefined;
        const stopTopicArn = built.mode === "cluster" ? built.budgetStopTopics[r.id] : undefined;
        const b = researcherBudget(cfg, r, {
            partition: ctx.partition, accountId: ctx.accountId,
            ...(stopTopicArn ? { stopTopicArn, liftAlso: liftBudgetStopCommand(r.id) } : {}),
            researcherRoleArn: who.roleArn, researcherRoleName: who.roleArn.apply((arn) => arn.slice(arn.lastIndexOf("/") + 1)),
            ...(instanceId ? {
                workstation: { instanceId, instanceArn: pulumi.interpolate`arn:${ctx.partition}:ec2:${cfg.region}:${ctx.accountId}:instance/${instanceId}` },
            } : {}),
        }, opts);
        if (b) out[r.id] = { budgetName: b.budgetName, liftCommand: b.liftCommand };
    }
    return out;
}

/** The stack outputs, from what createWorkbench returned. */
export function stackOutputs(wb: WorkbenchOutputs): Record<string, unknown> {
    const f = wb.foundation;
    const shared = {
        mode: wb.mode,
        researchers: wb.researchers,
        bucketName: f.bucketName,
        kmsKeyArn: f.keyArn,
        keyPolicy: f.keyPolicy,
        imageUri: f.imageRef,
        auditBucketName: f.auditBucketName,
        auditTrailArn: f.auditTrailArn,
        ...(Object.keys(wb.researcherBudgets).length ? { researcherBudgets: wb.researcherBudgets } : {}),
        estimatedCost: {
            runningPerHourUsd: wb.cost.runningPerHour,
            stoppedPerMonthUsd: wb.cost.stoppedPerMonth,
            perResearcher: wb.cost.perResearcher,
            prices: `${wb.cost.priceSource} (${wb.cost.priceDate})`,
            excludes: wb.cost.excludes,
            notes: wb.cost.notes,
        },
    };
    return wb.mode === "instance"
        ? { ...shared, jupyterTokens: wb.jupyterTokens }
        : { ...shared, clusterName: wb.clusterName, hubUrl: wb.hubUrl, kubeconfig: wb.kubeconfigCommand };
}
