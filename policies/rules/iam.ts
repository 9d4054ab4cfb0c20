/**
 * IAM judged by what it grants (inline and attached alike): identity policies by the IAM dataset,
 * trust policies by who may assume the role, managed policies by an allow-list of what the design
 * needs, and Session Manager access without the shell document.
 */
import * as aws from "@pulumi/aws";
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { isAccountRoot, principalsOf } from "../lib/arn";
import { DEFAULT_SCOPING_CONDITION_KEYS, disallowedSessionDocuments, grants, identityPolicyFindings, IdentityPolicyOptions } from "../lib/iam";
import { conditionEntries, Statement, statementsOf } from "../lib/policy-document";
import { label, onResource, onStack, onTypes } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, few, get, globMatch, known, UNKNOWN } from "../lib/util";

/**
 * Actions the design grants on every resource of a type: ec2:RunInstances / ec2:CreateFleet must
 * name AWS-owned images and snapshots and the VPC's subnets and security groups, and Karpenter reads
 * its instance profiles (Karpenter v1 KarpenterControllerPolicy); the instances and templates they
 * create are pinned by request-tag conditions in other statements.
 */
// ec2:DeleteNetworkInterface and Assign/UnassignPrivateIpAddresses: a VPC Lambda's role needs them on every interface
// ID (AWS Lambda developer guide, "Giving Lambda functions access to resources in an Amazon VPC": DeleteNetworkInterface
// "Either specify a unique resource ID, or include all resource IDs"); Lambda checks them at CreateFunction, before any
// interface exists, so no condition on the interface can pin them (infra/iam.ts budgetEnforcerPolicy).
const DEFAULT_WILDCARD_RESOURCE_ACTIONS = ["ec2:RunInstances", "ec2:CreateFleet", "iam:GetInstanceProfile", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"];

interface ScopedConfig { wildcardResourceActions: string[]; scopingConditionKeys: string[] }

/** Identity-policy documents of a resource, by type: [property path, read]. */
function identityDocuments(type: string, props: any): Array<[string, () => unknown]> {
    switch (type) {
        case "aws:iam/rolePolicy:RolePolicy":
        case "aws:iam/policy:Policy":
        case "aws:iam/userPolicy:UserPolicy":
        case "aws:iam/groupPolicy:GroupPolicy":
            return [["policy", () => props.policy]];
        case "aws:iam/role:Role": {
            const inline = get(() => asArray(props.inlinePolicies).length);
            if (inline === UNKNOWN) return [["inlinePolicies", () => props.inlinePolicies.length]];
            return Array.from({ length: inline as number }, (_, i) => [`inlinePolicies[${i}].policy`, () => props.inlinePolicies[i].policy] as [string, () => unknown]);
        }
        default:
            return [];
    }
}

const IDENTITY_TYPES = ["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy", "aws:iam/role:Role"];
const KIND: Record<string, string> = {
    "aws:iam/rolePolicy:RolePolicy": "Role policy", "aws:iam/policy:Policy": "IAM policy", "aws:iam/userPolicy:UserPolicy": "User policy",
    "aws:iam/groupPolicy:GroupPolicy": "Group policy", "aws:iam/role:Role": "IAM role",
};

/** A validation over every identity-policy document of the IAM types, deferring unknown documents. */
function onIdentityDocuments(body: (statements: Statement[], path: string, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => void | Promise<void>) {
    return onTypes(Object.fromEntries(IDENTITY_TYPES.map((type) => [type, {
        subject: KIND[type],
        body: async (props: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => {
            for (const [path, read] of identityDocuments(type, props)) {
                const doc = d.read(path, read);
                if (doc === UNKNOWN || doc === undefined) continue;
                const statements = statementsOf(doc);
                if (!statements) { report(`${KIND[type]} '${args.name}' ${path} is not an IAM policy document.`); continue; }
                await body(statements, path, args, report, d);
            }
        },
    }])));
}

interface TrustConfig { allowedServicePrincipals: string[]; trustedPrincipalArns: string[]; researcherTag: string; allowedTrustActions: string[] }
/** Tag naming the Lambda function a role is the execution role of (infra/cluster/budget-enforcer.ts; judged by lambda-functions-scoped). */
export const FUNCTION_ROLE_TAG = "archaeo-function-of";

const TRUST_DEFAULTS: TrustConfig = {
    allowedServicePrincipals: ["ec2.amazonaws.com", "eks.amazonaws.com", "pods.eks.amazonaws.com", "dlm.amazonaws.com", "backup.amazonaws.com", "budgets.amazonaws.com"],
    trustedPrincipalArns: [],
    researcherTag: "researcher",
    allowedTrustActions: ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
};

/**
 * Managed policies the design attaches, with the service principals of the roles they may go to:
 * an AWS-managed policy on any other role (a researcher's, say) grants far more than it needs.
 */
export const DEFAULT_MANAGED_POLICIES: Readonly<Record<string, string[]>> = {
    "AmazonSSMManagedInstanceCore": ["ec2.amazonaws.com"],
    "service-role/AWSDataLifecycleManagerServiceRole": ["dlm.amazonaws.com"],
    "AmazonEKSClusterPolicy": ["eks.amazonaws.com"],
    "AmazonEKSWorkerNodePolicy": ["ec2.amazonaws.com"],
    "AmazonEKS_CNI_Policy": ["ec2.amazonaws.com", "pods.eks.amazonaws.com"],
    "AmazonEC2ContainerRegistryReadOnly": ["ec2.amazonaws.com"],
    "service-role/AmazonEBSCSIDriverPolicy": ["pods.eks.amazonaws.com"],
    "service-role/AmazonEFSCSIDriverPolicy": ["pods.eks.amazonaws.com"],
    "service-role/AWSBackupServiceRolePolicyForBackup": ["backup.amazonaws.com"],
    "service-role/AWSBackupServiceRolePolicyForRestores": ["backup.amazonaws.com"],
};

/** "arn:aws:iam::aws:policy/service-role/X" -> "service-role/X"; undefined for customer-managed ARNs. */
export function awsManagedPolicyName(arn: string): string | undefined {
    return /^arn:[^:]+:iam::aws:policy\/(.+)$/.exec(arn)?.[1];
}

/** Where each attachment type names its role and policies. */
const ATTACHMENTS: Record<string, { principal?: string; policies: string }> = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": { principal: "role", policies: "policyArn" },
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": { policies: "policyArn" },
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": { policies: "policyArn" },
    "aws:iam/policyAttachment:PolicyAttachment": { policies: "policyArn" },
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": { principal: "roleName", policies: "policyArns" },
    "aws:iam/role:Role": { policies: "managedPolicyArns" },
};

interface ManagedConfig { allowedManagedPolicies: Record<string, string[]> }

/** Service principals and other principals a role's trust policy lets in (UNKNOWN if not known). */
export function trustOf(role: PolicyResource): { services: string[]; others: string[] } | typeof UNKNOWN {
    const doc = known(() => role.props.assumeRolePolicy);
    if (doc === UNKNOWN) return UNKNOWN;
    const services: string[] = [];
    const others: string[] = [];
    for (const s of asArray(statementsOf(doc))) {
        if (s.effect !== "Allow") continue;
        const p = principalsOf(s.principal);
        services.push(...p.service);
        others.push(...(p.anyone ? ["*"] : []), ...p.aws, ...p.federated, ...p.canonicalUser);
        if (s.notPrincipal) others.push("NotPrincipal");
    }
    return { services, others };
}

/** Documents that may start a session without a shell (configurable). */
const SSH_AND_PORT_FORWARDING = ["AWS-StartSSHSession", "AWS-StartPortForwardingSession"];

export const iamPolicies: ResourceValidationPolicy[] = [
    {
        name: "iam-policies-scoped",
        description: "Checks whether IAM identity policies (inline, customer-managed, user and group) grant least privilege, judged with the IAM dataset: no NotAction/NotResource, wildcard actions only when their expansion holds no permissions management, and every-resource grants only for actions without resource-level permissions or pinned by conditions.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                wildcardResourceActions: { type: "array", items: { type: "string" }, default: DEFAULT_WILDCARD_RESOURCE_ACTIONS, description: "Actions (globs) that may be granted on every resource of a type without a condition." },
                scopingConditionKeys: { type: "array", items: { type: "string" }, default: DEFAULT_SCOPING_CONDITION_KEYS, description: "Condition keys (globs) that pin a wildcard resource." },
            },
        },
        validateResource: onIdentityDocuments(async (statements, path, args, report) => {
            const c = args.getConfig<Partial<ScopedConfig>>();
            const opts: IdentityPolicyOptions = {
                wildcardResourceActions: c.wildcardResourceActions ?? DEFAULT_WILDCARD_RESOURCE_ACTIONS,
                scopingConditionKeys: c.scopingConditionKeys ?? DEFAULT_SCOPING_CONDITION_KEYS,
            };
            const where = `${KIND[args.type]} '${args.name}'${path === "policy" ? "" : ` ${path}`}`;
            for (const f of await identityPolicyFindings(statements, opts)) report(`${where} ${f}`);
        }),
    },
    {
        name: "ssm-sessions-no-shell",
        description: "Checks whether every statement that allows ssm:StartSession reaches only the SSH and port-forwarding session documents (resource patterns judged by the documents they match, wildcards included) and requires ssm:SessionDocumentAccessCheck, so no one gets a shell as ssm-user (sudo on the host).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: { allowedSessionDocuments: { type: "array", items: { type: "string" }, default: SSH_AND_PORT_FORWARDING, description: "Session documents a statement may allow." } },
        },
        // https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-specify-session-document.html:
        // without the condition, start-session with no --document-name runs SSM-SessionManagerRunShell,
        // and "to ensure the condition element is enforced, it must be included in all policy statements
        // which allow the ssm:StartSession action".
        validateResource: onIdentityDocuments((statements, path, args, report) => {
            const docs = args.getConfig<{ allowedSessionDocuments?: string[] }>().allowedSessionDocuments ?? SSH_AND_PORT_FORWARDING;
            const where = `${KIND[args.type]} '${args.name}'${path === "policy" ? "" : ` ${path}`}`;
            for (const s of statements.filter((x) => grants(x, "ssm:StartSession"))) {
                const problems: string[] = [];
                if (s.notResources) problems.push("uses NotResource, which allows every session document not listed");
                for (const r of s.resources) {
                    // Judged by what the pattern reaches, not how it is spelled: "arn:aws:ssm:*:*:d*" reaches the shell document.
                    if (r === "*" || /^arn:[^:]+:ssm:[^:]*:[^:]*:\*$/.test(r)) { problems.push(`allows it on '${r}', which includes every session document (the shell document SSM-SessionManagerRunShell too)`); continue; }
                    const other = disallowedSessionDocuments(r, docs);
                    if (other.length) problems.push(`allows it on '${r}', which reaches the session document${other.length > 1 ? "s" : ""} ${few(other, 3)}; name only ${docs.map((x) => `document/${x}`).join(" and ")}`);
                }
                const check = conditionEntries(s).some(([op, key, values]) => /^Bool(IfExists)?$/.test(op) && key.toLowerCase() === "ssm:sessiondocumentaccesscheck" && values.map(String).includes("true"));
                if (!check) problems.push(`lacks Condition { "BoolIfExists": { "ssm:SessionDocumentAccessCheck": "true" } }, so a start-session without --document-name opens a shell`);
                if (problems.length) report(`${where} statement '${s.sid}' allows ssm:StartSession but ${problems.join("; ")}.`);
            }
        }),
    },
    {
        name: "iam-trust-policies-scoped",
        description: "Checks whether role trust policies let in only the intended AWS services, or for a researcher's role (tagged researcher) exactly one named principal, with the assume-role actions only.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedServicePrincipals: { type: "array", items: { type: "string" }, default: TRUST_DEFAULTS.allowedServicePrincipals, description: "Service principals (globs) roles may trust." },
                trustedPrincipalArns: { type: "array", items: { type: "string" }, default: TRUST_DEFAULTS.trustedPrincipalArns, description: "AWS principal ARNs that roles without the researcher tag may trust." },
                researcherTag: { type: "string", default: TRUST_DEFAULTS.researcherTag, description: "Tag key marking a researcher's role." },
                allowedTrustActions: { type: "array", items: { type: "string" }, default: TRUST_DEFAULTS.allowedTrustActions },
            },
        },
        validateResource: onResource(aws.iam.Role, "IAM role", (role, args, report, d) => {
            const c = { ...TRUST_DEFAULTS, ...args.getConfig<Partial<TrustConfig>>() };
            const tags = d.copy("tags", () => role.tags) as Record<string, string> | undefined | typeof UNKNOWN;
            const doc = d.read("assumeRolePolicy", () => role.assumeRolePolicy);
            if (tags === UNKNOWN || doc === UNKNOWN) return;
            const statements = statementsOf(doc);
            if (!statements) { report(`IAM role '${args.name}' assumeRolePolicy is not a policy document.`); return; }
            const researcher = tags?.[c.researcherTag];
            const awsPrincipals: string[] = [];
            for (const s of statements.filter((x) => x.effect === "Allow")) {
                const where = `IAM role '${args.name}' trust statement '${s.sid}'`;
                if (s.notPrincipal) report(`${where} uses NotPrincipal with Allow: it trusts everyone not listed.`);
                const badActions = s.actions.filter((a) => !c.allowedTrustActions.some((x) => globMatch(a, x) && globMatch(x, a)));
                if (badActions.length || s.notActions) report(`${where} allows ${few(s.notActions ? ["NotAction"] : badActions)}; a trust policy may allow only ${c.allowedTrustActions.join(", ")}.`);
                const p = principalsOf(s.principal);
                if (p.anyone) report(`${where} trusts "*": any principal of any account could assume it.`);
                if (p.federated.length || p.canonicalUser.length) report(`${where} trusts ${few([...p.federated, ...p.canonicalUser])}; federated principals are not part of the design.`);
                for (const svc of p.service) {
                    if (researcher !== undefined) report(`${where} trusts the service ${svc}; a researcher's role is assumed only by the researcher.`);
                    // A function's role (tagged archaeo-function-of: <function>) is Lambda's to assume: lambda-functions-scoped
                    // proves that function runs as it and that Lambda alone is trusted; any other role trusting Lambda is refused.
                    else if (svc === "lambda.amazonaws.com" && typeof tags?.[FUNCTION_ROLE_TAG] === "string" && tags[FUNCTION_ROLE_TAG] !== "") continue;
                    else if (!c.allowedServicePrincipals.some((x) => globMatch(x, svc))) report(`${where} trusts the service ${svc}, which is not in allowedServicePrincipals (${c.allowedServicePrincipals.join(", ")}).`);
                }
                awsPrincipals.push(...p.aws);
            }
            if (researcher !== undefined) {
                const roots = awsPrincipals.filter(isAccountRoot);
                if (roots.length) report(`IAM role '${args.name}' (researcher ${researcher}) trusts the account root ${roots.join(", ")}: every principal of that account with sts:AssumeRole could act as the researcher; name their iamPrincipalArn only.`);
                if (new Set(awsPrincipals).size !== 1) report(`IAM role '${args.name}' (researcher ${researcher}) must trust exactly one principal, the researcher's iamPrincipalArn (found ${awsPrincipals.length ? awsPrincipals.join(", ") : "none"}).`);
            } else {
                const foreign = awsPrincipals.filter((a) => !c.trustedPrincipalArns.includes(a));
                if (foreign.length) report(`IAM role '${args.name}' trusts ${few(foreign)}; only services, trustedPrincipalArns, or (on a role tagged ${c.researcherTag}) the researcher's own principal may assume roles.`);
            }
        }),
    },
    {
        name: "iam-managed-policies-allowlisted",
        description: "Checks whether every AWS-managed policy attached to a role, user or group is on the allow-list of managed policies the design needs.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedManagedPolicies: {
                    type: "object", additionalProperties: { type: "array", items: { type: "string" } }, default: DEFAULT_MANAGED_POLICIES,
                    description: "AWS-managed policy name (after arn:<partition>:iam::aws:policy/) -> service principals of the roles it may be attached to.",
                },
            },
        },
        validateResource: onTypes(Object.fromEntries(Object.entries(ATTACHMENTS).map(([type, where]) => [type, {
            subject: type.split(":").pop()!,
            body: (props: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => {
                const allowed = args.getConfig<Partial<ManagedConfig>>().allowedManagedPolicies ?? DEFAULT_MANAGED_POLICIES;
                const arns = d.copy(where.policies, () => props[where.policies]);
                if (arns === UNKNOWN) return;
                for (const arn of asArray(arns as string | string[])) {
                    const name = awsManagedPolicyName(String(arn));
                    if (name !== undefined && !(name in allowed)) report(`${label(args)} attaches the AWS-managed policy ${name}, which is not on the allow-list (${Object.keys(allowed).join(", ")}); write an inline policy scoped to this stack's ARNs instead.`);
                }
            },
        }]))),
    },
];

export const iamStackPolicies: StackValidationPolicy[] = [
    {
        name: "iam-attachments-match-roles",
        description: "Checks whether each attached managed policy goes only to roles trusted by the services it is allowed for, and each attached customer-managed policy is one this stack defines (so its document is judged too).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedManagedPolicies: { type: "object", additionalProperties: { type: "array", items: { type: "string" } }, default: DEFAULT_MANAGED_POLICIES },
            },
        },
        validateStack: onStack((args, report, d) => {
            const allowed = args.getConfig<Partial<ManagedConfig>>().allowedManagedPolicies ?? DEFAULT_MANAGED_POLICIES;
            const roles = args.resources.filter((r) => r.type === "aws:iam/role:Role");
            // Read only when an attachment names a customer-managed policy: an unknown ARN no verdict needs is not a deferral.
            let policyArns: unknown[] | undefined;
            const stackPolicies = () => (policyArns ??= args.resources.filter((r) => r.type === "aws:iam/policy:Policy").map((p) => get(() => p.props.arn)));
            for (const r of args.resources) {
                const where = ATTACHMENTS[r.type];
                if (!where) continue;
                const arns = known(() => r.props[where.policies]);
                if (arns === UNKNOWN) { d.defer(`${label(r)}.${where.policies}`); continue; }
                let role: PolicyResource | undefined = r.type === "aws:iam/role:Role" ? r : undefined;
                if (!role && where.principal) {
                    const name = get(() => r.props[where.principal!]);
                    if (name === UNKNOWN) { d.defer(`${label(r)}.${where.principal}`); continue; }
                    role = roles.find((x) => get(() => x.props.name) === name || get(() => x.props.id) === name);
                }
                for (const arn of asArray(arns as string | string[]).map(String)) {
                    const managed = awsManagedPolicyName(arn);
                    if (managed === undefined) {
                        if (stackPolicies().includes(UNKNOWN)) d.defer(`${label(r)}.${where.policies} (policy ARNs of this stack unknown)`);
                        else if (!stackPolicies().includes(arn)) report(`${label(r)} attaches ${arn}, a customer-managed policy this stack does not define, so the pack cannot judge what it grants.`, r.urn);
                        continue;
                    }
                    if (!(managed in allowed)) continue; // iam-managed-policies-allowlisted reports it
                    if (!where.principal && r.type !== "aws:iam/role:Role") { report(`${label(r)} attaches ${managed} to users or groups; the allow-list is for service roles only.`, r.urn); continue; }
                    if (!role) { report(`${label(r)} attaches ${managed} to a role outside this stack; attach only to this stack's roles.`, r.urn); continue; }
                    const trust = trustOf(role);
                    if (trust === UNKNOWN) { d.defer(`${label(role)}.assumeRolePolicy`); continue; }
                    const stray = [...trust.services.filter((s) => !allowed[managed].some((x) => globMatch(x, s))), ...trust.others];
                    if (stray.length) report(`${label(r)} attaches ${managed} to role '${role.name}', which is assumed by ${few(stray)}; ${managed} is for roles of ${allowed[managed].join(", ")} only.`, r.urn);
                }
            }
        }),
    },
];
