/**
 * Per-researcher least privilege: a role tagged `researcher: <id>` is assumed by that researcher's
 * principal only, and its policies reach only what is theirs: resources tagged with the same
 * researcher (their workstation), SSM parameters under .../researchers/<id>/, S3 keys under
 * researchers/<id>/ (read/write) and datasets/ (read-only) of the dataset bucket, the stack's key,
 * the SSH and port-forwarding session documents and their own sessions. Roles that act for a
 * researcher without being their identity (the instance role of their workstation, the Pod Identity
 * role of their server and jobs: tagged `archaeo-workstation-of` / `archaeo-pods-of: <id>`) are held
 * to the same data scope; who may assume those is judged by iam-trust-policies-scoped.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { parseArn, principalsOf } from "../lib/arn";
import { expandAction, isBroadResource } from "../lib/iam";
import { conditionEntries, isPinningOperator, Statement, statementsOf } from "../lib/policy-document";
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
};

type Stack = readonly PolicyResource[];

/** ARNs of the stack's resources tagged with `id` (UNKNOWN inside when some are not known yet). */
function ownedArns(resources: Stack, tag: string, id: string): Array<string | typeof UNKNOWN> {
    return resources.filter((r) => { const t = effectiveTags(r); return t !== UNKNOWN && t[tag] === id; }).map((r) => get(() => r.props.arn)).filter((a) => a !== undefined) as Array<string | typeof UNKNOWN>;
}

/** Inline policy documents of a role: its RolePolicy resources and inlinePolicies (UNKNOWN if not matched yet). */
function policiesOf(resources: Stack, role: PolicyResource, d: Deferrals): Array<{ where: string; statements: Statement[] }> {
    const names = [get(() => role.props.name), get(() => role.props.id)].filter((x) => typeof x === "string" && x);
    const out: Array<{ where: string; statements: Statement[] }> = [];
    for (const p of resources.filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy")) {
        const target = get(() => p.props.role);
        if (target === UNKNOWN || (names.length === 0 && target !== undefined)) { d.defer(`${label(p)}.role`); continue; }
        if (!names.includes(target)) continue;
        const doc = known(() => p.props.policy);
        if (doc === UNKNOWN) { d.defer(`${label(p)}.policy`); continue; }
        out.push({ where: label(p), statements: statementsOf(doc) ?? [] });
    }
    const inline = known(() => role.props.inlinePolicies);
    if (inline === UNKNOWN) d.defer(`${label(role)}.inlinePolicies`);
    else asArray(inline as any[]).forEach((x: any, i: number) => out.push({ where: `${label(role)} inlinePolicies[${i}]`, statements: statementsOf(x?.policy) ?? [] }));
    return out;
}

/** Does the statement pin `aws:ResourceTag/<tag>` (or a service's ResourceTag) to exactly `id`? */
function pinnedToResearcher(s: Statement, tag: string, id: string): boolean {
    return conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && new RegExp(`^[a-z0-9-]+:ResourceTag/${tag}$`, "i").test(key) && values.length > 0 && values.every((v) => v === id));
}

/**
 * The caller session a trust statement pins (aws:userid is "<role id>:<session name>" for an assumed
 * role: IAM policy reference, "AWS global condition context keys", aws:userid), as one comparable
 * string; undefined when nothing pins it or a value leaves the session name open ("*", "*:*").
 */
function sessionPin(st: Statement): string | undefined {
    const values = conditionEntries(st).filter(([op, key]) => isPinningOperator(op) && key.toLowerCase() === "aws:userid").flatMap(([, , v]) => v);
    if (values.length === 0 || values.some((v) => !/[^*?]/.test(v.split(":").pop() ?? ""))) return undefined;
    return values.map((v) => v.split(":").pop()!).sort().join(",");
}

export const researcherPolicies: StackValidationPolicy[] = [
    {
        name: "researcher-roles-scoped",
        description: "Checks whether each researcher's role (tagged researcher: <id>) is assumed only by that researcher's principal (a shared role told apart by a pinned session), and its policies, and those of the roles acting for them (workstation, pods), reach only that researcher's resources, their S3 prefix (plus read-only datasets/), their parameters, the stack key and the SSH / port-forwarding session documents.",
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
            },
        },
        validateStack: onStack(async (args, report, d) => {
            const c = { ...DEFAULTS, ...args.getConfig<Partial<ResearcherConfig>>() };
            const all = args.resources;
            const researcherOf = (r: PolicyResource) => { const t = effectiveTags(r); return t === UNKNOWN ? UNKNOWN : (t[c.researcherTag] as string | undefined); };
            const roles = all.filter((r) => r.type === "aws:iam/role:Role");
            const trusted = new Map<string, Array<{ id: string; session?: string }>>();
            const datasetBuckets = all.filter((r) => r.type === "aws:s3/bucket:Bucket" && (() => { const t = effectiveTags(r); return t !== UNKNOWN && t[c.purposeTag] === c.datasetsPurpose; })())
                .map((b) => get(() => b.props.bucket));
            const keys = all.filter((r) => r.type === "aws:kms/key:Key").map((k) => get(() => k.props.arn));
            for (const role of roles) {
                const id = researcherOf(role);
                if (id === UNKNOWN) { d.defer(`${label(role)}.tags`); continue; }
                if (id === undefined) {
                    // A service role acting for a researcher: their data scope, nothing of anyone else's.
                    const t = effectiveTags(role) as Record<string, unknown>;
                    const forWhom = c.actingForTags.map((k) => t[k]).find((v): v is string => typeof v === "string" && v !== "");
                    if (forWhom === undefined) continue;
                    const owned = ownedArns(all, c.researcherTag, forWhom);
                    for (const pol of policiesOf(all, role, d)) {
                        for (const s of pol.statements.filter((x) => x.effect === "Allow")) {
                            const problems = await statementProblems(s, { id: forWhom, owned, datasetBuckets, keys, c }, d, `${pol.where} statement '${s.sid}'`);
                            if (problems.length) report(`${label(role)} (acts for researcher ${forWhom}): ${pol.where} statement '${s.sid}' ${problems.join("; ")}.`, role.urn);
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
                        for (const p of principalsOf(st.principal).aws) trusted.set(p, [...(trusted.get(p) ?? []), { id, session }]);
                    }
                    const want = c.researcherPrincipals[id];
                    if (want !== undefined && (principals.length !== 1 || principals[0] !== want)) report(`${where} must trust exactly ${want} (researcherPrincipals), found ${principals.join(", ") || "none"}.`, role.urn);
                }
                // Nothing managed: everything a researcher may do is in the inline policies judged here.
                for (const att of all.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment")) {
                    const target = get(() => att.props.role);
                    if (target === UNKNOWN) { d.defer(`${label(att)}.role`); continue; }
                    if (target !== get(() => role.props.name)) continue;
                    const arn = get(() => att.props.policyArn);
                    report(`${where} has ${label(att)} attaching ${arn === UNKNOWN ? "a policy" : awsManagedPolicyName(String(arn)) ?? arn}; a researcher's permissions must be inline and scoped to them.`, att.urn);
                }
                const owned = ownedArns(all, c.researcherTag, id);
                for (const pol of policiesOf(all, role, d)) {
                    for (const s of pol.statements.filter((x) => x.effect === "Allow")) {
                        const problems = await statementProblems(s, { id, owned, datasetBuckets, keys, c }, d, `${pol.where} statement '${s.sid}'`);
                        if (problems.length) report(`${where}: ${pol.where} statement '${s.sid}' ${problems.join("; ")}.`, role.urn);
                    }
                }
            }
            for (const [principal, entries] of trusted) {
                const ids = [...new Set(entries.map((e) => e.id))];
                if (ids.length < 2) continue;
                const open = entries.filter((e) => e.session === undefined).map((e) => e.id);
                if (open.length) { report(`The roles of researchers ${ids.join(" and ")} trust the same principal ${principal}, and ${[...new Set(open)].join(" and ")}'s trust does not pin the caller's session (aws:userid): everyone who may use ${principal} could act as ${[...new Set(open)].join(" and ")}; each researcher acts only as themselves.`); continue; }
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
    owned: Array<string | typeof UNKNOWN>;
    datasetBuckets: unknown[];
    keys: unknown[];
    c: ResearcherConfig;
}

/** What in one statement reaches beyond the researcher. */
async function statementProblems(s: Statement, sc: Scope, d: Deferrals, where: string): Promise<string[]> {
    const out: string[] = [];
    const { id, c } = sc;
    if (s.notActions || s.notResources) return ["uses NotAction/NotResource, which reaches every other action or resource"];
    const actions = (await Promise.all(s.actions.map((p) => (p === "*" ? Promise.resolve([]) : expandAction(p))))).flat();
    if (s.actions.includes("*")) out.push(`allows Action "*"`);
    const readOnly = actions.every((a) => /^(Read|List)$/.test(a.accessLevel));
    const shared = actions.length > 0 && actions.every((a) => c.sharedActions.some((x) => globMatch(x, a.action)));
    for (const res of s.resources) {
        if (res === "*") {
            const resourceLevel = actions.filter((a) => !a.wildcardOnly).map((a) => a.action);
            if (resourceLevel.length) out.push(`allows ${few(resourceLevel)} on "*" (every resource of every researcher)`);
            continue;
        }
        if (res.includes("${aws:userid}") && /:session\//.test(res)) continue; // their own Session Manager sessions
        // session/* pinned to their own sessions by the tag Session Manager puts on each session (AWS Systems
        // Manager user guide, "Additional sample IAM policies for Session Manager", example 4: ssm:resourceTag/aws:ssmmessages:session-id = ${aws:userid}).
        if (/:session\/\*$/.test(res) && conditionEntries(s).some(([op, key, values]) => isPinningOperator(op) && key === "ssm:resourceTag/aws:ssmmessages:session-id" && values.length > 0 && values.every((v) => v === "${aws:userid}"))) continue;
        const a = parseArn(res);
        if (!a) { out.push(`names '${res}', which is not an ARN`); continue; }
        if (a.service === "ssm" && a.resource.startsWith("document/")) {
            if (!c.allowedSessionDocuments.includes(a.resource.slice("document/".length))) out.push(`allows the SSM document ${a.resource.slice("document/".length)}`);
            continue;
        }
        if (a.service === "ssm" && a.resource.startsWith("parameter/")) {
            if (!a.resource.includes(`/researchers/${id}/`)) out.push(`reaches the SSM parameter ${a.resource.slice("parameter".length)}, outside .../researchers/${id}/`);
            continue;
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
            if (sc.keys.includes(UNKNOWN)) { d.defer(`${where} (the stack key ARN is known once the key exists)`); continue; }
            if (!sc.keys.includes(res)) out.push(`uses the key ${res}, not this stack's key`);
            continue;
        }
        if (sc.owned.includes(res)) continue;
        if (isBroadResource(res) && pinnedToResearcher(s, c.researcherTag, id)) continue;
        if (shared) continue;
        if (sc.owned.includes(UNKNOWN)) { d.defer(`${where} (ARNs of resources tagged ${c.researcherTag}: ${id} are known once they exist)`); continue; }
        out.push(`reaches ${res}, which is not tagged ${c.researcherTag}: ${id}`);
    }
    return out;
}
