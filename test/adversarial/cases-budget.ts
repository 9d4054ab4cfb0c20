/**
 * Outsider cases (the budget enforcer and the budget stop: its Lambda function, topics, Kubernetes rights, stop quota and admission policy):
 * written from DESIGN.md's security model, the README's claims and the program, without reading the pack's rules.
 * test/adversarial/cases.ts adds them to CASES.
 */
import type { Case } from "./cases";
import { MOCK_ACCOUNT_ID } from "../../tools/mock-engine";
import { add, arnOf, doc, edit, editDoc, get, idOf, k8sLabels, regionOf, Rs } from "./edit";

const A = MOCK_ACCOUNT_ID;
const NH = "national-heritage";
const RBAC = "rbac.authorization.k8s.io";
const ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding";
const lbl = (name: string, researcher?: string) => ({ ...k8sLabels(NH, name), ...(researcher ? { "archaeo/researcher": researcher } : {}) });
const topicArn = (rs: Rs, id: string) => arnOf(rs, `archaeo-budget-enforcer-topic-${id}`, "aws:sns/topic:Topic");
const functionName = (rs: Rs) => get(rs, "archaeo-budget-enforcer-function", "aws:lambda/function:Function").inputs.name as string;
const topicName = (rs: Rs, id: string) => get(rs, `archaeo-budget-enforcer-topic-${id}`, "aws:sns/topic:Topic").inputs.name as string;

const dangerous: Case[] = [
    // ------------------------------------------------------------------------------------------------
    // Class 1: the stop reaches someone else, or someone lifts it, through something other than identity policies.
    {
        id: "budget-topic-map-sorted-by-id", class: 1, stack: NH,
        title: "budget enforcer: the package's topics.json sorted by researcher id instead of topic name (stable diffs)",
        reaches: "the refactor pairs names and ids out of step: imaging-lead's topic maps to ml-engineer and ml-engineer's to imaging-lead, so when imaging-lead's budget is spent the enforcer zeroes ml-engineer's GPUs and deletes ml-engineer's server, and imaging-lead keeps spending",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-function", (p) => {
            const file = p.code.assets["topics.json"];
            const map = JSON.parse(file.text) as Record<string, string>;
            map[topicName(rs, "imaging-lead")] = "ml-engineer";
            map[topicName(rs, "ml-engineer")] = "imaging-lead";
            file.text = `${JSON.stringify(map, null, 1)}\n`;
        }, "aws:lambda/function:Function"),
    },
    {
        id: "budget-notification-to-colleagues-stop-topic", class: 1, stack: NH,
        caughtBy: ["budget-stop-topics-scoped"],
        title: "budgets: imaging-lead's 100% notification copied from ml-engineer's block",
        reaches: "imaging-lead's spent budget publishes to ml-engineer's stop topic: ml-engineer's server is deleted and their GPU quota set to 0, while imaging-lead's own server and jobs run on",
        mutate: (rs) => edit(rs, "archaeo-budget-imaging-lead-budget", (p) => {
            const n = p.notifications.find((x: any) => x.subscriberSnsTopicArns);
            n.subscriberSnsTopicArns = [topicArn(rs, "ml-engineer")];
        }, "aws:budgets/budget:Budget"),
    },
    {
        id: "budget-stop-binding-param-from-first-researcher", class: 1, stack: NH,
        caughtBy: ["k8s-budget-stop-holds-server"],
        title: "admission: ml-engineer's budget-stop binding copied from imaging-lead's (only the name changed)",
        reaches: "ml-engineer's binding still reads the stop in researcher-imaging-lead: when ml-engineer's budget is spent the quota in researcher-ml-engineer is never a parameter, so the hub starts ml-engineer's server again right after the enforcer deleted it",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-admission-ml-engineer", (p) => { p.spec.paramRef.namespace = "researcher-imaging-lead"; }),
    },
    {
        id: "budget-lead-may-pause-any-namespace", class: 1, stack: NH,
        caughtBy: ["k8s-resource-quotas-held"],
        title: "RBAC: the imaging lead may pause a team member's GPU use (create a quota) without waiting for Budgets; one ClusterRoleBinding instead of a Role per namespace",
        reaches: "imaging-lead creates archaeo-budget-stop in researcher-ml-engineer or researcher-archivist (their GPUs to 0, their server refused by the admission policy, liftable only by an admin), and any quota in jupyterhub (pods: 0 there stops every researcher's server)",
        mutate: (rs) => {
            add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", name: "archaeo-hub-lead-pause", parent: "archaeo-hub",
                inputs: { apiVersion: `${RBAC}/v1`, kind: "ClusterRole", metadata: { name: "lead-pause", labels: lbl("researcher") },
                    rules: [{ apiGroups: [""], resources: ["resourcequotas"], verbs: ["create"] }] },
            });
            return add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", name: "archaeo-hub-lead-pause-binding", parent: "archaeo-hub",
                inputs: { apiVersion: `${RBAC}/v1`, kind: "ClusterRoleBinding", metadata: { name: "lead-pause", labels: lbl("researcher") },
                    roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: "lead-pause" },
                    subjects: [{ apiGroup: RBAC, kind: "User", name: "archaeo:imaging-lead" }] },
            });
        },
    },
    {
        id: "budget-job-sa-annotates-quotas", class: 1, stack: NH,
        caughtBy: ["k8s-resource-quotas-held"],
        title: "training jobs record their GPU-hours as an annotation on their namespace's quotas (patch for the job service account)",
        reaches: "any Job imaging-lead starts runs as service account researcher, which patches archaeo-budget-stop: requests.nvidia.com/gpu back from 0 to 4, so their GPU jobs run again on a spent budget with no admin's lift",
        mutate: (rs) => {
            add(rs, {
                type: ROLE, name: "archaeo-researcher-imaging-lead-usage-role", parent: "archaeo-researcher-imaging-lead",
                inputs: { apiVersion: `${RBAC}/v1`, kind: "Role", metadata: { name: "usage-annotations", namespace: "researcher-imaging-lead", labels: lbl("researcher", "imaging-lead") },
                    rules: [{ apiGroups: [""], resources: ["resourcequotas"], verbs: ["get", "list", "patch", "update"] }] },
            });
            return add(rs, {
                type: BINDING, name: "archaeo-researcher-imaging-lead-usage-binding", parent: "archaeo-researcher-imaging-lead",
                inputs: { apiVersion: `${RBAC}/v1`, kind: "RoleBinding", metadata: { name: "usage-annotations", namespace: "researcher-imaging-lead", labels: lbl("researcher", "imaging-lead") },
                    roleRef: { apiGroup: RBAC, kind: "Role", name: "usage-annotations" },
                    subjects: [{ kind: "ServiceAccount", name: "researcher", namespace: "researcher-imaging-lead" }] },
            });
        },
    },
    {
        id: "budget-enforcer-role-assumable-by-platform-lead", class: 1, stack: NH,
        caughtBy: ["lambda-functions-scoped", "iam-trust-policies-scoped"],
        title: "enforcer role: imaging-lead (also the platform contact) may assume it to replay a stop by hand",
        reaches: "imaging-lead's identity role assumes the enforcer's role, whose EKS access entry makes them the archaeo-budget-enforcer group: they delete ml-engineer's and archivist's servers and create stops in their namespaces",
        mutate: (rs) => editDoc(rs, "archaeo-budget-enforcer-role", (d) => d.Statement.push({
            Sid: "PlatformLeadReplays", Effect: "Allow", Principal: { AWS: arnOf(rs, "archaeo-researcher-imaging-lead-identity-role") }, Action: "sts:AssumeRole",
        }), "assumeRolePolicy"),
    },
    {
        id: "budget-enforcer-hub-role-without-names", class: 1, stack: NH,
        caughtBy: ["k8s-shared-namespace-no-pod-reads"],
        title: "enforcer: drop resourceNames from its hub Role (the list grows with every researcher, and named servers jupyter-<id>--x don't match it)",
        reaches: "the enforcer (and any code running as its role) deletes any pod in jupyterhub: the hub and proxy, and the servers of researchers who have no budget at all",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-hub-role", (p) => { delete p.rules[0].resourceNames; }),
    },
    // ------------------------------------------------------------------------------------------------
    // Class 2: recognition by exact spelling or type.
    {
        id: "budget-enforcer-watches-its-server-deletes", class: 2, stack: NH,
        caughtBy: ["k8s-shared-namespace-no-pod-reads", "researcher-isolation"],
        title: "enforcer: watch the server pods it deletes, to log when they are really gone",
        reaches: "watch on jupyter-<id> streams the whole pod object: the enforcer's role reads each budgeted researcher's JUPYTERHUB_API_TOKEN from the server spec",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-hub-role", (p) => { p.rules[0].verbs = ["delete", "watch"]; }),
    },
    {
        id: "budget-enforcer-static-kube-token-env", class: 2, stack: NH,
        caughtBy: ["lambda-functions-scoped"],
        title: "enforcer: a long-lived service-account token in the environment (the presigned STS token fails in the China partition)",
        reaches: "a bearer token for the cluster sits in plain text in the function's configuration: anyone with lambda:GetFunctionConfiguration (or the console) acts as the enforcer in Kubernetes",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-function", (p) => {
            p.environment.variables.ARCHAEO_CLUSTER_BEARER = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFyY2hhZW8ifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50Omp1cHl0ZXJodWI6YnVkZ2V0LWVuZm9yY2VyIn0.c2lnbmF0dXJlLW5vdC1yZWFs";
        }, "aws:lambda/function:Function"),
    },
    {
        id: "budget-enforcer-function-url-stop-button", class: 2, stack: NH,
        caughtBy: ["lambda-functions-scoped", "pack-judges-every-type"],
        title: "enforcer: a function URL for the admin dashboard's 'stop now' button",
        reaches: "anyone on the internet invokes the enforcer's function (auth NONE, permission for principal *), not only SNS from the stack's budget topics",
        mutate: (rs) => {
            const fn = functionName(rs);
            add(rs, {
                type: "aws:lambda/functionUrl:FunctionUrl", name: "archaeo-budget-enforcer-url", parent: "archaeo-budget-enforcer",
                inputs: { functionName: fn, authorizationType: "NONE", cors: { allowOrigins: ["https://admin.heritage.example"], allowMethods: ["POST"] } },
                outputs: { functionUrl: "https://abcdefghijklmnop.lambda-url.us-west-2.on.aws/" },
            });
            return add(rs, {
                type: "aws:lambda/permission:Permission", name: "archaeo-budget-enforcer-invoke-url", parent: "archaeo-budget-enforcer",
                inputs: { action: "lambda:InvokeFunctionUrl", function: fn, principal: "*", functionUrlAuthType: "NONE" },
            });
        },
    },
    {
        id: "budget-stop-policy-opt-in-namespaces", class: 2, stack: NH,
        caughtBy: ["k8s-budget-stop-holds-server"],
        title: "admission: the budget-stop policy only in namespaces that opt in (archaeo/budget-stop=enforced), to keep it off kube-system",
        reaches: "nothing labels the hub's namespace archaeo/budget-stop=enforced: the policy matches no pod, and a researcher whose budget is spent starts their server again from the hub",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-admission", (p) => {
            p.spec.matchConstraints.namespaceSelector = { matchLabels: { "archaeo/budget-stop": "enforced" } };
        }),
    },
    // ------------------------------------------------------------------------------------------------
    // Class 3: scoping accepted by key, not by value.
    {
        id: "budget-topic-policy-budgets-of-any-account", class: 3, stack: NH,
        caughtBy: ["budget-stop-topics-scoped"],
        title: "stop topics: the payer account's Budgets publishes the notification (consolidated billing), so relax the account pins",
        reaches: "the conditions keep their keys but match any account (StringLike aws:SourceAccount '*', SourceArn arn:aws:budgets::*:*): a budget in anyone's AWS account, pointed at imaging-lead's topic, stops imaging-lead's server",
        mutate: (rs) => {
            for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
                editDoc(rs, `archaeo-budget-enforcer-topic-${id}-policy`, (d) => {
                    d.Statement[0].Condition = { StringLike: { "aws:SourceAccount": "*" }, ArnLike: { "aws:SourceArn": "arn:aws:budgets::*:*" } };
                });
            }
            return rs;
        },
    },
    {
        id: "budget-spent-policy-still-reads-results", class: 3, stack: NH,
        caughtBy: ["budget-actions-scoped", "iam-policies-scoped"],
        title: "spent-budget policy: a stopped researcher may still download their results (Allow beside the Deny)",
        reaches: "the Allow names researchers/* (the id left out): attaching imaging-lead's spent-budget policy gives their role read of every researcher's prefix in the dataset bucket",
        mutate: (rs) => editDoc(rs, "archaeo-budget-imaging-lead-deny", (d) => {
            const bucket = arnOf(rs, "archaeo-datasets", "aws:s3/bucket:Bucket");
            d.Statement = [
                { Sid: "StillReadResults", Effect: "Allow", Action: ["s3:GetObject", "s3:ListBucket"], Resource: [bucket, `${bucket}/researchers/*`] },
                { Sid: "BudgetSpentNoAwsAccess", Effect: "Deny", NotAction: ["s3:GetObject", "s3:ListBucket"], Resource: "*" },
            ];
        }),
    },
    {
        id: "budget-stack-action-stops-every-instance", class: 3, stack: "city-museum",
        caughtBy: ["budget-actions-scoped", "iam-managed-policies-allowlisted"],
        title: "budget: when the museum's monthly budget is spent, stop the workstations (AWS's managed policy for budget actions)",
        reaches: "the action's role holds AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM (stop any EC2/RDS instance of the account through SSM) and trusts budgets.amazonaws.com with no budget pinned: any budget of the account stops every workstation of every stack",
        mutate: (rs) => {
            const roleName = "archaeo-city-museum-city-museum-budget-stack";
            const roleArn = `arn:aws:iam::${A}:role/${roleName}`;
            add(rs, {
                type: "aws:iam/role:Role", name: "archaeo-budget-stack-role", parent: "archaeo-budget",
                inputs: { name: roleName, assumeRolePolicy: doc({ Effect: "Allow", Principal: { Service: "budgets.amazonaws.com" }, Action: "sts:AssumeRole" }), tags: { "archaeo-purpose": "stack-budget-action" } },
                outputs: { arn: roleArn, id: roleName },
            });
            add(rs, {
                type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name: "archaeo-budget-stack-ssm", parent: "archaeo-budget",
                inputs: { role: roleName, policyArn: "arn:aws:iam::aws:policy/AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM" },
            });
            return add(rs, {
                type: "aws:budgets/budgetAction:BudgetAction", name: "archaeo-budget-stack-stop", parent: "archaeo-budget",
                inputs: {
                    budgetName: get(rs, "archaeo-budget-monthly", "aws:budgets/budget:Budget").inputs.name, actionType: "RUN_SSM_DOCUMENTS", approvalModel: "AUTOMATIC", notificationType: "ACTUAL",
                    actionThreshold: { actionThresholdType: "PERCENTAGE", actionThresholdValue: 100 }, executionRoleArn: roleArn,
                    definition: { ssmActionDefinition: { actionSubType: "STOP_EC2_INSTANCES", region: regionOf(rs), instanceIds: [idOf(rs, "archaeo-ws-imaging-instance"), idOf(rs, "archaeo-ws-conservator-instance")] } },
                    subscribers: [{ subscriptionType: "EMAIL", address: "it@museum.example" }],
                },
            });
        },
    },
    // ------------------------------------------------------------------------------------------------
    // Class 4: retention and deletion.
    {
        id: "budget-stop-releases-home-claims", class: 4, stack: NH,
        caughtBy: ["k8s-shared-namespace-no-pod-reads"],
        title: "enforcer: a spent budget also releases the researcher's home claim in the hub (cost: EFS moves it to IA sooner)",
        reaches: "the enforcer deletes home-<id> in jupyterhub for every budgeted researcher: a spent budget takes their home off their server (the claim is gone, the PV Released and not rebound), where the README promises home and data untouched",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-hub-role", (p) => {
            p.rules.push({ apiGroups: [""], resources: ["persistentvolumeclaims"], resourceNames: ["home-imaging-lead", "home-ml-engineer", "home-archivist"], verbs: ["delete"] });
        }),
    },
];

const harmless: Case[] = [
    {
        id: "budget-enforcer-more-memory", class: "harmless", stack: NH,
        title: "enforcer: 256 MB and 90 s (TLS handshakes to the API were slow at 128 MB)",
        reaches: "nothing: more memory and time for the same function",
        mutate: (rs) => edit(rs, "archaeo-budget-enforcer-function", (p) => { p.memorySize = 256; p.timeout = 90; }, "aws:lambda/function:Function"),
    },
    {
        id: "budget-topics-cost-center-tag", class: "harmless", stack: NH,
        title: "tags: a cost-center tag on the stop topics and the enforcer's role",
        reaches: "nothing: an extra tag, the existing ones kept",
        mutate: (rs) => {
            for (const id of ["imaging-lead", "ml-engineer", "archivist"]) edit(rs, `archaeo-budget-enforcer-topic-${id}`, (p) => { p.tags = { ...p.tags, "cost-center": "research-computing" }; }, "aws:sns/topic:Topic");
            return edit(rs, "archaeo-budget-enforcer-role", (p) => { p.tags = { ...p.tags, "cost-center": "research-computing" }; });
        },
    },
    {
        id: "budget-stop-bindings-match-expressions", class: "harmless", stack: NH,
        title: "admission: the stop bindings select the hub's namespace with matchExpressions (style of the other policies)",
        reaches: "nothing: kubernetes.io/metadata.name In [jupyterhub] selects exactly what matchLabels did",
        mutate: (rs) => {
            for (const id of ["imaging-lead", "ml-engineer", "archivist"]) {
                edit(rs, `archaeo-budget-enforcer-admission-${id}`, (p) => {
                    p.spec.matchResources.namespaceSelector = { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["jupyterhub"] }] };
                });
            }
            return rs;
        },
    },
];

export const BUDGET_CASES: Case[] = [...dangerous, ...harmless];
