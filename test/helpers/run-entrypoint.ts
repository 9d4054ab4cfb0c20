/**
 * Runs infra/index.ts (the real Pulumi entry point) in this process under the mock engine, with
 * config taken from PULUMI_CONFIG exactly as the engine passes it (every value a string). Prints one
 * JSON line: { ok, resources, outputs } or { ok: false, error, resources }.
 * Used by test/entrypoint.test.ts in a child process so each run gets a fresh module cache.
 */
import * as pulumi from "@pulumi/pulumi";
import { installMockEngine } from "../../tools/mock-engine";

/** Registered resources other than providers: what would exist in the cloud. */
const cloud = (resources: ReadonlyArray<{ type: string; custom: boolean }>) => resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:")).length;

async function main() {
    const engine = await installMockEngine({ stack: process.env.ARCHAEO_STACK ?? "example" });
    try {
        // infra/index.ts exports one async function (`export =`), as the Pulumi Node.js host runs it.
        const program = require("../../infra/index") as () => Promise<Record<string, unknown>>;
        const exported = await program();
        const outputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(exported)) outputs[k] = await (pulumi.output(v) as any).promise();
        await engine.settle();
        console.log(JSON.stringify({ ok: true, resources: engine.resources.length, cloudResources: cloud(engine.resources), outputs }));
    } catch (e: any) {
        await engine.settle();
        console.log(JSON.stringify({ ok: false, error: String(e?.message ?? e), resources: engine.resources.length, cloudResources: cloud(engine.resources) }));
    }
}

main();
