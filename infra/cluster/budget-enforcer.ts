/**
 * Cluster mode's budget enforcer: at 100% of a researcher's monthly budget it sets their GPU quota to zero and stops
 * their server, what AWS Budgets' own actions (IAM and SCP policies, the two SSM stop runbooks: botocore budgets
 * ActionType, ActionSubType) cannot do inside Kubernetes.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { assumeRolePolicy, budgetEnforcerPolicy, budgetTopicPolicy } from "../iam";
import { BUDGET_OF_TAG } from "../foundation/researcher-budget";
import { budgetStopAdmission, ENFORCER, enforcerHubObjects, enforcerResearcherObjects } from "./budget-stop";
import { HUB_NAMESPACE, researcherNamespace } from "./manifests";

/** Tag on a function's execution role naming its function (policies/rules/iam.ts FUNCTION_ROLE_TAG). */
export const FUNCTION_ROLE_TAG = "archaeo-function-of";

/** The handler (Python, botocore from the Lambda runtime); read at program time so the code is part of the plan. */
export const ENFORCER_SOURCE = path.join(__dirname, "files", "budget_enforcer.py");
/** The handler's map of topic name -> researcher id, shipped in the package beside it (see enforcerPackage). */
export const ENFORCER_TOPICS_FILE = "topics.json";

/**
 * The function's package: the handler and the topic map, as text with sorted keys, so the same config gives the same
 * archive (no code diff on an up that changes nothing). The map is in the package, not the environment: Lambda
 * allows 4 KB for all environment variables of a function together (AWS Lambda developer guide, "Lambda quotas",
 * Function environment variables), which the cluster CA alone takes ~1.5 KB of, so a map there would fail
 * CreateFunction/UpdateFunctionConfiguration past a few dozen researchers; the environment holds only values whose
 * size does not grow with them.
 */
export function enforcerPackage(researchers: ReadonlyArray<{ id: string; topicName: string }>): Record<string, string> {
    const topics = Object.fromEntries([...researchers].sort((a, b) => a.topicName.localeCompare(b.topicName)).map((r) => [r.topicName, r.id]));
    return { "budget_enforcer.py": fs.readFileSync(ENFORCER_SOURCE, "utf8"), [ENFORCER_TOPICS_FILE]: `${JSON.stringify(topics, null, 1)}\n` };
}

/** A runtime Lambda still creates functions with (botocore lambda Runtime enum; AWS Lambda "Lambda runtimes"). */
export const ENFORCER_RUNTIME = "python3.13";

export interface BudgetEnforcerArgs {
    institution: string;
    stack: string;
    region: string;
    partition: pulumi.Input<string>;
    accountId: pulumi.Input<string>;
    /** Physical names: the function (64), its role (64), its security group (255). */
    functionName: string;
    roleName: string;
    securityGroupName: string;
    /** Its log group, under the prefix the stack key lets CloudWatch Logs use (/aws/eks/<cluster>/). */
    logGroupName: string;
    /** Researchers with a budget, each with their topic's physical name (256). */
    researchers: ReadonlyArray<{ id: string; topicName: string }>;
    clusterName: pulumi.Input<string>;
    clusterEndpoint: pulumi.Input<string>;
    clusterCertificateAuthority: pulumi.Input<string>;
    /** The EKS cluster security group: the API's private endpoint; the enforcer may reach its 443 only. */
    clusterSecurityGroupId: pulumi.Input<string>;
    vpcId: pulumi.Input<string>;
    privateSubnetIds: pulumi.Input<string>[];
    keyArn: pulumi.Input<string>;
    k8sProvider: k8s.Provider;
    /**
     * The namespaces the objects go in, which must exist first: the hub's, and each budgeted researcher's. Each object
     * depends on its own namespace only: a dependency on a component makes the engine walk all its children for every
     * resource that names it (@pulumi/pulumi runtime/dependsOn.js), so "every researcher's object on every researcher's
     * component" grew as N^2 (issue 22: 494 ms of program CPU per researcher at 200 cluster researchers, 231 at 50).
     */
    hubNamespace: pulumi.Resource;
    researcherNamespaces: Readonly<Record<string, pulumi.Resource>>;
}

/**
 * One function for the stack, one topic per researcher. The topic names the researcher (the function maps topic ARN
 * to id), so nothing is read from the budget's free-text message; the function stops only the researcher whose topic
 * called it. One function serves all researchers: its Kubernetes rights (budget-stop.ts) are the same "stop" in every
 * researcher's namespace and no read of their data, and a researcher cannot invoke it (only their topic may, and only
 * AWS Budgets may publish there), so per-researcher functions would add roles and network interfaces, not isolation.
 */
export class BudgetEnforcer extends pulumi.ComponentResource {
    /** Each researcher's topic ARN: their budget's ACTUAL 100% notification publishes to it. */
    public readonly topicArns: Record<string, pulumi.Output<string>>;
    public readonly functionArn: pulumi.Output<string>;

    constructor(name: string, args: BudgetEnforcerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:BudgetEnforcer", name, {}, opts);
        const child = { parent: this };

        const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: args.logGroupName, retentionInDays: 365, kmsKeyId: args.keyArn }, child);
        const role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            description: "Archaeo: the budget enforcer Lambda (its log group and VPC interfaces in AWS; Kubernetes RBAC to stop a researcher whose budget is spent)",
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("lambda.amazonaws.com")),
            // The function whose role it is: the pack lets Lambda be trusted only so (iam-trust-policies-scoped, lambda-functions-scoped).
            tags: { [FUNCTION_ROLE_TAG]: args.functionName },
        }, child);
        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.name,
            policy: pulumi.all([args.partition, args.accountId, logs.arn, args.vpcId]).apply(([partition, accountId, logGroupArn, vpcId]) =>
                JSON.stringify(budgetEnforcerPolicy({ partition, region: args.region, accountId, logGroupArn, vpcId }))),
        }, child);

        // No rules inline: AWS's default allow-all egress is removed (terraform-provider-aws aws_security_group), so the
        // function reaches the cluster API's 443 and nothing else; the API's side admits it on 443 only.
        const sg = new aws.ec2.SecurityGroup(`${name}-sg`, { name: args.securityGroupName, vpcId: args.vpcId, description: "Archaeo budget enforcer: HTTPS to the EKS API only", tags: { Name: args.securityGroupName } }, child);
        new aws.vpc.SecurityGroupEgressRule(`${name}-to-api`, {
            securityGroupId: sg.id, ipProtocol: "tcp", fromPort: 443, toPort: 443, referencedSecurityGroupId: args.clusterSecurityGroupId, description: "HTTPS to the EKS API",
        }, child);
        const ingress = new aws.vpc.SecurityGroupIngressRule(`${name}-api-from-enforcer`, {
            securityGroupId: args.clusterSecurityGroupId, ipProtocol: "tcp", fromPort: 443, toPort: 443, referencedSecurityGroupId: sg.id, description: "EKS API from the budget enforcer",
        }, child);

        const topics = args.researchers.map((r) => {
            const topic = new aws.sns.Topic(`${name}-topic-${r.id}`, { name: r.topicName, kmsMasterKeyId: args.keyArn, tags: { [BUDGET_OF_TAG]: r.id } }, child);
            new aws.sns.TopicPolicy(`${name}-topic-${r.id}-policy`, {
                arn: topic.arn,
                policy: pulumi.all([args.partition, args.accountId, topic.arn]).apply(([partition, accountId, topicArn]) => JSON.stringify(budgetTopicPolicy({ partition, accountId, topicArn }))),
            }, child);
            return { id: r.id, topic };
        });

        const fn = new aws.lambda.Function(`${name}-function`, {
            name: args.functionName,
            description: "Archaeo: at 100% of a researcher's budget, their GPU quota to 0 and their server stopped",
            runtime: ENFORCER_RUNTIME,
            handler: "budget_enforcer.handler",
            code: new pulumi.asset.AssetArchive(Object.fromEntries(Object.entries(enforcerPackage(args.researchers)).map(([file, text]) => [file, new pulumi.asset.StringAsset(text)]))),
            role: role.arn,
            timeout: 60,
            memorySize: 128,
            vpcConfig: { subnetIds: args.privateSubnetIds, securityGroupIds: [sg.id] },
            loggingConfig: { logFormat: "Text", logGroup: logs.name },
            environment: {
                variables: {
                    ARCHAEO_CLUSTER_NAME: args.clusterName,
                    ARCHAEO_CLUSTER_ENDPOINT: args.clusterEndpoint,
                    ARCHAEO_CLUSTER_CA: args.clusterCertificateAuthority,
                    ARCHAEO_HUB_NAMESPACE: HUB_NAMESPACE,
                    ARCHAEO_NAMESPACE_PREFIX: researcherNamespace(""),
                    // This account's topics in this region; the name after it is looked up in the package's topics.json.
                    ARCHAEO_TOPIC_ARN_PREFIX: pulumi.interpolate`arn:${args.partition}:sns:${args.region}:${args.accountId}:`,
                },
            },
        }, { parent: this, dependsOn: [policy, logs, ingress] });

        for (const { id, topic } of topics) {
            const permission = new aws.lambda.Permission(`${name}-invoke-${id}`, { action: "lambda:InvokeFunction", function: fn.name, principal: "sns.amazonaws.com", sourceArn: topic.arn }, child);
            new aws.sns.TopicSubscription(`${name}-topic-${id}-subscription`, { topic: topic.arn, protocol: "lambda", endpoint: fn.arn }, { parent: this, dependsOn: [permission] });
        }

        // Kubernetes: its own user and group (no EKS access policy), bound to the stop rights only.
        const entry = new aws.eks.AccessEntry(`${name}-access`, { clusterName: args.clusterName, principalArn: role.arn, type: "STANDARD", userName: ENFORCER.user, kubernetesGroups: [ENFORCER.group] }, child);
        const k8sOpts = (...after: pulumi.Resource[]) => ({ parent: this, provider: args.k8sProvider, dependsOn: [...after, entry] });
        const ids = args.researchers.map((r) => r.id);
        const nsOf = (id: string) => {
            const ns = args.researcherNamespaces[id];
            if (!ns) throw new Error(`BudgetEnforcer: no namespace object for researcher '${id}'`);
            return ns;
        };
        const hub = enforcerHubObjects({ institution: args.institution, stack: args.stack, ids });
        new k8s.rbac.v1.Role(`${name}-hub-role`, hub.role, k8sOpts(args.hubNamespace));
        new k8s.rbac.v1.RoleBinding(`${name}-hub-binding`, hub.roleBinding, k8sOpts(args.hubNamespace));
        for (const id of ids) {
            const own = enforcerResearcherObjects({ institution: args.institution, stack: args.stack, id });
            new k8s.rbac.v1.Role(`${name}-role-${id}`, own.role, k8sOpts(nsOf(id)));
            new k8s.rbac.v1.RoleBinding(`${name}-binding-${id}`, own.roleBinding, k8sOpts(nsOf(id)));
        }
        const admission = budgetStopAdmission({ institution: args.institution, stack: args.stack, ids });
        const vap = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-admission`, admission.policy, k8sOpts(args.hubNamespace));
        admission.bindings.forEach((b, i) => new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(`${name}-admission-${ids[i]}`, b, k8sOpts(args.hubNamespace, nsOf(ids[i]), vap)));

        this.topicArns = Object.fromEntries(topics.map((t) => [t.id, t.topic.arn]));
        this.functionArn = fn.arn;
        this.registerOutputs({ functionArn: this.functionArn });
    }
}
