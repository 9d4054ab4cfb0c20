/**
 * Stacks of N researchers built from the example (instance mode) and national-heritage (cluster mode)
 * stacks, for measuring how the program and the pack grow with researchers (npm run bench, and
 * test/scale.test.ts). N may exceed MAX_RESEARCHERS here only: the cap is raised through
 * ConfigContext.maxResearchers, which stack config cannot set.
 */
import { parseConfig, StackConfig } from "../infra/config";
import { installMockEngine } from "./mock-engine";
import { runPolicies } from "./policy-runner";
import { readStack } from "./stacks";
import { quotaNeeds } from "./quotas";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy r@heritage.example";

export type ScaleMode = "instance" | "cluster";

/** The config of a stack like example (instance) or national-heritage (cluster) with `n` researchers r0..r<n-1>. */
export function scaledConfig(mode: ScaleMode, n: number): StackConfig {
    const stack = mode === "instance" ? "example" : "national-heritage";
    const s = readStack(stack);
    const researchers = Array.from({ length: n }, (_, i) => ({
        id: `r${i}`, iamPrincipalArn: `arn:aws:iam::123456789012:role/researcher-r${i}`, sshPublicKeys: [KEY],
        ...(mode === "cluster" ? { email: `r${i}@heritage.example` } : {}),
    }));
    return parseConfig({ ...s.raw, "archaeo-workbench:researchers": researchers }, { stack, region: s.region, maxResearchers: Math.max(n, 1) });
}

export interface ScaleSample {
    mode: ScaleMode;
    researchers: number;
    resources: number;
    /** CPU (user + system) of evaluating the program under the mock engine, ms. */
    programCpuMs: number;
    /** CPU of the whole pack over the stack (Analyze per resource, then AnalyzeStack), ms. */
    packCpuMs: number;
    /** CPU of each policy's own functions over the stack, ms. */
    perPolicyMs: Record<string, number>;
    /** Heap in use after both, MiB. */
    heapMiB: number;
    rssMiB: number;
    /** What the stack needs of each AWS quota (tools/quotas.ts), as the plan prints it. */
    quotas: Array<{ id: string; need: number; limit: number; peak?: number }>;
}

/** Evaluates the program of `n` researchers and runs the pack over it, in this process (run it in a fresh one). */
export async function measure(mode: ScaleMode, n: number): Promise<ScaleSample> {
    const cfg = scaledConfig(mode, n);
    const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
    const engine = await installMockEngine({ project: cfg.project, stack: cfg.stack, region: cfg.region });
    // Loaded after the mocks, as the Pulumi SDK requires.
    const { program } = require("../infra/workbench") as typeof import("../infra/workbench");
    const { resourcePolicies, stackValidationPolicies } = require("../policies/rules") as typeof import("../policies/rules");
    const t0 = cpu();
    await program(cfg);
    await engine.settle();
    const t1 = cpu();
    const resources = [...engine.resources];
    const perPolicyMs: Record<string, number> = {};
    const timed = <F extends (...a: any[]) => any>(name: string, f: F): F => {
        // CPU of this process, not wall time: the analyzer runs one validation at a time, so the CPU spent between a
        // validation's start and end is its own, and another process on the machine does not inflate it.
        const w: any = async (...a: any[]) => { const t = cpu(); try { return await f(...a); } finally { perPolicyMs[name] = (perPolicyMs[name] ?? 0) + (cpu() - t); } };
        if ((f as any).__pulumiType) w.__pulumiType = (f as any).__pulumiType;
        return w;
    };
    const pack = {
        resource: resourcePolicies.map((p) => ({ ...p, validateResource: Array.isArray(p.validateResource) ? p.validateResource.map((f) => timed(p.name, f)) : timed(p.name, p.validateResource!) })),
        stack: stackValidationPolicies.map((p) => ({ ...p, validateStack: timed(p.name, p.validateStack) })),
    };
    const r = await runPolicies(resources, pack);
    const t2 = cpu();
    if (r.mandatory) throw new Error(`${mode} stack of ${n} researchers: ${r.mandatory} mandatory violation(s): ${r.violations.filter((v) => v.enforcementLevel === "mandatory").slice(0, 2).map((v) => v.rawMessage).join(" | ")}`);
    const m = process.memoryUsage();
    const quotas = quotaNeeds(cfg, resources).map((l) => ({ id: l.quota.id, need: l.need, limit: l.limit, ...(l.peak !== undefined ? { peak: l.peak } : {}) }));
    return { mode, researchers: n, resources: resources.length, programCpuMs: t1 - t0, packCpuMs: t2 - t1, perPolicyMs, heapMiB: m.heapUsed / 2 ** 20, rssMiB: m.rss / 2 ** 20, quotas };
}

// `tsx tools/scale.ts <mode> <n>`: one sample as JSON on stdout (the bench runs each in a fresh process).
if (require.main === module) {
    const [mode, n] = [process.argv[2] as ScaleMode, Number(process.argv[3])];
    if (!["instance", "cluster"].includes(mode) || !(n > 0)) { console.error("usage: tsx tools/scale.ts instance|cluster <researchers>"); process.exit(2); }
    measure(mode, n).then((s) => console.log(JSON.stringify(s)), (e) => { console.error(e); process.exitCode = 1; });
}
