/**
 * `npm run gen:replace-rules`: regenerates tools/replace-rules/replace-rules.json, the properties whose
 * change makes a provider replace a resource, for every resource type this stack creates, from the
 * providers' own source:
 *
 * - AWS: terraform-provider-aws's schemas (`ForceNew: true`, nested blocks included; plugin-framework
 *   resources' `RequiresReplace` plan modifiers; CustomizeDiff `ForceNewIf`/`ForceNewIfChange`/
 *   `diff.ForceNew` and ModifyPlan `RequiresReplace` recorded as conditional), read from
 *   lonegunmanb/terraform-provider-aws-index, which stores each function, method and variable of a
 *   terraform-provider-aws release as its own file (`--tf-index`, a git directory, e.g. the `fetch`
 *   mirror). Terraform attribute names become the Pulumi property names as the bridge makes them
 *   (snake_case -> camelCase; a list or set of more than one item pluralised; a one-item block an
 *   object), each checked against @pulumi/aws's declaration files.
 * - random: terraform-provider-random's `random_password` schema (plugin framework), `--random`.
 * - Kubernetes: pulumi-kubernetes provider/pkg/provider/diff.go's `forceNew` table (plus `.metadata.name`
 *   and `.namespace` for every kind, and ConfigMap data unless enableConfigMapMutable) and
 *   helm_release.go's `.name`/`.namespace`, `--kubernetes`.
 * - docker: pulumi-docker's native Image Diff never reports a replacement, `--docker`.
 *
 * Nothing here runs in the tests: they read the committed JSON (and check its Pulumi names against the
 * installed SDKs). `--check` compares instead of writing and exits 1 on a difference.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { assignedExpr, field, funcBody, GoNode, isTrue, parseExpr, returnExpr, skipGroup, Tok, tokenize } from "./go";
import { InputShape, nestedShape, resourceArgs } from "./dts";

export const TABLE_FILE = path.join(__dirname, "replace-rules.json");

/** Pulumi resource token -> Terraform resource type, for every bridged type the program creates. */
export const AWS_TYPES: Readonly<Record<string, string>> = {
    "aws:backup/plan:Plan": "aws_backup_plan",
    "aws:backup/selection:Selection": "aws_backup_selection",
    "aws:backup/vault:Vault": "aws_backup_vault",
    "aws:budgets/budget:Budget": "aws_budgets_budget",
    "aws:budgets/budgetAction:BudgetAction": "aws_budgets_budget_action",
    "aws:cloudtrail/trail:Trail": "aws_cloudtrail",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cognito/user:User": "aws_cognito_user",
    "aws:cognito/userPool:UserPool": "aws_cognito_user_pool",
    "aws:cognito/userPoolClient:UserPoolClient": "aws_cognito_user_pool_client",
    "aws:cognito/userPoolDomain:UserPoolDomain": "aws_cognito_user_pool_domain",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": "aws_dlm_lifecycle_policy",
    "aws:ebs/volume:Volume": "aws_ebs_volume",
    "aws:ec2/instance:Instance": "aws_instance",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/volumeAttachment:VolumeAttachment": "aws_volume_attachment",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:ec2transitgateway/instanceState:InstanceState": "aws_ec2_instance_state",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "aws_ecr_lifecycle_policy",
    "aws:ecr/repository:Repository": "aws_ecr_repository",
    "aws:efs/accessPoint:AccessPoint": "aws_efs_access_point",
    "aws:efs/fileSystem:FileSystem": "aws_efs_file_system",
    "aws:efs/mountTarget:MountTarget": "aws_efs_mount_target",
    "aws:eks/accessEntry:AccessEntry": "aws_eks_access_entry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "aws_eks_access_policy_association",
    "aws:eks/addon:Addon": "aws_eks_addon",
    "aws:eks/cluster:Cluster": "aws_eks_cluster",
    "aws:eks/nodeGroup:NodeGroup": "aws_eks_node_group",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "aws_eks_pod_identity_association",
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "aws_s3_bucket_server_side_encryption_configuration",
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
};

/** Kubernetes kinds the program creates (group/version/kind as pulumi-kubernetes' diff.go keys them). */
export const KUBERNETES_TYPES: readonly string[] = [
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
    "kubernetes:karpenter.sh/v1:NodePool",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:storage.k8s.io/v1:StorageClass",
];

export interface ConditionalRule {
    /** Pulumi property path. */
    readonly path: string;
    /** The upstream construct: ForceNewIf, ForceNewIfChange, CustomizeDiff ForceNew, RequiresReplaceIf..., ModifyPlan RequiresReplace. */
    readonly kind: string;
    /** Its condition as written upstream (shortened). */
    readonly condition: string;
}

export interface ResourceRules {
    /** The upstream resource (Terraform type, or the provider file). */
    readonly upstream: string;
    /** Where its schema was read (file in the source repository). */
    readonly schema: string;
    /** Pulumi property paths whose change replaces the resource (a nested path: that field of a block; lists unindexed). */
    readonly forceNew: readonly string[];
    readonly conditional?: readonly ConditionalRule[];
    /** Paths whose change the provider ignores entirely (no diff). */
    readonly ignored?: readonly string[];
    /** Replace-forcing Terraform attributes with no Pulumi input (computed-only ones are left out). */
    readonly unmapped?: readonly string[];
    readonly note?: string;
}

export interface ReplaceRulesTable {
    readonly generatedBy: string;
    readonly sources: Readonly<Record<string, { repository: string; commit: string; version: string; read: string }>>;
    readonly resources: Readonly<Record<string, ResourceRules>>;
}

// ---------------------------------------------------------------------------------------------------
// Reading sources out of git directories (the `fetch` mirrors are bare repositories)

export interface GitSource { dir: string; commit: string }

function gitShow(src: GitSource, file: string): string | undefined {
    const r = spawnSync("git", ["--git-dir", src.dir, "show", `${src.commit}:${file}`], { encoding: "utf8", maxBuffer: 64 << 20 });
    return r.status === 0 ? r.stdout : undefined;
}

function gitRev(dir: string, rev: string): string {
    const r = spawnSync("git", ["--git-dir", dir, "rev-parse", rev], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git --git-dir ${dir} rev-parse ${rev}: ${r.stderr}`);
    return r.stdout.trim();
}

function gitDescribe(dir: string, commit: string): string {
    const r = spawnSync("git", ["--git-dir", dir, "describe", "--tags", commit], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : "(untagged)";
}

function gitSubject(dir: string, commit: string): string {
    return spawnSync("git", ["--git-dir", dir, "log", "-1", "--format=%s", commit], { encoding: "utf8" }).stdout.trim();
}

// ---------------------------------------------------------------------------------------------------
// Resolving Go symbols

/** A Go file's tokens and its imports (alias -> package path inside the provider, e.g. internal/tags). */
interface GoFile { tokens: Tok[]; imports: Map<string, string>; pkg: string; file: string }

interface SymbolSource {
    /** The file holding `func name` / `var name` / method `recv.name` in a package, if any. */
    func(pkg: string, name: string): GoFile | undefined;
    variable(pkg: string, name: string): GoFile | undefined;
    method(pkg: string, recv: string, name: string): GoFile | undefined;
    type(pkg: string, name: string): GoFile | undefined;
}

const PROVIDER_MODULE = "github.com/hashicorp/terraform-provider-aws/";

function parseImports(tokens: Tok[], modulePrefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (let i = 0; i < tokens.length; i++) {
        if (tokens[i].text !== "import") continue;
        const specs: Tok[][] = [];
        if (tokens[i + 1]?.text === "(") {
            const end = skipGroup(tokens, i + 1);
            let cur: Tok[] = [];
            for (let j = i + 2; j < end - 1; j++) {
                if (tokens[j].nl && cur.length) { specs.push(cur); cur = []; }
                cur.push(tokens[j]);
            }
            if (cur.length) specs.push(cur);
            i = end;
        } else specs.push([tokens[i + 1], tokens[i + 2]].filter(Boolean));
        for (const s of specs) {
            const str = s.find((x) => x.kind === "string");
            if (!str) continue;
            const alias = s[0].kind === "ident" ? s[0].text : str.text.split("/").pop()!;
            out.set(alias, str.text.startsWith(modulePrefix) ? str.text.slice(modulePrefix.length) : `std:${str.text}`);
        }
    }
    return out;
}

/** lonegunmanb/terraform-provider-aws-index: index/<pkg>/{func,var,method,type}.<name>.goindex. */
class TfIndexSource implements SymbolSource {
    private cache = new Map<string, GoFile | undefined>();
    constructor(readonly src: GitSource) {}
    private load(pkg: string, file: string): GoFile | undefined {
        const p = `index/${pkg}/${file}`;
        if (!this.cache.has(p)) {
            const text = gitShow(this.src, p);
            if (text === undefined) this.cache.set(p, undefined);
            else {
                const tokens = tokenize(text);
                this.cache.set(p, { tokens, imports: parseImports(tokens, PROVIDER_MODULE), pkg, file: p });
            }
        }
        return this.cache.get(p);
    }
    func(pkg: string, name: string) { return this.load(pkg, `func.${name}.goindex`); }
    variable(pkg: string, name: string) { return this.load(pkg, `var.${name}.goindex`); }
    method(pkg: string, recv: string, name: string) { return this.load(pkg, `method.${recv}.${name}.goindex`); }
    type(pkg: string, name: string) { return this.load(pkg, `type.${name}.goindex`); }
}

/** A package's whole .go files (terraform-provider-random), searched by declaration. */
class GoPackageSource implements SymbolSource {
    private files = new Map<string, GoFile[]>();
    constructor(readonly src: GitSource, readonly modulePrefix: string) {}
    private pkgFiles(pkg: string): GoFile[] {
        let list = this.files.get(pkg);
        if (!list) {
            const r = spawnSync("git", ["--git-dir", this.src.dir, "ls-tree", "--name-only", `${this.src.commit}:${pkg}`], { encoding: "utf8" });
            list = r.stdout.split("\n").filter((f) => f.endsWith(".go") && !f.endsWith("_test.go")).map((f) => {
                const tokens = tokenize(gitShow(this.src, `${pkg}/${f}`)!);
                return { tokens, imports: parseImports(tokens, this.modulePrefix), pkg, file: `${pkg}/${f}` };
            });
            this.files.set(pkg, list);
        }
        return list;
    }
    private find(pkg: string, test: (t: Tok[], i: number) => boolean): GoFile | undefined {
        return this.pkgFiles(pkg).find((f) => f.tokens.some((_, i) => test(f.tokens, i)));
    }
    func(pkg: string, name: string) { return this.find(pkg, (t, i) => t[i].text === "func" && t[i + 1]?.text === name); }
    variable(pkg: string, name: string) { return this.find(pkg, (t, i) => (t[i].text === "var" || t[i].text === "const") && t[i + 1]?.text === name); }
    method(pkg: string, recv: string, name: string) {
        return this.find(pkg, (t, i) => t[i].text === "func" && t[i + 1]?.text === "(" && t.slice(i + 2, i + 6).some((x) => x.text === recv) && t[skipGroup(t, i + 1)]?.text === name);
    }
    type(pkg: string, name: string) { return this.find(pkg, (t, i) => t[i].text === "type" && t[i + 1]?.text === name); }
}

/** Terraform's attribute-name constants (names.AttrKMSKeyID = "kms_key_id"): PascalCase with these acronyms, to snake_case. */
const ACRONYMS = ["ARNs", "ARN", "IDs", "ID", "IAM", "IOPS", "IPv4", "IPv6", "IP", "JSON", "KMS", "DNS", "S3", "SNS", "SQS", "SSE", "URIs", "URI", "URLs", "URL", "VPC", "CIDR", "EBS", "EC2", "EKS", "AMI", "TLS", "HTTP", "HTTPS", "SSM", "SSL", "ACL", "API", "AZ", "CA", "DB", "OIDC", "SAML", "MFA"];
export function attrConstName(pascal: string): string {
    const parts: string[] = [];
    let i = 0;
    while (i < pascal.length) {
        const acr = ACRONYMS.find((a) => pascal.startsWith(a, i) && !/[a-z]/.test(pascal[i + a.length] ?? ""));
        if (acr) { parts.push(acr.toLowerCase()); i += acr.length; continue; }
        const m = /^[A-Z]?[a-z0-9]+|^[A-Z]+(?![a-z])/.exec(pascal.slice(i));
        if (!m) throw new Error(`cannot split attribute constant ${pascal}`);
        parts.push(m[0].toLowerCase());
        i += m[0].length;
    }
    return parts.join("_");
}

interface Ctx {
    src: SymbolSource;
    file: GoFile;
    /** The function body the expression sits in: its local variables resolve there first. */
    scope?: [number, number];
    /** Functions being expanded (a recursive schema, e.g. aws_budgets_budget's filter expressions, stops there). */
    active?: ReadonlySet<string>;
}

/** Follows identifiers and calls to the composite literal or string they stand for (a few levels). */
function resolve(n: GoNode | undefined, ctx: Ctx, depth = 0): { node: GoNode | undefined; ctx: Ctx } {
    if (!n || depth > 8) return { node: n, ctx };
    if (n.kind === "ident") {
        const [a, b] = n.name.includes(".") ? n.name.split(".") : ["", n.name];
        if (a === "names" && b.startsWith("Attr")) return { node: { kind: "string", value: attrConstName(b.slice(4)) }, ctx };
        if (!a && ctx.scope) {
            const local = assignedExpr(ctx.file.tokens, b, ctx.scope[0], ctx.scope[1]);
            if (local) return resolve(local, ctx, depth + 1);
        }
        const pkg = a ? ctx.file.imports.get(a) : ctx.file.pkg;
        if (!pkg || pkg.startsWith("std:")) return { node: n, ctx };
        const f = ctx.src.variable(pkg, b);
        if (!f) return { node: n, ctx };
        const v = assignedExpr(f.tokens, b);
        return resolve(v, { src: ctx.src, file: f, active: ctx.active }, depth + 1);
    }
    if (n.kind === "call") {
        if (["maps.Clone", "tfmaps.ApplyToAllValues"].includes(n.fn)) return resolve(n.args[0], ctx, depth + 1);
        const [a, b] = n.fn.includes(".") ? n.fn.split(".") : ["", n.fn];
        const pkg = a ? ctx.file.imports.get(a) : ctx.file.pkg;
        if (!pkg || pkg.startsWith("std:")) return { node: n, ctx };
        const key = `${pkg}.${b}`;
        if (ctx.active?.has(key)) return { node: { kind: "other", text: `recursive ${key}` }, ctx };
        const active = new Set([...(ctx.active ?? []), key]);
        const f = ctx.src.func(pkg, b);
        const body = f && funcBody(f.tokens, b);
        if (f && body) return resolve(returnExpr(f.tokens, body), { src: ctx.src, file: f, scope: body, active }, depth + 1);
        // A variable holding the function: `var TagsSchema = sync.OnceValue(func() *schema.Schema { return ... })`.
        const v = ctx.src.variable(pkg, b);
        if (!v) return { node: n, ctx };
        let fn = assignedExpr(v.tokens, b);
        if (fn?.kind === "call" && /^sync\.OnceValues?$/.test(fn.fn)) fn = fn.args[0];
        const vctx: Ctx = { src: ctx.src, file: v, active };
        const called = fn?.kind === "func" ? { node: fn, ctx: vctx } : resolve(fn, vctx, depth + 1);
        const lit = called.node && funcLiteral(called.node);
        if (!lit) return { node: n, ctx };
        return resolve(returnExpr(lit.tokens, lit.body), { src: ctx.src, file: { ...called.ctx.file, tokens: lit.tokens }, scope: lit.body, active }, depth + 1);
    }
    return { node: n, ctx };
}

function keyName(k: GoNode | undefined, ctx: Ctx): string | undefined {
    const r = resolve(k, ctx).node;
    return r?.kind === "string" ? r.value : undefined;
}

/** The statements of a func literal node (its tokens), for `return` and call scans. */
function funcLiteral(n: GoNode): { tokens: Tok[]; body: [number, number] } | undefined {
    if (n.kind !== "func") return undefined;
    const tokens = tokenize(n.text);
    let j = 1;
    j = skipGroup(tokens, j);
    while (tokens[j] && tokens[j].text !== "{") j = tokens[j].text === "(" ? skipGroup(tokens, j) : j + 1;
    return { tokens, body: [j, skipGroup(tokens, j)] };
}

const short = (s: string) => (s.length > 240 ? `${s.slice(0, 237)}...` : s).replace(/\s+/g, " ");

// ---------------------------------------------------------------------------------------------------
// Terraform schemas -> attribute trees

interface Attr {
    name: string;
    /** list/set/map/string/... ; "object" for a single nested block. */
    container: "list" | "set" | "map" | "object" | "scalar";
    maxOne: boolean;
    settable: boolean;
    forceNew: boolean;
    conditional: Array<{ kind: string; condition: string }>;
    children: Attr[];
}

function sdkSchemaMap(n: GoNode | undefined, ctx: Ctx): Attr[] {
    const r = resolve(n, ctx);
    if (r.node?.kind !== "composite") throw new Error(`schema map not found (${r.node ? JSON.stringify(r.node).slice(0, 120) : "nothing"}) in ${ctx.file.file}`);
    return r.node.elems.map((e) => {
        const name = keyName(e.key, r.ctx);
        if (!name) throw new Error(`schema key ${JSON.stringify(e.key).slice(0, 80)} unresolved in ${r.ctx.file.file}`);
        return sdkAttr(name, e.value, r.ctx);
    });
}

function sdkAttr(name: string, n: GoNode, ctx0: Ctx): Attr {
    const { node, ctx } = resolve(n, ctx0);
    const attr: Attr = { name, container: "scalar", maxOne: false, settable: false, forceNew: false, conditional: [], children: [] };
    if (node?.kind !== "composite") { attr.settable = true; attr.conditional.push({ kind: "unresolved", condition: `schema of '${name}' not read: ${JSON.stringify(node).slice(0, 100)}` }); return attr; }
    const type = field(node, "Type");
    const t = type?.kind === "ident" ? type.name : "";
    attr.container = t.endsWith("TypeList") ? "list" : t.endsWith("TypeSet") ? "set" : t.endsWith("TypeMap") ? "map" : "scalar";
    const max = field(node, "MaxItems");
    attr.maxOne = max?.kind === "lit" && max.text === "1";
    attr.settable = isTrue(field(node, "Optional")) || isTrue(field(node, "Required"));
    attr.forceNew = isTrue(field(node, "ForceNew"));
    const elem = resolve(field(node, "Elem"), ctx);
    if (elem.node?.kind === "composite") {
        if (/(^|\.)Resource$/.test(elem.node.type)) {
            const sch = field(elem.node, "Schema");
            if (sch) attr.children = sdkSchemaMap(sch, elem.ctx);
            else {
                const sf = field(elem.node, "SchemaFunc");
                if (sf) attr.children = sdkSchemaMap(schemaFuncValue(sf), elem.ctx);
            }
        } else if (/(^|\.)Schema$/.test(elem.node.type) && isTrue(field(elem.node, "ForceNew"))) attr.forceNew = true;
    }
    return attr;
}

/** `SchemaFunc: name` or `SchemaFunc: func() map[...]... { return ... }`: the schema map expression. */
function schemaFuncValue(sf: GoNode): GoNode | undefined {
    if (sf.kind === "func") {
        const lit = funcLiteral(sf)!;
        let r = returnExpr(lit.tokens, lit.body);
        if (r?.kind === "ident" && !r.name.includes(".")) r = assignedExpr(lit.tokens, r.name, lit.body[0], lit.body[1]) ?? r;
        return r;
    }
    if (sf.kind === "ident") return { kind: "call", fn: sf.name, args: [] };
    return sf;
}

/** ForceNew rules in a resource's CustomizeDiff (customdiff helpers, or diff.ForceNew calls in its functions). */
function customizeDiffRules(n: GoNode | undefined, ctx: Ctx, out: Array<{ attr: string; kind: string; condition: string }>, depth = 0): void {
    if (!n || depth > 4) return;
    if (n.kind === "call") {
        const fn = n.fn.split(".").pop()!;
        if (fn === "ForceNewIf" || fn === "ForceNewIfChange") {
            const attr = keyName(n.args[0], ctx);
            if (attr) out.push({ attr, kind: fn, condition: short(n.args[1] ? (n.args[1].kind === "func" ? n.args[1].text : JSON.stringify(n.args[1])) : "") });
            return;
        }
        if (["All", "Sequence", "If", "IfValue", "IfValueChange"].includes(fn)) { for (const a of n.args) customizeDiffRules(a, ctx, out, depth + 1); return; }
        // Another helper: scan the function it calls.
        const [a, b] = n.fn.includes(".") ? n.fn.split(".") : ["", n.fn];
        const pkg = a ? ctx.file.imports.get(a) : ctx.file.pkg;
        const f = pkg && !pkg.startsWith("std:") ? ctx.src.func(pkg, b) : undefined;
        const body = f && funcBody(f.tokens, b);
        if (f && body) scanForceNewCalls(f.tokens, body, `${b}()`, { src: ctx.src, file: f }, out);
        return;
    }
    if (n.kind === "func") { const lit = funcLiteral(n)!; scanForceNewCalls(lit.tokens, lit.body, "CustomizeDiff func", ctx, out); return; }
    if (n.kind === "ident") {
        const [a, b] = n.name.includes(".") ? n.name.split(".") : ["", n.name];
        const pkg = a ? ctx.file.imports.get(a) : ctx.file.pkg;
        const f = pkg && !pkg.startsWith("std:") ? ctx.src.func(pkg, b) : undefined;
        const body = f && funcBody(f.tokens, b);
        if (f && body) scanForceNewCalls(f.tokens, body, b, { src: ctx.src, file: f }, out);
    }
}

function scanForceNewCalls(t: Tok[], body: [number, number], where: string, ctx: Ctx, out: Array<{ attr: string; kind: string; condition: string }>): void {
    for (let i = body[0]; i < body[1] - 2; i++) {
        if (t[i].text === "ForceNew" && t[i - 1]?.text === "." && t[i + 1]?.text === "(") {
            const arg = parseExpr(t, i + 2).node;
            const attr = keyName(arg, ctx) ?? (arg.kind === "string" ? arg.value : undefined);
            if (attr) out.push({ attr: attr.replace(/\.0\./g, "."), kind: "CustomizeDiff ForceNew", condition: `diff.ForceNew in ${where}` });
        }
        if ((t[i].text === "ForceNewIf" || t[i].text === "ForceNewIfChange") && t[i + 1]?.text === "(") {
            const arg = parseExpr(t, i + 2).node;
            const attr = keyName(arg, ctx);
            if (attr) out.push({ attr, kind: t[i].text, condition: `${t[i].text} in ${where}` });
        }
    }
}

/** Plugin-framework attributes and blocks. */
function frameworkAttrs(n: GoNode | undefined, ctx: Ctx, kind: "Attributes" | "Blocks"): Attr[] {
    const r = resolve(n, ctx);
    if (!r.node) return [];
    if (r.node.kind !== "composite") throw new Error(`framework ${kind} map not found in ${ctx.file.file}: ${JSON.stringify(r.node).slice(0, 120)}`);
    return r.node.elems.map((e) => {
        const name = keyName(e.key, r.ctx);
        if (!name) throw new Error(`framework key ${JSON.stringify(e.key).slice(0, 80)} unresolved in ${r.ctx.file.file}`);
        return frameworkAttr(name, e.value, r.ctx);
    });
}

function frameworkAttr(name: string, n: GoNode, ctx0: Ctx): Attr {
    const { node, ctx } = resolve(n, ctx0);
    const attr: Attr = { name, container: "scalar", maxOne: false, settable: false, forceNew: false, conditional: [], children: [] };
    if (node?.kind !== "composite") { attr.settable = true; attr.conditional.push({ kind: "unresolved", condition: `schema of '${name}' not read: ${JSON.stringify(node).slice(0, 100)}` }); return attr; }
    const t = node.type;
    attr.container = /List/.test(t) ? "list" : /Set/.test(t) ? "set" : /Map/.test(t) ? "map" : /SingleNested/.test(t) ? "object" : "scalar";
    attr.maxOne = /SingleNested/.test(t);
    const validators = field(node, "Validators");
    if (validators?.kind === "composite" && validators.elems.some((e) => e.value.kind === "call" && /SizeAtMost$/.test(e.value.fn) && e.value.args[0]?.kind === "lit" && e.value.args[0].text === "1")) attr.maxOne = true;
    attr.settable = /Block$/.test(t) || isTrue(field(node, "Optional")) || isTrue(field(node, "Required"));
    const mods = field(node, "PlanModifiers");
    if (mods?.kind === "composite") {
        for (const m of mods.elems) {
            if (m.value.kind !== "call") continue;
            const fn = m.value.fn.split(".").pop()!;
            if (fn === "RequiresReplace") attr.forceNew = true;
            else if (fn.startsWith("RequiresReplace")) attr.conditional.push({ kind: fn, condition: short(`${m.value.fn}(${m.value.args.map((a) => (a.kind === "func" ? a.text : JSON.stringify(a))).join(", ")})`) });
        }
    }
    const nested = field(node, "NestedObject");
    const holder = nested ? resolve(nested, ctx) : { node, ctx };
    if (holder.node?.kind === "composite") {
        attr.children = [
            ...frameworkAttrs(field(holder.node, "Attributes"), holder.ctx, "Attributes"),
            ...frameworkAttrs(field(holder.node, "Blocks"), holder.ctx, "Blocks"),
        ];
    }
    return attr;
}

/** The `X.Schema = schema.Schema{...}` (or returned) value of a framework resource's Schema method. */
function frameworkSchema(src: SymbolSource, pkg: string, struct: string): { node: GoNode; ctx: Ctx; file: string } {
    const tried: string[] = [];
    const visit = (s: string): { node: GoNode; ctx: Ctx; file: string } | undefined => {
        tried.push(s);
        const f = src.method(pkg, s, "Schema");
        if (f) {
            const body = funcBody(f.tokens, "Schema")!;
            for (let i = body[0]; i < body[1]; i++) {
                if (f.tokens[i].text === "Schema" && f.tokens[i + 1]?.text === "=" && f.tokens[i - 1]?.text === ".") return { node: parseExpr(f.tokens, i + 2).node, ctx: { src, file: f }, file: f.file };
            }
            const r = returnExpr(f.tokens, body);
            if (r) return { node: r, ctx: { src, file: f }, file: f.file };
        }
        // Not declared on this struct: one of the structs it embeds.
        const ty = src.type(pkg, s);
        if (!ty) return undefined;
        const start = ty.tokens.findIndex((x, i) => x.text === s && ty.tokens[i + 1]?.text === "struct");
        if (start < 0) return undefined;
        const end = skipGroup(ty.tokens, start + 2);
        for (let i = start + 3; i < end - 1; i++) {
            const x = ty.tokens[i];
            if (x.nl && x.kind === "ident" && (ty.tokens[i + 1]?.nl || ty.tokens[i + 1]?.text === "}")) { const v = visit(x.text); if (v) return v; }
        }
        return undefined;
    };
    const v = visit(struct);
    if (!v) throw new Error(`no Schema method for ${pkg}.${struct} (tried ${tried.join(", ")})`);
    return v;
}

/** The struct a framework factory (`func newXResource(...)`) builds. */
function frameworkStruct(src: SymbolSource, pkg: string, factory: string): string {
    const f = src.func(pkg, factory);
    const body = f && funcBody(f.tokens, factory);
    if (!f || !body) throw new Error(`no factory ${pkg}.${factory}`);
    for (let i = body[0]; i < body[1]; i++) {
        if (f.tokens[i].text === "&" && f.tokens[i + 1]?.kind === "ident" && f.tokens[i + 2]?.text === "{" && /[Rr]esource$/.test(f.tokens[i + 1].text)) return f.tokens[i + 1].text;
    }
    throw new Error(`factory ${pkg}.${factory} builds no *Resource struct`);
}

/** RequiresReplace paths a framework resource's ModifyPlan adds (conditional by nature). */
function modifyPlanRules(src: SymbolSource, pkg: string, struct: string): Array<{ attr: string; kind: string; condition: string }> {
    const f = src.method(pkg, struct, "ModifyPlan");
    if (!f) return [];
    const out: Array<{ attr: string; kind: string; condition: string }> = [];
    const t = f.tokens;
    for (let i = 0; i < t.length - 4; i++) {
        if (t[i].text === "RequiresReplace" && t[i - 1]?.text === ".") {
            for (let j = i; j < Math.min(t.length, i + 40); j++) {
                if (t[j].text === "Root" && t[j + 1]?.text === "(") {
                    const a = keyName(parseExpr(t, j + 2).node, { src, file: f });
                    if (a) out.push({ attr: a, kind: "ModifyPlan RequiresReplace", condition: `in ${struct}.ModifyPlan` });
                    break;
                }
            }
        }
    }
    return out;
}

/** Where a Terraform type is registered: its package and factory (service_package_gen.go, as the index stores it). */
function registration(src: TfIndexSource, tfType: string): { pkg: string; factory: string; framework: boolean } {
    const services = spawnSync("git", ["--git-dir", src.src.dir, "ls-tree", "--name-only", `${src.src.commit}:index/internal/service`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    const guess = tfType.replace(/^aws_/, "").split("_")[0];
    const order = [...services.filter((s) => s === guess || s.startsWith(guess) || guess.startsWith(s)), "ec2", "events", "logs", "cognitoidp", "cloudtrail", ...services];
    for (const svc of [...new Set(order)]) {
        const pkg = `internal/service/${svc}`;
        for (const [method, framework] of [["SDKResources", false], ["FrameworkResources", true]] as const) {
            const f = src.method(pkg, "servicePackage", method);
            if (!f) continue;
            const t = f.tokens;
            for (let i = 0; i < t.length; i++) {
                if (t[i].text === "TypeName" && t[i + 2]?.kind === "string" && t[i + 2].text === tfType) {
                    for (let j = i; j > 0; j--) if (t[j].text === "Factory" && t[j + 1]?.text === ":") return { pkg, factory: t[j + 2].text, framework };
                }
            }
        }
    }
    throw new Error(`${tfType} is registered by no service package in the index`);
}

function terraformResource(src: TfIndexSource, tfType: string): { attrs: Attr[]; extra: Array<{ attr: string; kind: string; condition: string }>; schemaFile: string } {
    const reg = registration(src, tfType);
    if (reg.framework) {
        const struct = frameworkStruct(src, reg.pkg, reg.factory);
        const s = frameworkSchema(src, reg.pkg, struct);
        const r = resolve(s.node, s.ctx);
        if (r.node?.kind !== "composite") throw new Error(`${tfType}: schema literal not found`);
        const attrs = [...frameworkAttrs(field(r.node, "Attributes"), r.ctx, "Attributes"), ...frameworkAttrs(field(r.node, "Blocks"), r.ctx, "Blocks")];
        return { attrs, extra: modifyPlanRules(src, reg.pkg, struct), schemaFile: s.file };
    }
    const f = src.func(reg.pkg, reg.factory);
    const body = f && funcBody(f.tokens, reg.factory);
    if (!f || !body) throw new Error(`${tfType}: factory ${reg.factory} not in the index`);
    const ctx: Ctx = { src, file: f };
    const res = resolve(returnExpr(f.tokens, body), ctx);
    if (res.node?.kind !== "composite") throw new Error(`${tfType}: ${reg.factory} returns no schema.Resource literal`);
    const sch = field(res.node, "Schema") ?? schemaFuncValue(field(res.node, "SchemaFunc")!);
    const attrs = sdkSchemaMap(sch, res.ctx);
    const extra: Array<{ attr: string; kind: string; condition: string }> = [];
    customizeDiffRules(field(res.node, "CustomizeDiff"), res.ctx, extra);
    return { attrs, extra, schemaFile: f.file };
}

// ---------------------------------------------------------------------------------------------------
// Terraform attribute trees -> Pulumi property paths

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
function plural(s: string): string[] {
    if (/s$/.test(s)) return [s];
    if (/[^aeiou]y$/.test(s)) return [`${s.slice(0, -1)}ies`, `${s}s`];
    if (/(x|ch|sh)$/.test(s)) return [`${s}es`, `${s}s`];
    return [`${s}s`];
}

/**
 * Top-level fields pulumi-aws renames instead of camel-casing (provider/resources.go, the resources' `Fields`
 * overrides), each still checked against the SDK's declaration: a function's and a permission's function_name,
 * a subscription's topic_arn.
 */
const BRIDGE_RENAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
    aws_lambda_function: { function_name: "name" },
    aws_lambda_permission: { function_name: "function" },
    aws_sns_topic_subscription: { topic_arn: "topic" },
};

/** The Pulumi name of a Terraform attribute in a shape (bridge naming, checked against the SDK). */
function pulumiName(a: Attr, shape: InputShape, renamed?: string): string | undefined {
    if (renamed !== undefined) return shape.props.has(renamed) ? renamed : undefined;
    const base = camel(a.name);
    const many = (a.container === "list" || a.container === "set") && !a.maxOne;
    const cands = many ? [...plural(base), base] : [base, ...plural(base)];
    return cands.find((c) => shape.props.has(c));
}

interface Mapped { forceNew: string[]; conditional: ConditionalRule[]; unmapped: string[] }

function mapAttrs(pkg: string, attrs: Attr[], shape: InputShape | undefined, prefix: string, tfPrefix: string, out: Mapped, extra: Map<string, Array<{ kind: string; condition: string }>>, renames: Readonly<Record<string, string>> = {}): void {
    for (const a of attrs) {
        const tfPath = tfPrefix ? `${tfPrefix}.${a.name}` : a.name;
        const name = shape ? pulumiName(a, shape, tfPrefix === "" ? renames[a.name] : undefined) : undefined;
        const conds = [...a.conditional, ...(extra.get(tfPath) ?? [])];
        const matters = a.forceNew || conds.length > 0 || a.children.length > 0;
        if (!name) {
            if ((a.forceNew || conds.length) && a.settable) out.unmapped.push(tfPath);
            else if (a.settable && !shape) out.unmapped.push(tfPath);
            continue;
        }
        if (!matters) continue;
        const p = prefix ? `${prefix}.${name}` : name;
        if (a.forceNew) out.forceNew.push(p);
        for (const c of conds) out.conditional.push({ path: p, kind: c.kind, condition: c.condition });
        if (a.children.length) mapAttrs(pkg, a.children, nestedShape(pkg, shape!.props.get(name)!), p, tfPath, out, extra);
    }
}

/** Keeps only the shortest path of each replace-forcing subtree (a block that replaces covers its fields). */
function minimal(paths: string[]): string[] {
    const sorted = [...new Set(paths)].sort();
    return sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(`${q}.`)));
}

function awsRules(src: TfIndexSource, token: string, tfType: string): ResourceRules {
    const { attrs, extra, schemaFile } = terraformResource(src, tfType);
    const shape = resourceArgs(token);
    const extraByPath = new Map<string, Array<{ kind: string; condition: string }>>();
    const known = new Set<string>();
    const walk = (list: Attr[], pre: string) => list.forEach((a) => { const p = pre ? `${pre}.${a.name}` : a.name; known.add(p); walk(a.children, p); });
    walk(attrs, "");
    for (const e of extra) {
        const p = e.attr.replace(/\.\d+\./g, ".").replace(/\.\d+$/, "");
        if (!known.has(p)) throw new Error(`${tfType}: ${e.kind} names '${e.attr}', not an attribute of the schema`);
        extraByPath.set(p, [...(extraByPath.get(p) ?? []), { kind: e.kind, condition: e.condition }]);
    }
    const out: Mapped = { forceNew: [], conditional: [], unmapped: [] };
    // Plugin-framework `timeouts` blocks have no Pulumi input (Pulumi's customTimeouts resource option instead).
    mapAttrs(token.split(":")[0], attrs.filter((a) => a.name !== "timeouts"), shape, "", "", out, extraByPath, BRIDGE_RENAMES[tfType]);
    const seen = new Set<string>();
    out.conditional = out.conditional.filter((c) => { const k = JSON.stringify(c); if (seen.has(k)) return false; seen.add(k); return true; });
    const rules: ResourceRules = {
        upstream: tfType,
        schema: schemaFile,
        forceNew: minimal(out.forceNew),
        ...(out.conditional.length ? { conditional: out.conditional.sort((a, b) => a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind)) } : {}),
        ...(out.unmapped.length ? { unmapped: [...new Set(out.unmapped)].sort() } : {}),
    };
    return rules;
}

// ---------------------------------------------------------------------------------------------------
// random, Kubernetes, docker

function randomRules(src: GitSource): ResourceRules {
    const s = new GoPackageSource(src, "github.com/terraform-providers/terraform-provider-random/");
    const pkg = "internal/provider";
    const sch = frameworkSchema(s, pkg, "passwordResource");
    const r = resolve(sch.node, sch.ctx);
    if (r.node?.kind !== "composite") throw new Error("random_password: schema literal not found");
    const attrs = frameworkAttrs(field(r.node, "Attributes"), r.ctx, "Attributes");
    const out: Mapped = { forceNew: [], conditional: [], unmapped: [] };
    mapAttrs("random", attrs, resourceArgs("random:index/randomPassword:RandomPassword"), "", "", out, new Map());
    return {
        upstream: "random_password",
        schema: r.ctx.file.file,
        forceNew: minimal(out.forceNew),
        ...(out.conditional.length ? { conditional: out.conditional } : {}),
        ...(out.unmapped.length ? { unmapped: out.unmapped } : {}),
    };
}

/** Evaluates the string-list expressions of pulumi-kubernetes' diff.go (properties{...}, append, helpers). */
function k8sEval(n: GoNode | undefined, file: GoFile, env: Map<string, string>): string[] {
    if (!n) return [];
    if (n.kind === "string") return [n.value];
    if (n.kind === "composite") return n.elems.flatMap((e) => k8sEval(e.value, file, env));
    if (n.kind === "other") {
        const m = /^(\w+) \+ "(.*)"$/.exec(n.text);
        if (m && env.has(m[1])) return [env.get(m[1]) + m[2]];
        throw new Error(`diff.go: cannot evaluate ${n.text}`);
    }
    if (n.kind === "ident") {
        const v = assignedExpr(file.tokens, n.name);
        if (!v) throw new Error(`diff.go: no ${n.name}`);
        return k8sEval(v, file, env);
    }
    if (n.kind === "call") {
        if (n.fn === "append") return n.args.flatMap((a) => k8sEval(a, file, env));
        const body = funcBody(file.tokens, n.fn);
        if (!body) throw new Error(`diff.go: no func ${n.fn}`);
        // Parameters: func name(p1 string) ...
        const start = file.tokens.findIndex((x, i) => x.text === "func" && file.tokens[i + 1]?.text === n.fn);
        const param = file.tokens[start + 3]?.text;
        const inner = new Map(env);
        if (param && n.args[0]) inner.set(param, k8sEval(n.args[0], file, env)[0]);
        return k8sEval(returnExpr(file.tokens, body), file, inner);
    }
    throw new Error(`diff.go: cannot evaluate ${JSON.stringify(n).slice(0, 100)}`);
}

function kubernetesRules(src: GitSource): Record<string, ResourceRules> {
    const diffFile = "provider/pkg/provider/diff.go";
    const text = gitShow(src, diffFile);
    if (!text) throw new Error(`${diffFile} not in ${src.dir}`);
    const tokens = tokenize(text);
    const file: GoFile = { tokens, imports: new Map(), pkg: "provider", file: diffFile };
    // The branches of forceNewProperties: a ConfigMap's data replaces it unless enableConfigMapMutable (or immutable).
    for (const must of ["metadataForceNewProperties(\".metadata\")", "clients.IsConfigMap(obj) && (!k.enableConfigMapMutable || clients.IsImmutable(obj))", "properties{\".binaryData\", \".data\"}"]) {
        if (!text.includes(must)) throw new Error(`${diffFile} no longer says ${must}: review the Kubernetes rules`);
    }
    const metadata = k8sEval({ kind: "call", fn: "metadataForceNewProperties", args: [{ kind: "string", value: ".metadata" }] }, file, new Map());
    const groups = assignedExpr(tokens, "forceNew");
    if (groups?.kind !== "composite") throw new Error("diff.go: forceNew table not found");
    const lookup = (group: string, version: string, kind: string): string[] => {
        const g = groups.elems.find((e) => e.key?.kind === "string" && e.key.value === group)?.value;
        const versions = g?.kind === "ident" ? assignedExpr(tokens, g.name) : g;
        if (versions?.kind !== "composite") return [];
        const v = versions.elems.find((e) => e.key?.kind === "string" && e.key.value === version)?.value;
        if (v?.kind !== "composite") return [];
        const k = v.elems.find((e) => e.key?.kind === "string" && e.key.value === kind)?.value;
        return k ? k8sEval(k, file, new Map()) : [];
    };
    const out: Record<string, ResourceRules> = {};
    for (const token of KUBERNETES_TYPES) {
        const [, gv, kind] = token.split(":");
        const [group, version] = gv.startsWith("core/") ? ["core", gv.slice(5)] : gv.split("/");
        const props = [...metadata, ...lookup(group, version, kind), ...(kind === "ConfigMap" ? [".binaryData", ".data"] : [])];
        out[token] = {
            upstream: `${group}/${version} ${kind}`,
            schema: diffFile,
            forceNew: minimal(props.map((p) => p.replace(/^\./, "").replace(/\[\*\]/g, ""))),
            ...(kind === "ConfigMap" ? { note: "data and binaryData replace a ConfigMap unless the provider sets enableConfigMapMutable (this stack's does not)" } : {}),
        };
    }
    const helmFile = "provider/pkg/provider/helm_release.go";
    const helm = gitShow(src, helmFile);
    if (!helm?.includes("forceNewFields := []string{\".name\", \".namespace\"}")) throw new Error(`${helmFile}: the Release's forceNewFields changed; review the Helm rule`);
    out["kubernetes:helm.sh/v3:Release"] = { upstream: "helm.sh/v3 Release", schema: helmFile, forceNew: ["name", "namespace"] };
    return out;
}

function dockerRules(src: GitSource): ResourceRules {
    const file = "provider/provider.go";
    const text = gitShow(src, file);
    if (!text) throw new Error(`${file} not in ${src.dir}`);
    const start = text.indexOf("func (p *dockerNativeProvider) Diff(");
    const end = text.indexOf("\nfunc ", start + 10);
    const diff = text.slice(start, end);
    const updates = text.slice(text.indexOf("func diffUpdates("), text.indexOf("\nfunc ", text.indexOf("func diffUpdates(") + 10));
    if (start < 0 || /Replaces/.test(diff)) throw new Error(`${file}: the native Image Diff now reports replacements; review the docker rule`);
    if (!/only register a diff on "server" field, but not on "username" or "password"/.test(updates)) throw new Error(`${file}: the registry credential exemption changed; review the docker rule`);
    return {
        upstream: "docker Image (native provider)",
        schema: file,
        forceNew: [],
        ignored: ["registry.password", "registry.username"],
        note: "the native Image Diff reports only in-place updates (a rebuild and push): an image is never replaced; registry credentials do not count as a change",
    };
}

// ---------------------------------------------------------------------------------------------------

export interface GenerateOptions {
    tfIndex: string; tfIndexCommit?: string;
    random: string; randomCommit?: string;
    kubernetes: string; kubernetesCommit?: string;
    docker: string; dockerCommit?: string;
}

const MIRROR = "/work/.mirror";
export const DEFAULT_SOURCES: GenerateOptions = {
    tfIndex: process.env.ARCHAEO_TF_AWS_INDEX ?? `${MIRROR}/lonegunmanb+terraform-provider-aws-index/repo`,
    random: process.env.ARCHAEO_TF_RANDOM ?? `${MIRROR}/hashicorp+terraform-provider-random/repo`,
    kubernetes: process.env.ARCHAEO_PULUMI_KUBERNETES ?? `${MIRROR}/pulumi+pulumi-kubernetes/repo`,
    docker: process.env.ARCHAEO_PULUMI_DOCKER ?? `${MIRROR}/pulumi+pulumi-docker/repo`,
};

export function generate(o: GenerateOptions): ReplaceRulesTable {
    const tf: GitSource = { dir: o.tfIndex, commit: gitRev(o.tfIndex, o.tfIndexCommit ?? "HEAD") };
    const random: GitSource = { dir: o.random, commit: gitRev(o.random, o.randomCommit ?? "HEAD") };
    const k8s: GitSource = { dir: o.kubernetes, commit: gitRev(o.kubernetes, o.kubernetesCommit ?? "HEAD") };
    const dock: GitSource = { dir: o.docker, commit: gitRev(o.docker, o.dockerCommit ?? "HEAD") };
    const tfVersion = /terraform-provider-aws (v[\d.]+)/.exec(gitSubject(tf.dir, tf.commit))?.[1];
    const indexMeta = JSON.parse(gitShow(tf, "index/terraform-provider-aws-index.json") ?? "{}") as { version?: string };
    if (!indexMeta.version || (tfVersion && tfVersion !== indexMeta.version)) throw new Error(`index commit ${tf.commit}: version ${indexMeta.version} vs commit subject ${tfVersion}`);
    const idx = new TfIndexSource(tf);
    const resources: Record<string, ResourceRules> = {};
    for (const [token, tfType] of Object.entries(AWS_TYPES)) resources[token] = awsRules(idx, token, tfType);
    resources["random:index/randomPassword:RandomPassword"] = randomRules(random);
    Object.assign(resources, kubernetesRules(k8s));
    resources["docker:index/image:Image"] = dockerRules(dock);
    return {
        generatedBy: "tools/replace-rules/generate.ts (npm run gen:replace-rules); do not edit by hand",
        sources: {
            "terraform-provider-aws": {
                repository: "lonegunmanb/terraform-provider-aws-index (each function and variable of hashicorp/terraform-provider-aws, one file each)",
                commit: tf.commit, version: indexMeta.version,
                read: "ForceNew in SDKv2 schemas (nested blocks too), RequiresReplace plan modifiers of plugin-framework resources; CustomizeDiff ForceNewIf/ForceNewIfChange/diff.ForceNew and ModifyPlan RequiresReplace as conditional",
            },
            "terraform-provider-random": { repository: "hashicorp/terraform-provider-random", commit: random.commit, version: gitDescribe(random.dir, random.commit), read: "random_password's RequiresReplace plan modifiers" },
            "pulumi-kubernetes": { repository: "pulumi/pulumi-kubernetes", commit: k8s.commit, version: gitDescribe(k8s.dir, k8s.commit), read: "provider/pkg/provider/diff.go forceNew table and forceNewProperties; helm_release.go forceNewFields" },
            "pulumi-docker": { repository: "pulumi/pulumi-docker", commit: dock.commit, version: gitDescribe(dock.dir, dock.commit), read: "provider/provider.go dockerNativeProvider.Diff and diffUpdates" },
        },
        resources: Object.fromEntries(Object.entries(resources).sort(([a], [b]) => a.localeCompare(b))),
    };
}

export function serialize(t: ReplaceRulesTable): string {
    return JSON.stringify(t, null, 2) + "\n";
}

function main() {
    const args = process.argv.slice(2);
    if (args.includes("--help") || args.includes("-h")) {
        process.stdout.write(`usage: npm run gen:replace-rules [-- --check] [--tf-index DIR[@COMMIT]] [--random DIR[@COMMIT]] [--kubernetes DIR[@COMMIT]] [--docker DIR[@COMMIT]]

Regenerates ${path.relative(process.cwd(), TABLE_FILE)}: the properties whose change replaces each resource type the
stack creates, read from the providers' source (git directories; defaults: the fetch mirrors under ${MIRROR}, or
ARCHAEO_TF_AWS_INDEX, ARCHAEO_TF_RANDOM, ARCHAEO_PULUMI_KUBERNETES, ARCHAEO_PULUMI_DOCKER).
  --check   compare with the committed table instead of writing (exit 1 when they differ)
`);
        return;
    }
    const o: GenerateOptions = { ...DEFAULT_SOURCES };
    const opt = (flag: string, key: keyof GenerateOptions, commitKey: keyof GenerateOptions) => {
        const i = args.indexOf(flag);
        if (i >= 0) { const [dir, commit] = args[i + 1].split("@"); o[key] = dir; if (commit) o[commitKey] = commit; }
    };
    opt("--tf-index", "tfIndex", "tfIndexCommit");
    opt("--random", "random", "randomCommit");
    opt("--kubernetes", "kubernetes", "kubernetesCommit");
    opt("--docker", "docker", "dockerCommit");
    if (!args.includes("--tf-index") && fs.existsSync(TABLE_FILE)) {
        // Regenerate from the commits the committed table names unless told otherwise.
        const cur = JSON.parse(fs.readFileSync(TABLE_FILE, "utf8")) as ReplaceRulesTable;
        o.tfIndexCommit ??= cur.sources["terraform-provider-aws"]?.commit;
        o.randomCommit ??= cur.sources["terraform-provider-random"]?.commit;
        o.kubernetesCommit ??= cur.sources["pulumi-kubernetes"]?.commit;
        o.dockerCommit ??= cur.sources["pulumi-docker"]?.commit;
    }
    const text = serialize(generate(o));
    if (args.includes("--check")) {
        const cur = fs.existsSync(TABLE_FILE) ? fs.readFileSync(TABLE_FILE, "utf8") : "";
        if (cur !== text) { process.stderr.write(`${TABLE_FILE} differs from what the sources give; run npm run gen:replace-rules\n`); process.exitCode = 1; }
        else process.stdout.write("replace-rules.json matches its sources\n");
        return;
    }
    fs.writeFileSync(TABLE_FILE, text);
    const t = JSON.parse(text) as ReplaceRulesTable;
    const n = Object.values(t.resources).reduce((s, r) => s + r.forceNew.length + (r.conditional?.length ?? 0), 0);
    process.stdout.write(`wrote ${path.relative(process.cwd(), TABLE_FILE)}: ${Object.keys(t.resources).length} resource types, ${n} rules\n`);
}

if (require.main === module) {
    try { main(); } catch (e) { process.stderr.write(`gen:replace-rules failed: ${(e as Error).stack ?? e}\n`); process.exitCode = 2; }
}
