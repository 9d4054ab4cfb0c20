/**
 * The real policy-pack host, started as the Pulumi CLI starts it, and the gRPC calls the engine makes.
 *
 * Start-up (pulumi/pulumi v3.248.0): the CLI's nodejs language host runs analyzer plugins as
 * `node <policy pack>/node_modules/@pulumi/pulumi/cmd/run-policy-pack <engine address> <pack dir>`
 * with the pack directory as working directory (sdk/nodejs/cmd/pulumi-language-nodejs/main.go,
 * RunPlugin: "For policy analyzers we need to send the program directory as an argument _last_",
 * `cmd.Dir = req.Info.ProgramDirectory`), and reads the port the pack prints on stdout. run-policy-pack
 * compiles the TypeScript pack with ts-node and the `typescript` that resolves from
 * @pulumi/pulumi (tsutils.ts typeScriptRequireStrings: the vendored TypeScript 3.8.3 when none does).
 * The engine then calls GetAnalyzerInfo, Configure (every policy's level and schema defaults,
 * pkg/resource/analyzer/config.go ReconcilePolicyPackConfig), Analyze per resource and AnalyzeStack.
 *
 * Prerequisite (not downloaded here): `npm ci --omit=dev --prefix policies`, the production install a
 * CI runner or an institution does before `pulumi preview --policy-pack policies`.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import type { RecordedResource } from "../../tools/mock-engine";
import { analyzeRequest, analyzeStackRequest, byUrnOf, diagnosticsOf, proto } from "../../tools/policy-runner";

export const PACK_DIR = path.join(__dirname, "..", "..", "policies");
export const RUN_POLICY_PACK = path.join(PACK_DIR, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack");

export interface Host { proc: ChildProcess; client: any; stderr: () => string }

export async function startHost(): Promise<Host> {
    let stderr = "";
    // The engine address is only handed through (run-policy-pack drops it before running the pack).
    const proc = spawn(process.execPath, [RUN_POLICY_PACK, "127.0.0.1:1", PACK_DIR], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PULUMI_NODEJS_DRY_RUN: "true" } });
    proc.stderr!.on("data", (b) => { stderr += String(b); });
    const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        proc.stdout!.on("data", (b) => { out += String(b); const m = /^(\d+)\s*$/m.exec(out); if (m) resolve(Number(m[1])); });
        proc.on("exit", (code) => reject(new Error(`run-policy-pack exited ${code} before printing its port:\n${stderr}${out}`)));
    });
    const grpc = proto.grpc();
    const { AnalyzerClient } = proto.analyzerGrpc();
    const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return { proc, client, stderr: () => stderr };
}

export const rpc = (client: any, method: string, req: unknown) =>
    new Promise<any>((resolve, reject) => client[method](req, (err: unknown, resp: any) => (err ? reject(err) : resolve(resp))));

/** Every resource through Analyze, then AnalyzeStack, as the engine does; diagnostics as comparable strings. */
export async function throughHost(host: Host, resources: RecordedResource[]): Promise<string[]> {
    const out: string[] = [];
    const byUrn = byUrnOf(resources);
    for (const r of resources) for (const d of diagnosticsOf(await rpc(host.client, "analyze", analyzeRequest(r, byUrn)))) out.push(`${d.policyName} ${d.enforcementLevel} ${d.urn || r.urn} ${d.message}`);
    for (const d of diagnosticsOf(await rpc(host.client, "analyzeStack", analyzeStackRequest(resources)))) out.push(`${d.policyName} ${d.enforcementLevel} ${d.urn} ${d.message}`);
    return out.sort();
}
