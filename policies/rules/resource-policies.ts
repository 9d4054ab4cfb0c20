/**
 * Resource policies (KMS key, S3 bucket, SQS queue, ECR repository, SNS topic, EFS, ...) and the
 * accounts every principal belongs to: no "*" or foreign-account principal unless conditions pin it
 * to this account; after resolution, every principal and every account-qualified resource the
 * stack's policies name is in the stack's account.
 */
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { declaredAccount, stackAccount } from "../lib/account";
import { parseArn, principalAccount, principalsOf } from "../lib/arn";
import { conditionEntries, isPinningOperator, Statement, statementsOf } from "../lib/policy-document";
import { label, onStack, onTypes } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { few, globMatch, known, UNKNOWN } from "../lib/util";

/** Resource types with a resource-based policy, and the property holding it. */
export const RESOURCE_POLICY_DOCUMENTS: Readonly<Record<string, string>> = {
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:s3/bucket:Bucket": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:ecr/registryPolicy:RegistryPolicy": "policy",
    "aws:sns/topic:Topic": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:efs/fileSystemPolicy:FileSystemPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:backup/vaultPolicy:VaultPolicy": "policy",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "policyDocument",
};

/** Condition keys that pin a "*" principal to an account, organization or calling resource. */
export const PINNING_KEYS = ["aws:PrincipalAccount", "aws:SourceAccount", "aws:ResourceAccount", "kms:CallerAccount", "aws:PrincipalOrgID", "aws:SourceArn", "aws:SourceOwner", "aws:PrincipalArn"];

const DEFAULT_SERVICES = [
    "logs.*.amazonaws.com", "events.amazonaws.com", "sqs.amazonaws.com", "cloudtrail.amazonaws.com", "delivery.logs.amazonaws.com",
    "backup.amazonaws.com", "ec2.amazonaws.com", "eks.amazonaws.com", "pods.eks.amazonaws.com", "dlm.amazonaws.com",
];

interface PrincipalsConfig { accountId?: string; trustedAccountIds: string[]; allowedServicePrincipals: string[] }

/** The accounts a statement's pinning conditions name (ids, or the account field of ARNs); "*" when a value is a wildcard. */
function pinnedAccounts(s: Statement): string[] | undefined {
    const pins = conditionEntries(s).filter(([op, key]) => isPinningOperator(op) && PINNING_KEYS.some((k) => k.toLowerCase() === key.toLowerCase()));
    if (pins.length === 0) return undefined;
    return pins.flatMap(([, key, values]) => values.map((v) => {
        if (/^aws:PrincipalOrgID$/i.test(key)) return `org:${v}`;
        if (/^\d{12}$/.test(v)) return v;
        const a = parseArn(v);
        return a && /^\d{12}$/.test(a.account) ? a.account : "*";
    }));
}

/** Statement-level problems independent of the account (for resource policies). */
function publicPrincipalProblems(s: Statement, services: string[]): string[] {
    const out: string[] = [];
    const p = principalsOf(s.principal);
    if (s.notPrincipal) out.push(`uses NotPrincipal with Allow: it grants everyone not listed`);
    if (p.anyone) {
        const pinned = pinnedAccounts(s);
        if (!pinned) out.push(`grants to "*" without a condition pinning it to this account (${PINNING_KEYS.slice(0, 4).join(", ")}, ...)`);
        else if (pinned.includes("*")) out.push(`grants to "*" with a pinning condition whose value is a wildcard`);
    }
    if (p.federated.length || p.canonicalUser.length) out.push(`grants to ${few([...p.federated, ...p.canonicalUser])}, which are not part of the design`);
    const stray = p.service.filter((svc) => !services.some((x) => globMatch(x, svc)));
    if (stray.length) out.push(`grants to the service ${few(stray)}, which is not in allowedServicePrincipals`);
    return out;
}

/** Statement-level problems with accounts, when the stack's account is known. */
function foreignAccountProblems(s: Statement, account: string, trusted: string[]): string[] {
    const ok = (a: string) => a === account || trusted.includes(a);
    const out: string[] = [];
    const foreign = principalsOf(s.principal).aws.filter((a) => { const acct = principalAccount(a); return !acct || !ok(acct); });
    if (foreign.length) out.push(`grants to ${few(foreign)}, outside this stack's account ${account}`);
    const pins = (pinnedAccounts(s) ?? []).filter((a) => a !== "*" && !a.startsWith("org:") && !ok(a));
    if (pins.length) out.push(`pins its principal to account ${few([...new Set(pins)])}, not this stack's account ${account}`);
    return out;
}

function judge(d: Deferrals, report: ReportViolation, where: string, path: string, read: () => unknown, check: (s: Statement) => string[]): void {
    const doc = known(read);
    if (doc === UNKNOWN) { d.defer(path); return; }
    if (doc === undefined || doc === "") return;
    const statements = statementsOf(doc);
    if (!statements) { report(`${where} ${path} is not a policy document.`); return; }
    for (const s of statements.filter((x) => x.effect === "Allow")) {
        const problems = check(s);
        if (problems.length) report(`${where} statement '${s.sid}' ${problems.join("; ")}.`);
    }
}

export const resourcePolicyPolicies: ResourceValidationPolicy[] = [
    {
        name: "resource-policies-no-public-principals",
        description: "Checks whether resource policies (KMS key, S3 bucket, SQS queue, ECR repository, SNS topic, EFS, ...) grant only to this account's principals and allowed services, never to \"*\" or another account unless a condition pins the request to this account.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                accountId: { type: "string", default: "", description: "The deploying account; empty = the provider's allowedAccountIds, else checked after resolution by principals-in-stack-account." },
                trustedAccountIds: { type: "array", items: { type: "string" }, default: [], description: "Other accounts the institution trusts (e.g. an audit account)." },
                allowedServicePrincipals: { type: "array", items: { type: "string" }, default: DEFAULT_SERVICES, description: "Service principals (globs) resource policies may grant to." },
            },
        },
        validateResource: onTypes(Object.fromEntries(Object.entries(RESOURCE_POLICY_DOCUMENTS).map(([type, path]) => [type, {
            subject: type.split(":").pop()!,
            body: (props: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => {
                const c = args.getConfig<Partial<PrincipalsConfig>>();
                const account = declaredAccount(c.accountId, args.provider);
                judge(d, report, label(args), path, () => props[path], (s) => [
                    ...publicPrincipalProblems(s, c.allowedServicePrincipals ?? DEFAULT_SERVICES),
                    ...(account ? foreignAccountProblems(s, account, c.trustedAccountIds ?? []) : []),
                ]);
            },
        }]))),
    },
];

/** Policy documents in the stack whose principals count: resource policies and role trust policies. */
function principalDocuments(r: PolicyResource): Array<[string, () => unknown]> {
    const path = RESOURCE_POLICY_DOCUMENTS[r.type];
    if (path) return [[path, () => r.props[path]]];
    if (r.type === "aws:iam/role:Role") return [["assumeRolePolicy", () => r.props.assumeRolePolicy]];
    return [];
}

/** Identity policy documents whose resource ARNs count. */
function identityDocuments(r: PolicyResource): Array<[string, () => unknown]> {
    if (["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"].includes(r.type)) return [["policy", () => r.props.policy]];
    return [];
}

export const principalStackPolicies: StackValidationPolicy[] = [
    {
        name: "principals-in-stack-account",
        description: "Checks whether every principal in the stack's resource and trust policies, every account their conditions pin, and every account-qualified resource its identity policies name is, on resolved values, in the stack's account.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                accountId: { type: "string", default: "", description: "The deploying account; empty = the provider's allowedAccountIds, else derived from the stack's own ARNs." },
                trustedAccountIds: { type: "array", items: { type: "string" }, default: [] },
            },
        },
        validateStack: onStack((args, report, d) => {
            const c = args.getConfig<Partial<PrincipalsConfig>>();
            const trusted = c.trustedAccountIds ?? [];
            const acct = stackAccount(args.resources, c.accountId);
            if (acct.conflicting) { report(`The stack's resources are in several accounts (${acct.conflicting.join(", ")}); a stack deploys to one account.`); return; }
            const account = acct.account;
            const ok = (a: string) => a === account || trusted.includes(a);
            for (const r of args.resources) {
                for (const [path, read] of principalDocuments(r)) {
                    const doc = known(read);
                    if (doc === UNKNOWN) { d.defer(`${label(r)}.${path}`); continue; }
                    const statements = statementsOf(doc);
                    if (!statements) continue;
                    for (const s of statements.filter((x) => x.effect === "Allow")) {
                        const accounts = principalsOf(s.principal).aws.map((p) => ({ p, a: principalAccount(p) }));
                        if (accounts.length === 0 && !pinnedAccounts(s)) continue;
                        if (!account) { d.defer(`${label(r)} statement '${s.sid}' (the stack's account is known once its resources exist)`); continue; }
                        const problems = foreignAccountProblems(s, account, trusted);
                        if (problems.length) report(`${label(r)} ${path} statement '${s.sid}' ${problems.join("; ")}.`, r.urn);
                    }
                }
                for (const [path, read] of identityDocuments(r)) {
                    const doc = known(read);
                    if (doc === UNKNOWN) { d.defer(`${label(r)}.${path}`); continue; }
                    for (const s of (statementsOf(doc) ?? []).filter((x) => x.effect === "Allow")) {
                        const foreign = s.resources.map((res) => ({ res, a: parseArn(res)?.account })).filter((x) => x.a && /^\d{12}$/.test(x.a));
                        if (foreign.length === 0) continue;
                        if (!account) { d.defer(`${label(r)} statement '${s.sid}' (the stack's account is known once its resources exist)`); continue; }
                        const bad = foreign.filter((x) => !ok(x.a!)).map((x) => x.res);
                        if (bad.length) report(`${label(r)} statement '${s.sid}' grants on ${few(bad)}, resources of another account than this stack's ${account}.`, r.urn);
                    }
                }
            }
        }),
    },
];
