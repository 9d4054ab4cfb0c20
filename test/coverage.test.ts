/**
 * Default-deny (policies/rules/coverage.ts): the pack lists every resource type the stack may contain
 * with the policies that judge it, refuses any other type naming it, and refuses Helm inputs it cannot
 * read. The list is checked against what the four stacks register and against the rules' own source.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import type { RecordedResource } from "../tools/mock-engine";
import { allPolicies } from "../policies/rules";
import { COMPONENT_PREFIX, GENERIC_POLICIES, JUDGED_TYPES, STRUCTURAL, unjudgedType } from "../policies/rules/coverage";
import { compliant, set } from "./helpers/fixtures";
import { check, fixture } from "./helpers/policy";
import { runStack } from "./helpers/program";

const RULES = path.join(__dirname, "..", "policies", "rules");

/** A source file of the pack and every pack file it imports (relative imports, transitively), as one text. */
function withImports(file: string, seen = new Set<string>()): string {
    if (seen.has(file)) return "";
    seen.add(file);
    const text = fs.readFileSync(file, "utf8");
    const imported = [...text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)].map((m) => path.resolve(path.dirname(file), `${m[1]}.ts`)).filter((f) => fs.existsSync(f));
    return [text, ...imported.map((f) => withImports(f, seen))].join("\n");
}

/** Each policy's defining rule file with what it imports (the only code that can read a type for it). */
function definingFiles(): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of fs.readdirSync(RULES).filter((x) => x.endsWith(".ts") && x !== "index.ts")) {
        const own = fs.readFileSync(path.join(RULES, f), "utf8");
        const text = withImports(path.join(RULES, f));
        for (const m of own.matchAll(/name: "([a-z0-9-]+)"/g)) if (allPolicies.some((p) => p.name === m[1])) out.set(m[1], text);
        // Policies built by a helper (workload("k8s-...", ...)).
        for (const m of own.matchAll(/workload\("([a-z0-9-]+)"/g)) out.set(m[1], text);
    }
    return out;
}

/** The ways a rule's source names a type: its token, or the SDK class (aws.kms.Key) for typed rules. */
function spellings(type: string): string[] {
    const [pkg, mod, name] = type.split(":");
    const module = mod.split("/")[0];
    // Kubernetes rules build tokens from their API group (`${RBAC}:${kind}`): the group names every kind in it.
    return [type, `${pkg}.${module}.${name}`, ...(pkg === "kubernetes" ? [`${pkg}:${mod}"`] : [])];
}

describe("default-deny: the pack judges every resource type and input of the stack", function () {
    this.timeout(300_000);

    it("every type the four stacks register, resolved and at a first preview, is listed (components aside)", async () => {
        for (const stack of ["example", "uni-archaeology", "city-museum", "national-heritage"]) {
            for (const preview of [false, true]) {
                const types = new Set((await runStack(stack, { preview })).resources.map((r) => r.type));
                const unlisted = [...types].filter((t) => unjudgedType(t) !== undefined);
                assert.deepEqual(unlisted, [], `${stack}${preview ? " (preview)" : ""}`);
                assert.ok([...types].some((t) => t.startsWith(COMPONENT_PREFIX)), "components are recognised by their prefix");
            }
        }
    });

    it("every policy named for a type exists, and reads that type (its rule file or a library that file imports names it), unless it reads every resource", () => {
        const names = new Set(allPolicies.map((p) => p.name));
        const files = definingFiles();
        const problems: string[] = [];
        for (const [type, policies] of Object.entries(JUDGED_TYPES)) {
            for (const p of policies) {
                if (!names.has(p)) { problems.push(`${type}: ${p} is not a policy of the pack`); continue; }
                if ((GENERIC_POLICIES as readonly string[]).includes(p)) continue;
                const text = files.get(p);
                assert.ok(text, `the rule file defining ${p}`);
                if (!spellings(type).some((s) => text.includes(s))) problems.push(`${type}: ${p}'s rule file and what it imports never name it`);
            }
            if (policies.length === 0) assert.ok(STRUCTURAL[type], `${type} has no policy: STRUCTURAL must say why`);
        }
        for (const type of Object.keys(STRUCTURAL)) assert.deepEqual(JUDGED_TYPES[type], [], `${type} is structural, so no policy is listed for it`);
        assert.deepEqual(problems, []);
    });

    it("a resource of an unlisted type is a mandatory violation naming the type; a listed one is not", async () => {
        const rs: RecordedResource[] = structuredClone(compliant());
        rs.push(fixture("aws:s3/directoryBucket:DirectoryBucket", "express", { bucket: "archaeo-x--use1-az4--x-s3" }));
        rs.push(fixture("aws:lb/loadBalancer:LoadBalancer", "alb", { internal: false }));
        rs.push(fixture("aws:lb/loadBalancer:LoadBalancer", "alb-2", { internal: false }));
        const v = (await check(rs)).violations.filter((x) => x.policyName === "pack-judges-every-type");
        assert.deepEqual(v.map((x) => [x.enforcementLevel, x.resourceName]), [["mandatory", "express"], ["mandatory", "alb"], ["mandatory", "alb-2"]]);
        assert.match(v[0].message, /the pack does not judge aws:s3\/directoryBucket:DirectoryBucket yet/);
        assert.match(v[1].message, /aws:lb\/loadBalancer:LoadBalancer/);
        const clean: RecordedResource[] = structuredClone(compliant());
        assert.deepEqual((await check(clean)).violations.filter((x) => x.policyName === "pack-judges-every-type"), []);
    });

    it("a Helm release with value files or a post-renderer is a mandatory violation naming the input", async () => {
        const rs: RecordedResource[] = structuredClone(compliant());
        set("jupyterhub", (p) => { p.valueYamlFiles = [{ path: "./more-values.yaml" }]; }, "kubernetes:helm.sh/v3:Release")(rs);
        const v = (await check(rs)).violations.filter((x) => x.policyName === "pack-judges-every-input");
        assert.equal(v.length, 1);
        assert.equal(v[0].enforcementLevel, "mandatory");
        assert.match(v[0].message, /Release 'jupyterhub' sets valueYamlFiles/);
        set("jupyterhub", (p) => { p.valueYamlFiles = []; p.postrender = "./post.sh"; }, "kubernetes:helm.sh/v3:Release")(rs);
        const w = (await check(rs)).violations.filter((x) => x.policyName === "pack-judges-every-input");
        assert.equal(w.length, 1);
        assert.match(w[0].message, /postrender/);
        assert.doesNotMatch(w[0].message, /valueYamlFiles/, "an empty list of value files sets nothing");
    });

    it("workload pod specs are found wherever a pod template sits, in any kind: an Argo Rollout, a Kubeflow PyTorchJob's replicas, a CronJob of another API version", async () => {
        const privileged = { containers: [{ name: "c", image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/r@sha256:${"a".repeat(64)}`, securityContext: { privileged: true, allowPrivilegeEscalation: false, runAsNonRoot: true } }] };
        const rs: RecordedResource[] = structuredClone(compliant());
        rs.push(fixture("kubernetes:argoproj.io/v1alpha1:Rollout", "rollout", { spec: { template: { spec: privileged } } }));
        rs.push(fixture("kubernetes:kubeflow.org/v1:PyTorchJob", "ddp-job", { spec: { pytorchReplicaSpecs: { Master: { template: { spec: privileged } }, Worker: { replicas: 2, template: { spec: privileged } } } } }));
        rs.push(fixture("kubernetes:batch/v1beta1:CronJob", "nightly", { spec: { jobTemplate: { spec: { template: { spec: privileged } } } } }));
        const v = (await check(rs)).violations.filter((x) => x.policyName === "k8s-no-privileged");
        assert.deepEqual(v.map((x) => x.resourceName).sort(), ["ddp-job", "ddp-job", "nightly", "rollout"]);
        assert.match(v.find((x) => x.resourceName === "ddp-job")!.message, /must not be privileged/);
        // The kinds themselves are still refused until a rule is written for what their controllers do.
        const types = (await check(rs)).violations.filter((x) => x.policyName === "pack-judges-every-type").map((x) => x.resourceName).sort();
        assert.deepEqual(types, ["ddp-job", "nightly", "rollout"]);
    });
});
