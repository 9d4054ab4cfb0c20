/**
 * Runs the workbench under the shared mock engine. Import this (never infra/index.ts) from tests:
 * the mocks are installed before the program modules load. Each run configures the engine with its
 * own stack, region and mode (resolved values like `pulumi up`, or a first `pulumi preview`).
 */
import * as pulumi from "@pulumi/pulumi";
import { installMockEngine, MockEngine, MockWorld, RecordedResource, ResourceView } from "../../tools/mock-engine";
import { parseConfig, StackConfig } from "../../infra/config";
import { readStack } from "../../tools/stacks";
import { ApplyRegistration, installApplyGuard, takeApplyRegistrations } from "./apply-guard";

export type { RecordedResource };

/** Resolves an Output under mocks (all values are known there, except in preview runs). */
export function value<T>(o: pulumi.Output<T> | T): Promise<T> {
    return pulumi.Output.isInstance(o) ? (o as any).promise() : Promise.resolve(o as T);
}

/** The mock engine with default settings (stack "test", us-east-1, not a preview), state cleared. */
export async function engine(): Promise<MockEngine> {
    return installMockEngine();
}

export interface ProgramRun {
    cfg: StackConfig;
    /** What this evaluation registered and invoked (a snapshot: later runs do not change it). */
    engine: ResourceView;
    resources: RecordedResource[];
    /** Resolved outputs; in a preview run, unknown outputs are undefined. */
    outputs: Record<string, unknown>;
    /** Resources registered while an apply callback ran (helpers/apply-guard.ts): none in a sound program. */
    applyRegistrations: ApplyRegistration[];
}

export interface RunOptions {
    /** Evaluate as a first `pulumi preview` of a new stack: computed outputs unknown. */
    preview?: boolean;
    /** Provider-side facts other than the mock's stand-ins (a new AMI, a moved add-on default): tools/lifecycle.ts. */
    world?: MockWorld;
}

/**
 * Evaluates the whole program for a config and returns what it registered and its resolved outputs.
 * Rejects when the program does, and when any promise rejects unhandled during the run (a throw inside
 * an apply whose Output nothing awaits): the Pulumi CLI's language host fails the update on an
 * unhandled rejection (@pulumi/pulumi cmd/run/run.js), so the harness must not resolve where `pulumi up` fails.
 */
export async function runProgram(cfg: StackConfig, opts: RunOptions = {}): Promise<ProgramRun> {
    const unhandled = new Set<unknown>();
    // mocha re-emits the rejections it traps to the other listeners: a Set counts each reason once.
    const onUnhandled = (reason: unknown) => { unhandled.add(reason); };
    process.on("unhandledRejection", onUnhandled);
    // Every evaluation is watched for resources created inside an apply; no-apply-resources.test reads the result.
    installApplyGuard();
    takeApplyRegistrations();
    try {
        const e = await installMockEngine({ project: cfg.project, stack: cfg.stack, region: cfg.region, preview: opts.preview ?? false, world: opts.world });
        // Loaded after the mocks are installed, as the SDK requires.
        const { program } = require("../../infra/workbench") as typeof import("../../infra/workbench");
        const { outputs: stackOutputs } = await program(cfg);
        const outputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(stackOutputs)) outputs[k] = await value(pulumi.output(v) as any);
        await e.settle();
        // Node reports a rejection as unhandled once the microtask queue drains: let it, twice over.
        for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
        if (unhandled.size) {
            const reasons = [...unhandled].map((r) => (r instanceof Error ? r.stack ?? r.message : String(r)).split("\n").slice(0, 4).join("\n    "));
            throw new Error(`the program of stack ${cfg.stack} left ${unhandled.size} unhandled rejection(s), which fail \`pulumi up\`:\n- ${reasons.join("\n- ")}`);
        }
        const view = e.snapshot();
        return { cfg, engine: view, resources: [...view.resources], outputs, applyRegistrations: takeApplyRegistrations() };
    } finally {
        process.off("unhandledRejection", onUnhandled);
    }
}

/** Evaluates a stack of stacks/ afresh: for tests of the engine itself (per-run settings, a preview then an up). */
export async function evaluateStack(stack: string, opts: RunOptions = {}): Promise<ProgramRun> {
    const s = readStack(stack);
    return runProgram(parseConfig(s.raw, { stack, region: s.region }), opts);
}

const runs = new Map<string, Promise<ProgramRun>>();

/**
 * A stack of stacks/ evaluated once per test process and mode (resolved, or a first preview), shared by
 * every test file that reads it: the program and the mock engine are deterministic, so a second
 * evaluation would record the same resources. The run is deep-frozen: a test that edits it clones it first.
 */
export function runStack(stack: string, opts: RunOptions = {}): Promise<ProgramRun> {
    const key = `${stack}:${opts.preview ? "preview" : "up"}`;
    let run = runs.get(key);
    if (!run) {
        run = evaluateStack(stack, opts).then(deepFreeze);
        run.catch(() => runs.delete(key));
        runs.set(key, run);
    }
    return run;
}

function deepFreeze<T>(v: T): T {
    if (v && typeof v === "object" && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) {
        Object.freeze(v);
        for (const x of Object.values(v)) deepFreeze(x);
    }
    return v;
}

/** Parses a JSON policy document input (string or object). */
export function doc(v: unknown): any {
    return typeof v === "string" ? JSON.parse(v) : v;
}
