/** Monthly cost budget over the stack's tagged resources, with e-mail alerts. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface BudgetArgs {
    /** Budget name, unique in the account. */
    budgetName: string;
    /** Monthly limit in USD. */
    monthlyUsd: number;
    /** The cost-allocation tag (key and value) that selects this stack's cost: workbench=archaeo-<institution>-<stack>. */
    tagKey: string;
    tagValue: string;
    /** Addresses alerted at 80% of actual and 100% of forecast spend. */
    alertEmails: readonly string[];
}

/**
 * The tag key must be activated once as cost allocation tags in the Billing console (README). Every
 * EC2 instance and EBS volume the stack causes to exist carries them, Karpenter's included.
 */
export class Budget extends pulumi.ComponentResource {
    public readonly budgetName: pulumi.Output<string>;

    constructor(name: string, args: BudgetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:Budget", name, {}, opts);
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
            // One tag whose value names institution and stack (a budget has one TagKeyValue filter, its values ORed).
            costFilters: [{ name: "TagKeyValue", values: [`user:${args.tagKey}$${args.tagValue}`] }],
            notifications: [notify("ACTUAL", 80), notify("FORECASTED", 100)],
        }, { parent: this });
        this.budgetName = budget.name.apply((n) => n ?? args.budgetName);
        this.registerOutputs({ budgetName: this.budgetName });
    }
}
