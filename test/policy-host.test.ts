/**
 * The pack loaded by the real policy-pack host, exactly as the Pulumi CLI starts it, and driven over
 * gRPC as the engine drives it (the host and its calls: helpers/policy-host.ts).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { createRequire } from "module";
import type { RecordedResource } from "../tools/mock-engine";
import { analyzeRequest, analyzeStackRequest, byUrnOf, configureRequest, diagnosticsOf, PackConfig, proto, runPolicies } from "../tools/policy-runner";
import { Host, PACK_DIR, rpc, RUN_POLICY_PACK, startHost, throughHost } from "./helpers/policy-host";
import { allPolicies, POLICY_PACK_NAME, resourcePolicies } from "../policies/rules";
import { compliant, set } from "./helpers/fixtures";
import { awsProvider, PACK, UNKNOWN } from "./helpers/policy";
import { runStack } from "./helpers/program";

async function offline(resources: RecordedResource[], config: PackConfig = {}): Promise<string[]> {
    const r = await runPolicies(resources, PACK, config);
    return r.violations.map((v) => `${v.policyName} ${v.enforcementLevel} ${v.urn ?? ""} ${v.rawMessage}`).sort();
}

describe("the pack in the real policy-pack host (run-policy-pack over gRPC)", function () {
    this.timeout(180_000);
    let host: Host;

    before(async () => {
        if (!fs.existsSync(RUN_POLICY_PACK)) {
            throw new Error(`${path.relative(process.cwd(), RUN_POLICY_PACK)} is missing: install the pack as the CLI uses it with \`npm ci --omit=dev --prefix policies\` before running the tests (.ci/run does).`);
        }
        host = await startHost();
    });
    after(() => { host?.client?.close(); host?.proc.kill(); });

    it("a production install carries the TypeScript the pack pins, so the host does not fall back to its bundled 3.8", () => {
        const fromPulumi = createRequire(path.join(PACK_DIR, "node_modules", "@pulumi", "pulumi", "tsutils.js"));
        const tsPath = fromPulumi.resolve("typescript");
        assert.equal(path.relative(PACK_DIR, tsPath).split(path.sep).slice(0, 2).join("/"), "node_modules/typescript", tsPath);
        const pkg = JSON.parse(fs.readFileSync(path.join(PACK_DIR, "package.json"), "utf8"));
        assert.equal(fromPulumi("typescript/package.json").version, pkg.dependencies.typescript);
        assert.equal(pkg.devDependencies, undefined, "everything the host needs is a runtime dependency");
        assert.equal(pkg.dependencies["@pulumi/kubernetes"], undefined, "unused: the pack matches Kubernetes and Helm types by token");
        assert.ok(!fs.existsSync(path.join(PACK_DIR, "node_modules", "@pulumi", "kubernetes")));
    });

    it("every package the pack imports is one of its own dependencies, resolved from its production install (not from the repository's dev install above it)", () => {
        const sources = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? (e.name === "node_modules" ? [] : sources(path.join(dir, e.name))) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []);
        const specifiers = new Set(sources(PACK_DIR).flatMap((f) => [...fs.readFileSync(f, "utf8").matchAll(/from "([^"./][^"]*)"/g)].map((m) => m[1])));
        const builtins = new Set(require("module").builtinModules as string[]);
        const deps = Object.keys(JSON.parse(fs.readFileSync(path.join(PACK_DIR, "package.json"), "utf8")).dependencies);
        const fromPack = createRequire(path.join(PACK_DIR, "index.ts"));
        for (const s of [...specifiers].filter((x) => !builtins.has(x.replace(/^node:/, "")))) {
            const pkg = s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0];
            assert.ok(deps.includes(pkg), `the pack imports ${s}, but ${pkg} is not in policies/package.json dependencies`);
            assert.ok(fromPack.resolve(s).startsWith(path.join(PACK_DIR, "node_modules") + path.sep), `${s} resolves to ${fromPack.resolve(s)}, outside policies/node_modules`);
        }
        assert.ok(specifiers.has("@bufbuild/cel"), "the port-forward guard's CEL is evaluated by @bufbuild/cel");
    });

    it("GetAnalyzerInfo lists every policy of the pack, mandatory, with its type and config schema", async () => {
        const info = await rpc(host.client, "getAnalyzerInfo", new (proto.emptypb().Empty)());
        assert.equal(info.getName(), POLICY_PACK_NAME);
        assert.equal(info.getVersion(), "0.1.0");
        const policies = info.getPoliciesList();
        assert.deepEqual(policies.map((p: any) => p.getName()).sort(), allPolicies.map((p) => p.name).sort());
        const resourceNames = new Set(resourcePolicies.map((p) => p.name));
        for (const p of policies) {
            assert.equal(p.getEnforcementlevel(), 1, `${p.getName()} mandatory`);
            assert.equal(p.getPolicyType(), resourceNames.has(p.getName()) ? 1 : 2, `${p.getName()} type`);
        }
        const hop = policies.find((p: any) => p.getName() === "ec2-imds-hop-limit");
        assert.equal(hop.getConfigschema().getProperties().toJavaScript().containerHostHopLimit.default, 2);
    });

    it("Configure with the CLI's reconciled defaults, then Analyze: a violation is mandatory and worded as the engine prints it", async () => {
        await rpc(host.client, "configure", configureRequest(allPolicies));
        const rs = structuredClone(compliant());
        set("workspace", (p) => { p.encrypted = false; })(rs);
        const volume = rs.find((r) => r.name === "workspace")!;
        const diags = diagnosticsOf(await rpc(host.client, "analyze", analyzeRequest(volume, byUrnOf([awsProvider(), ...rs]))));
        assert.deepEqual(diags, [{
            policyName: "ebs-volumes-encrypted-cmk", enforcementLevel: "mandatory", urn: "",
            message: "Checks whether EBS volumes and snapshot copies are encrypted with a customer-managed KMS key.\nEBS volume 'workspace' must set encrypted: true.",
        }]);
    });

    it("an unknown value at preview: the host reports the advisory deferral, exactly as the offline runner does", async () => {
        await rpc(host.client, "configure", configureRequest(allPolicies));
        const rs = [awsProvider(), ...structuredClone(compliant())];
        set("workspace", (p) => { p.kmsKeyId = UNKNOWN; })(rs);
        set("ws", (p) => { p.userData = UNKNOWN; })(rs);
        const got = await throughHost(host, rs);
        assert.ok(got.some((d) => d.startsWith("ebs-volumes-encrypted-cmk advisory ") && d.includes("during preview: EBS volume 'workspace': kmsKeyId is unknown")), got.join("\n"));
        assert.deepEqual(got, await offline(rs));
    });

    it("a first preview of the example and the cluster stacks: host and offline runner agree diagnostic for diagnostic", async () => {
        await rpc(host.client, "configure", configureRequest(allPolicies));
        for (const stack of ["example", "national-heritage"]) {
            const resources = (await runStack(stack, { preview: true })).resources;
            const got = await throughHost(host, resources);
            assert.ok(got.length > 10, `${stack}: deferrals expected`);
            assert.deepEqual(got, await offline(resources), stack);
        }
    });

    it("AnalyzeStack runs the stack policies in the host: a bucket without versioning and a foreign key", async () => {
        await rpc(host.client, "configure", configureRequest(allPolicies));
        const rs = [awsProvider(), ...structuredClone(compliant())];
        set("datasets-ver", (p) => { p.versioningConfiguration.status = "Suspended"; })(rs);
        set("logs", (p) => { p.kmsKeyId = "arn:aws:kms:us-east-1:999999999999:key/99999999-12ab-34cd-56ef-1234567890ab"; })(rs);
        const diags = diagnosticsOf(await rpc(host.client, "analyzeStack", analyzeStackRequest(rs)));
        assert.deepEqual(diags.map((d) => [d.policyName, d.enforcementLevel]).sort(), [["kms-key-references-stack-key", "mandatory"], ["s3-buckets-fully-configured", "mandatory"]]);
        assert.deepEqual(await throughHost(host, rs), await offline(rs));
    });

    it("--policy-pack-config semantics: one policy set to advisory by Configure reports advisory", async () => {
        const config: PackConfig = { "ecr-immutable-tags": "advisory" };
        await rpc(host.client, "configure", configureRequest(allPolicies, config));
        const rs = [awsProvider(), ...structuredClone(compliant())];
        set("repo", (p) => { p.imageTagMutability = "MUTABLE"; })(rs);
        const got = await throughHost(host, rs);
        assert.equal(got.length, 1);
        assert.match(got[0], /^ecr-immutable-tags advisory /);
        assert.deepEqual(got, await offline(rs, config));
    });
});
