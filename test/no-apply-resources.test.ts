import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

// "No resource created inside apply": a resource registered in an apply/then callback is invisible to
// `pulumi preview` while its inputs are unknown, so a PR's diff would not show it (Pulumi docs,
// "Inputs and Outputs": "avoid creating resources inside apply"). This reads the program's syntax: any
// `new X(...)` inside a callback given to `.apply(...)` or `.then(...)` is a finding unless X is a
// plain JavaScript value class.
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

describe("no resource is created inside apply", () => {
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
