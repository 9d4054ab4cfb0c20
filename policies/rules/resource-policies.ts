/**
 * Resource policies (KMS key, S3 bucket and access points, SQS queue, ECR repository, SNS topic, EFS,
 * ...) and the accounts every principal belongs to: no "*" or foreign-account principal unless
 * conditions pin it to this account (an organization pin counts only for allowedOrgIds); after
 * resolution, every principal and every account-qualified resource the stack's policies name, and
 * every account the stack shares data with or copies it to (KMS grants, snapshot and AMI
 * permissions, RAM shares, S3 and ECR replication, DLM share rules, backup copies), is the stack's.
 */
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { declaredAccount, stackAccount } from "../lib/account";
import { parseArn, principalAccount, principalsOf } from "../lib/arn";
import { conditionEntries, isPinningOperator, Statement, statementsOf } from "../lib/policy-document";
import { label, onStack, onTypes } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { few, get, globMatch, known, UNKNOWN } from "../lib/util";
import { valuesAt } from "../lib/walk";

/** Resource types with a resource-based policy, and the property (a dotted path) holding it. */
export const RESOURCE_POLICY_DOCUMENTS: Readonly<Record<string, string>> = {
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:kms/replicaKey:ReplicaKey": "policy",
    "aws:kms/externalKey:ExternalKey": "policy",
    "aws:kms/replicaExternalKey:ReplicaExternalKey": "policy",
    // S3 access points carry their own resource policy (an access point on the dataset bucket reads its
    // objects through arn:aws:s3:<region>:<account>:accesspoint/<name>/object/*; AWS S3 User Guide,
    // "Configuring IAM policies for using access points").
    "aws:s3/accessPoint:AccessPoint": "policy",
    "aws:s3control/accessPointPolicy:AccessPointPolicy": "policy",
    "aws:s3control/objectLambdaAccessPointPolicy:ObjectLambdaAccessPointPolicy": "policy",
    "aws:s3control/multiRegionAccessPointPolicy:MultiRegionAccessPointPolicy": "details.policy",
    "aws:s3control/bucketPolicy:BucketPolicy": "policy",
    "aws:s3control/accessGrantsInstanceResourcePolicy:AccessGrantsInstanceResourcePolicy": "policy",
    "aws:s3/bucket:Bucket": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:ecr/registryPolicy:RegistryPolicy": "policy",
    "aws:sns/topic:Topic": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:efs/fileSystemPolicy:FileSystemPolicy": "policy",
    "aws:secretsmanager/secret:Secret": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:backup/vaultPolicy:VaultPolicy": "policy",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "policyDocument",
};

/**
 * Condition keys that pin a "*" principal to an account, organization or calling resource. An
 * organization (aws:PrincipalOrgID) is every account in it, so it pins only when allowedOrgIds lists
 * it (AWS IAM User Guide, "AWS global condition context keys": aws:PrincipalOrgID).
 */
export const PINNING_KEYS = ["aws:PrincipalAccount", "aws:SourceAccount", "aws:ResourceAccount", "kms:CallerAccount", "aws:PrincipalOrgID", "aws:SourceArn", "aws:SourceOwner", "aws:PrincipalArn"];
const isOrgKey = (key: string) => /^aws:PrincipalOrgID$/i.test(key);

/** Reads a dotted property path ("details.policy") through the (proxied) props. */
const readPath = (props: any, path: string) => path.split(".").reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), props);

const DEFAULT_SERVICES = [
    "logs.*.amazonaws.com", "events.amazonaws.com", "sqs.amazonaws.com", "cloudtrail.amazonaws.com", "delivery.logs.amazonaws.com",
    "backup.amazonaws.com", "ec2.amazonaws.com", "eks.amazonaws.com", "pods.eks.amazonaws.com", "dlm.amazonaws.com",
    // AWS Budgets publishes to the budget-stop topics (with the stack key); SNS invokes the budget enforcer.
    "budgets.amazonaws.com", "sns.amazonaws.com",
];

interface PrincipalsConfig { accountId?: string; trustedAccountIds: string[]; allowedServicePrincipals: string[]; allowedOrgIds: string[] }

const ORG_SCHEMA = { type: "array", items: { type: "string" }, default: [], description: "AWS Organizations ids (o-...) whose every account may be trusted: only then does an aws:PrincipalOrgID condition pin a \"*\" principal, or a share to the organization pass." } as const;

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
function publicPrincipalProblems(s: Statement, services: string[], orgs: readonly string[]): string[] {
    const out: string[] = [];
    const p = principalsOf(s.principal);
    if (s.notPrincipal) out.push(`uses NotPrincipal with Allow: it grants everyone not listed`);
    if (p.anyone) {
        const pinned = pinnedAccounts(s);
        if (!pinned) out.push(`grants to "*" without a condition pinning it to this account (${PINNING_KEYS.slice(0, 4).join(", ")}, ...)`);
        else if (pinned.includes("*")) out.push(`grants to "*" with a pinning condition whose value is a wildcard`);
        else {
            // Conditions on different keys are ANDed and values of one key ORed: one account pin narrows the
            // statement to that account; an organization pin narrows it only to every account of that organization.
            const entries = conditionEntries(s).filter(([op, key]) => isPinningOperator(op) && PINNING_KEYS.some((k) => k.toLowerCase() === key.toLowerCase()));
            const byAccount = entries.some(([, key]) => !isOrgKey(key));
            const byAllowedOrg = entries.some(([, key, values]) => isOrgKey(key) && values.length > 0 && values.every((v) => orgs.includes(v)));
            if (!byAccount && !byAllowedOrg) {
                const ids = entries.flatMap(([, , values]) => values);
                out.push(`grants to "*" pinned only by aws:PrincipalOrgID ${few(ids)}: every account of that organization, not only this one; pin it to this account (aws:PrincipalAccount, aws:SourceAccount, ...) or list the organization in allowedOrgIds`);
            }
        }
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
                allowedOrgIds: ORG_SCHEMA,
            },
        },
        validateResource: onTypes(Object.fromEntries(Object.entries(RESOURCE_POLICY_DOCUMENTS).map(([type, path]) => [type, {
            subject: type.split(":").pop()!,
            body: (props: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => {
                const c = args.getConfig<Partial<PrincipalsConfig>>();
                const account = declaredAccount(c.accountId, args.provider);
                judge(d, report, label(args), path, () => readPath(props, path), (s) => [
                    ...publicPrincipalProblems(s, c.allowedServicePrincipals ?? DEFAULT_SERVICES, c.allowedOrgIds ?? []),
                    ...(account ? foreignAccountProblems(s, account, c.trustedAccountIds ?? []) : []),
                ]);
            },
        }]))),
    },
];

/** Policy documents in the stack whose principals count: resource policies and role trust policies. */
function principalDocuments(r: PolicyResource): Array<[string, () => unknown]> {
    const path = RESOURCE_POLICY_DOCUMENTS[r.type];
    if (path) return [[path, () => readPath(r.props, path)]];
    if (r.type === "aws:iam/role:Role") return [["assumeRolePolicy", () => r.props.assumeRolePolicy]];
    return [];
}

/** Identity policy documents whose resource ARNs count. */
function identityDocuments(r: PolicyResource): Array<[string, () => unknown]> {
    if (["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"].includes(r.type)) return [["policy", () => r.props.policy]];
    return [];
}

/**
 * Properties naming an account (or a principal of one) that a resource gives the stack's data or
 * key to, or copies them into; "[]" walks a list. `what` completes "<path> <what> account N".
 */
export const ACCOUNT_REFERENCES: Readonly<Record<string, ReadonlyArray<{ path: string; what: string }>>> = {
    // KMS CreateGrant: the grantee may use the key for the grant's operations (Decrypt...), outside any key policy.
    "aws:kms/grant:Grant": [{ path: "granteePrincipal", what: "lets a principal of" }, { path: "retiringPrincipal", what: "lets a principal of" }],
    // EC2 ModifySnapshotAttribute createVolumePermission: that account can create volumes from the snapshot.
    "aws:ec2/snapshotCreateVolumePermission:SnapshotCreateVolumePermission": [{ path: "accountId", what: "shares the snapshot with" }],
    // EC2 ModifyImageAttribute launchPermission: an account, an organization or unit, or group "all" (public).
    "aws:ec2/amiLaunchPermission:AmiLaunchPermission": ["accountId", "organizationArn", "organizationalUnitArn", "group"].map((path) => ({ path, what: "shares the image with" })),
    "aws:ram/principalAssociation:PrincipalAssociation": [{ path: "principal", what: "shares the resource share with" }],
    // DLM schedules: shareRule.targetAccounts get every snapshot the policy takes.
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": [{ path: "policyDetails.schedules[].shareRule.targetAccounts[]", what: "shares every snapshot with" }],
    "aws:ecr/replicationConfiguration:ReplicationConfiguration": [{ path: "replicationConfiguration.rules[].destinations[].registryId", what: "replicates every image to the registry of" }],
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": [{ path: "rules[].destination.account", what: "replicates the bucket's objects to" }],
    "aws:s3/bucket:Bucket": [{ path: "replicationConfiguration.rules[].destination.accountId", what: "replicates the bucket's objects to" }],
    "aws:backup/plan:Plan": [{ path: "rules[].copyActions[].destinationVaultArn", what: "copies every backup to a vault of" }],
};

/** S3 replication rules and where their destination bucket is ([path of the bucket, path of its account]). */
const REPLICATION_DESTINATIONS: Readonly<Record<string, readonly [string, string]>> = {
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": ["rules[].destination.bucket", "account"],
    "aws:s3/bucket:Bucket": ["replicationConfiguration.rules[].destination.bucket", "accountId"],
};

export const principalStackPolicies: StackValidationPolicy[] = [
    {
        name: "principals-in-stack-account",
        description: "Checks whether every principal in the stack's resource and trust policies, every account their conditions pin, every account-qualified resource its identity policies name, and every account it shares data or keys with or copies them to (KMS grants, snapshot and AMI permissions, RAM shares, S3 and ECR replication, DLM share rules, backup copies) is, on resolved values, in the stack's account.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                accountId: { type: "string", default: "", description: "The deploying account; empty = the provider's allowedAccountIds, else derived from the stack's own ARNs." },
                trustedAccountIds: { type: "array", items: { type: "string" }, default: [] },
                allowedOrgIds: ORG_SCHEMA,
            },
        },
        validateStack: onStack((args, report, d) => {
            const c = args.getConfig<Partial<PrincipalsConfig>>();
            const trusted = c.trustedAccountIds ?? [];
            const acct = stackAccount(args.resources, c.accountId);
            if (acct.conflicting) { report(`The stack's resources are in several accounts (${acct.conflicting.join(", ")}); a stack deploys to one account.`); return; }
            const account = acct.account;
            const ok = (a: string) => a === account || trusted.includes(a);
            // The stack's own buckets, by name (a bucket's name is known at preview; its ARN is arn:aws:s3:::<name>).
            let buckets: Set<string> | undefined;
            const ownBuckets = () => buckets ??= new Set(args.resources.filter((x) => x.type === "aws:s3/bucket:Bucket" || x.type === "aws:s3/bucketV2:BucketV2")
                .flatMap((x) => [get(() => x.props.bucket), get(() => x.props.id)]).filter((n): n is string => typeof n === "string" && n !== ""));
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
                for (const spec of ACCOUNT_REFERENCES[r.type] ?? []) {
                    for (const f of valuesAt(r.props, spec.path)) {
                        if (f.value === UNKNOWN) { d.defer(`${label(r)}.${f.path}`); continue; }
                        if (f.value === undefined || f.value === null || f.value === "") continue;
                        const v = String(f.value);
                        if (/\.amazonaws\.com(\.cn)?$/.test(v)) continue; // a service principal (judged by the resource policies' allowedServicePrincipals)
                        const arn = parseArn(v);
                        if (arn?.service === "organizations") {
                            const org = /(o-[a-z0-9]+)/.exec(arn.resource)?.[1];
                            if (!org || !(c.allowedOrgIds ?? []).includes(org)) report(`${label(r)} ${f.path} ${spec.what} the organization or unit ${v}: every account in it, not only this one; share with this account only, or list the organization in allowedOrgIds.`, r.urn);
                            continue;
                        }
                        const a = principalAccount(v);
                        if (!a) { report(`${label(r)} ${f.path} is '${v}', which names no account (it ${spec.what} whoever that is); name a principal or account of this stack's account.`, r.urn); continue; }
                        if (!account) { d.defer(`${label(r)}.${f.path} (the stack's account is known once its resources exist)`); continue; }
                        if (!ok(a)) report(`${label(r)} ${f.path} ${spec.what} account ${a}, not this stack's account ${account}: the institution's data and key must stay in its account. Remove it, or list the account in trustedAccountIds.`, r.urn);
                    }
                }
                const replication = REPLICATION_DESTINATIONS[r.type];
                if (replication) {
                    // A destination bucket ARN carries no account (arn:aws:s3:::name): a bucket this stack does not
                    // define must name its account, or the objects may land in another account's bucket.
                    const [bucketPath, accountKey] = replication;
                    for (const f of valuesAt(r.props, bucketPath)) {
                        if (f.value === UNKNOWN) { d.defer(`${label(r)}.${f.path}`); continue; }
                        if (typeof f.value !== "string" || ownBuckets().has(f.value.replace(/^arn:[^:]+:s3:::/, ""))) continue;
                        const named = get(() => readPath(r.props, f.path.replace(/\.bucket$/, `.${accountKey}`).replace(/\[(\d+)\]/g, ".$1")));
                        if (named === UNKNOWN) { d.defer(`${label(r)}.${f.path.replace(/bucket$/, accountKey)}`); continue; }
                        if (named === undefined || named === null || named === "") report(`${label(r)} ${f.path} replicates to ${f.value}, a bucket this stack does not define, without naming its account (${f.path.replace(/bucket$/, accountKey)}): it may be another account's bucket. Replicate to a bucket of this stack, or name this account.`, r.urn);
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
