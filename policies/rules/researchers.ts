/**
 * Per-researcher least privilege: a role tagged `researcher: <id>` is assumed by that researcher's
 * principal only, and its policies reach only what is theirs: resources tagged with the same
 * researcher (their workstation), SSM parameters under .../researchers/<id>/, S3 keys under
 * researchers/<id>/ (read/write) and datasets/ (read-only) of the dataset bucket, the stack's key,
 * the SSH and port-forwarding session documents and their own sessions. Roles that act for a
 * researcher without being their identity (the instance role of their workstation, the Pod Identity
 * role of their server and jobs: tagged `archaeo-workstation-of` / `archaeo-pods-of: <id>`) are held
 * to the same data scope; who may assume those is judged by iam-trust-policies-scoped.
 *
 * What reaches a role is every policy that reaches it however it is attached (inline, RolePolicy,
 * a customer-managed policy of this stack through RolePolicyAttachment, PolicyAttachment,
 * RolePolicyAttachmentsExclusive or managedPolicyArns), and what a statement allows is judged by
 * what it reaches: on a researcher's own resources only the actions the design gives them there
 * (infra/iam.ts researcherInstancePolicy: start, stop, sessions), never IAM (their own role
 * included: a grant there rewrites what they may do), the stack key only through a service.
 */
import { PolicyResource, ReportViolation, StackValidationPolicy } from "@pulumi/policy";
import { parseArn, principalsOf } from "../lib/arn";
import { stackKeyArns } from "../lib/keys";
import { allowedSessionDocuments, disallowedSessionDocuments, expandAction, isBroadResource, literalPrefix } from "../lib/iam";
import { conditionEntries, isPinningOperator, resolvePrincipalTags, Statement, statementsOf } from "../lib/policy-document";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { Deferrals } from "../lib/unknowns";
import { asArray, few, get, globMatch, known, UNKNOWN } from "../lib/util";
import { awsManagedPolicyName } from "./iam";

interface ResearcherConfig {
    researcherTag: string;
    actingForTags: string[];
    researcherPrincipals: Record<string, string>;
    purposeTag: string;
    datasetsPurpose: string;
    allowedSessionDocuments: string[];
    sharedActions: string[];
    ownResourceActions: Record<string, string[]>;
    keyActions: string[];
}
const DEFAULTS: ResearcherConfig = {
    researcherTag: "researcher",
    actingForTags: ["archaeo-workstation-of", "archaeo-pods-of"],
    researcherPrincipals: {},
    purposeTag: "archaeo-purpose",
    datasetsPurpose: "datasets",
    allowedSessionDocuments: ["AWS-StartSSHSession", "AWS-StartPortForwardingSession"],
    // eks:DescribeCluster builds a researcher's kubeconfig; the ECR pull actions let a workstation pull
    // the institution's image (one repository for everyone, by design).
    sharedActions: ["eks:DescribeCluster", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    // On their own workstation (tagged researcher: <id>) a researcher starts, stops and opens sessions
    // (infra/iam.ts researcherInstancePolicy); nothing else. ec2-instance-connect:SendSSHPublicKey would
    // log them in as ec2-user (sudo), ec2:ModifyInstanceAttribute would change its user data or role.
    ownResourceActions: { "ec2:instance": ["ec2:StartInstances", "ec2:StopInstances", "ssm:StartSession"] },
    // The stack key, only through a service (kms:ViaService): the EBS user permissions ("Requirements for
    // Amazon EBS encryption"), S3 and SSM SecureString use. Nothing that administers the key or its grants.
    keyActions: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey", "kms:CreateGrant"],
};

type Stack = readonly PolicyResource[];

/**
 * What the rule looks up for every role, read once per stack (the rule stays linear in the number of
 * researchers): each resource's effective tags, resources by type, who each RolePolicy and attachment
 * names, the stack's customer-managed policies by ARN.
 */
class StackIndex {
    private readonly tags = new Map<PolicyResource, Record<string, unknown> | typeof UNKNOWN>();
    private readonly types = new Map<string, PolicyResource[]>();
    private readonly owned = new Map<string, Map<string, unknown[]>>();
    private attachmentsCache?: Array<{ r: PolicyResource; roles: string; targets: string[] | typeof UNKNOWN; arns: () => unknown }>;
    private policiesCache?: Array<{ p: PolicyResource; arn: unknown }>;
    constructor(readonly all: Stack) {
        for (const r of all) { const l = this.types.get(r.type); if (l) l.push(r); else this.types.set(r.type, [r]); }
    }
    ofType(type: string): PolicyResource[] { return this.types.get(type) ?? []; }
    tagsOf(r: PolicyResource): Record<string, unknown> | typeof UNKNOWN {
        if (!this.tags.has(r)) this.tags.set(r, effectiveTags(r));
        return this.tags.get(r)!;
    }
    /**
     * ARNs of the stack's resources whose tag `tag` is `value`, UNKNOWN inside for each one whose ARN is
     * not known yet and for each resource whose tags are not (it may be one of them).
     */
    taggedArns(tag: string, value: string): unknown[] {
        let byValue = this.owned.get(tag);
        if (!byValue) {
            byValue = new Map();
            const unknownTags: unknown[] = [];
            for (const r of this.all) {
                const t = this.tagsOf(r);
                if (t === UNKNOWN) { unknownTags.push(UNKNOWN); continue; }
                const v = t[tag];
                if (typeof v !== "string") continue;
                const arn = get(() => r.props.arn);
                if (arn !== undefined) byValue.set(v, [...(byValue.get(v) ?? []), arn]);
            }
            byValue.set("\u0000unknown", unknownTags);
            this.owned.set(tag, byValue);
        }
        return [...(byValue.get(value) ?? []), ...(byValue.get("\u0000unknown") ?? [])];
    }
    /** Every attachment resource with the roles it names (read once). */
    attachments(): Array<{ r: PolicyResource; roles: string; targets: string[] | typeof UNKNOWN; arns: () => unknown }> {
        if (!this.attachmentsCache) {
            this.attachmentsCache = [];
            for (const [type, form] of Object.entries(ATTACHMENT_FORMS)) for (const r of this.ofType(type)) {
                const targets = known(() => r.props[form.roles]);
                let arns: unknown;
                this.attachmentsCache.push({ r, roles: form.roles, targets: targets === UNKNOWN ? UNKNOWN : asArray(targets as string | string[]).map(String), arns: () => (arns ??= known(() => r.props[form.arns])) });
            }
        }
        return this.attachmentsCache;
    }
    private rolePoliciesCache?: { byTarget: Map<string, PolicyResource[]>; unknown: PolicyResource[]; named: PolicyResource[] };
    /** RolePolicy resources by the role they name; those whose role is unknown yet. */
    rolePolicies(): { byTarget: Map<string, PolicyResource[]>; unknown: PolicyResource[]; named: PolicyResource[] } {
        if (!this.rolePoliciesCache) {
            const byTarget = new Map<string, PolicyResource[]>(); const unknown: PolicyResource[] = []; const named: PolicyResource[] = [];
            for (const p of this.ofType("aws:iam/rolePolicy:RolePolicy")) {
                const target = get(() => p.props.role);
                if (target === UNKNOWN) { unknown.push(p); continue; }
                if (target === undefined) continue;
                named.push(p);
                byTarget.set(String(target), [...(byTarget.get(String(target)) ?? []), p]);
            }
            this.rolePoliciesCache = { byTarget, unknown, named };
        }
        return this.rolePoliciesCache;
    }
    policies(): Array<{ p: PolicyResource; arn: unknown }> {
        return (this.policiesCache ??= this.ofType("aws:iam/policy:Policy").map((p) => ({ p, arn: get(() => p.props.arn) })));
    }
}

/** ARNs of the resources tagged `tag: value` in a stack (see StackIndex.taggedArns). */
function taggedArns(resources: Stack, tag: string, value: string, read: (r: PolicyResource) => unknown = (r) => r.props.arn): unknown[] {
    return resources.flatMap((r) => {
        const t = effectiveTags(r);
        if (t === UNKNOWN) return [UNKNOWN];
        return t[tag] === value ? [get(() => read(r))] : [];
    }).filter((a) => a !== undefined);
}

/** The names a role is referred to by (RolePolicy.role, attachments): its name and id. */
function roleNames(role: PolicyResource): string[] {
    return [get(() => role.props.name), get(() => role.props.id)].filter((x): x is string => typeof x === "string" && x !== "");
}

interface Granted { where: string; statements: Statement[] }

/** Inline policy documents of a role: its RolePolicy resources and inlinePolicies (UNKNOWN if not matched yet). */
function policiesOf(ix: StackIndex, role: PolicyResource, d: Deferrals): Granted[] {
    const names = roleNames(role);
    const out: Granted[] = [];
    const { byTarget, unknown, named } = ix.rolePolicies();
    for (const p of unknown) d.defer(`${label(p)}.role`);
    if (names.length === 0) for (const p of named) d.defer(`${label(p)}.role`);
    for (const p of [...new Set(names.flatMap((n) => byTarget.get(n) ?? []))]) {
        const doc = known(() => p.props.policy);
        if (doc === UNKNOWN) { d.defer(`${label(p)}.policy`); continue; }
        out.push({ where: label(p), statements: statementsOf(doc) ?? [] });
    }
    const inline = known(() => role.props.inlinePolicies);
    if (inline === UNKNOWN) d.defer(`${label(role)}.inlinePolicies`);
    else asArray(inline as any[]).forEach((x: any, i: number) => out.push({ where: `${label(role)} inlinePolicies[${i}]`, statements: statementsOf(x?.policy) ?? [] }));
    return out;
}

/**
 * Resources that attach managed policies to roles, with the properties naming the roles and the
 * policies (@pulumi/aws 7: RolePolicyAttachment, PolicyAttachment, RolePolicyAttachmentsExclusive;
 * Role.managedPolicyArns is read from the role). RolePoliciesExclusive only names which inline
 * RolePolicy resources may exist: it adds no document.
 */
const ATTACHMENT_FORMS: Readonly<Record<string, { roles: string; arns: string }>> = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": { roles: "role", arns: "policyArn" },
    "aws:iam/policyAttachment:PolicyAttachment": { roles: "roles", arns: "policyArn" },
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": { roles: "roleName", arns: "policyArns" },
};

/**
 * Every identity-policy document that reaches a role: inline ones, and each managed policy attached
 * in any form. A customer-managed policy is resolved to this stack's aws.iam.Policy of that ARN and
 * its document judged like an inline one; one the stack does not define is reported (what it grants
 * cannot be seen). AWS-managed policies on a researcher's role are reported here; on a role acting
 * for them they are judged by iam-managed-policies-allowlisted / iam-attachments-match-roles.
 */
function documentsOf(ix: StackIndex, role: PolicyResource, d: Deferrals, report: ReportViolation, who: string, researcherRole: boolean): Granted[] {
    const out = policiesOf(ix, role, d);
    const names = roleNames(role);
    const attached: Array<{ via: PolicyResource; arn: string }> = [];
    const own = known(() => role.props.managedPolicyArns);
    if (own === UNKNOWN) d.defer(`${label(role)}.managedPolicyArns`);
    else for (const arn of asArray(own as string[])) attached.push({ via: role, arn: String(arn) });
    for (const { r, roles, targets, arns: readArns } of ix.attachments()) {
        if (targets === UNKNOWN) { d.defer(`${label(r)}.${roles}`); continue; }
        if (targets.length === 0) continue;
        if (names.length === 0) { d.defer(`${label(r)}.${roles} (the name of ${label(role)} is unknown)`); continue; }
        if (!targets.some((t) => names.includes(t))) continue;
        const arns = readArns();
        if (arns === UNKNOWN) { d.defer(`${label(r)}.${ATTACHMENT_FORMS[r.type].arns}`); continue; }
        for (const arn of asArray(arns as string | string[])) attached.push({ via: r, arn: String(arn) });
    }
    if (attached.length === 0) return out;
    const policies = ix.policies();
    for (const { via, arn } of attached) {
        const managed = awsManagedPolicyName(arn);
        if (managed !== undefined) {
            if (researcherRole) report(`${who} has ${label(via)} attaching the AWS-managed policy ${managed}, which is written for every principal of an account, not one researcher; write the researcher's grants inline, scoped to them.`, via.urn);
            continue;
        }
        const match = policies.find((x) => x.arn === arn);
        if (!match) {
            const unknown = policies.filter((x) => x.arn === UNKNOWN);
            if (unknown.length) { for (const x of unknown) d.defer(`${label(x.p)}.arn (to match ${label(via)}'s ${arn})`); continue; }
            report(`${who} has ${label(via)} attaching ${arn}, a customer-managed policy this stack does not define, so what it grants cannot be judged; define it in this stack (aws.iam.Policy) or write the grant inline.`, via.urn);
            continue;
        }
        const doc = known(() => match.p.props.policy);
        if (doc === UNKNOWN) { d.defer(`${label(match.p)}.policy`); continue; }
        out.push({ where: `${label(match.p)} (attached by ${label(via)})`, statements: statementsOf(doc) ?? [] });
    }
    return out;
}

/** The documents with `${aws:PrincipalTag/<key>}` in their resources resolved for this role (lib/policy-document.ts resolvePrincipalTags). */
function withPrincipalTags(docs: Granted[], role: PolicyResource): Granted[] {
    const tags = effectiveTags(role);
    const trust = statementsOf(known(() => role.props.assumeRolePolicy));
    return docs.map((g) => ({ ...g, statements: g.statements.map((s) => resolvePrincipalTags(s, tags === UNKNOWN ? {} : tags, trust)) }));
}

/** Does the statement pin `aws:ResourceTag/<tag>` (or a service's ResourceTag) to exactly `id`? */
function pinnedToResearcher(s: Statement, tag: string, id: string): boolean {
    return conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && new RegExp(`^[a-z0-9-]+:ResourceTag/${tag}$`, "i").test(key) && values.length > 0 && values.every((v) => v === id));
}

/**
 * The one caller session a trust statement pins, or undefined when it leaves the session open. For
 * an assumed role aws:userid is "<role id>:<session name>" (IAM policy reference, "AWS global
 * condition context keys", aws:userid). Under StringLike the role-id part may be a wildcard (the
 * Principal names the one role, and role ids hold no ":"), but the session part must be exact: no
 * "*" or "?" ("*:*@uni.example" lets everyone of that domain in). Under StringEquals the value is
 * literal. Several values, operators that do not pin (IfExists, Not..., IgnoreCase) or sessions that
 * differ leave it open.
 */
export function sessionPin(st: Statement): string | undefined {
    const entries = conditionEntries(st).filter(([, key]) => key.toLowerCase() === "aws:userid");
    if (entries.length === 0) return undefined;
    const sessions = new Set<string>();
    for (const [op, , values] of entries) {
        if (op !== "StringEquals" && op !== "StringLike") return undefined;
        for (const v of values) {
            const m = /^([^:]*):([^:]+)$/.exec(v);
            if (!m) return undefined;
            if (op === "StringLike" && /[*?]/.test(m[2])) return undefined;
            sessions.add(m[2]);
        }
    }
    return sessions.size === 1 ? [...sessions][0] : undefined;
}

/**
 * An IAM Identity Center permission-set role: Identity Center names each session after the user it
 * signed in (the caller cannot choose it), so a pinned session tells its users apart. On any other
 * role the caller picks the session name (sts:AssumeRole RoleSessionName), so a pin does not.
 */
function isIdentityCenterRole(arn: string): boolean {
    return /^arn:[^:]+:iam::\d{12}:role\/aws-reserved\/sso\.amazonaws\.com\//.test(arn);
}

export const researcherPolicies: StackValidationPolicy[] = [
    {
        name: "researcher-roles-scoped",
        description: "Checks whether each researcher's role (tagged researcher: <id>) is assumed only by that researcher's principal (a shared Identity Center role told apart by an exact session), and the policies that reach it or the roles acting for them (workstation, pods) however attached (inline, RolePolicy, customer-managed through any attachment) reach only that researcher's resources with the actions the design gives them (start, stop, sessions; never IAM), their S3 prefix (plus read-only datasets/), their parameters, the stack key through a service, and the SSH / port-forwarding session documents.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                researcherTag: { type: "string", default: DEFAULTS.researcherTag },
                actingForTags: { type: "array", items: { type: "string" }, default: DEFAULTS.actingForTags, description: "Tag keys whose value names the researcher a service role acts for (their workstation's instance role, their pods' role): its policies get the researcher's data scope." },
                researcherPrincipals: { type: "object", additionalProperties: { type: "string" }, default: DEFAULTS.researcherPrincipals, description: "Optional: researcher id -> the iamPrincipalArn their role must trust." },
                purposeTag: { type: "string", default: DEFAULTS.purposeTag },
                datasetsPurpose: { type: "string", default: DEFAULTS.datasetsPurpose },
                allowedSessionDocuments: { type: "array", items: { type: "string" }, default: DEFAULTS.allowedSessionDocuments },
                sharedActions: { type: "array", items: { type: "string" }, default: DEFAULTS.sharedActions, description: "Actions a researcher may perform on shared (untagged) stack resources, e.g. eks:DescribeCluster to build a kubeconfig, ECR pulls of the institution's image." },
                ownResourceActions: { type: "object", additionalProperties: { type: "array", items: { type: "string" } }, default: DEFAULTS.ownResourceActions, description: "\"<service>:<resource type>\" -> actions (globs) a researcher may perform on their own resources of that type (tagged researcher: <id>); none on any other type, and never on IAM resources." },
                keyActions: { type: "array", items: { type: "string" }, default: DEFAULTS.keyActions, description: "Actions on the stack key a researcher's grants may hold, always with a kms:ViaService condition (kms:CreateGrant also with kms:GrantIsForAWSResource)." },
            },
        },
        validateStack: onStack(async (args, report, d) => {
            const c = { ...DEFAULTS, ...args.getConfig<Partial<ResearcherConfig>>() };
            const all = args.resources;
            const ix = new StackIndex(all);
            const researcherOf = (r: PolicyResource) => { const t = ix.tagsOf(r); return t === UNKNOWN ? UNKNOWN : (t[c.researcherTag] as string | undefined); };
            const roles = ix.ofType("aws:iam/role:Role");
            const trusted = new Map<string, Array<{ id: string; session?: string }>>();
            const datasetBuckets = taggedArns(ix.ofType("aws:s3/bucket:Bucket"), c.purposeTag, c.datasetsPurpose, (b) => b.props.bucket);
            // The key the stack defines, or the existing one (kmsKeyArn) that every key reference names.
            const keys = stackKeyArns(all);
            for (const role of roles) {
                const id = researcherOf(role);
                if (id === UNKNOWN) { d.defer(`${label(role)}.tags`); continue; }
                if (id === undefined) {
                    // A service role acting for a researcher: their data scope, nothing of anyone else's.
                    const t = ix.tagsOf(role) as Record<string, unknown>;
                    const forWhom = c.actingForTags.map((k) => t[k]).find((v): v is string => typeof v === "string" && v !== "");
                    if (forWhom === undefined) continue;
                    const owned = ix.taggedArns(c.researcherTag, forWhom);
                    const who = `${label(role)} (acts for researcher ${forWhom})`;
                    for (const pol of withPrincipalTags(documentsOf(ix, role, d, report, who, false), role)) {
                        for (const s of pol.statements.filter((x) => x.effect === "Allow")) {
                            const problems = await statementProblems(s, { id: forWhom, owned, datasetBuckets, keys, c }, d, `${pol.where} statement '${s.sid}'`);
                            if (problems.length) report(`${who}: ${pol.where} statement '${s.sid}' ${problems.join("; ")}.`, role.urn);
                        }
                    }
                    continue;
                }
                const where = `${label(role)} (researcher ${id})`;
                // Trust: exactly the researcher's principal.
                const trust = known(() => role.props.assumeRolePolicy);
                if (trust === UNKNOWN) d.defer(`${label(role)}.assumeRolePolicy`);
                else {
                    const allows = (statementsOf(trust) ?? []).filter((s) => s.effect === "Allow");
                    const principals = allows.flatMap((s) => principalsOf(s.principal).aws);
                    // A role several people share (an Identity Center permission set) is told apart by the caller's
                    // session: aws:userid is "<role id>:<session name>" for an assumed role (IAM policy reference,
                    // "AWS global condition context keys": aws:userid). A pinned session makes the principal distinct.
                    for (const st of allows) {
                        const session = sessionPin(st);
                        for (const p of principalsOf(st.principal).aws) {
                            trusted.set(p, [...(trusted.get(p) ?? []), { id, session }]);
                            // A permission set is assigned to many people by design: its role is shared even when this
                            // stack names it for one researcher only, so the trust must pin that researcher's session.
                            if (isIdentityCenterRole(p) && session === undefined) report(`${where} trusts the IAM Identity Center permission-set role ${p} without pinning one exact caller session (Condition StringEquals/StringLike aws:userid "*:<their session name>", no wildcard in the session): everyone assigned that permission set could act as ${id}.`, role.urn);
                        }
                    }
                    const want = c.researcherPrincipals[id];
                    if (want !== undefined && (principals.length !== 1 || principals[0] !== want)) report(`${where} must trust exactly ${want} (researcherPrincipals), found ${principals.join(", ") || "none"}.`, role.urn);
                }
                // Every policy that reaches the role, however attached, judged statement by statement.
                const owned = ix.taggedArns(c.researcherTag, id);
                for (const pol of withPrincipalTags(documentsOf(ix, role, d, report, where, true), role)) {
                    for (const s of pol.statements.filter((x) => x.effect === "Allow")) {
                        const problems = await statementProblems(s, { id, owned, datasetBuckets, keys, c }, d, `${pol.where} statement '${s.sid}'`);
                        if (problems.length) report(`${where}: ${pol.where} statement '${s.sid}' ${problems.join("; ")}.`, role.urn);
                    }
                }
            }
            for (const [principal, entries] of trusted) {
                const ids = [...new Set(entries.map((e) => e.id))];
                if (ids.length < 2) continue;
                if (!isIdentityCenterRole(principal)) {
                    report(`The roles of researchers ${ids.join(" and ")} trust the same principal ${principal}, which is not an IAM Identity Center permission-set role: whoever assumes it chooses their own session name (sts:AssumeRole RoleSessionName), so a session pin cannot tell them apart; give each researcher their own principal.`);
                    continue;
                }
                const open = entries.filter((e) => e.session === undefined).map((e) => e.id);
                if (open.length) { report(`The roles of researchers ${ids.join(" and ")} trust the same principal ${principal}, and ${[...new Set(open)].join(" and ")}'s trust does not pin one exact caller session (Condition StringEquals/StringLike aws:userid "*:<their session name>", no wildcard in the session): everyone who may use ${principal} could act as ${[...new Set(open)].join(" and ")}; each researcher acts only as themselves.`); continue; }
                const bySession = new Map<string, string[]>();
                for (const e of entries) bySession.set(e.session!, [...new Set([...(bySession.get(e.session!) ?? []), e.id])]);
                for (const [session, same] of bySession) {
                    if (same.length > 1) report(`The roles of researchers ${same.join(" and ")} trust the same principal ${principal} with the same session (aws:userid ${session}): each researcher acts only as themselves.`);
                }
            }
        }),
    },
];

interface Scope {
    id: string;
    owned: unknown[];
    datasetBuckets: unknown[];
    keys: unknown[];
    c: ResearcherConfig;
}

/** Does the statement pin kms:ViaService to named services (no value that is only a wildcard)? */
function viaServicePinned(s: Statement): boolean {
    const values = conditionEntries(s).filter(([op, key]) => isPinningOperator(op) && key.toLowerCase() === "kms:viaservice").flatMap(([, , v]) => v);
    return values.length > 0 && values.every((v) => /^[a-z0-9-]+\./i.test(v));
}

/** Does the statement require kms:GrantIsForAWSResource "true" (an AWS service creates the grant for the caller)? */
function grantForAwsResource(s: Statement): boolean {
    return conditionEntries(s).some(([op, key, values]) => op === "Bool" && key.toLowerCase() === "kms:grantisforawsresource" && values.length > 0 && values.every((v) => String(v).toLowerCase() === "true"));
}

/** "instance/i-1" -> "instance", "key/abc" -> "key", "log-group:x" -> "log-group". */
function resourceTypeOf(resource: string): string {
    return /^([^/:]*)[/:]/.exec(resource)?.[1] ?? resource;
}

/** What in one statement reaches beyond the researcher. */
async function statementProblems(s: Statement, sc: Scope, d: Deferrals, where: string): Promise<string[]> {
    const out: string[] = [];
    const { id, c } = sc;
    if (s.notActions || s.notResources) return ["uses NotAction/NotResource, which reaches every other action or resource"];
    const expanded = await Promise.all(s.actions.map(async (p) => ({ p, list: p === "*" ? [] : await expandAction(p) })));
    const actions = expanded.flatMap((x) => x.list);
    if (s.actions.includes("*")) out.push(`allows Action "*"`);
    // An action the dataset does not know cannot be judged as allowed: name the actions the design uses.
    const unmatched = expanded.filter((x) => x.p !== "*" && x.list.length === 0).map((x) => x.p);
    if (unmatched.length) out.push(`allows ${few(unmatched)}, which match${unmatched.length === 1 ? "es" : ""} no IAM action, so what ${unmatched.length === 1 ? "it grants" : "they grant"} cannot be judged`);
    const readOnly = actions.every((a) => /^(Read|List)$/.test(a.accessLevel));
    const shared = actions.length > 0 && actions.every((a) => c.sharedActions.some((x) => globMatch(x, a.action)));
    // Actions without resource-level permissions do nothing on a named resource (only Resource "*" grants them).
    const resourceLevel = actions.filter((a) => !a.wildcardOnly);
    for (const res of s.resources) {
        if (res === "*") {
            if (resourceLevel.length) out.push(`allows ${few(resourceLevel.map((a) => a.action))} on "*" (every resource of every researcher)`);
            continue;
        }
        if (res.includes("${aws:userid}") && /:session\//.test(res)) continue; // their own Session Manager sessions
        // session/* pinned to their own sessions by the tag Session Manager puts on each session (AWS Systems
        // Manager user guide, "Additional sample IAM policies for Session Manager", example 4: ssm:resourceTag/aws:ssmmessages:session-id = ${aws:userid}).
        if (/:session\/\*$/.test(res) && conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && key === "ssm:resourceTag/aws:ssmmessages:session-id" && values.length > 0 && values.every((v) => v === "${aws:userid}"))) continue;
        const a = parseArn(res);
        if (!a) { out.push(`names '${res}', which is not an ARN`); continue; }
        if (/[*?]/.test(a.partition) || /[*?]/.test(a.service)) { out.push(`names '${res}', whose wildcard service reaches every service's resources`); continue; }
        // IAM resources are never a researcher's own, their own role included: a grant there rewrites what they may do.
        if (a.service === "iam") {
            if (resourceLevel.length) out.push(`allows ${few(resourceLevel.map((x) => x.action))} on ${res}: IAM resources (their own role too) are never a researcher's to change`);
            continue;
        }
        if (a.service === "ssm") {
            // Judged by the documents the pattern reaches ("arn:aws:ssm:*:*:d*" reaches the shell), not its spelling.
            const other = disallowedSessionDocuments(res, c.allowedSessionDocuments);
            if (other.length) { out.push(`reaches the SSM document${other.length > 1 ? "s" : ""} ${few(other, 3)} through '${res}'; only ${c.allowedSessionDocuments.join(" and ")}`); continue; }
            if (allowedSessionDocuments(res, c.allowedSessionDocuments).length) continue;
            if (a.resource.startsWith("parameter/")) {
                // Their own subtree, spelled before any wildcard.
                if (!literalPrefix(a.resource).includes(`/researchers/${id}/`)) out.push(`reaches the SSM parameter${/[*?]/.test(a.resource) ? "s" : ""} ${a.resource.slice("parameter".length)}, outside .../researchers/${id}/`);
                continue;
            }
        }
        if (a.service === "s3") {
            const [bucket, ...rest] = a.resource.split("/");
            if (sc.datasetBuckets.includes(UNKNOWN)) { d.defer(`${where} (dataset bucket name unknown)`); continue; }
            if (!sc.datasetBuckets.includes(bucket)) { out.push(`reaches the bucket ${bucket}, which is not the dataset bucket`); continue; }
            if (rest.length === 0) {
                // The bucket's region is metadata, not data.
                if (actions.length > 0 && actions.every((x) => x.action === "s3:GetBucketLocation")) continue;
                const prefixes = conditionEntries(s).filter(([op, key]) => isPinningOperator(op) && key.toLowerCase() === "s3:prefix").flatMap(([, , v]) => v);
                // Listing the top level with delimiter "/" returns the names of the top-level prefixes only (S3 ListObjectsV2:
                // keys below a delimiter roll up into CommonPrefixes), never another researcher's keys.
                const delimiters = conditionEntries(s).filter(([op, key]) => isPinningOperator(op) && key.toLowerCase() === "s3:delimiter").flatMap(([, , v]) => v);
                const namesOnly = prefixes.length > 0 && prefixes.every((p) => p === "") && delimiters.length > 0 && delimiters.every((x) => x === "/");
                const ok = namesOnly || (prefixes.length > 0 && prefixes.every((p) => p.startsWith(`researchers/${id}/`) || p.startsWith("datasets/")));
                if (!ok) out.push(`allows ${few(s.actions)} on the whole bucket ${bucket} without a Condition s3:prefix limited to researchers/${id}/ and datasets/`);
                continue;
            }
            const key = rest.join("/");
            if (key.startsWith(`researchers/${id}/`)) continue;
            if (key.startsWith("datasets/")) {
                if (!readOnly) out.push(`allows ${few(actions.filter((x) => !/^(Read|List)$/.test(x.accessLevel)).map((x) => x.action))} on ${bucket}/${key}: datasets/ is read-only`);
                continue;
            }
            out.push(`reaches ${bucket}/${key}, outside researchers/${id}/ and datasets/`);
            continue;
        }
        if (a.service === "kms" && a.resource.startsWith("key/")) {
            // The key only through the service that needs it: used directly it decrypts any ciphertext under it (a
            // data key of another researcher's volume too). kms:GrantIsForAWSResource: "only when an AWS service that is
            // integrated with AWS KMS sends the request on the principal's behalf" (AWS KMS developer guide, "Controlling access to grants").
            const beyond = actions.filter((x) => !c.keyActions.some((k) => globMatch(k, x.action))).map((x) => x.action);
            if (beyond.length) out.push(`allows ${few(beyond)} on the key ${res}; a researcher's grants hold only ${few(c.keyActions, 3)}`);
            if (!viaServicePinned(s)) out.push(`uses the key ${res} without Condition kms:ViaService naming the service (e.g. s3.<region>.amazonaws.com): directly, it decrypts any ciphertext under the key`);
            if (actions.some((x) => x.action.toLowerCase() === "kms:creategrant") && !grantForAwsResource(s)) out.push(`allows kms:CreateGrant on ${res} without Condition Bool kms:GrantIsForAWSResource "true": the researcher could grant the key to any principal`);
            if (sc.keys.includes(UNKNOWN)) { d.defer(`${where} (the stack key ARN is known once the key exists)`); continue; }
            if (!sc.keys.includes(res)) out.push(`uses the key ${res}, not this stack's key`);
            continue;
        }
        // Their own resources (tagged researcher: <id>), or a broad pattern pinned to them by tag: only the
        // actions the design gives a researcher on that type.
        if (sc.owned.includes(res) || (isBroadResource(res) && pinnedToResearcher(s, c.researcherTag, id))) {
            const type = `${a.service}:${resourceTypeOf(a.resource)}`;
            const allowed = Object.entries(c.ownResourceActions).filter(([k]) => globMatch(type, k)).flatMap(([, v]) => v);
            const beyond = resourceLevel.map((x) => x.action).filter((x) => !allowed.some((p) => globMatch(p, x)));
            if (beyond.length) out.push(`allows ${few(beyond)} on ${res}, their own ${type}: a researcher may ${allowed.length ? `only ${few(allowed)}` : "do nothing"} there (ownResourceActions)`);
            continue;
        }
        if (shared) continue;
        if (sc.owned.includes(UNKNOWN)) { d.defer(`${where} (ARNs of resources tagged ${c.researcherTag}: ${id} are known once they exist)`); continue; }
        out.push(`reaches ${res}, which is not tagged ${c.researcherTag}: ${id}`);
    }
    return out;
}
