import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import * as pulumi from "@pulumi/pulumi";
import { listStacks } from "../tools/stacks";
import { installApplyGuard, takeApplyRegistrations } from "./helpers/apply-guard";
import { engine, runStack } from "./helpers/program";

// "No resource created inside apply": a resource registered in an apply/then callback is invisible to
// `pulumi preview` while its inputs are unknown, so a PR's diff would not show it (Pulumi docs,
// "Inputs and Outputs": "avoid creating resources inside apply"). Two checks:
// - at run time (helpers/apply-guard.ts), over every stack's program: any registration while an apply
//   callback runs, however it reaches the constructor (a named helper, another module, after an await);
// - in the program's syntax, for what the run-time check does not watch: any `new X(...)` inside a
//   callback given to `.apply(...)` or `.then(...)` is a finding unless X is a plain JavaScript value class.
const VALUE_CLASSES = new Set(["Error", "TypeError", "RangeError", "Set", "Map", "Date", "URL", "RegExp", "Array", "Uint8Array", "TextEncoder"]);

function constructionsInCallbacks(fileName: string, text: string): string[] {
    const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const inside = (node: ts.Node): void => {
        if (ts.isNewExpression(node) && !VALUE_CLASSES.has(node.expression.getText(sf))) {
            found.push(`${fileName}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1} new ${node.expression.getText(sf)}`);
        }
        ts.forEachChild(node, inside);
    };
    const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && ["apply", "then"].includes(node.expression.name.text)) {
            for (const arg of node.arguments) if (ts.isArrowFunction(arg) || ts.isFunctionExpression(arg)) inside(arg.body);
        }
        ts.forEachChild(node, visit);
    };
    visit(sf);
    return found;
}

function programFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return programFiles(p);
        return e.name.endsWith(".ts") ? [p] : [];
    });
}

/** A custom resource of the shape a provider SDK defines (CustomResource itself is abstract). */
class Topic extends pulumi.CustomResource {
    constructor(name: string, args: { name?: pulumi.Input<string> } = {}) {
        super("aws:sns/topic:Topic", name, args);
    }
}

/** A named helper, as a program would factor one out: the syntax check cannot see it called from an apply. */
function topicFor(name: string): string {
    new Topic(name);
    return name;
}

describe("no resource is created inside apply", function () {
    // Reads each stack's shared evaluation (runStack: once per test process), a few seconds each when it is the first.
    this.timeout(240_000);
    before(() => installApplyGuard());

    it("the run-time check sees a resource registered from a named function, after an await, under all(); not one whose input is an apply", async () => {
        const e = await engine();
        takeApplyRegistrations();
        const done = [
            pulumi.output("a").apply((v) => topicFor(`named-${v}`)),
            pulumi.output("b").apply(async (v) => { await new Promise((r) => setTimeout(r, 1)); return topicFor(`after-await-${v}`); }),
            pulumi.all([pulumi.output("c"), "d"]).apply(([c, d]) => topicFor(`all-${c}${d}`)),
        ];
        new Topic("input-from-apply", { name: pulumi.output("x").apply((v) => v.toUpperCase()) });
        for (const o of done) await (o as any).promise();
        await e.settle();
        const found = takeApplyRegistrations();
        assert.deepEqual(found.map((f) => f.name), ["named-a", "all-cd", "after-await-b"]);
        for (const f of found) assert.ok(f.where.some((w) => /^topicFor \(test\/no-apply-resources\.test\.ts:\d+:\d+\)$/.test(w)), `names the helper: ${f.where.join(" <- ")}`);
        assert.deepEqual(e.resources.map((r) => r.name).sort(), ["after-await-b", "all-cd", "input-from-apply", "named-a"], "the check records; it does not stop the registration");
    });

    for (const stack of listStacks()) {
        it(`${stack}: the whole program, evaluated with resolved values, registers nothing inside an apply`, async () => {
            const run = await runStack(stack);
            assert.ok(run.resources.length > 50, `${run.resources.length} resources`);
            const found = run.applyRegistrations;
            assert.deepEqual(found.map((f) => `${f.type} ${f.name} at ${f.where.slice(0, 3).join(" <- ")}`), []);
        });
    }

    it("the check sees a resource inside an apply and ignores one whose input is an apply", () => {
        const bad = `const b = key.arn.apply((k) => new aws.s3.Bucket("b", { tags: { k } }));\npulumi.all([a]).apply(([x]) => { if (x) { new k8s.core.v1.ConfigMap("c", {}); } });`;
        assert.deepEqual(constructionsInCallbacks("bad.ts", bad), ["bad.ts:1 new aws.s3.Bucket", "bad.ts:2 new k8s.core.v1.ConfigMap"]);
        const good = `new k8s.core.v1.PersistentVolume("pv", { spec: specs.apply((s) => s[0]) });\nconst e = x.apply((v) => { if (!v) throw new Error("no"); return new Set([v]); });`;
        assert.deepEqual(constructionsInCallbacks("good.ts", good), []);
    });

    it("infra/: no `new` of anything but a value class inside an apply or then callback", () => {
        const root = path.join(__dirname, "..", "infra");
        const files = programFiles(root);
        assert.ok(files.length > 20, `${files.length} program files`);
        const found = files.flatMap((f) => constructionsInCallbacks(path.relative(root, f), fs.readFileSync(f, "utf8")));
        assert.deepEqual(found, []);
    });
});
