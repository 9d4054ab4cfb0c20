/**
 * One researcher's monthly budget that acts: their cost in this stack (the `researcher` and `workbench`
 * cost-allocation tags), alerts to them and the stack's admins, and at 100% an AWS Budgets action that stops
 * the spending, run by a role that reaches only them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { Researcher, StackConfig } from "../config";
import { budgetActionPolicy, budgetActionTrustPolicy, budgetDenyPolicy } from "../iam";
import { COST_TAG, physicalName, researcherTags, resourcePrefix } from "../tags";

/** Tag on the budget-action role and deny policy naming the researcher they act on (the pack's budget-action-roles-scoped). */
export const BUDGET_OF_TAG = "archaeo-budget-of";

export interface ResearcherBudgetArgs {
    researcherId: string;
    /** Budget name, unique in the account: 1-100 characters, no ':' or '\\' (botocore budgets CreateBudget BudgetName). */
    budgetName: string;
    /** Monthly limit in USD (> 0). */
    monthlyUsd: number;
    /** The stack's cost-allocation tag and value (workbench=archaeo-<institution>-<stack>) and the researcher's (researcher=<id>). */
    stackTag: { key: string; value: string };
    researcherTag: { key: string; value: string };
    /** The stack's admins and the researcher's own address: alerted at 80% and 100%, and when the action runs. At most 11. */
    emails: readonly string[];
    /** Physical names of the action's role (64) and the deny policy (128). */
    roleName: string;
    denyPolicyName: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    region: string;
    /** The researcher's own role: the deny policy is attached to it. */
    researcherRoleName: pulumi.Input<string>;
    researcherRoleArn: pulumi.Input<string>;
    /**
     * Cluster mode: the budget enforcer's topic for them (infra/cluster/budget-enforcer.ts): the ACTUAL 100%
     * notification publishes to it (a notification has at most one SNS subscriber: botocore budgets NotificationWithSubscribers).
     */
    stopTopicArn?: pulumi.Input<string>;
    /** Cluster mode: the command that lifts the enforcer's stop, appended to liftCommand. */
    liftAlso?: string;
    /** Instance mode: their workstation, stopped at 100% (RUN_SSM_DOCUMENTS STOP_EC2_INSTANCES) and denied a start. */
    workstation?: { instanceId: pulumi.Input<string>; instanceArn: pulumi.Input<string> };
}

/**
 * At 100% of actual spend, automatically (no approval):
 * - APPLY_IAM_POLICY: a deny policy attached to the researcher's role (instance mode: ec2:StartInstances on their
 *   workstation; cluster mode: every AWS action, since Budgets cannot act inside Kubernetes);
 * - instance mode, RUN_SSM_DOCUMENTS STOP_EC2_INSTANCES on their workstation (the only EC2 subtype besides
 *   STOP_RDS_INSTANCES: botocore budgets SsmActionDefinition ActionSubType).
 * - cluster mode, the same notification published to their budget-stop topic: the budget enforcer sets their GPU
 *   quota to 0 and stops their server (infra/cluster/budget-enforcer.ts).
 * An admin lifts it with `aws budgets execute-budget-action ... --execution-type REVERSE_BUDGET_ACTION` (the
 * `liftCommand` output; botocore budgets ExecuteBudgetAction ExecutionType).
 */
export class ResearcherBudget extends pulumi.ComponentResource {
    public readonly budgetName: pulumi.Output<string>;
    public readonly roleArn: pulumi.Output<string>;
    /** The admin's one command that detaches the deny policy again (REVERSE_BUDGET_ACTION). */
    public readonly liftCommand: pulumi.Output<string>;

    constructor(name: string, args: ResearcherBudgetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:ResearcherBudget", name, {}, opts);
        const child = { parent: this };
        const id = args.researcherId;
        const subscribers = [...new Set(args.emails)];
        const notify = (notificationType: "ACTUAL" | "FORECASTED", threshold: number, topicArn?: pulumi.Input<string>) => ({
            notificationType, comparisonOperator: "GREATER_THAN", threshold, thresholdType: "PERCENTAGE", subscriberEmailAddresses: subscribers,
            ...(topicArn ? { subscriberSnsTopicArns: [topicArn] } : {}),
        });
        const budget = new aws.budgets.Budget(`${name}-budget`, {
            name: args.budgetName,
            budgetType: "COST",
            timeUnit: "MONTHLY",
            limitAmount: args.monthlyUsd.toFixed(2),
            limitUnit: "USD",
            // Both tags at once (a cost-filter list ORs its values; a filter expression ANDs): the same id in two stacks
            // of one account is two researchers. Tag keys as the Budgets API takes them, without Cost Explorer's "user:"
            // (@pulumi/aws 7.48.0 budgets/budget.d.ts, "AND filter" example: tags { key: "Environment", values: [...] }).
            filterExpression: {
                ands: [
                    { tags: { key: args.stackTag.key, values: [args.stackTag.value], matchOptions: ["EQUALS"] } },
                    { tags: { key: args.researcherTag.key, values: [args.researcherTag.value], matchOptions: ["EQUALS"] } },
                ],
            },
            notifications: [notify("ACTUAL", 80), notify("ACTUAL", 100, args.stopTopicArn), notify("FORECASTED", 100)],
            tags: { [BUDGET_OF_TAG]: id },
        }, child);

        const workstationArn = args.workstation?.instanceArn;
        const deny = new aws.iam.Policy(`${name}-deny`, {
            name: args.denyPolicyName,
            description: `Archaeo: attached to ${id}'s role by their budget action when their month's budget is spent`,
            policy: pulumi.output(workstationArn).apply((instanceArn) => JSON.stringify(budgetDenyPolicy({ instanceArn }))),
            tags: { [BUDGET_OF_TAG]: id },
        }, child);
        const role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            description: `Archaeo: AWS Budgets acting on ${id}'s budget: their deny policy on their role, their workstation stopped`,
            assumeRolePolicy: pulumi.all([args.partition, args.accountId]).apply(([partition, accountId]) =>
                JSON.stringify(budgetActionTrustPolicy({ partition, accountId, budgetName: args.budgetName }))),
            tags: { [BUDGET_OF_TAG]: id },
        }, child);
        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.name,
            policy: pulumi.all([args.partition, args.accountId, args.researcherRoleArn, deny.arn, workstationArn]).apply(([partition, accountId, researcherRoleArn, denyPolicyArn, instanceArn]) =>
                JSON.stringify(budgetActionPolicy({ partition, region: args.region, accountId, researcherRoleArn, denyPolicyArn, ...(instanceArn ? { instanceArn } : {}) }))),
        }, child);

        const common = {
            budgetName: budget.name,
            notificationType: "ACTUAL",
            actionThreshold: { actionThresholdType: "PERCENTAGE", actionThresholdValue: 100 },
            approvalModel: "AUTOMATIC",
            executionRoleArn: role.arn,
            subscribers: subscribers.map((address) => ({ subscriptionType: "EMAIL", address })),
            tags: { [BUDGET_OF_TAG]: id },
        };
        const denyAction = new aws.budgets.BudgetAction(`${name}-deny-action`, {
            ...common,
            actionType: "APPLY_IAM_POLICY",
            definition: { iamActionDefinition: { policyArn: deny.arn, roles: [args.researcherRoleName] } },
        }, { parent: this, dependsOn: [policy] });
        if (args.workstation) {
            new aws.budgets.BudgetAction(`${name}-stop-action`, {
                ...common,
                actionType: "RUN_SSM_DOCUMENTS",
                definition: { ssmActionDefinition: { actionSubType: "STOP_EC2_INSTANCES", region: args.region, instanceIds: [args.workstation.instanceId] } },
            }, { parent: this, dependsOn: [policy] });
        }

        this.budgetName = budget.name.apply((n) => n ?? args.budgetName);
        this.roleArn = role.arn;
        this.liftCommand = pulumi.all([args.accountId, denyAction.actionId]).apply(([accountId, actionId]) =>
            `aws budgets execute-budget-action --account-id ${accountId} --budget-name ${args.budgetName} --action-id ${actionId ?? "<actionId>"} --execution-type REVERSE_BUDGET_ACTION`
            + (args.liftAlso ? ` && ${args.liftAlso}` : ""));
        this.registerOutputs({ budgetName: this.budgetName, roleArn: this.roleArn, liftCommand: this.liftCommand });
    }
}

/**
 * A researcher's budget with the stack's names and tags, or undefined when their budgetMonthlyUsd is 0. Named
 * by their id (the budget name, like every name of theirs, never changes with their position in the list).
 */
export function researcherBudget(
    cfg: Pick<StackConfig, "institution" | "stack" | "region" | "budget">,
    r: Pick<Researcher, "id" | "email" | "budgetMonthlyUsd">,
    a: Pick<ResearcherBudgetArgs, "partition" | "accountId" | "researcherRoleName" | "researcherRoleArn" | "workstation" | "stopTopicArn" | "liftAlso">,
    opts: pulumi.ComponentResourceOptions,
): ResearcherBudget | undefined {
    if (r.budgetMonthlyUsd <= 0) return undefined;
    return new ResearcherBudget(`archaeo-budget-${r.id}`, {
        researcherId: r.id,
        budgetName: physicalName(cfg, ["researcher", r.id], 100),
        monthlyUsd: r.budgetMonthlyUsd,
        stackTag: { key: COST_TAG, value: resourcePrefix(cfg) },
        researcherTag: { key: "researcher", value: researcherTags(r.id).researcher },
        emails: [...cfg.budget.alertEmails, ...(r.email ? [r.email] : [])],
        roleName: physicalName(cfg, ["budget", r.id], 64),
        denyPolicyName: physicalName(cfg, ["budget-spent", r.id], 128),
        region: cfg.region,
        ...a,
    }, opts);
}
