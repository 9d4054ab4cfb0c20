/**
 * The pack's conventions and behaviour on the fixture stack: names, messages, configuration and
 * enforcement (as `--policy-pack-config` sets them), unknown values at preview.
 * Per-mutation catches by the intended policy are in test/mutation.test.ts.
 */
import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { allPolicies, resourcePolicies, stackValidationPolicies } from "../policies/rules";
import { DEFAULT_CHARTS } from "../policies/rules/helm";
import { gpuCapable } from "../policies/rules/kubernetes";
import { CHARTS } from "../infra/cluster/karpenter";
import { compliant, set } from "./helpers/fixtures";
import { anyoneViaS3, FIXTURE_MUTATIONS } from "./helpers/mutations";
import { ACCOUNT, check, failing, fixture, UNKNOWN } from "./helpers/policy";
import { synthetic } from "../tools/bench";
import { portForwardGuardProblem } from "../policies/lib/admission";
import { portForwardPolicy } from "../infra/cluster/manifests";
import { PORTS } from "../infra/constants";
import { PUBLIC_PORTS } from "../policies/lib/ports";
import { cronRunsPerDay, dailyCron, RETENTION_DEFAULTS } from "../policies/rules/backups";
import { publishProblems } from "../policies/rules/ec2";
import { dockerRuns, parseDockerRun } from "../policies/lib/userdata";
import { CONFIG_KEYS } from "../infra/config/schema";

describe("policy pack", () => {
    it("every policy is kebab-case, described 'Checks whether …', mandatory by default, and unique", () => {
        const names = allPolicies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length);
        for (const p of allPolicies) {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
            assert.match(p.description, /^Checks whether /);
            assert.equal(p.enforcementLevel, "mandatory", p.name);
        }
    });

    it("the compliant fixture stack passes every policy", async () => {
        const r = await check(compliant());
        assert.deepEqual(r.violations, []);
        assert.equal(r.policiesRun, resourcePolicies.length + stackValidationPolicies.length);
    });

    it("no false alarm on a key policy grant to * pinned to this account (kms:CallerAccount) and to S3 (kms:ViaService)", async () => {
        // The compliant stack's key policy is the program's (keyPolicy), which has no such statement; AWS's
        // default key policies for AWS-managed keys do, and the pack must accept it (mutations break its pin).
        const rs = compliant();
        set("cmk", (p) => { const d = JSON.parse(p.policy); d.Statement.push(anyoneViaS3({ "kms:CallerAccount": ACCOUNT })); p.policy = JSON.stringify(d); })(rs);
        assert.deepEqual((await check(rs)).violations, []);
    });

    it("every policy is exercised by a mutation the intended policy must catch, and by an unknown it must defer", () => {
        const violated = new Set(FIXTURE_MUTATIONS.filter((m) => m.expect !== "deferred").map((m) => m.policy));
        const deferred = new Set(FIXTURE_MUTATIONS.filter((m) => m.expect === "deferred").map((m) => m.policy));
        assert.deepEqual(allPolicies.map((p) => p.name).filter((n) => !violated.has(n)), []);
        // Rules that read only options or booleans the program writes as literals have no unknown to defer.
        const literalOnly = ["stateful-resources-protected", "pack-judges-every-type", "kms-key-rotation-enabled", "s3-public-access-blocked", "ecr-scan-on-push", "ecr-immutable-tags",
            "ec2-imdsv2-required", "eks-control-plane-logging", "k8s-containers-non-root", "k8s-no-privileged", "k8s-gpu-limits", "cognito-user-pools-mfa"];
        assert.deepEqual(allPolicies.map((p) => p.name).filter((n) => !deferred.has(n) && !literalOnly.includes(n)), []);
    });

    it("a NodePool can launch GPU instances unless its requirements rule them out (gpuCapable; Karpenter: an undefined well-known label takes any value)", () => {
        const req = (key: string, operator: string, values?: string[]) => ({ requirements: [{ key, operator, ...(values ? { values } : {}) }] });
        assert.ok(gpuCapable({}), "no requirement: any instance type");
        assert.ok(gpuCapable(req("karpenter.k8s.aws/instance-family", "In", ["c6i", "g5"])));
        assert.ok(gpuCapable(req("karpenter.k8s.aws/instance-family", "In", ["gr6"])), "gr6: NVIDIA L4");
        assert.ok(gpuCapable(req("karpenter.k8s.aws/instance-category", "In", ["p"])));
        assert.ok(gpuCapable(req("node.kubernetes.io/instance-type", "In", ["g6e.xlarge"])));
        assert.ok(gpuCapable(req("karpenter.k8s.aws/instance-family", "NotIn", ["t3"])), "NotIn rules nothing in");
        assert.equal(gpuCapable(req("karpenter.k8s.aws/instance-family", "In", ["c6i", "m6i", "c7g"])), undefined, "Graviton families end in g: no GPU");
        assert.equal(gpuCapable(req("karpenter.k8s.aws/instance-family", "In", ["g4ad"])), undefined, "g4ad's GPUs are AMD's");
        assert.equal(gpuCapable(req("karpenter.k8s.aws/instance-category", "In", ["c", "m"])), undefined);
        assert.equal(gpuCapable(req("node.kubernetes.io/instance-type", "In", ["m6i.large"])), undefined);
        assert.equal(gpuCapable(req("karpenter.k8s.aws/instance-gpu-count", "DoesNotExist")), undefined);
        assert.equal(gpuCapable(req("karpenter.k8s.aws/instance-gpu-count", "Lt", ["1"])), undefined);
    });

    it("messages name the resource and the fix", async () => {
        const rs = structuredClone(compliant());
        set("workspace", (p) => { p.encrypted = false; })(rs);
        const v = (await check(rs)).violations.find((x) => x.policyName === "ebs-volumes-encrypted-cmk")!;
        assert.equal(v.message, "EBS volume 'workspace' must set encrypted: true.");
        assert.equal(v.resourceName, "workspace");
        assert.equal(v.deferred, false);
    });

    it("an unknown at preview is an advisory naming the property and `up`, in @pulumi/policy's own wording", async () => {
        const rs = structuredClone(compliant());
        set("workspace", (p) => { p.kmsKeyId = UNKNOWN; })(rs);
        const r = await check(rs);
        assert.equal(r.mandatory, 0);
        const v = r.violations.find((x) => x.policyName === "ebs-volumes-encrypted-cmk")!;
        // server.ts makeAnalyzeRpcFun: `can't run ${policyFrom} during preview: ${e.message}`, enforcementLevel "advisory".
        assert.equal(v.message, "can't run policy 'ebs-volumes-encrypted-cmk' from policy pack 'archaeo-workbench-security@v0.1.0' during preview: " +
            "EBS volume 'workspace': kmsKeyId is unknown until the resources it depends on exist; this check is deferred to `pulumi up`, where it runs on the resolved values and is mandatory.");
        assert.equal(v.enforcementLevel, "advisory");
        assert.equal(v.deferred, true);
    });

    it("known violations are reported next to an unknown in the same resource", async () => {
        const rs = structuredClone(compliant());
        set("workspace", (p) => { p.kmsKeyId = UNKNOWN; p.encrypted = false; })(rs);
        const hits = (await check(rs)).violations.filter((x) => x.policyName === "ebs-volumes-encrypted-cmk");
        assert.deepEqual(hits.map((h) => [h.enforcementLevel, h.deferred]), [["mandatory", false], ["advisory", true]]);
    });

    it("no policy passes silently when every value of the stack is unknown (the first preview at its worst)", async () => {
        const blank = (p: Record<string, any>) => { for (const k of Object.keys(p)) p[k] = UNKNOWN; };
        const rs = structuredClone(compliant()).map((r) => { blank(r.rawInputs); blank(r.rawState); return r; });
        const r = await check(rs);
        const reported = new Set(r.violations.map((v) => v.policyName));
        // Only rules that read resource options or types alone can judge such a stack, and pack-judges-every-input
        // reads inputs the fixture's releases do not set (valueYamlFiles, postrender: absent, not unknown; its
        // deferral when they are unknown is a mutation of helpers/mutations.ts).
        assert.deepEqual(allPolicies.map((p) => p.name).filter((n) => !reported.has(n)), ["stateful-resources-protected", "pack-judges-every-type", "pack-judges-every-input"]);
        assert.ok(r.violations.every((v) => v.deferred || v.policyName === "k8s-pvcs-on-encrypted-storage" || v.enforcementLevel === "mandatory"));
    });

    it("config: an allowed port exempts exactly that port from the ingress breadth rule", async () => {
        const rs = structuredClone(compliant());
        set("in", (p) => { p.cidrIpv4 = "0.0.0.0/0"; p.fromPort = 443; p.toPort = 443; })(rs);
        assert.ok((await failing(rs)).includes("security-groups-no-public-ingress"));
        assert.ok(!(await failing(rs, { "security-groups-no-public-ingress": { allowedPorts: [443] } })).includes("security-groups-no-public-ingress"));
        assert.ok((await failing(rs, { "security-groups-no-public-ingress": { allowedPorts: [80] } })).includes("security-groups-no-public-ingress"));
    });

    it("the ports public addresses may reach are the workbench's SSH port, and publicPorts can widen them", async () => {
        assert.deepEqual(PUBLIC_PORTS, [PORTS.ssh]);
        const rs = structuredClone(compliant());
        set("in", (p) => { p.fromPort = 8888; p.toPort = 8888; })(rs);
        assert.ok((await failing(rs)).includes("security-groups-public-ports-limited"));
        assert.ok(!(await failing(rs, { "security-groups-public-ports-limited": { publicPorts: [2222, 8888] } })).includes("security-groups-public-ports-limited"));
        // Private sources (the VPC: NFS, the hub) may reach any port.
        set("in", (p) => { p.cidrIpv4 = "10.42.0.0/16"; p.fromPort = 0; p.toPort = 65535; })(rs);
        assert.ok(!(await failing(rs)).includes("security-groups-public-ports-limited"));
    });

    it("retention minimums default to the stack config's lowest accepted values and can be raised", async () => {
        assert.equal(RETENTION_DEFAULTS.minBackupRetentionDays, CONFIG_KEYS.snapshotRetentionDays.min);
        assert.equal(RETENTION_DEFAULTS.minImageRetentionDays, 365); // imageRetentionDays: 0 keeps images forever (no rule), else 365..3650 (infra/config/parse.ts)
        assert.equal(CONFIG_KEYS.imageRetentionDays.min, 0);
        const rs = structuredClone(compliant());
        assert.ok(!(await failing(rs)).includes("stateful-data-backed-up"));
        assert.ok((await failing(rs, { "stateful-data-backed-up": { minBackupRetentionDays: 30 } })).includes("stateful-data-backed-up"), "14 daily snapshots < 30");
        assert.ok((await failing(rs, { "stateful-data-backed-up": { minImageRetentionDays: 3650 } })).includes("stateful-data-backed-up"), "images expire after 1825 days < 3650");
        // Count-based retention counts snapshots, not days: 14 taken every 12 hours keep 7 days.
        const halfDaily = structuredClone(compliant());
        set("snapshots", (p) => { p.policyDetails.schedules[0].createRule.interval = 12; })(halfDaily);
        assert.ok(!(await failing(halfDaily)).includes("stateful-data-backed-up"), "7 days, the default floor");
        assert.ok((await failing(halfDaily, { "stateful-data-backed-up": { minBackupRetentionDays: 10 } })).includes("stateful-data-backed-up"), "7 days < 10");
        // AWS cron (EventBridge): minutes hours day-of-month month day-of-week year.
        assert.deepEqual(["cron(0 3 * * ? *)", "cron(0 3 ? * * *)", "cron(0 3 ? * SUN *)", "cron(0 3 1 * ? *)", "cron(0 3 * 1 ? *)", "rate(1 day)"].map(dailyCron), [true, true, false, false, false, false]);
    });

    it("legitimate spellings pass the three review-hardened rules (no false alarms): loopback forms, TCP in capitals, a private prefix list, a default Backup schedule, ARN globs", async () => {
        // docker's -p (go-connections nat splitParts): the ip is everything before the last two parts.
        const publish = (spec: string) => publishProblems(parseDockerRun(`docker run --user 1000:1000 -p ${spec} img`)!, [2222]);
        for (const spec of ["127.0.0.1:8888:8888", "127.0.0.1::8888", "[::1]:8888:8888", "::1:8888:8888", "[0:0:0:0:0:0:0:1]:6006:6006", "[::ffff:127.0.0.1]:8888:8888", "0.0.0.0:2222:2222", "2222-2222:2222-2222"]) assert.deepEqual(publish(spec), [], spec);
        for (const spec of ["8888", "8888:8888", "0.0.0.0:8888:8888", "[::]:6006:6006", "8000-9000:8000-9000", "2222:8888"]) assert.equal(publish(spec).length, 1, spec);
        // Commands split at ; && || | & but not inside quotes or at 2>&1.
        assert.deepEqual(dockerRuns("docker run a 2>&1 | tee log; echo 'a; b & c' && docker run c"), ["docker run a 2>&1", "docker run c"]);
        // A quoted command is judged wherever it stands (conservative: an echoed one too).
        assert.deepEqual(dockerRuns("echo 'docker run b'"), ["docker run b"]);
        assert.deepEqual(dockerRuns(`sh -c "docker run --user 1 a; docker run --user 2 b"`), ["docker run --user 1 a", "docker run --user 2 b"]);
        // cron: runs per day, every year only.
        assert.deepEqual(["cron(0 3 * * ? *)", "cron(0 * * * ? *)", "cron(0/15 * * * ? *)", "cron(0 3,15 ? * * *)", "cron(0 3 * * ? 2099)", "cron(0 3 ? * MON-FRI *)"].map(cronRunsPerDay), [1, 24, 96, 2, undefined, undefined]);
        const rs = structuredClone(compliant());
        set("in", (p) => { p.ipProtocol = "TCP"; })(rs);
        rs.push(fixture("aws:ec2/managedPrefixList:ManagedPrefixList", "vpc-only", { name: "vpc", addressFamily: "IPv4", maxEntries: 1, entries: [{ cidr: "10.42.0.0/16" }] }, { state: { id: "pl-vpc" } }));
        rs.push(fixture("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "nfs-from-vpc", { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 2049, toPort: 2049, prefixListId: "pl-vpc" }));
        set("homes-plan", (p) => { delete p.rules[0].schedule; })(rs); // AWS Backup's default: cron(0 5 ? * * *), daily
        set("homes-selection", (p) => { p.resources = ["arn:aws:elasticfilesystem:*:*:file-system/*"]; })(rs);
        const v = await failing(rs);
        for (const policy of ["security-groups-public-ports-limited", "stateful-data-backed-up", "ec2-containers-publish-loopback"]) assert.ok(!v.includes(policy), `${policy}: ${v.join(", ")}`);
    });

    it("config: a prefix list the stack does not define is refused unless allowedPrefixListIds names it; a defined one is judged by its entries", async () => {
        const rs = structuredClone(compliant());
        set("rule", (p) => { p.prefixListIds = ["pl-0123456789abcdef0"]; })(rs);
        assert.ok((await failing(rs)).includes("security-groups-ingress-union-limited"));
        assert.ok(!(await failing(rs, { "security-groups-ingress-union-limited": { allowedPrefixListIds: ["pl-0123456789abcdef0"] } })).includes("security-groups-ingress-union-limited"));
        // Defined in the stack with the institution's CIDR: passes without any config.
        const narrow = structuredClone(compliant());
        narrow.push(fixture("aws:ec2/managedPrefixList:ManagedPrefixList", "campus", { name: "campus", addressFamily: "IPv4", maxEntries: 2, entries: [{ cidr: "203.0.113.0/24" }] }, { state: { id: "pl-campus" } }));
        set("rule", (p) => { p.prefixListIds = ["pl-campus"]; })(narrow);
        assert.deepEqual(await failing(narrow), []);
    });

    it("config: the breadth limit is a prefix length an institution can widen or narrow", async () => {
        const rs = structuredClone(compliant());
        set("in", (p) => { p.cidrIpv4 = "52.0.0.0/14"; })(rs);
        const v = (await check(rs)).violations.find((x) => x.policyName === "security-groups-no-public-ingress")!;
        assert.match(v.message, /the IPv4 sources cover 262,144 public IPv4 addresses \(as many as a \/14\); at most one \/16 \(65,536\) is allowed/);
        assert.ok(!(await failing(rs, { "security-groups-no-public-ingress": { ipv4MinPrefixLength: 14 }, "security-groups-ingress-union-limited": { ipv4MinPrefixLength: 14 } })).includes("security-groups-no-public-ingress"));
        set("in", (p) => { p.cidrIpv4 = "203.0.113.0/24"; })(rs);
        assert.ok((await failing(rs, { "security-groups-no-public-ingress": { ipv4MinPrefixLength: 28 } })).includes("security-groups-no-public-ingress"));
    });

    it("config (--policy-pack-config format): one policy advisory, string shorthand, 'all', disabled", async () => {
        const rs = structuredClone(compliant());
        set("repo", (p) => { p.imageTagMutability = "MUTABLE"; })(rs);
        const adv = await check(rs, { "ecr-immutable-tags": { enforcementLevel: "advisory" } });
        assert.deepEqual([adv.mandatory, adv.advisory], [0, 1]);
        const short = await check(rs, { "ecr-immutable-tags": "advisory" });
        assert.deepEqual([short.mandatory, short.advisory], [0, 1]);
        const all = await check(rs, { all: "advisory", "ecr-immutable-tags": "mandatory" });
        assert.deepEqual([all.mandatory, all.advisory], [1, 0], "per-policy level wins over all (pkg/resource/analyzer/config.go applyConfig)");
        assert.equal((await check(rs, { "ecr-immutable-tags": { enforcementLevel: "disabled" } })).violations.length, 0);
    });

    it("policy config schemas carry defaults", () => {
        for (const p of allPolicies) for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) assert.notEqual((v as any).default, undefined, `${p.name}.${k}`);
    });

    it("the Helm allow-list pins the charts infra/cluster/karpenter.ts installs (bump both together)", () => {
        const find = (chart: string) => DEFAULT_CHARTS.find((c) => c.chart === chart);
        assert.equal(find(CHARTS.karpenter.chart)?.version, CHARTS.karpenter.version);
        assert.equal(find(CHARTS.nvidiaDevicePlugin.chart)?.version, CHARTS.nvidiaDevicePlugin.version);
        assert.equal(find(CHARTS.nvidiaDevicePlugin.chart)?.repo, CHARTS.nvidiaDevicePlugin.repo);
    });

    it("a customer key of another account passes the resource rules but not kms-key-references-stack-key", async () => {
        const rs: RecordedResource[] = structuredClone(compliant());
        set("logs", (p) => { p.kmsKeyId = "arn:aws:kms:us-east-1:999999999999:key/99999999-12ab-34cd-56ef-1234567890ab"; })(rs);
        const r = await check(rs);
        assert.deepEqual([...new Set(r.violations.map((v) => v.policyName))], ["kms-key-references-stack-key"]);
        assert.match(r.violations[0].message, /LogGroup 'logs' kmsKeyId is arn:aws:kms:us-east-1:999999999999:key\/.*, not this stack's key/);
    });

    // pack-k8s hardening: configuration knobs and the guard judgement against the program's own policy.
    it("config: an organization pin counts only for an organization listed in allowedOrgIds", async () => {
        const rs: RecordedResource[] = structuredClone(compliant());
        set("datasets-tls", (p) => { const d = JSON.parse(p.policy); d.Statement.push({ Sid: "Org", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::archaeo-x-datasets/datasets/*", Condition: { StringEquals: { "aws:PrincipalOrgID": "o-abcdef1234" } } }); p.policy = JSON.stringify(d); })(rs);
        const v = (await check(rs)).violations.find((x) => x.policyName === "resource-policies-no-public-principals")!;
        assert.match(v.message, /BucketPolicy 'datasets-tls' statement 'Org' grants to "\*" pinned only by aws:PrincipalOrgID o-abcdef1234: every account of that organization/);
        assert.deepEqual(await failing(rs, { "resource-policies-no-public-principals": { allowedOrgIds: ["o-abcdef1234"] } }), []);
        assert.ok((await failing(rs, { "resource-policies-no-public-principals": { allowedOrgIds: ["o-other00000"] } })).includes("resource-policies-no-public-principals"));
    });

    it("config: allowedAuthenticators lists the JupyterHub logins an institution accepts (entry points case-insensitive, class paths exact)", async () => {
        const rs: RecordedResource[] = structuredClone(compliant());
        set("jupyterhub", (p) => { p.values.hub.config.JupyterHub.authenticator_class = "AzureAd"; })(rs);
        assert.deepEqual(await failing(rs), ["jupyterhub-values-secure"]);
        assert.deepEqual(await failing(rs, { "jupyterhub-values-secure": { allowedAuthenticators: ["generic-oauth", "azuread"] } }), []);
        set("jupyterhub", (p) => { p.values.hub.config.JupyterHub.authenticator_class = "OAuthenticator.Generic.GenericOAuthenticator"; })(rs);
        assert.deepEqual(await failing(rs), ["jupyterhub-values-secure"], "a class path is a Python import path: case matters");
    });

    it("the program's port-forward policy (with and without the hub tunnel) is a guard by the pack's CEL judgement; its broken variants are not", () => {
        const o = { researcherUserPrefix: "archaeo:", serverPodPrefix: "jupyter-" };
        const ids = ["imaging-lead", "ml-engineer", "archivist", "al", "alice"];
        for (const hubTunnel of [true, false]) assert.equal(portForwardGuardProblem(portForwardPolicy({ institution: "x", stack: "s", hubTunnel }).policy.spec, "jupyterhub", ids, o), undefined);
        const spec = portForwardPolicy({ institution: "x", stack: "s", hubTunnel: true }).policy.spec;
        assert.match(portForwardGuardProblem({ ...spec, validations: [{ expression: "true", message: "" }] }, "jupyterhub", ids, o)!, /lets archaeo:imaging-lead port-forward to jupyter-ml-engineer/);
        assert.match(portForwardGuardProblem({ ...spec, failurePolicy: "Ignore", validations: [{ expression: "authorizer.requestResource.check('get').allowed()", message: "" }] }, "jupyterhub", ids, o)!, /errs .*failurePolicy Ignore/);
        assert.match(portForwardGuardProblem({ ...spec, validations: [{ expression: "request.name.startsWith('jupyter-' + request.userInfo.username.substring(8))", message: "" }] }, "jupyterhub", ids, o)!, /lets archaeo:al port-forward to jupyter-alice/);
    });
});

// `npm run bench` times the pack over a synthetic stack that must be clean; a pack change that makes it dirty
// would break the bench (it did once: a wildcard S3 grant the hardened breadth check now refuses). Not timed here.
describe("the bench's synthetic stack", () => {
    it("is clean under the pack, one of each kind", async () => {
        const r = await check(synthetic(8));
        assert.deepEqual(r.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => `${v.policyName}: ${v.message}`), []);
    });
});
