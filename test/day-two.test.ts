/**
 * Issue 17, the stack's life after the first `up` (items 2 and 3 and the defects the review found), checked without
 * evaluating a whole stack (the program-level checks sit beside the stacks' own runs: test/cluster/program.test.ts
 * and test/instance/program.test.ts):
 * - dated EKS support windows, judged on an injected date, and add-on versions pinned per Kubernetes version;
 * - Karpenter: a pinned AMI alias and upgrade-window budgets, against the CRD's own rules; servers do-not-disrupt;
 * - GPU limits across NodePools adding up to gpuLimit, for every stack;
 * - the Spot service-linked role, checked and created by preflight (answers checked against botocore's IAM model);
 * - workstation zones: offered types, per-researcher zones and their subnets.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { run as cel } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { ConfigError, KUBERNETES_VERSIONS, lifecycleWarnings, parseConfig, zoneOfferingProblems, ZoneOfferings, zoneSubnet, InstanceStackConfig } from "../infra/config";
import { CORE_ADDONS, daysUntil, NODE_AMI_RELEASES, pinnedAddonVersion, publishedAddonVersion, SUPPORT_WINDOWS } from "../infra/data/eks";
import { dayTwoWarnings, heldAddonWarnings, serverStopWarnings } from "../tools/day-two";
import { DO_NOT_DISRUPT, disruptionBudgets, karpenterObjects } from "../infra/cluster/manifests";
import { POOLS } from "../infra/constants";
import { neededServiceLinkedRoles, serviceLinkedRolePreflight } from "../tools/preflight";
import { checkZones } from "../infra/workbench";
import type { AwsCli } from "../tools/quotas";
import { findBotocore } from "../tools/api-rules/generate";
import { plan } from "../tools/plan";
import { listStacks, readStack } from "../tools/stacks";
import { sampleValues } from "../tools/check-hub-values";
import { clusterOverrides, raw, researcher } from "./helpers/config";
import { tmpFile } from "./helpers/tools";
import { newestModelFile, readModelText } from "./helpers/fake-aws";
import { models, validate } from "./helpers/k8s";

const heritage = readStack("national-heritage");
const heritageWith = (o: Record<string, unknown>, today?: string) => parseConfig({ ...heritage.raw, ...Object.fromEntries(Object.entries(o).map(([k, v]) => [`archaeo-workbench:${k}`, v])) }, { stack: "national-heritage", region: heritage.region, ...(today ? { today } : {}) });
const problemsOf = (f: () => unknown): Record<string, string> => {
    try { f(); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return Object.fromEntries(e.errors.map((p) => [p.propertyPath, p.reason])); }
    return {};
};

describe("day two: EKS support windows on an injected date (issue 17 item 2)", () => {
    // AWS's EKS release calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html; awsdocs/amazon-eks-user-guide
    // latest/ug/versioning/kubernetes-versions.adoc): 1.34 "December 2, 2026 | December 2, 2027". Standard support is 14 months,
    // extended support "for the next 12 months".
    it("the table holds AWS's dates; every accepted version has a window and a row of pinned add-ons", () => {
        assert.deepEqual(SUPPORT_WINDOWS["1.34"], { standardSupportEnd: "2026-12-02", extendedSupportEnd: "2027-12-02" });
        assert.deepEqual(SUPPORT_WINDOWS["1.33"], { standardSupportEnd: "2026-07-29", extendedSupportEnd: "2027-07-29" });
        for (const [v, w] of Object.entries(SUPPORT_WINDOWS)) {
            const [y, m, d] = w.standardSupportEnd.split("-").map(Number);
            assert.equal(w.extendedSupportEnd, `${y + 1}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`, `${v}: extended support is the next 12 months`);
        }
        assert.deepEqual([...KUBERNETES_VERSIONS], ["1.34", "1.35"]);
        for (const v of KUBERNETES_VERSIONS) {
            assert.ok(SUPPORT_WINDOWS[v], v);
            for (const a of CORE_ADDONS) {
                const pinned = pinnedAddonVersion(v, a);
                if (pinned !== undefined) assert.match(pinned, /^v\d+\.\d+\.\d+-eksbuild\.\d+$/, `${v} ${a}`);
            }
            // kube-proxy follows the Kubernetes minor version (AWS's 'kube-proxy versions' table).
            assert.ok(pinnedAddonVersion(v, "kube-proxy")!.startsWith(`v${v}.`), v);
        }
    });

    it("refuses a version already out of standard support, naming the key and the fix (1.34 on 2026-12-07)", () => {
        const found = problemsOf(() => heritageWith({ kubernetesVersion: "1.34" }, "2026-12-07"));
        assert.deepEqual(Object.keys(found), ["archaeo-workbench:kubernetesVersion"]);
        assert.match(found["archaeo-workbench:kubernetesVersion"], /^Kubernetes 1\.34 left EKS standard support after 2026-12-02 .*upgradePolicy is STANDARD.*pulumi config set kubernetesVersion 1\.35/);
        // The day before the end it is still accepted, with a warning; without a clock nothing dated is judged.
        const before = heritageWith({ kubernetesVersion: "1.34" }, "2026-12-01");
        assert.match(lifecycleWarnings(before, "2026-12-01").join("\n"), /Kubernetes 1\.34 leaves EKS standard support on 2026-12-02, in 1 day\(s\).*kubernetesVersion 1\.35/);
        assert.doesNotThrow(() => heritageWith({ kubernetesVersion: "1.34" }));
    });

    it("the calendar's date is the LAST day of standard support: accepted (with a warning) on it, refused from the day after", () => {
        // kubernetes-versions.adoc: "Once a version is past the end of standard support date, it enters extended support for the
        // next 12 months" -- on the date itself the version is still in standard support (review of issue 17, defect 5).
        const onEnd = heritageWith({ kubernetesVersion: "1.34" }, "2026-12-02");
        assert.match(lifecycleWarnings(onEnd, "2026-12-02").join("\n"), /Kubernetes 1\.34 leaves EKS standard support on 2026-12-02, in 0 day\(s\) \(2026-12-02 is its last day of standard support: today; refused from the day after\)/);
        const dayAfter = problemsOf(() => heritageWith({ kubernetesVersion: "1.34" }, "2026-12-03"));
        assert.match(dayAfter["archaeo-workbench:kubernetesVersion"], /^Kubernetes 1\.34 left EKS standard support after 2026-12-02 \(its last day/);
        assert.equal(lifecycleWarnings(heritageWith({ kubernetesVersion: "1.34" }, "2026-12-01"), "2026-12-03").filter((w) => /kubernetesVersion/.test(w)).length, 0);
    });

    it("warns from 60 days before the end, not earlier", () => {
        const cfg = heritageWith({});
        const at = (today: string) => lifecycleWarnings(cfg, today).filter((w) => /kubernetesVersion/.test(w));
        assert.equal(daysUntil("2027-03-27", "2027-01-26"), 60);
        assert.equal(at("2027-01-25").length, 0);
        assert.match(at("2027-01-26")[0], /^archaeo-workbench:kubernetesVersion: Kubernetes 1\.35 leaves EKS standard support on 2027-03-27, in 60 day\(s\)/);
    });

    it("npm run plan refuses it as a config error (exit 2) on the date it is given", async () => {
        const text = fs.readFileSync(path.join(__dirname, "..", "stacks", "Pulumi.national-heritage.yaml"), "utf8").replace('kubernetesVersion: "1.35"', 'kubernetesVersion: "1.34"');
        const r = await plan({ stack: "national-heritage", stackFile: tmpFile("Pulumi.national-heritage.yaml", text), today: "2026-12-07" });
        assert.equal(r.exitCode, 2, r.output);
        assert.match(r.output, /archaeo-workbench:kubernetesVersion: Kubernetes 1\.34 left EKS standard support after 2026-12-02/);
    });
});

/** Rules of Karpenter's CRDs at the pinned chart (aws/karpenter-provider-aws v1.11.1 pkg/apis/crds/), quoted. */
const EC2NODECLASS_ALIAS = {
    maxLength: 30,
    cel: [
        "self.matches('^[a-zA-Z0-9]+@.+$')",
        "self.split('@')[0] in ['al2','al2023','bottlerocket','windows2019','windows2022','windows2025']",
        "self.split('@')[0] in ['windows2019','windows2022','windows2025'] ? self.split('@')[1] == 'latest' : true",
    ],
};
const NODEPOOL_BUDGET = {
    duration: /^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$/,
    nodes: /^((100|[0-9]{1,2})%|[0-9]+)$/,
    reasons: ["Underutilized", "Empty", "Drifted"],
    schedule: /^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$/,
};

/** Minutes of the week (Sunday 00:00 UTC = 0) in which a budget with this cron `m h * * dow` and duration is active. */
function activeMinutes(schedule: string, duration: string): Set<number> {
    const [m, h, , , dow] = schedule.split(" ").map(Number);
    const d = /^(\d+)h(?:(\d+)m)?$/.exec(duration)!;
    const start = dow * 1440 + h * 60 + m;
    const out = new Set<number>();
    for (let i = 0; i < Number(d[1]) * 60 + Number(d[2] ?? 0); i++) out.add((start + i) % (7 * 1440));
    return out;
}

describe("day two: nodes pinned, drift only in the upgrade window, servers never disrupted (issue 17 item 2)", () => {
    const cfg = heritageWith({});
    if (cfg.mode !== "cluster") throw new Error("national-heritage is a cluster stack");
    const objects = karpenterObjects({ ...cfg.cluster, clusterName: "c", nodeRoleName: "r", keyArn: "arn:aws:kms:us-west-2:123456789012:key/k", securityGroupId: "sg-0123456789abcdef0", tags: {} });

    it("the EC2NodeClass alias is a pinned release that passes the CRD's validations (never @latest)", async () => {
        const M = await models();
        for (const nc of objects.nodeClasses) {
            validate(M, nc);
            const alias = nc.spec.amiSelectorTerms[0].alias;
            assert.equal(alias, `al2023@${cfg.cluster.nodeAmiVersion}`);
            assert.ok(alias.length <= EC2NODECLASS_ALIAS.maxLength);
            for (const rule of EC2NODECLASS_ALIAS.cel) assert.equal(cel(rule, { self: alias }, { funcs: strings }), true, rule);
        }
        // The recorded release has AMIs for the cluster's version and a driver new enough for the image's CUDA.
        assert.ok(NODE_AMI_RELEASES[cfg.cluster.nodeAmiVersion].kubernetes.includes(cfg.cluster.kubernetesVersion));
        const refused = problemsOf(() => heritageWith({ nodeAmiVersion: "latest" }));
        assert.match(refused["archaeo-workbench:nodeAmiVersion"], /'latest' moves with every AWS release/);
    });

    it("budgets pass the NodePool CRD's patterns and allow drift exactly inside the window, wherever the week wraps", async () => {
        const M = await models();
        for (const p of objects.pools) validate(M, p);
        for (const text of ["sun 02:00-06:00", "sat 22:00-02:00", "wed 23:30-23:00", "mon 00:00-01:00"]) {
            const c = heritageWith({ nodeUpgradeWindow: text });
            if (c.mode !== "cluster") throw new Error("cluster");
            const w = c.cluster.upgradeWindow;
            const budgets = disruptionBudgets(w);
            for (const b of budgets) {
                assert.match(b.nodes, NODEPOOL_BUDGET.nodes);
                if (b.schedule !== undefined || b.duration !== undefined) {
                    assert.match(b.schedule ?? "", NODEPOOL_BUDGET.schedule);
                    assert.match(b.duration ?? "", NODEPOOL_BUDGET.duration);
                    assert.ok((b.reasons ?? []).every((r) => NODEPOOL_BUDGET.reasons.includes(r)));
                }
            }
            const windowed = budgets.filter((b) => b.schedule !== undefined);
            assert.equal(windowed.length, 1);
            const blocked = activeMinutes(windowed[0].schedule!, windowed[0].duration!);
            const start = w.day * 1440 + w.startMinute;
            for (let m = 0; m < 7 * 1440; m += 5) {
                const inside = (m - start + 7 * 1440) % (7 * 1440) < w.minutes;
                assert.equal(!blocked.has(m), inside, `${text}: minute ${m} of the week`);
            }
        }
        assert.match(problemsOf(() => heritageWith({ nodeUpgradeWindow: "sunday 2am" }))["archaeo-workbench:nodeUpgradeWindow"], /must look like 'sun 02:00-06:00'/);
    });

    it("no NodePool expires its nodes: expireAfter is Never, which the CRD accepts (do-not-disrupt servers, no terminationGracePeriod)", async () => {
        // aws/karpenter-provider-aws v1.11.1 website/content/en/v1.11/concepts/disruption.md, "Expiration": "a forceful
        // disruption method"; "NodePool Disruption Budgets do not prevent Karpenter from terminating expired nodes"; "it is
        // not recommended to set expireAfter without also setting terminationGracePeriod if your cluster has pods with the
        // karpenter.sh/do-not-disrupt annotation ... partially drained nodes stuck in the cluster". Its default is 720h, so
        // leaving the field out is no fix. pkg/apis/crds/karpenter.sh_nodepools.yaml: expireAfter pattern below.
        const EXPIRE_AFTER = /^(([0-9]+(s|m|h))+|Never)$/;
        const M = await models();
        for (const c of [cfg, heritageWith({ spotForBatch: true })]) {
            if (c.mode !== "cluster") throw new Error("cluster");
            const pools = karpenterObjects({ ...c.cluster, clusterName: "c", nodeRoleName: "r", keyArn: "k", securityGroupId: "sg", tags: {} }).pools;
            for (const p of pools) {
                assert.equal(p.spec.template.spec.expireAfter, "Never", p.metadata.name);
                assert.match(p.spec.template.spec.expireAfter, EXPIRE_AFTER);
                assert.equal((p.spec.template.spec as Record<string, unknown>).terminationGracePeriod, undefined, p.metadata.name);
                validate(M, p);
            }
            assert.ok(pools.some((p) => p.metadata.name === POOLS.batchSpot) === c.cluster.spotForBatch);
        }
    });

    it("every server pod carries karpenter.sh/do-not-disrupt (z2jh singleuser.extraAnnotations -> KubeSpawner.extra_annotations)", () => {
        // z2jh 4.4.0 values.schema.yaml singleuser.extraAnnotations: "Passthrough configuration for KubeSpawner.extra_annotations";
        // files/hub/jupyterhub_config.py sets c.KubeSpawner.extra_annotations from it. Checked with tools/check-hub-values.ts.
        for (const v of sampleValues()) assert.deepEqual(v.singleuser.extraAnnotations, { "karpenter.sh/do-not-disrupt": "true" });
        assert.deepEqual(DO_NOT_DISRUPT, { "karpenter.sh/do-not-disrupt": "true" });
    });
});

describe("day two: GPU limits across NodePools add up to gpuLimit (issue 17 item 3)", () => {
    it("for every stack in stacks/, and with spot batch turned on for each cluster stack", () => {
        let clusters = 0;
        for (const stack of listStacks()) {
            const f = readStack(stack);
            const cfg = parseConfig(f.raw, { stack, region: f.region });
            if (cfg.mode !== "cluster") continue;
            clusters++;
            for (const c of [cfg, parseConfig({ ...f.raw, "archaeo-workbench:spotForBatch": true }, { stack, region: f.region })]) {
                if (c.mode !== "cluster") continue;
                const pools = karpenterObjects({ ...c.cluster, clusterName: "c", nodeRoleName: "r", keyArn: "k", securityGroupId: "sg", tags: {} }).pools;
                const sum = pools.reduce((s, p) => s + Number((p.spec.limits as Record<string, string>)["nvidia.com/gpu"] ?? 0), 0);
                assert.equal(sum, c.cluster.gpuLimit, `${stack} (spotForBatch ${c.cluster.spotForBatch}): ${pools.map((p) => `${p.metadata.name} ${JSON.stringify(p.spec.limits)}`).join(", ")}`);
            }
        }
        assert.ok(clusters >= 1);
    });

    it("spotGpuLimit: half by default, 1 to gpuLimit - 1, only with spot, and the spot DDP template fits it", () => {
        const c = heritageWith({});
        assert.deepEqual(c.mode === "cluster" && c.cluster.gpuLimits, { onDemand: 4, spot: 4 });
        const six = heritageWith({ spotGpuLimit: 6 });
        assert.deepEqual(six.mode === "cluster" && six.cluster.gpuLimits, { onDemand: 2, spot: 6 });
        assert.match(problemsOf(() => heritageWith({ spotGpuLimit: 8 }))["archaeo-workbench:spotGpuLimit"], /is 8 but gpuLimit is 8: .*use 1-7/);
        assert.match(problemsOf(() => heritageWith({ spotForBatch: false, spotGpuLimit: 2 }))["archaeo-workbench:spotGpuLimit"], /only used with spotForBatch: true/);
        assert.match(problemsOf(() => heritageWith({ gpuLimit: 1, gpusPerResearcher: 1, ddpNodes: 1 }))["archaeo-workbench:spotForBatch"], /needs gpuLimit of at least 2/);
        assert.match(problemsOf(() => heritageWith({ spotGpuLimit: 1 }))["archaeo-workbench:ddpNodes"], /runs on the spot pool and asks for 2 GPUs, more than spotGpuLimit \(1\)/);
    });
});

/** botocore's IAM service model (Debian python3-botocore, or the botocore ARCHAEO_BOTOCORE_PYTHON imports); undefined when absent. */
function iamModel(): any {
    let root = "/usr/lib/python3/dist-packages/botocore";
    if (!fs.existsSync(root)) {
        const found = findBotocore();
        if (!found) return undefined;
        root = spawnSync(found.python, ["-c", "import botocore, os; print(os.path.dirname(botocore.__file__))"], { encoding: "utf8" }).stdout.trim();
    }
    const file = newestModelFile(path.join(root, "data", "iam"));
    return file ? JSON.parse(readModelText(file)) : undefined;
}

describe("day two: the Spot service-linked role (issue 17 item 3)", () => {
    // Answers shaped as the AWS CLI prints IAM's (botocore iam GetRole / CreateServiceLinkedRole; checked below).
    const calls: string[][] = [];
    const cli = (state: { exists: boolean; create?: "ok" | "taken" | "denied"; read?: "denied" }): AwsCli => async (args) => {
        calls.push([...args]);
        if (args[1] === "get-role") {
            if (state.read === "denied") return { code: 254, stdout: "", stderr: "An error occurred (AccessDenied) when calling the GetRole operation: not authorized" };
            return state.exists
                ? { code: 0, stdout: JSON.stringify({ Role: { Path: "/aws-service-role/spot.amazonaws.com/", RoleName: args[3], RoleId: "AROAX", Arn: `arn:aws:iam::123456789012:role/aws-service-role/spot.amazonaws.com/${args[3]}`, CreateDate: "2020-01-01T00:00:00Z" } }), stderr: "" }
                : { code: 254, stdout: "", stderr: `An error occurred (NoSuchEntity) when calling the GetRole operation: The role with name ${args[3]} cannot be found.` };
        }
        if (state.create === "taken") return { code: 254, stdout: "", stderr: "An error occurred (InvalidInput) when calling the CreateServiceLinkedRole operation: Service role name AWSServiceRoleForEC2Spot has been taken in this account, please try a different suffix." };
        if (state.create === "denied") return { code: 254, stdout: "", stderr: "An error occurred (AccessDenied) when calling the CreateServiceLinkedRole operation: not authorized" };
        return { code: 0, stdout: JSON.stringify({ Role: { Path: "/aws-service-role/spot.amazonaws.com/", RoleName: "AWSServiceRoleForEC2Spot" } }), stderr: "" };
    };
    const roles = neededServiceLinkedRoles(heritageWith({}));

    it("a spot stack needs AWSServiceRoleForEC2Spot; others need none", () => {
        assert.deepEqual(roles.map((r) => [r.roleName, r.service]), [["AWSServiceRoleForEC2Spot", "spot.amazonaws.com"]]);
        assert.deepEqual(neededServiceLinkedRoles(heritageWith({ spotForBatch: false })), []);
        assert.deepEqual(neededServiceLinkedRoles(parseConfig(raw(), { stack: "example", region: "us-east-1" })), []);
    });

    it("preflight fails on a missing role with the command that creates it, and --create creates it (a race's 'has been taken' counts as there)", async () => {
        calls.length = 0;
        const missing = await serviceLinkedRolePreflight("national-heritage", roles, "us-west-2", cli({ exists: false }));
        assert.equal(missing.ok, false);
        assert.match(missing.output, /::error title=Service-linked role missing::national-heritage: AWSServiceRoleForEC2Spot does not exist .*aws iam create-service-linked-role --aws-service-name spot\.amazonaws\.com/);
        assert.deepEqual(calls, [["iam", "get-role", "--role-name", "AWSServiceRoleForEC2Spot", "--region", "us-east-1", "--output", "json"]]);
        assert.equal((await serviceLinkedRolePreflight("s", roles, "us-west-2", cli({ exists: true }))).ok, true);
        calls.length = 0;
        const made = await serviceLinkedRolePreflight("s", roles, "us-west-2", cli({ exists: false, create: "ok" }), true);
        assert.equal(made.ok, true, made.output);
        assert.deepEqual(calls[1], ["iam", "create-service-linked-role", "--aws-service-name", "spot.amazonaws.com", "--region", "us-east-1", "--output", "json"]);
        assert.equal((await serviceLinkedRolePreflight("s", roles, "us-west-2", cli({ exists: false, create: "taken" }), true)).ok, true);
        assert.equal((await serviceLinkedRolePreflight("s", roles, "us-west-2", cli({ exists: false, create: "denied" }), true)).ok, false);
        const unread = await serviceLinkedRolePreflight("s", roles, "us-gov-west-1", cli({ exists: true, read: "denied" }));
        assert.equal(unread.ok, false, "a role it cannot read is reported, never assumed");
        assert.match(unread.output, /grant iam:GetRole/);
    });

    it("the answers above are those of AWS's IAM model (botocore data/iam/*/service-2.json)", function () {
        const model = iamModel();
        if (!model) this.skip();
        const op = (name: string) => {
            const o = model!.operations[name];
            return { input: model!.shapes[o.input.shape].required ?? [], errors: o.errors.map((e: { shape: string }) => model!.shapes[e.shape].error?.code ?? e.shape) };
        };
        assert.deepEqual(op("GetRole").input, ["RoleName"]);
        assert.ok(op("GetRole").errors.includes("NoSuchEntity"), "the CLI prints the error code: (NoSuchEntity)");
        assert.deepEqual(op("CreateServiceLinkedRole").input, ["AWSServiceName"]);
        assert.ok(op("CreateServiceLinkedRole").errors.includes("InvalidInput"));
        assert.deepEqual(model!.shapes.GetRoleResponse.required, ["Role"]);
        for (const f of ["Path", "RoleName", "RoleId", "Arn", "CreateDate"]) assert.ok(f in model!.shapes.Role.members, f);
    });
});

describe("day two: workstation zones (issue 17 item 3)", () => {
    const cfg = (o: Record<string, unknown> = {}) => parseConfig(raw(o), { stack: "example", region: "us-east-1" }) as InstanceStackConfig;
    const two = { researchers: [researcher("alice"), researcher("bob", { zone: "us-east-1c", instanceType: "g6.xlarge" })] };

    it("a researcher may have a zone of their own, of the stack's region, with room for its subnet", () => {
        const c = cfg(two);
        assert.deepEqual(c.researchers.map((r) => r.zone), ["us-east-1a", "us-east-1c"]);
        assert.match(problemsOf(() => cfg({ researchers: [researcher("bob", { zone: "eu-west-1a" })] }))["archaeo-workbench:researchers[0].zone"], /not an availability zone of us-east-1/);
        assert.match(problemsOf(() => cfg({ ...two, vpcCidr: "10.42.0.0/24" }))["archaeo-workbench:researchers[1].zone"], /researcher 'bob': us-east-1c needs a workstation subnet of its own, \/24 number 4 of vpcCidr 10\.42\.0\.0\/24, which holds 1; .*\/22 or larger/);
        // The zone's /24 is fixed by its letter: availabilityZone keeps the first, c the fourth.
        assert.deepEqual([zoneSubnet("10.42.0.0/16", 0), zoneSubnet("10.42.0.0/16", 3), zoneSubnet("10.42.0.0/20", 15)], ["10.42.0.0/24", "10.42.3.0/24", "10.42.15.0/24"]);
    });

    it("a zone that does not offer a workstation's type is reported at deploy time, naming the key, the researchers and the zones that do", () => {
        const offered: ZoneOfferings = { "g5.xlarge": ["us-east-1b", "us-east-1c", "us-east-1d"], "g6.xlarge": ["us-east-1a", "us-east-1b"] };
        const found = Object.fromEntries(zoneOfferingProblems(cfg(two), offered).map((p) => [p.propertyPath, p.reason]));
        assert.deepEqual(Object.keys(found).sort(), ["archaeo-workbench:availabilityZone", "archaeo-workbench:researchers[1].zone"]);
        assert.match(found["archaeo-workbench:availabilityZone"], /^us-east-1a does not offer g5\.xlarge in this account .*researcher\(s\) 'alice': .*zones of us-east-1 offering it: us-east-1b, us-east-1c, us-east-1d\. .*A new stack: set availabilityZone to one offering every workstation's type: us-east-1b, us-east-1c, us-east-1d/);
        assert.match(found["archaeo-workbench:researchers[1].zone"], /researcher 'bob': us-east-1c does not offer g6\.xlarge in this account; zones of us-east-1 offering it: us-east-1a, us-east-1b/);
        assert.deepEqual(zoneOfferingProblems(cfg(two), { "g5.xlarge": ["us-east-1a"], "g6.xlarge": ["us-east-1c"] }), []);
        assert.match(zoneOfferingProblems(cfg(), {})[0].reason, /no zone of us-east-1 offers it in this account/);
    });

    it("an offering AWS withdrew warns, naming the researcher and the relocation steps; a parked researcher is not counted (review of issue 17, defect 4)", () => {
        // EC2 DescribeInstanceTypeOfferings answers what a zone offers for NEW instances; an instance already running or stopped
        // there is not removed, while RunInstances in a zone not offering the type fails ("Unsupported") for that instance
        // alone. So infra/workbench.ts checkZones warns (pulumi.log.warn, shown at preview) and never refuses the whole up.
        const parkedBob = { researchers: [researcher("alice"), researcher("bob", { zone: "us-east-1c", instanceType: "g6.xlarge", parked: true })] };
        const withdrawn: ZoneOfferings = { "g5.xlarge": ["us-east-1a"], "g6.xlarge": ["us-east-1a", "us-east-1b"] };
        assert.deepEqual(zoneOfferingProblems(cfg(parkedBob), withdrawn), [], "bob is parked: no workstation of his to place");
        const found = Object.fromEntries(zoneOfferingProblems(cfg(two), withdrawn).map((p) => [p.propertyPath, p.reason]));
        assert.deepEqual(Object.keys(found), ["archaeo-workbench:researchers[1].zone"]);
        assert.match(found["archaeo-workbench:researchers[1].zone"], /researcher 'bob': us-east-1c does not offer g6\.xlarge .*A workstation already there keeps running .* a new one fails RunInstances \(Unsupported\)\. To move 'bob' .*npm run restore -- workspace --stack example --researcher bob .*pulumi config set --path 'researchers\[1\]\.zone' us-east-1a, .*restoreFromSnapshot.*pulumi state unprotect .*pulumi up$/);
        const warned = checkZones(cfg(two), withdrawn);
        assert.deepEqual(warned, [`archaeo-workbench:researchers[1].zone: ${found["archaeo-workbench:researchers[1].zone"]}`], "returned (and logged), not thrown");
    });
});

describe("day two: config keys of the cluster overrides helper still parse", () => {
    it("a minimal cluster config gets the pinned AMI release, the default window and no spot split", () => {
        const c = parseConfig(raw(clusterOverrides()), { stack: "example", region: "us-east-1", today: "2026-12-07" });
        assert.ok(c.mode === "cluster");
        assert.deepEqual([c.cluster.nodeAmiVersion, c.cluster.upgradeWindow.text, c.cluster.gpuLimits], ["v20260714", "sun 02:00-06:00", { onDemand: 4, spot: 0 }]);
    });
});

describe("day two: what `plan --diff` warns about that no resource diff shows (issue 17 review, defects 2 and 3)", () => {
    const cluster = (researchers: Array<{ id: string; parked?: boolean }>, kubernetesVersion = "1.35") => ({ mode: "cluster", researchers, cluster: { kubernetesVersion } });

    it("a Kubernetes upgrade names every add-on held at its creation version (no pin for the new version), with the commands to check it", () => {
        const w = heldAddonWarnings("1.34", "1.35");
        const held = CORE_ADDONS.filter((a) => pinnedAddonVersion("1.35", a) === undefined);
        // eks.json pins coredns and kube-proxy per version (AWS's tables); the other five are held.
        assert.deepEqual(held, ["vpc-cni", "eks-pod-identity-agent", "aws-ebs-csi-driver", "aws-efs-csi-driver", "aws-mountpoint-s3-csi-driver"]);
        assert.deepEqual(w.map((l) => /add-on (\S+) has no version pinned/.exec(l)?.[1]), held);
        for (const [i, a] of held.entries()) {
            assert.ok(w[i].includes(`aws eks describe-addon-versions --kubernetes-version 1.35 --addon-name ${a}`), w[i]);
            assert.ok(w[i].includes(`aws eks describe-addon --cluster-name <cluster> --addon-name ${a}`), w[i]);
        }
        // Where AWS publishes a per-version table for a held add-on (the VPC CNI's 'Amazon VPC CNI versions'), the warning quotes it.
        assert.equal(publishedAddonVersion("1.34", "vpc-cni"), "v1.20.4-eksbuild.1");
        assert.match(heldAddonWarnings("1.33", "1.34")[0], /add-on vpc-cni .*\(AWS's table lists v1\.20\.4-eksbuild\.1 as the latest for 1\.34\)/);
        assert.deepEqual(heldAddonWarnings("1.35", "1.35"), [], "no upgrade, no warning");
        assert.match(heldAddonWarnings("1.35", "1.99")[0], /no add-on row for 1\.99 in infra\/data\/eks\.json; every add-on must be checked/);
    });

    it("a cluster researcher removed or parked while their server may run: the command that stops it first; instance stacks and parked-before are quiet", () => {
        const base = cluster([{ id: "alice" }, { id: "bob" }, { id: "carol", parked: true }]);
        const w = serverStopWarnings(base, cluster([{ id: "alice", parked: true }, { id: "carol" }]));
        assert.equal(w.length, 2, w.join("\n"));
        assert.match(w[0], /^researcher 'alice' is parked: leaving the hub's allow-list does not stop a server already running .*Stop it first: kubectl -n \S+ delete pod jupyter-alice --wait/);
        assert.match(w[1], /^researcher 'bob' is removed: .*pvc-protection keeps them Terminating .*Stop the server first: kubectl -n \S+ delete pod jupyter-bob --wait \(or curl -X DELETE .*\/hub\/api\/users\/bob\/server\)/);
        assert.deepEqual(serverStopWarnings(base, base), []);
        assert.deepEqual(serverStopWarnings({ ...base, mode: "instance" }, { mode: "instance", researchers: [] }), []);
        // Both kinds together, in one list (what plan --diff prints).
        assert.deepEqual(dayTwoWarnings(cluster([{ id: "alice" }], "1.34"), cluster([], "1.35")).length, 5 + 1);
    });

    it("npm run plan --diff prints them: a researcher removed from national-heritage", async () => {
        const base = tmpFile("nh-base.json", "");
        await plan({ stack: "national-heritage", json: base });
        const text = fs.readFileSync(path.join(__dirname, "..", "stacks", "Pulumi.national-heritage.yaml"), "utf8");
        const ids = (heritage.raw["archaeo-workbench:researchers"] as Array<{ id: string }>).map((r) => r.id);
        const gone = ids.at(-1)!;
        // Drop the last researcher's entry (a list item "- id: <gone>" up to the next key at the list's level or the next item).
        const lines = text.split("\n");
        const start = lines.findIndex((l) => new RegExp(`^\\s*- id: ${gone}\\s*$`).test(l));
        assert.ok(start > 0, `found ${gone}'s entry`);
        const indent = /^(\s*)-/.exec(lines[start])![1].length;
        let end = start + 1;
        while (end < lines.length && (lines[end].trim() === "" || /^\s*/.exec(lines[end])![0].length > indent)) end++;
        const edited = [...lines.slice(0, start), ...lines.slice(end)].join("\n");
        const r = await plan({ stack: "national-heritage", stackFile: tmpFile("Pulumi.national-heritage.yaml", edited), diff: base });
        assert.match(r.output, new RegExp(`^ {2}! researcher '${gone}' is removed: .*delete pod jupyter-${gone} --wait`, "m"), r.output.slice(-3000));
    });
});
