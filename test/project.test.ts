import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_KEYS } from "../infra/config";
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

    it("Pulumi.yaml declares every config key with the type, default and description the program uses", () => {
        assert.deepEqual(Object.keys(project.config).sort(), Object.keys(CONFIG_KEYS).sort());
        for (const [k, spec] of Object.entries(CONFIG_KEYS)) {
            const decl = project.config[k];
            assert.equal(decl.type, spec.type, k);
            assert.equal(decl.description, spec.description, k);
            assert.deepEqual(decl.default, (spec as { default?: unknown }).default, `${k} default`);
            if (spec.type === "array") assert.deepEqual(decl.items, { type: "string" }, k);
        }
    });

    it("the example stack sets or comments every key", () => {
        const text = fs.readFileSync(path.join(root, "stacks", "Pulumi.example.yaml"), "utf8");
        for (const k of Object.keys(CONFIG_KEYS)) assert.ok(text.includes(`archaeo-workbench:${k}:`), k);
    });

    it("there are at least two institution stacks besides the example, with different choices", () => {
        const stacks = listStacks().filter((s) => s !== "example");
        assert.ok(stacks.length >= 2);
        const types = new Set(stacks.map((s) => readStack(s).raw["archaeo-workbench:instanceType"]));
        const modes = new Set(stacks.map((s) => readStack(s).raw["archaeo-workbench:accessMode"]));
        assert.ok(types.size >= 2 && modes.size >= 2);
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
