/** Policy test helpers: synthetic resources (fixtures) and running the pack offline over them. */
import type { RecordedResource } from "../../tools/mock-engine";
import { UNKNOWN_VALUE } from "../../tools/mock-engine";
import { runPolicies, PackConfig, PolicyRunResult } from "../../tools/policy-runner";
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

export function check(resources: RecordedResource[], config: PackConfig = {}): Promise<PolicyRunResult> {
    const hasProvider = resources.some((r) => r.type === "pulumi:providers:aws");
    return runPolicies(hasProvider ? resources : [awsProvider(), ...resources], PACK, config);
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
