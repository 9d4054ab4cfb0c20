/**
 * Runs infra/index.ts (the real Pulumi entry point) in this process under the mock engine, with
 * config taken from PULUMI_CONFIG exactly as the engine passes it (every value a string). Prints one
 * JSON line: { ok, resources, outputs } or { ok: false, error, resources }.
 * Used by test/entrypoint.test.ts in a child process so each run gets a fresh module cache.
 */
import { installMockEngine } from "../../tools/mock-engine";

async function main() {
    const engine = await installMockEngine({ stack: process.env.ARCHAEO_STACK ?? "example" });
    try {
        const program = require("../../infra/index");
        const outputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(program)) {
            outputs[k] = v && typeof v === "object" && "apply" in (v as object) ? await (v as any).promise() : v;
        }
        await engine.settle();
        console.log(JSON.stringify({ ok: true, resources: engine.resources.length, outputs }));
    } catch (e: any) {
        await engine.settle();
        console.log(JSON.stringify({ ok: false, error: String(e?.message ?? e), resources: engine.resources.length }));
    }
}

main();
