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
import { cognitoDomainPrefix, physicalName } from "../infra/tags";
import { readStack } from "../tools/stacks";
import { TYPE_RULES } from "../tools/api-rules/bindings";
import { ApiRuleReport, checkApiRules, javaPattern, uncoveredLeaves, valuesAt, violation } from "../tools/api-rules/check";
import { findBotocore, loadTable, readModel, serializeTable, TABLE_FILE } from "../tools/api-rules/generate";
import { plan } from "../tools/plan";
import { RecordedResource, runProgram, runStack } from "./helpers/program";
import { ACCOUNT } from "./helpers/config";
import { tmpFile } from "./helpers/tools";

const STACKS = ["example", "city-museum", "national-heritage", "uni-archaeology"];
const table = loadTable();

/** Every documentation quote a rule relies on: [model member, quote]. */
function quotes(): [string, string][] {
    return Object.values(TYPE_RULES).flatMap((t) => t.bindings.flatMap((b) => b.rules.flatMap((r): [string, string][] => ("doc" in r ? [[r.doc, r.quote]] : []))));
}

function compareVersions(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
}

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

    it("the table is botocore's model: exactly for its own version, where they differ for a newer one (an older one is compared and reported)", function () {
        const found = findBotocore();
        assert.ok(found, "no Python with botocore: tools/prereqs.mjs installs Debian's python3-botocore");
        if (found.version === table.botocore) {
            const model = readModel(found.python, Object.keys(table.members), Object.keys(table.docs));
            assert.equal(serializeTable(model), serializeTable(table), `aws-api-rules.json disagrees with botocore ${found.version}: run npm run gen:api-rules`);
            return;
        }
        // Another botocore. Newer: the table is stale wherever the two differ (regenerate), and an enum value the table
        // allows may not have gone. Older (Debian's 1.29 on a fresh machine): AWS has tightened rules since (budget names
        // refuse "/action/" and <script>), so differences are listed, not failed; what both have is still compared.
        const model = readModel(found.python, Object.keys(table.members), Object.keys(table.docs), true);
        const newer = compareVersions(found.version, table.botocore) > 0;
        const differences: string[] = [];
        for (const [k, c] of Object.entries(model.members)) {
            const t = table.members[k];
            const a = JSON.stringify({ min: c.min, max: c.max, pattern: c.pattern, type: c.type });
            const b = JSON.stringify({ min: t.min, max: t.max, pattern: t.pattern, type: t.type });
            if (a !== b) differences.push(`${k}: ${a} in ${found.version}, ${b} in the table`);
            const [older, newerEnum] = newer ? [t.enum ?? [], c.enum ?? []] : [c.enum ?? [], t.enum ?? []];
            for (const e of older) if (!newerEnum.includes(e)) differences.push(`${k}: ${e} gone from the newer model`);
        }
        if (newer) {
            for (const [k, quote] of quotes()) if (model.docs[k] !== undefined && !model.docs[k].includes(quote)) differences.push(`${k}: no longer documents "${quote}"`);
            assert.deepEqual(differences, [], `botocore ${found.version} is newer than the table's ${table.botocore}: run npm run gen:api-rules`);
        } else {
            assert.ok(Object.keys(model.members).length > Object.keys(table.members).length / 2, `botocore ${found.version} resolved only ${Object.keys(model.members).length} members`);
            console.log(`      (botocore ${found.version} is older than the table's ${table.botocore}: compared ${Object.keys(model.members).length} members, ${differences.length} differ, ${model.missing?.length ?? 0} missing; the exact check needs botocore ${table.botocore}, e.g. ARCHAEO_BOTOCORE_PYTHON)`);
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
        // (?i) applies to the rest of its group only: the budget name's "/action/" stays case-sensitive, as in Java.
        const budget = table.members["budgets:CreateBudget:Budget.BudgetName"].pattern!;
        assert.ok(javaPattern(budget).test("x/ACTION/y") && !javaPattern(budget).test("x/action/y") && !javaPattern(budget).test("a <ScRiPt>b</SCRIPT>"));
        assert.ok(!javaPattern("[a-z]+(?i)x").test("ABX") && javaPattern("[a-z]+(?i)x").test("abX"));
        // Java's \s is ASCII: a no-break space is not in a Cognito client name; Java's \S is, so [\S\s] takes anything.
        assert.ok(!javaPattern("[\\w\\s+=,.@-]+").test("a\u00a0b") && javaPattern("[\\w\\s+=,.@-]+").test("a b"));
        assert.ok(javaPattern("[\\S\\s]*").test("a\u00a0b\n"));
    });

    it("measures, enumerates and refuses reserved prefixes", () => {
        assert.match(violation("x".repeat(51), { max: 50 })!, /longer than 50 characters \(51\)/);
        assert.match(violation("FOO", { enum: ["A", "B"] })!, /not one of A, B/);
        assert.match(violation("sg-web", { notPrefix: ["sg-"] })!, /reserved prefix 'sg-'/);
        assert.match(violation("192.168.5.4", { notIpAddress: true })!, /IP address/);
        assert.match(violation("a..b", { noAdjacentPeriods: true })!, /adjacent periods/);
        assert.match(violation("archaeo-dawson-college", { notContaining: ["aws"] })!, /reserved word 'aws'/);
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

    it("an input left out is autonamed as Pulumi would, each type at its provider's own limit (pulumi-aws resources.go)", () => {
        // One character past each type's autoname limit is refused with the provider's limit; one inside it is not.
        for (const [type, t] of Object.entries(TYPE_RULES)) {
            if (!t.autoname) continue;
            const at = (n: number) => checkApiRules([{ type, name: "r".repeat(n - 8), urn: `urn:${type}`, custom: true, inputs: {} } as unknown as RecordedResource], table)
                .findings.filter((f) => f.property === `${t.autoname!.prop} (autonamed)` && /generated name/.test(f.rule));
            assert.equal(at(t.autoname.maxLength).length, 0, `${type}: ${t.autoname.maxLength} characters fit`);
            assert.match(at(t.autoname.maxLength + 1)[0]?.rule ?? "", new RegExp(`longer than the provider's ${t.autoname.maxLength}$`), type);
        }
        const rule = { type: "aws:cloudwatch/eventRule:EventRule", name: "r".repeat(60), urn: "urn:r", custom: true, inputs: { description: "d" } } as unknown as RecordedResource;
        assert.ok(checkApiRules([rule], table).findings.some((f) => f.property === "name (autonamed)" && /longer than 64/.test(f.rule)));
    });

    it("a type that binds `name` but gives no autoname rule is checked with pulumi-aws's default (255) when the name is left out", () => {
        const q = { type: "aws:sqs/queue:Queue", name: "q".repeat(80), urn: "urn:q", custom: true, inputs: {} } as unknown as RecordedResource;
        const rep = checkApiRules([q], table);
        assert.ok(rep.findings.some((f) => f.property === "name (autonamed)" && /longer than 80/.test(f.rule) && /sqs:CreateQueue:QueueName/.test(f.source)), refusals(rep));
    });

    it("regions and zones are those of botocore's partitions.json (eusc and Local Zones in, EU and made-up regions out)", () => {
        const prov = (region: string) => ({ type: "pulumi:providers:aws", name: "p", urn: "urn:p", id: "p", custom: true, inputs: { region } }) as unknown as RecordedResource;
        for (const ok of ["us-east-1", "eusc-de-east-1", "us-gov-west-1", "cn-north-1"]) assert.deepEqual(checkApiRules([prov(ok)], table).findings, [], ok);
        for (const bad of ["EU", "eu-central-7", "us-east-1-global"]) assert.equal(checkApiRules([prov(bad)], table).findings.length, 1, bad);
        const vol = (az: string) => ({ type: "aws:ebs/volume:Volume", name: "v", urn: "urn:v", custom: true, inputs: { availabilityZone: az, type: "gp3", size: 10 } }) as unknown as RecordedResource;
        for (const ok of ["us-east-1a", "us-east-1-bos-1a", "eusc-de-east-1b"]) assert.deepEqual(checkApiRules([vol(ok)], table).findings, [], ok);
        for (const bad of ["us-east-7a", "us-east-1"]) assert.equal(checkApiRules([vol(bad)], table).findings.length, 1, bad);
    });

    it("Kubernetes: taints, node requirements, ConfigMap keys and ResourceQuota keys by apimachinery's rules", () => {
        const k = (kind: string, inputs: Record<string, unknown>) => ({ type: `kubernetes:x/v1:${kind}`, name: "k", urn: "urn:k", custom: true, inputs: { kind, metadata: { name: "ok" }, ...inputs } }) as unknown as RecordedResource;
        const props = (r: RecordedResource) => checkApiRules([r], table).findings.map((f) => f.property).sort();
        assert.deepEqual(props(k("NodePool", { spec: { template: { spec: { taints: [{ key: "bad key", value: "v", effect: "NoSchedule" }], requirements: [{ key: "k8s.io/arch", operator: "In", values: ["amd64", "not valid"] }] } } } })), [
            "spec.template.spec.requirements[0].values[1]", "spec.template.spec.taints[0].key",
        ]);
        assert.deepEqual(props(k("ConfigMap", { data: { "ok.key": "", "bad/key": "" } })), ["data{key:bad/key}"]);
        assert.deepEqual(props(k("ResourceQuota", { spec: { hard: { "requests.nvidia.com/gpu": "4", "bad key": "1" } } })), ["spec.hard{key:bad key}"]);
        assert.deepEqual(props(k("StatefulSet", { metadata: { name: "s".repeat(53) } })), ["metadata.name"], "a StatefulSet name leaves room for the revision-hash label");
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
        assert.equal(over.length, 1, refusals({ findings: over, checked: 0, deferred: 0, unboundTypes: [] }));
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

    it("every value every registered type sends (each leaf of its inputs) is bound to a rule or listed as unchecked with a reason", async () => {
        const missing = new Set<string>();
        for (const stack of STACKS) {
            for (const r of (await runStack(stack)).resources) {
                if (!r.custom || r.type.startsWith("kubernetes:")) continue;
                for (const leaf of uncoveredLeaves(r, table)) missing.add(`${r.type} ${leaf}`);
            }
        }
        assert.deepEqual([...missing].sort(), []);
    });

    it("the coverage check finds a new nested value nothing explains", async () => {
        const lt = find((await runStack("national-heritage")).resources, "aws:ec2/launchTemplate:LaunchTemplate");
        const more = { ...lt, inputs: { ...lt.inputs, metadataOptions: { ...lt.inputs.metadataOptions, instanceMetadataTags: "enabled" } } };
        assert.deepEqual(uncoveredLeaves(more, table), ["metadataOptions.instanceMetadataTags"]);
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
            // Every physical name distinct within its namespace: account- or region-wide for AWS (an inline role
            // policy's name is per role), per namespace and kind for Kubernetes objects.
            const seen = new Map<string, string>();
            const claim = (id: string, who: string) => {
                assert.ok(!seen.has(id), `${who} and ${seen.get(id)} share ${id}`);
                seen.set(id, who);
            };
            for (const r of run.resources.filter((x) => x.custom && x.type !== "aws:iam/rolePolicy:RolePolicy")) {
                if (r.type.startsWith("kubernetes:") && r.inputs.metadata?.name) claim(`${r.type} ${r.inputs.metadata.namespace ?? ""}/${r.inputs.metadata.name}`, r.name);
                for (const key of ["name", "bucket", "roleName", "nodeGroupName", "creationToken", "username", "domain"]) {
                    const v = r.inputs[key];
                    if (typeof v === "string") claim(`${r.type} ${key}=${v}`, r.name);
                }
            }
        });
    }
});

describe("api rules: physicalName at its limits (infra/tags.ts)", () => {
    const cfg = { institution: LONG_INSTITUTION, stack: LONG_STACK };
    const hash = /-[0-9a-f]{8}$/;

    it("the 'room' branch: the stack part is shortened, institution and parts kept, a hash keeps it unique", () => {
        const n = physicalName(cfg, ["karpenter"], 80);
        assert.equal(n.length <= 80, true);
        assert.match(n, new RegExp(`^archaeo-${LONG_INSTITUTION}-prod-eu-west-.*-karpenter${hash.source}`));
        assert.notEqual(n, physicalName({ ...cfg, stack: `${LONG_STACK.slice(0, -1)}y` }, ["karpenter"], 80), "two long stacks differing only past the cut");
    });

    it("the fallback branch: no room for the stack or institution, the parts kept whole, a hash keeps it unique", () => {
        const names = LONG_IDS.map((id) => physicalName(cfg, ["researcher", id], 64));
        for (const [i, n] of names.entries()) {
            assert.ok(n.length <= 64, n);
            assert.equal(n, `archaeo-researcher-${LONG_IDS[i]}${n.match(hash)![0]}`);
        }
        assert.equal(new Set(names).size, names.length, "ids that share 19 characters stay apart");
        // Parts longer than the room left: cut, and still distinct by the hash of the whole name.
        const cut = LONG_IDS.map((id) => physicalName(cfg, ["researcher", "workspace-snapshots", id], 40));
        for (const n of cut) assert.ok(n.length <= 40 && hash.test(n), n);
        assert.equal(new Set(cut).size, cut.length);
    });

    it("names that fit are left as they were (no replacement of a working resource)", () => {
        assert.equal(physicalName({ institution: "museum", stack: "prod" }, ["homes-daily"], 50), "archaeo-museum-prod-homes-daily");
    });
});

describe("api rules: Cognito's reserved words", function () {
    this.timeout(120_000);

    it("an institution whose name contains 'aws' (dawson-college) still gets a domain Cognito accepts; names without one are unchanged", async () => {
        const raw = { ...readStack("national-heritage").raw, "archaeo-workbench:institution": "dawson-college" };
        const run = await runProgram(parseConfig(raw, { stack: "national-heritage", region: "us-west-2" }));
        const rep = checkApiRules(run.resources, table);
        assert.equal(rep.findings.length, 0, refusals(rep));
        const domain = find(run.resources, "aws:cognito/userPoolDomain:UserPoolDomain").inputs.domain as string;
        assert.equal(domain, "archaeo-daw-son-college-national-heritage");
        // The old domain, physicalName(cfg, [], 50), is what Cognito refused.
        const rule = ruleOf("aws:cognito/userPoolDomain:UserPoolDomain", "domain", 1);
        assert.match(violation(physicalName(run.cfg, [], 50), rule)!, /reserved word 'aws'/);
        assert.equal(cognitoDomainPrefix({ institution: "national-heritage", stack: "national-heritage" }), physicalName({ institution: "national-heritage", stack: "national-heritage" }, [], 50));
        assert.equal(cognitoDomainPrefix({ institution: "amazonia-cognitive", stack: "prod" }), "archaeo-ama-zonia-cognitive-prod");
    });
});

describe("api rules: npm run plan refuses what AWS would", function () {
    this.timeout(120_000);

    it("config refuses a region AWS does not have (exit 2, naming aws:region and the nearest region), before evaluating anything", async () => {
        const example = fs.readFileSync(path.join(__dirname, "..", "stacks", "Pulumi.example.yaml"), "utf8");
        const file = tmpFile("Pulumi.example.yaml", example.replace("aws:region: us-east-1", "aws:region: eu-central-7").replace("availabilityZone: us-east-1a", "availabilityZone: eu-central-7a"));
        const r = await plan({ stack: "example", stackFile: file });
        assert.equal(r.exitCode, 2, r.output.slice(-1500));
        assert.match(r.output, /aws:region: 'eu-central-7' is not an AWS region \(botocore's partitions\.json.*did you mean 'eu-central-1'\?/);
        assert.doesNotMatch(r.output, /^Resources:/m);
    });

    it("the API rules refuse it too, naming resource, property, value, rule and source (the program sets skipRegionValidation: they are the second line)", async () => {
        // A config that slipped past the region check (built with a real region, then moved): what the program registers.
        const s = readStack("example");
        const good = parseConfig(s.raw, { stack: "example", region: s.region });
        // Each researcher's zone moves with availabilityZone, as parseConfig sets it (researchers[].zone defaults to it).
        const cfg = { ...good, region: "eu-central-7", availabilityZone: "eu-central-7a", researchers: good.researchers.map((r) => ({ ...r, zone: "eu-central-7a" })) } as StackConfig;
        const run = await runProgram(cfg);
        const report = checkApiRules(run.resources, loadTable());
        const lines = report.findings.map((f) => `${f.type} ${f.name}: ${f.property} = ${JSON.stringify(f.value)}`);
        assert.ok(lines.some((l) => l === 'pulumi:providers:aws archaeo-aws: region = "eu-central-7"'), lines.join("\n"));
        assert.ok(lines.some((l) => l.startsWith("aws:ebs/volume:Volume archaeo-ws-alice-workspace: availabilityZone")), lines.join("\n"));
        assert.ok(report.findings.every((f) => /partitions\.json/.test(f.source)), "each cites botocore's partitions.json");
    });

    it("prints how many values it checked and exits 0 for a clean stack", async () => {
        const r = await plan({ stack: "city-museum" });
        assert.equal(r.exitCode, 0, r.output.slice(-1500));
        assert.match(r.output, /AWS and Kubernetes API rules: [1-9]\d+ value\(s\) checked .*: 0 refused\n {2}✔ nothing AWS or Kubernetes would refuse/);
    });
});
