/**
 * Runs the workbench under the shared mock engine. Import this (never infra/index.ts) from tests:
 * the mocks are installed before the program modules load. Each run configures the engine with its
 * own stack, region and mode (resolved values like `pulumi up`, or a first `pulumi preview`).
 */
import * as pulumi from "@pulumi/pulumi";
import { installMockEngine, MockEngine, RecordedResource, ResourceView } from "../../tools/mock-engine";
import { parseConfig, StackConfig } from "../../infra/config";
import { readStack } from "../../tools/stacks";

export type { RecordedResource };

/** Resolves an Output under mocks (all values are known there, except in preview runs). */
export function value<T>(o: pulumi.Output<T> | T): Promise<T> {
    return pulumi.Output.isInstance(o) ? (o as any).promise() : Promise.resolve(o as T);
}

/** The mock engine with default settings (stack "test", us-east-1, not a preview), state cleared. */
export async function engine(): Promise<MockEngine> {
    return installMockEngine();
}

/** A valid config: the example stack, with overrides (short keys). */
export function exampleConfig(overrides: Record<string, unknown> = {}, stack = "example"): StackConfig {
    const s = readStack("example");
    return parseConfig({ ...s.raw, ...overrides }, { stack, region: s.region });
}

export interface ProgramRun {
    cfg: StackConfig;
    /** What this evaluation registered and invoked (a snapshot: later runs do not change it). */
    engine: ResourceView;
    resources: RecordedResource[];
    /** Resolved outputs; in a preview run, unknown outputs are undefined. */
    outputs: Record<string, unknown>;
}

export interface RunOptions {
    /** Evaluate as a first `pulumi preview` of a new stack: computed outputs unknown. */
    preview?: boolean;
}

/** Evaluates the whole program for a config and returns what it registered and its resolved outputs. */
export async function runProgram(cfg: StackConfig, opts: RunOptions = {}): Promise<ProgramRun> {
    const e = await installMockEngine({ project: cfg.project, stack: cfg.stack, region: cfg.region, preview: opts.preview ?? false });
    // Loaded after the mocks are installed, as the SDK requires.
    const { program } = require("../../infra/workbench") as typeof import("../../infra/workbench");
    const { outputs: stackOutputs } = await program(cfg);
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stackOutputs)) outputs[k] = await value(pulumi.output(v) as any);
    await e.settle();
    const view = e.snapshot();
    return { cfg, engine: view, resources: [...view.resources], outputs };
}

export async function runStack(stack: string, opts: RunOptions = {}): Promise<ProgramRun> {
    const s = readStack(stack);
    return runProgram(parseConfig(s.raw, { stack, region: s.region }), opts);
}

/** Parses a JSON policy document input (string or object). */
export function doc(v: unknown): any {
    return typeof v === "string" ? JSON.parse(v) : v;
}
