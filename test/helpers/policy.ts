/** Policy test helpers: synthetic resources (fixtures) and running the pack offline over them. */
import type { RecordedResource } from "../../tools/mock-engine";
import { UNKNOWN_VALUE } from "../../tools/mock-engine";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { observingUnknownReads, runPolicies, PackConfig, PolicyRunResult } from "../../tools/policy-runner";
import { formatPath } from "../../policies/lib/unknowns";
import { resourcePolicies, stackValidationPolicies } from "../../policies/rules";

export const ACCOUNT = "123456789012";
export const PROVIDER_URN = "urn:pulumi:test::archaeo-workbench::pulumi:providers:aws::archaeo-aws";
export const PACK = { resource: resourcePolicies, stack: stackValidationPolicies };
/** A value unknown at preview, in the engine's wire form. */
export const UNKNOWN = UNKNOWN_VALUE;

/** A recorded resource whose inputs and outputs are `inputs` (outputs may add `state`). */
export function fixture(type: string, name: string, inputs: Record<string, any>, extra: Partial<RecordedResource> & { state?: Record<string, any> } = {}): RecordedResource {
    const { state, ...rest } = extra;
    const outputs = { ...inputs, ...(state ?? {}) };
    return {
        type, name, urn: `urn:pulumi:test::archaeo-workbench::${type}::${name}`, custom: true, parent: "", provider: `${PROVIDER_URN}::id`,
        protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], dependencies: [], additionalSecretOutputs: [],
        inputs, secretInputs: [], state: outputs, rawInputs: inputs, rawState: outputs, id: `${name}-id`,
        ...rest,
    };
}

export function awsProvider(tags: Record<string, string> = { institution: "x", "data-classification": "confidential", stack: "test" }, region = "us-east-1"): RecordedResource {
    const p = fixture("pulumi:providers:aws", "archaeo-aws", { region, defaultTags: JSON.stringify({ tags }) });
    return { ...p, urn: PROVIDER_URN, provider: "" };
}

export function check(resources: RecordedResource[], config: PackConfig = {}, only?: string): Promise<PolicyRunResult> {
    const hasProvider = resources.some((r) => r.type === "pulumi:providers:aws");
    return runPolicies(hasProvider ? resources : [awsProvider(), ...resources], only ? packOf(only) : PACK, config);
}

/**
 * The pack narrowed to one policy. Each policy of the pack validates on its own (the host runs them one by one,
 * none reads another's result), so its findings over a stack are the same alone as beside the others: the
 * mutation test asks only whether the intended policy reports, and runs only that one.
 */
export function packOf(name: string): typeof PACK {
    const narrowed = { resource: PACK.resource.filter((p) => p.name === name), stack: PACK.stack.filter((p) => p.name === name) };
    if (narrowed.resource.length + narrowed.stack.length !== 1) throw new Error(`no policy named ${name} in the pack`);
    return narrowed;
}

/** Names of the policies with mandatory violations. */
export async function failing(resources: RecordedResource[], config: PackConfig = {}): Promise<string[]> {
    return [...new Set((await check(resources, config)).violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.policyName))].sort();
}

/** Sets a property at a dotted path ("a.b[0].c") of an object, creating objects on the way. */
export function setPath(o: any, path: string, v: unknown): void {
    const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
    let cur = o;
    for (const k of keys.slice(0, -1)) cur = cur[k] ??= {};
    cur[keys[keys.length - 1]] = v;
}

export interface SilentPass {
    readonly policy: string;
    /** The resource a resource policy ran on, or "(stack)". */
    readonly subject: string;
    /** Unknown properties it read, as "a.b[0]" paths (prefixed with the resource for stack policies). */
    readonly paths: string[];
}

/**
 * Runs the whole pack and lists every evaluation (policy x resource, or policy x stack) that read an
 * unknown value through @pulumi/policy's proxy yet reported nothing: neither a violation nor a
 * deferral. A rule that does that passed silently on something it could not see.
 */
export async function silentPasses(resources: RecordedResource[], config: PackConfig = {}): Promise<{ run: PolicyRunResult; silent: SilentPass[] }> {
    let current: string | undefined;
    const reads = new Map<string, Set<string>>();
    const track = (key: string, fn: any) => {
        const w: any = async (args: any, report: any) => {
            current = key === "(stack)" ? `${fn.__policy}\u0000(stack)` : `${fn.__policy}\u0000${args.name}`;
            try { return await fn(args, report); } finally { current = undefined; }
        };
        if (fn.__pulumiType) w.__pulumiType = fn.__pulumiType;
        return w;
    };
    const tag = <F>(f: F, name: string): F => Object.assign(f as any, { __policy: name });
    const resource = PACK.resource.map((p): ResourceValidationPolicy => ({
        ...p,
        validateResource: Array.isArray(p.validateResource)
            ? p.validateResource.map((f) => track("resource", tag(f, p.name)))
            : track("resource", tag(p.validateResource, p.name)),
    }));
    const stack = PACK.stack.map((p): StackValidationPolicy => ({ ...p, validateStack: track("(stack)", tag(p.validateStack, p.name)) }));
    const withProvider = resources.some((r) => r.type === "pulumi:providers:aws") ? resources : [awsProvider(), ...resources];
    const run = await observingUnknownReads((path) => {
        if (!current) return;
        reads.set(current, (reads.get(current) ?? new Set()).add(formatPath(path)));
    }, () => runPolicies(withProvider, { resource, stack }, config));
    const reported = new Set(run.violations.map((v) => `${v.policyName}\u0000${v.urn && !isStackViolation(v, PACK.stack) ? v.resourceName : "(stack)"}`));
    const silent: SilentPass[] = [];
    for (const [key, paths] of reads) {
        if (reported.has(key)) continue;
        const [policy, subject] = key.split("\u0000");
        silent.push({ policy, subject, paths: [...paths].sort() });
    }
    return { run, silent: silent.sort((a, b) => `${a.policy} ${a.subject}`.localeCompare(`${b.policy} ${b.subject}`)) };
}

/** Stack policies may attach a violation to a resource's URN; it still belongs to the stack evaluation. */
function isStackViolation(v: { policyName: string }, stack: readonly StackValidationPolicy[]): boolean {
    return stack.some((p) => p.name === v.policyName);
}
