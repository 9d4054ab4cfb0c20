import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_KEYS, parseConfig, projectConfigBlock } from "../infra/config";
import { allPolicies } from "../policies/rules";
import { renderProjectYaml } from "../tools/gen-project-config";
import { listStacks, readStack } from "../tools/stacks";
import { run } from "./helpers/tools";

const root = path.join(__dirname, "..");
const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));

describe("project files", () => {
    it("Pulumi.yaml: name, nodejs runtime, program in infra/, stacks in stacks/", () => {
        assert.equal(project.name, "archaeo-workbench");
        assert.equal(project.runtime.name, "nodejs");
        assert.equal(project.main, "infra/");
        assert.equal(project.stackConfigDir, "stacks");
    });

    it("Pulumi.yaml declares every config key exactly as infra/config/schema.ts says (npm run gen:config writes it)", () => {
        assert.deepEqual(project.config, projectConfigBlock());
        // researchers is a list of objects: the project schema has no object type (pulumi/pulumi
        // sdk/go/common/workspace/project.json), so it is validated by the program instead.
        assert.equal(project.config.researchers, undefined);
        for (const [k, spec] of Object.entries(CONFIG_KEYS)) if ((spec as { declared?: boolean }).declared !== false) assert.ok(k in project.config, k);
    });

    it("npm run gen:config is idempotent: Pulumi.yaml as committed is its output, and a second run writes the same bytes (the note once)", () => {
        const text = fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8");
        assert.equal(renderProjectYaml(text), text);
        assert.equal(renderProjectYaml(renderProjectYaml(text)), text);
        assert.equal(text.split("is not declared here").length, 2);
    });

    it("Pulumi.yaml's declarations satisfy Pulumi's own project schema rules", () => {
        for (const [k, decl] of Object.entries(project.config as Record<string, any>)) {
            assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), `${k}: type ${decl.type}`);
            if (decl.type === "array") assert.deepEqual(decl.items, { type: "string" }, k);
            for (const attr of Object.keys(decl)) assert.ok(["type", "items", "description", "secret", "default"].includes(attr), `${k}.${attr}`);
        }
    });

    it("the example stack sets or comments every key and every researcher field", () => {
        const text = fs.readFileSync(path.join(root, "stacks", "Pulumi.example.yaml"), "utf8");
        for (const k of Object.keys(CONFIG_KEYS)) assert.ok(text.includes(`archaeo-workbench:${k}:`), k);
        for (const f of ["id:", "iamPrincipalArn:", "sessionName:", "email:", "sshPublicKeys:", "instanceType,", "workspaceSizeGiB", "restoreFromSnapshot:"]) assert.ok(text.includes(f), f);
    });

    it("every stack parses, and the institution stacks cover both modes, both access modes and several researchers", () => {
        const cfgs = listStacks().map((s) => { const f = readStack(s); return parseConfig(f.raw, { stack: s, region: f.region }); });
        const institutions = cfgs.filter((c) => c.stack !== "example");
        assert.ok(institutions.length >= 3);
        assert.deepEqual(new Set(institutions.map((c) => c.mode)), new Set(["instance", "cluster"]));
        assert.deepEqual(new Set(institutions.map((c) => c.access.mode)), new Set(["ssm", "cidr"]));
        assert.ok(institutions.filter((c) => c.researchers.length >= 3).length >= 2, "uni-archaeology and national-heritage have several researchers");
    });

    it("the README's first screen: what it is, then the install, offline plan and test commands; .ci/run runs exactly those", () => {
        const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
        const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)![1];
        const commands = firstBlock.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean);
        assert.deepEqual(commands, ["npm ci", "npm run plan -- --stack example", "npm test"]);
        assert.ok(readme.indexOf("```bash") < readme.indexOf("## Deploying for an institution") && readme.indexOf("## Deploying") < readme.indexOf("## A researcher's day one"));
        const ci = fs.readFileSync(path.join(root, ".ci", "run"), "utf8").split("\n").filter((l) => /^npm /.test(l));
        assert.deepEqual(ci.map((l) => l.replace(/ --no-audit --no-fund/, "")), ["npm ci", "npm test"]);
        const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
        assert.match(pkg.scripts.test, /^node tools\/prereqs\.mjs (--skip-pack )?&& node tools\/checks\.mjs && /, "npm test installs what it runs for real (the pack's own dependencies in tools/checks.mjs)");
    });

    it("every policy the README's security model names exists, and every mandatory policy of the pack is named there", () => {
        const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
        const section = readme.slice(readme.indexOf("## Security model"), readme.indexOf("## Outputs"));
        // The claims table: the last cell of each row lists the policies that enforce the claim.
        const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| claim") && !l.startsWith("|---"));
        assert.ok(rows.length >= 8, `${rows.length} claims`);
        const named = new Set(rows.flatMap((r) => [...r.split("|").slice(-2, -1)[0].matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1])));
        const pack = new Set(allPolicies.map((p) => p.name));
        for (const n of named) assert.ok(pack.has(n), `the README names ${n}, which is not a policy of the pack`);
        for (const p of allPolicies.filter((x) => x.enforcementLevel === "mandatory")) assert.ok(named.has(p.name), `${p.name} is mandatory but the README's security model does not name it`);
    });

    it(".mocharc.json lists every test file exactly once (the heaviest first, so the two workers finish together; a file listed twice would run twice in parallel mode)", () => {
        const spec: string[] = JSON.parse(fs.readFileSync(path.join(root, ".mocharc.json"), "utf8")).spec;
        const files = (fs.readdirSync(path.join(root, "test"), { recursive: true }) as string[]).map((f) => `test/${String(f).split(path.sep).join("/")}`).filter((f) => f.endsWith(".test.ts")).sort();
        assert.deepEqual([...spec].sort(), files);
        assert.equal(new Set(spec).size, spec.length, "no file twice");
    });

    it("YAML files pass yamllint", () => {
        const files = ["Pulumi.yaml", ...listStacks().map((s) => `stacks/Pulumi.${s}.yaml`)];
        const r = run("yamllint", ["-d", "{extends: default, rules: {line-length: {max: 200}, document-start: disable, truthy: {check-keys: false}}}", ...files.map((f) => path.join(root, f))]);
        assert.equal(r.status, 0, r.output);
    });

    it("package.json pins the toolchain exactly", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
        const all = { ...pkg.dependencies, ...pkg.devDependencies } as Record<string, string>;
        for (const [name, v] of Object.entries(all)) assert.match(v, /^\d+\.\d+\.\d+$/, `${name}@${v} must be pinned`);
        assert.match(all["@pulumi/pulumi"], /^3\.248\./);
        assert.match(all["@pulumi/aws"], /^7\./);
        assert.match(all.typescript, /^6\./);
    });
});
