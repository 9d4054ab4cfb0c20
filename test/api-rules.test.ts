/**
 * Nothing AWS or Kubernetes would refuse: every name, description, identifier and enumerated value the
 * program sends, checked against the rules of the API that receives it (tools/api-rules), for every
 * stack, at a first preview and at `up`, and for long-name variants at every config limit.
 *
 * Sources: AWS's service models as botocore publishes them (the generated table
 * tools/api-rules/aws-api-rules.json, compared here with the installed botocore), the rules AWS's model
 * documentation states (quoted in tools/api-rules/bindings.ts and checked verbatim), pulumi-aws's
 * autonaming (provider/resources.go), and k8s.io/apimachinery's name and label validation.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parseConfig, StackConfig } from "../infra/config";
import { physicalName } from "../infra/tags";
import { readStack } from "../tools/stacks";
import { TYPE_RULES } from "../tools/api-rules/bindings";
import { ApiRuleReport, checkApiRules, javaPattern, valuesAt, violation } from "../tools/api-rules/check";
import { findBotocore, loadTable, readModel, serializeTable, TABLE_FILE } from "../tools/api-rules/generate";
import { plan } from "../tools/plan";
import { RecordedResource, runProgram, runStack } from "./helpers/program";
import { ACCOUNT } from "./helpers/config";
import { tmpFile } from "./helpers/tools";

const STACKS = ["example", "city-museum", "national-heritage", "uni-archaeology"];
const table = loadTable();

function refusals(rep: ApiRuleReport): string {
    return rep.findings.map((f) => `${f.type} ${f.name} ${f.property}=${JSON.stringify(f.value)}: ${f.rule} [${f.source}]`).join("\n");
}

/** The first resource of a type (and name, when given). */
function find(resources: readonly RecordedResource[], type: string, name?: string): RecordedResource {
    const r = resources.find((x) => x.type === type && (name === undefined || x.name === name));
    assert.ok(r, `no ${type} ${name ?? ""}`);
    return r;
}

/** A rule of a binding, by type and input path. */
function ruleOf(type: string, prop: string, i = 0) {
    const b = TYPE_RULES[type].bindings.find((x) => x.prop === prop);
    assert.ok(b, `no binding ${type} ${prop}`);
    const r = b.rules[i];
    return "model" in r ? table.members[r.model] : r.rule;
}

// Long names at every limit: a 24-character institution, a 100-character stack name in Pulumi's
// character set (letters, digits, '-', '_', '.'), and 20-character researcher ids that share their first
// 19 characters, so truncation must keep them apart.
const LONG_INSTITUTION = "abcdefghij-klmnopqrstuvw";
const LONG_STACK = `Prod.EU_west-${"archaeology-collections-".repeat(4)}`.slice(0, 100);
const LONG_IDS = ["collections-imaging1", "collections-imaging2", "collections-imaging3"];

function longVariant(stack: string): StackConfig {
    const f = readStack(stack);
    const raw: Record<string, unknown> = { ...f.raw, "archaeo-workbench:institution": LONG_INSTITUTION };
    const rs = raw["archaeo-workbench:researchers"] as Record<string, unknown>[];
    raw["archaeo-workbench:researchers"] = LONG_IDS.map((id, i) => {
        const { sessionName: _session, ...rest } = rs[i % rs.length];
        return { ...rest, id, iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/${id}` };
    });
    // A second region for backups: the copy vault's name is the one nearest its limit.
    raw["archaeo-workbench:backupCopyRegion"] = f.region === "us-east-2" ? "us-west-2" : "us-east-2";
    raw["archaeo-workbench:backupCopyKmsKeyArn"] = `arn:aws:kms:${raw["archaeo-workbench:backupCopyRegion"]}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    return parseConfig(raw, { stack: LONG_STACK, region: f.region });
}

describe("api rules: the generated table is AWS's model", function () {
    this.timeout(120_000);

    it("every bound member and quoted documentation is in the table (the table is complete)", () => {
        for (const [type, t] of Object.entries(TYPE_RULES)) {
            for (const b of t.bindings) {
                for (const r of b.rules) {
                    if ("model" in r) assert.ok(table.members[r.model], `${type} ${b.prop}: ${r.model} missing from ${TABLE_FILE}; run npm run gen:api-rules`);
                    if ("doc" in r) {
                        assert.ok(table.docs[r.doc], `${type} ${b.prop}: no documentation of ${r.doc} in the table`);
                        assert.ok(table.docs[r.doc].includes(r.quote), `${type} ${b.prop}: the model's documentation of ${r.doc} no longer says "${r.quote}"`);
                    }
                }
            }
        }
    });

    it("the table agrees with the installed botocore's service models (regenerate: npm run gen:api-rules)", function () {
        const found = findBotocore();
        assert.ok(found, "no Python with botocore: tools/prereqs.mjs installs Debian's python3-botocore");
        const model = readModel(found.python, Object.keys(table.members), Object.keys(table.docs));
        if (found.version === table.botocore) {
            assert.equal(serializeTable(model), serializeTable(table), `aws-api-rules.json disagrees with botocore ${found.version}: run npm run gen:api-rules`);
            return;
        }
        // Another botocore (Debian's on a fresh machine): lengths and patterns must agree; a newer model may add enum values.
        for (const [k, c] of Object.entries(model.members)) {
            const t = table.members[k];
            assert.deepEqual({ min: c.min, max: c.max, pattern: c.pattern, type: c.type }, { min: t.min, max: t.max, pattern: t.pattern, type: t.type }, `${k} differs between botocore ${found.version} and the table's ${table.botocore}`);
            for (const e of c.enum ?? []) assert.ok(t.enum?.includes(e), `${k}: botocore ${found.version} allows ${e}, the table does not`);
        }
    });

    it("every model pattern in the table compiles to a whole-value JavaScript pattern", () => {
        for (const [k, c] of Object.entries(table.members)) if (c.pattern) assert.doesNotThrow(() => javaPattern(c.pattern!), k);
    });
});

describe("api rules: the checker", () => {
    it("reads Java patterns as AWS validates them: whole value, \\p{all}, (?i), a quantified lookahead, identity escapes", () => {
        assert.ok(!javaPattern("[0-9A-Za-z _-]+").test("Daily (example), 14"), "whole-value match (AWS uses Java's matches)");
        assert.ok(javaPattern("[0-9A-Za-z _-]+").test("Daily example 14"));
        assert.ok(javaPattern("[\\p{all}]*").test("any\nthing"));
        assert.ok(!javaPattern("^(?![^:\\\\]*/action/|(?i).*<script>.*</script>.*)[^:\\\\]+$").test("a <SCRIPT>x</SCRIPT>"));
        assert.ok(javaPattern("^(\\/|(\\/(?!\\.)+[^$#<>;`|&?{}^*/\\n]+){1,4})$").test("/researchers/alice"));
        assert.ok(!javaPattern("^(\\/|(\\/(?!\\.)+[^$#<>;`|&?{}^*/\\n]+){1,4})$").test("/.hidden"));
        assert.ok(javaPattern("^[a-zA-Z0-9\\-\\_\\.]{1,50}$").test("a_b.c-d"));
    });

    it("measures, enumerates and refuses reserved prefixes", () => {
        assert.match(violation("x".repeat(51), { max: 50 })!, /longer than 50 characters \(51\)/);
        assert.match(violation("FOO", { enum: ["A", "B"] })!, /not one of A, B/);
        assert.match(violation("sg-web", { notPrefix: ["sg-"] })!, /reserved prefix 'sg-'/);
        assert.match(violation("192.168.5.4", { bucketName: true })!, /IP address/);
        assert.match(violation(2, { enum: [1, 3, 5] })!, /not one of 1, 3, 5/);
        assert.match(violation(["a", "b"], { max: 1 }, true)!, /more than 1 item/);
        assert.equal(violation("ok", { min: 1, max: 2, pattern: "[a-z]+" }), undefined);
    });

    it("walks list elements, map values and map keys", () => {
        const v = { rules: [{ n: "a" }, { n: "b" }], tags: { K: "v" } };
        assert.deepEqual(valuesAt(v, "rules[].n").map((x) => x.value), ["a", "b"]);
        assert.deepEqual(valuesAt(v, "tags{key}"), [{ path: "tags{key:K}", value: "K" }]);
        assert.deepEqual(valuesAt(v, "tags{}"), [{ path: "tags.K", value: "v" }]);
        assert.deepEqual(valuesAt({ times: "03:00" }, "times[]").map((x) => x.value), ["03:00"], "a scalar where the API has a list counts as one item");
    });

    it("a resource type with no bindings is a finding (default-deny), naming the file to add it to", () => {
        const fake = { type: "aws:lb/loadBalancer:LoadBalancer", name: "x", urn: "urn:x", custom: true, inputs: {} } as unknown as RecordedResource;
        const rep = checkApiRules([fake], table);
        assert.deepEqual(rep.unboundTypes, ["aws:lb/loadBalancer:LoadBalancer"]);
        assert.match(rep.findings[0].rule, /tools\/api-rules\/bindings\.ts/);
    });

    it("an input left out is autonamed as Pulumi would, and the generated name is checked (event rules: 64)", () => {
        const rule = { type: "aws:cloudwatch/eventRule:EventRule", name: "r".repeat(60), urn: "urn:r", custom: true, inputs: { description: "d" } } as unknown as RecordedResource;
        const rep = checkApiRules([rule], table);
        assert.ok(rep.findings.some((f) => f.property === "name (autonamed)" && /longer than 64/.test(f.rule)), refusals(rep));
    });
});

describe("api rules: on the program's own resources", function () {
    this.timeout(120_000);

    it("counts a resource's tags with its provider's defaultTags against AWS's 50", async () => {
        const run = await runStack("example");
        const vol = find(run.resources, "aws:ebs/volume:Volume");
        const own = Object.fromEntries(Array.from({ length: 44 }, (_, i) => [`extra-${i}`, "x"]));
        const withTags = (tags: Record<string, string>) => [...run.resources.filter((r) => r !== vol), { ...vol, inputs: { ...vol.inputs, tags: { ...vol.inputs.tags, ...tags } } }];
        const over = checkApiRules(withTags(own), table).findings.filter((f) => f.name === vol.name);
        assert.equal(over.length, 1, refusals({ findings: over } as ApiRuleReport));
        assert.match(over[0].rule, /more than 50 tags \(5\d\)/);
        assert.match(over[0].source, /resourcegroupstaggingapi:TagResources:Tags/);
        // The same count without the defaultTags fits: the provider's tags are what tips it.
        const ownCount = Object.keys({ ...vol.inputs.tags, ...own }).length;
        assert.ok(ownCount <= 50, `${ownCount}`);
    });

    it("checks container, volume, port and env names and label maps inside Helm values (as the chart renders them)", async () => {
        const run = await runStack("national-heritage");
        const hub = find(run.resources, "kubernetes:helm.sh/v3:Release", "archaeo-hub-release");
        const values = structuredClone(hub.inputs.values);
        values.singleuser.extraContainers[0].name = "SSHD";
        values.singleuser.extraContainers[0].ports[0].name = "ssh-port-too-long";
        values.hub.nodeSelector = { "archaeo/pool": "system pool" };
        values.singleuser.serviceAccountName = "Researcher-{username}";
        const rep = checkApiRules([{ ...hub, inputs: { ...hub.inputs, values } }], table);
        assert.deepEqual(rep.findings.map((f) => f.property).sort(), [
            "values.hub.nodeSelector.archaeo/pool",
            "values.singleuser.extraContainers[0].name",
            "values.singleuser.extraContainers[0].ports[0].name",
            "values.singleuser.serviceAccountName",
        ]);
        assert.equal(checkApiRules([hub], table).findings.length, 0);
    });
});

describe("api rules: every stack passes", function () {
    this.timeout(300_000);

    for (const stack of STACKS) {
        for (const preview of [false, true]) {
            it(`${stack}${preview ? " at a first preview" : ""}: nothing refused, every type bound`, async () => {
                const run = await runStack(stack, { preview });
                const rep = checkApiRules(run.resources, table);
                assert.equal(rep.findings.length, 0, refusals(rep));
                assert.ok(rep.checked > 100, `only ${rep.checked} values checked`);
                if (!preview) assert.equal(rep.deferred, 0, "every value is known at up");
            });
        }
    }

    it("every top-level input of every registered type is bound or listed as unchecked with a reason", async () => {
        const missing = new Set<string>();
        for (const stack of STACKS) {
            for (const r of (await runStack(stack)).resources) {
                if (!r.custom || r.type.startsWith("kubernetes:")) continue;
                const t = TYPE_RULES[r.type];
                assert.ok(t, `${r.type} has no entry in tools/api-rules/bindings.ts`);
                for (const k of Object.keys(r.inputs)) {
                    const bound = t.bindings.some((b) => b.prop === k || b.prop.startsWith(`${k}.`) || b.prop.startsWith(`${k}[`) || b.prop.startsWith(`${k}{`));
                    if (!bound && !(t.unchecked && k in t.unchecked) && t.autoname?.prop !== k) missing.add(`${r.type}.${k}`);
                }
            }
        }
        assert.deepEqual([...missing].sort(), []);
    });
});

describe("api rules: the three values AWS refused (regressions)", function () {
    this.timeout(120_000);

    it("the workstation security group's description is in EC2's character set (the old one had an apostrophe)", async () => {
        const sg = find((await runStack("example")).resources, "aws:ec2/securityGroup:SecurityGroup", "archaeo-network-workstation-sg");
        const rule = ruleOf("aws:ec2/securityGroup:SecurityGroup", "description");
        assert.equal(violation(sg.inputs.description, rule), undefined, sg.inputs.description);
        assert.match(violation("Archaeo workstation: inbound only as the stack's access mode allows", rule)!, /does not match/);
    });

    it("the DLM policy's description is in DLM's character set (the old one had parentheses and a comma)", async () => {
        const dlm = find((await runStack("example")).resources, "aws:dlm/lifecyclePolicy:LifecyclePolicy");
        const rule = ruleOf("aws:dlm/lifecyclePolicy:LifecyclePolicy", "description");
        assert.equal(violation(dlm.inputs.description, rule), undefined, dlm.inputs.description);
        assert.match(violation("Daily snapshots of the example-lab (example) workspaces, 14 kept", rule)!, /does not match the pattern \[0-9A-Za-z _-\]\+/);
    });

    it("national-heritage's AWS Backup plan name fits 50 characters (it was 52), and keeps its old name where that fitted", async () => {
        const run = await runStack("national-heritage");
        const plan = find(run.resources, "aws:backup/plan:Plan");
        const rule = ruleOf("aws:backup/plan:Plan", "name");
        assert.equal(violation(plan.inputs.name, rule), undefined, plan.inputs.name);
        const namePrefix = physicalName(run.cfg, [], 40);
        assert.match(violation(`${namePrefix}-homes-daily`, rule)!, /longer than 50 characters \(52\)/, "the old name");
        // A stack whose prefix left room keeps `<prefix>-homes-daily`: no replacement of a working plan.
        const short = { institution: "museum", stack: "prod" };
        assert.equal(physicalName(short, ["homes-daily"], 50), `${physicalName(short, [], 40)}-homes-daily`);
    });
});

describe("api rules: long names at every limit", function () {
    this.timeout(300_000);

    for (const stack of STACKS) {
        it(`${stack} with a 24-character institution, a 100-character stack and 20-character researcher ids sharing 19: nothing refused, names distinct`, async () => {
            const cfg = longVariant(stack);
            const run = await runProgram(cfg);
            const rep = checkApiRules(run.resources, table);
            assert.equal(rep.findings.length, 0, refusals(rep));
            // The truncation branch of physicalName ran (the names are longer than any limit) ...
            assert.ok(physicalName(cfg, ["researcher", LONG_IDS[0]], 64) !== [`archaeo-${LONG_INSTITUTION}`, LONG_STACK, "researcher", LONG_IDS[0]].join("-"));
            // ... and kept every physical name distinct within its type (names in an account- or region-wide namespace;
            // an inline role policy's name is per role).
            const seen = new Map<string, string>();
            for (const r of run.resources.filter((x) => x.custom && x.type !== "aws:iam/rolePolicy:RolePolicy")) {
                for (const key of ["name", "bucket", "roleName", "nodeGroupName", "creationToken", "username"]) {
                    const v = r.inputs[key];
                    if (typeof v !== "string") continue;
                    const id = `${r.type} ${key}=${v}`;
                    assert.ok(!seen.has(id), `${r.name} and ${seen.get(id)} share ${id}`);
                    seen.set(id, r.name);
                }
            }
        });
    }
});

describe("api rules: npm run plan refuses what AWS would", function () {
    this.timeout(120_000);

    it("exits 1 naming resource, property, value, rule and source for a stack whose region AWS does not have", async () => {
        // Config validation does not know AWS's regions (it checks only that the AZ belongs to the region), and the
        // program sets skipRegionValidation: only the API rules stand between this stack and a failing `up`.
        const example = fs.readFileSync(path.join(__dirname, "..", "stacks", "Pulumi.example.yaml"), "utf8");
        const file = tmpFile("Pulumi.example.yaml", example.replace("aws:region: us-east-1", "aws:region: eu-central-7").replace("availabilityZone: us-east-1a", "availabilityZone: eu-central-7a"));
        const r = await plan({ stack: "example", stackFile: file });
        assert.equal(r.exitCode, 1, r.output.slice(-1500));
        assert.match(r.output, /AWS and Kubernetes API rules: \d+ value\(s\) checked .*: 1 refused/);
        assert.match(r.output, /✘ pulumi:providers:aws archaeo-aws: region = "eu-central-7" not one of af-south-1, /);
        assert.match(r.output, /source: AWS service model s3:CreateBucket:CreateBucketConfiguration\.LocationConstraint \(botocore [0-9.]+\)/);
        assert.match(r.output, /FAILED: 1 value\(s\) the receiving API would refuse/);
        assert.doesNotMatch(r.output, /OK: the stack is clean/);
    });

    it("prints how many values it checked and exits 0 for a clean stack", async () => {
        const r = await plan({ stack: "city-museum" });
        assert.equal(r.exitCode, 0, r.output.slice(-1500));
        assert.match(r.output, /AWS and Kubernetes API rules: [1-9]\d+ value\(s\) checked .*: 0 refused\n {2}✔ nothing AWS or Kubernetes would refuse/);
    });
});
