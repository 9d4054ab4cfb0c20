import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface BudgetArgs {
    /** Budget name, unique in the account. */
    budgetName: string;
    /** Monthly limit in USD. */
    monthlyUsd: number;
    /** Cost-allocation tag (key and value) that selects this stack's cost. */
    tagKey: string;
    tagValue: string;
    /** Addresses alerted at 80% of actual and 100% of forecast spend. */
    alertEmails: readonly string[];
}

/**
 * Monthly cost budget over the stack's tagged resources with e-mail alerts. The tag key must be
 * activated once as a cost allocation tag in the Billing console (documented in the README).
 */
export class Budget extends pulumi.ComponentResource {
    public readonly budgetName: pulumi.Output<string>;

    constructor(name: string, args: BudgetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:budget:Budget", name, {}, opts);
        const notify = (notificationType: "ACTUAL" | "FORECASTED", threshold: number) => ({
            notificationType,
            comparisonOperator: "GREATER_THAN",
            threshold,
            thresholdType: "PERCENTAGE",
            subscriberEmailAddresses: [...args.alertEmails],
        });
        const budget = new aws.budgets.Budget(`${name}-monthly`, {
            name: args.budgetName,
            budgetType: "COST",
            timeUnit: "MONTHLY",
            limitAmount: args.monthlyUsd.toFixed(2),
            limitUnit: "USD",
            costFilters: [{ name: "TagKeyValue", values: [`user:${args.tagKey}$${args.tagValue}`] }],
            notifications: [notify("ACTUAL", 80), notify("FORECASTED", 100)],
        }, { parent: this });
        this.budgetName = budget.name.apply((n) => n ?? args.budgetName);
        this.registerOutputs({ budgetName: this.budgetName });
    }
}
