/** Policy test helpers: synthetic resources and running the pack offline over them. */
import type { RecordedResource } from "../../tools/mock-engine";
import { runPolicies, PackConfig, PolicyRunResult } from "../../tools/policy-runner";
import { resourcePolicies, stackValidationPolicies } from "../../policies/rules";

export const PROVIDER_URN = "urn:pulumi:test::archaeo-workbench::pulumi:providers:aws::archaeo-aws";

export function fixture(type: string, name: string, inputs: Record<string, any>, extra: Partial<RecordedResource> = {}): RecordedResource {
    return {
        type, name, urn: `urn:pulumi:test::archaeo-workbench::${type}::${name}`, custom: true, parent: "", provider: `${PROVIDER_URN}::id`,
        protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], dependencies: [],
        inputs, secretInputs: [], state: inputs, rawInputs: inputs, rawState: inputs, id: `${name}-id`,
        ...extra,
    };
}

export function awsProvider(tags: Record<string, string> = { institution: "x", "data-classification": "confidential", stack: "test" }): RecordedResource {
    const p = fixture("pulumi:providers:aws", "archaeo-aws", { region: "us-east-1", defaultTags: JSON.stringify({ tags }) });
    return { ...p, urn: PROVIDER_URN, provider: "" };
}

export function check(resources: RecordedResource[], config: PackConfig = {}): PolicyRunResult {
    return runPolicies([awsProvider(), ...resources], { resource: resourcePolicies, stack: stackValidationPolicies }, config);
}

/** Names of the policies with mandatory violations. */
export function failing(resources: RecordedResource[], config: PackConfig = {}): string[] {
    return [...new Set(check(resources, config).violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.policyName))].sort();
}
