/**
 * Adversarial pull requests (test/adversarial/cases.ts) through the real policy-pack host: dangerous
 * changes must raise a mandatory diagnostic the stack did not raise before, harmless ones none.
 * Cases the pack does not yet judge right are listed in OPEN, and the suite requires that list to be
 * exact, so a fix to the pack fails it until the fixed ids leave OPEN.
 *
 * Per stack a baseline runs every resource through Analyze and the stack through AnalyzeStack; a case
 * then runs Analyze only on resources that are new or changed (an unchanged resource, with an
 * unchanged provider, gives the baseline's diagnostics) and AnalyzeStack on the whole changed stack.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import type { RecordedResource } from "../tools/mock-engine";
import { analyzeRequest, analyzeStackRequest, byUrnOf, configureRequest, diagnosticsOf } from "../tools/policy-runner";
import { allPolicies } from "../policies/rules";
import { Host, rpc, RUN_POLICY_PACK, startHost } from "./helpers/policy-host";
import { runStack } from "./helpers/program";
import { CASES, Case, OPEN, STACKS } from "./adversarial/cases";

interface Diag { policy: string; level: string; key: string }
interface Baseline { resources: RecordedResource[]; fingerprint: Map<string, string>; byUrn: Map<string, Diag[]>; stack: Diag[] }
interface Outcome { c: Case; fresh: Diag[]; ok: boolean; analyzed: number }

const fingerprint = (r: RecordedResource) => JSON.stringify([r.type, r.rawInputs, r.rawState, r.protect, r.retainOnDelete, r.deleteBeforeReplace, r.ignoreChanges, r.parent, r.provider, r.dependencies, r.additionalSecretOutputs]);
const diag = (d: { policyName: string; enforcementLevel: string; urn: string; message: string }, urn: string): Diag => ({ policy: d.policyName, level: d.enforcementLevel, key: `${d.policyName} ${d.enforcementLevel} ${d.urn || urn} ${d.message}` });

async function analyze(host: Host, r: RecordedResource, byUrn: ReadonlyMap<string, RecordedResource>): Promise<Diag[]> {
    return diagnosticsOf(await rpc(host.client, "analyze", analyzeRequest(r, byUrn))).map((d) => diag(d, r.urn));
}
async function analyzeStack(host: Host, rs: readonly RecordedResource[]): Promise<Diag[]> {
    return diagnosticsOf(await rpc(host.client, "analyzeStack", analyzeStackRequest(rs))).map((d) => diag(d, ""));
}

/** Diagnostics of `after` not in `before` (as multisets). */
function added(before: Diag[], after: Diag[]): Diag[] {
    const left = new Map<string, number>();
    for (const d of before) left.set(d.key, (left.get(d.key) ?? 0) + 1);
    return after.filter((d) => { const n = left.get(d.key) ?? 0; if (n > 0) { left.set(d.key, n - 1); return false; } return true; });
}

describe("adversarial pull requests through the real policy-pack host", function () {
    this.timeout(300_000);
    let host: Host;
    const baselines = new Map<string, Baseline>();
    const outcomes: Outcome[] = [];

    before(async () => {
        if (!fs.existsSync(RUN_POLICY_PACK)) {
            throw new Error(`${path.relative(process.cwd(), RUN_POLICY_PACK)} is missing: install the pack with \`npm ci --omit=dev --prefix policies\``);
        }
        const t0 = Date.now();
        host = await startHost();
        await rpc(host.client, "configure", configureRequest(allPolicies));
        const t1 = Date.now();
        for (const stack of STACKS) {
            const resources = (await runStack(stack)).resources;
            const byUrnRs = byUrnOf(resources);
            // Requests in flight together: the host and this process work side by side.
            const [perResource, stackDiags] = await Promise.all([Promise.all(resources.map((r) => analyze(host, r, byUrnRs))), analyzeStack(host, resources)]);
            const byUrn = new Map(resources.map((r, i) => [r.urn, perResource[i]]));
            baselines.set(stack, { resources, fingerprint: new Map(resources.map((r) => [r.urn, fingerprint(r)])), byUrn, stack: stackDiags });
        }
        console.log(`host started in ${t1 - t0} ms, baselines of ${STACKS.length} stacks in ${Date.now() - t1} ms`);
    });
    after(() => { host?.client?.close(); host?.proc.kill(); });

    it("the cases are well formed: unique kebab-case ids, enough of each class, OPEN names only cases", () => {
        const ids = CASES.map((c) => c.id);
        assert.equal(new Set(ids).size, ids.length, "ids are unique");
        for (const id of ids) assert.match(id, /^[a-z0-9]+(-[a-z0-9]+)*$/);
        for (const cls of [1, 2, 3, 4] as const) {
            const of = CASES.filter((c) => c.class === cls);
            assert.ok(of.length >= 8, `class ${cls}: ${of.length} cases`);
            assert.ok(of.some((c) => c.stack === "national-heritage") && of.some((c) => c.stack !== "national-heritage"), `class ${cls} spans instance and cluster stacks`);
        }
        assert.ok(CASES.filter((c) => c.class !== "harmless").length >= 45);
        assert.ok(CASES.filter((c) => c.class === "harmless").length >= 12);
        for (const id of OPEN) assert.ok(ids.includes(id), `OPEN names ${id}, which is no case`);
        const unnamed = CASES.filter((c) => c.class !== "harmless" && !OPEN.has(c.id) && !(c.caughtBy && c.caughtBy.length)).map((c) => c.id);
        assert.deepEqual(unnamed, [], "every caught dangerous case names the policies that must catch it");
    });

    it("every stack's baseline raises no mandatory diagnostic", () => {
        for (const [stack, b] of baselines) {
            const mandatory = [...[...b.byUrn.values()].flat(), ...b.stack].filter((d) => d.level === "mandatory");
            assert.deepEqual(mandatory.map((d) => d.key), [], stack);
        }
    });

    for (const c of CASES) {
        it(`${c.class === "harmless" ? "harmless" : `class ${c.class}`}: ${c.id} (${c.stack})`, async () => {
            const b = baselines.get(c.stack)!;
            const rs = c.mutate(structuredClone(b.resources));
            const byUrnRs = byUrnOf(rs);
            const changedProviders = new Set(rs.filter((r) => r.type.startsWith("pulumi:providers:") && b.fingerprint.get(r.urn) !== fingerprint(r)).map((r) => `${r.urn}::${r.id}`));
            const changed = rs.filter((r) => b.fingerprint.get(r.urn) !== fingerprint(r) || changedProviders.has(r.provider));
            const removed = b.resources.filter((r) => !byUrnRs.has(r.urn));
            assert.ok(changed.length + removed.length > 0, "the mutation changes nothing");
            const [perResource, stackDiags] = await Promise.all([Promise.all(changed.map((r) => analyze(host, r, byUrnRs))), analyzeStack(host, rs)]);
            const fresh = [...changed.flatMap((r, i) => added(b.byUrn.get(r.urn) ?? [], perResource[i])), ...added(b.stack, stackDiags)];
            const mandatory = fresh.filter((d) => d.level === "mandatory");
            const ok = c.class === "harmless"
                ? mandatory.length === 0
                : mandatory.length > 0 && (!c.caughtBy || c.caughtBy.every((p) => mandatory.some((d) => d.policy === p)));
            outcomes.push({ c, fresh: mandatory, ok, analyzed: changed.length });
            const detail = mandatory.map((d) => `  ${d.key.split("\n").join(" | ")}`).join("\n");
            if (OPEN.has(c.id)) {
                assert.ok(!ok, `${c.id} is listed in OPEN but is now ${c.class === "harmless" ? "free of false alarms" : "caught"}: remove it from OPEN${detail ? `\n${detail}` : ""}`);
            } else if (c.class === "harmless") {
                assert.ok(ok, `harmless change raised mandatory diagnostics:\n${detail}`);
            } else {
                assert.ok(ok, c.caughtBy && mandatory.length
                    ? `caught, but not by every policy of caughtBy (${c.caughtBy.join(", ")}):\n${detail}`
                    : `not caught: ${c.title} (reaches: ${c.reaches})`);
            }
        });
    }

    it("the uncaught and false-alarm set equals OPEN exactly; a table per class", () => {
        const rows: string[] = [];
        for (const cls of [1, 2, 3, 4, "harmless"] as const) {
            const of = outcomes.filter((o) => o.c.class === cls);
            const good = of.filter((o) => o.ok);
            rows.push(`${cls === "harmless" ? "harmless" : `class ${cls}`}: ${of.length} total, ${good.length} ${cls === "harmless" ? "clean" : "caught"}, ${of.length - good.length} open`);
            for (const o of of) {
                const by = [...new Set(o.fresh.map((d) => d.policy))].sort().join(", ");
                rows.push(`  ${o.ok ? (cls === "harmless" ? "clean " : "caught") : "OPEN  "} ${o.c.id}${by ? `  <- ${by}` : ""}`);
            }
        }
        console.log(rows.join("\n"));
        if (outcomes.length !== CASES.length) return; // a grep'd run: only the cases that ran
        const open = outcomes.filter((o) => !o.ok).map((o) => o.c.id).sort();
        assert.deepEqual(open, [...OPEN].sort());
    });
});
