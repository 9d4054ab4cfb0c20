/**
 * Runs the CrossGuard pack offline over resources the mock engine recorded, the way the Pulumi engine
 * drives @pulumi/policy's analyzer: each resource's inputs go through @pulumi/policy's own
 * `deserializeProperties` (from a protobuf Struct, as on the wire) and `unknownCheckingProxy`;
 * resource policies see inputs (analyze), stack policies see every resource's outputs with parents,
 * dependencies, options and provider (analyzeStack). Enforcement levels and per-policy config follow
 * the pack's configSchema defaults, overridable like `pulumi preview --policy-config`.
 */
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, unknownCheckingProxy } from "@pulumi/policy";
import type { RecordedResource } from "./mock-engine";

// Internal module of @pulumi/policy (the same one its gRPC server uses).
const { deserializeProperties } = require("@pulumi/policy/deserialize") as {
    deserializeProperties(s: Struct, proxySecrets: boolean): Record<string, any>;
};

export type Enforcement = "advisory" | "mandatory" | "remediate" | "disabled";
export type PackConfig = Record<string, { enforcementLevel?: Enforcement } & Record<string, unknown>>;

export interface Violation {
    readonly policyName: string;
    readonly enforcementLevel: Enforcement;
    readonly message: string;
    readonly urn?: string;
    readonly resourceType?: string;
    readonly resourceName?: string;
}

export interface PolicyRunResult {
    readonly violations: Violation[];
    readonly mandatory: number;
    readonly advisory: number;
    readonly policiesRun: number;
}

class NotApplicable extends Error {}

function props(raw: Record<string, any>): Record<string, any> {
    // Struct.fromJavaScript rejects undefined; the engine drops such properties too.
    const clean = JSON.parse(JSON.stringify(raw ?? {}));
    return unknownCheckingProxy(deserializeProperties(Struct.fromJavaScript(clean), false));
}

function configFor(p: ResourceValidationPolicy | StackValidationPolicy, packConfig: PackConfig): Record<string, unknown> {
    const defaults: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) if ((v as any).default !== undefined) defaults[k] = (v as any).default;
    const { enforcementLevel: _e, ...given } = packConfig[p.name] ?? {};
    return { ...defaults, ...given };
}

function isTypeOf(type: string, resourceClass: any): boolean {
    return resourceClass?.__pulumiType === type;
}

export function runPolicies(
    resources: readonly RecordedResource[],
    policies: { resource: readonly ResourceValidationPolicy[]; stack: readonly StackValidationPolicy[] },
    packConfig: PackConfig = {},
    packEnforcement: Enforcement = "mandatory",
): PolicyRunResult {
    const violations: Violation[] = [];
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const providerOf = (r: RecordedResource) => {
        const urn = r.provider.split("::").slice(0, -1).join("::");
        const p = byUrn.get(urn);
        return p ? { type: p.type, props: props(p.rawInputs), urn: p.urn, name: p.name } : undefined;
    };
    const opts = (r: RecordedResource) => ({
        protect: r.protect,
        ignoreChanges: [...r.ignoreChanges],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(r.deleteBeforeReplace ? { deleteBeforeReplace: true } : {}),
        ...(r.parent ? { parent: r.parent } : {}),
    });
    const notApplicable = (reason?: string): never => { throw new NotApplicable(reason); };
    const level = (p: { name: string; enforcementLevel?: Enforcement }): Enforcement =>
        (packConfig[p.name]?.enforcementLevel ?? p.enforcementLevel ?? packEnforcement) as Enforcement;
    const reporter = (p: { name: string; description: string }, enforcementLevel: Enforcement, r?: RecordedResource) =>
        (message: any, urn?: string) => {
            const target = urn ? byUrn.get(urn) : r;
            violations.push({
                policyName: p.name,
                enforcementLevel: enforcementLevel === "remediate" ? "mandatory" : enforcementLevel,
                message: typeof message === "string" ? message || p.description : message?.message ?? p.description,
                urn: urn ?? r?.urn,
                resourceType: target?.type,
                resourceName: target?.name,
            });
        };
    let policiesRun = 0;

    const customs = resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
    for (const p of policies.resource) {
        const enforcement = level(p);
        if (enforcement === "disabled" || !p.validateResource) continue;
        policiesRun++;
        const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
        const config = configFor(p, packConfig);
        for (const r of customs) {
            for (const validate of validations) {
                const only = (validate as any).__pulumiType;
                if (only && only !== r.type) continue;
                const pr = props(r.rawInputs);
                const args: any = {
                    type: r.type, props: pr, urn: r.urn, name: r.name, opts: opts(r), stackTags: new Map(),
                    isType: (c: any) => isTypeOf(r.type, c), asType: (c: any) => (isTypeOf(r.type, c) ? pr : undefined),
                    getConfig: () => config, notApplicable,
                };
                const provider = providerOf(r);
                if (provider) args.provider = provider;
                try {
                    validate(args, reporter(p, enforcement, r));
                } catch (e: any) {
                    if (e instanceof NotApplicable) continue;
                    if (e?.constructor?.name === "UnknownValueError") {
                        violations.push({ policyName: p.name, enforcementLevel: "advisory", message: `can't run during preview: ${e.message}`, urn: r.urn, resourceType: r.type, resourceName: r.name });
                        continue;
                    }
                    throw new Error(`policy ${p.name} failed on ${r.type} ${r.name}: ${e?.stack ?? e}`);
                }
            }
        }
    }

    const stackResources: PolicyResource[] = customs.map((r) => {
        const pr = props(r.rawState);
        const res: any = {
            type: r.type, props: pr, urn: r.urn, name: r.name, opts: opts(r), dependencies: [], propertyDependencies: {},
            isType: (c: any) => isTypeOf(r.type, c), asType: (c: any) => (isTypeOf(r.type, c) ? pr : undefined),
        };
        const provider = providerOf(r);
        if (provider) res.provider = provider;
        return res as PolicyResource;
    });
    const byUrnPolicy = new Map(stackResources.map((r) => [r.urn, r]));
    customs.forEach((r, i) => {
        const res: any = stackResources[i];
        if (r.parent && byUrnPolicy.has(r.parent)) res.parent = byUrnPolicy.get(r.parent);
        res.dependencies = r.dependencies.map((d) => byUrnPolicy.get(d)).filter(Boolean);
    });
    for (const p of policies.stack) {
        const enforcement = level(p);
        if (enforcement === "disabled") continue;
        policiesRun++;
        const config = configFor(p, packConfig);
        try {
            p.validateStack({ resources: stackResources, getConfig: () => config, stackTags: new Map(), notApplicable } as any, reporter(p, enforcement));
        } catch (e) {
            if (e instanceof NotApplicable) continue;
            throw e;
        }
    }
    return {
        violations,
        mandatory: violations.filter((v) => v.enforcementLevel === "mandatory").length,
        advisory: violations.filter((v) => v.enforcementLevel === "advisory").length,
        policiesRun,
    };
}
