/**
 * Runs the CrossGuard pack offline over resources the mock engine recorded, through @pulumi/policy's
 * own analyzer code: the exported `makeAnalyzeRpcFun` / `makeAnalyzeStackRpcFun` of the same
 * @pulumi/policy copy the pack loads (policies/node_modules when installed), called with real
 * AnalyzeRequest / AnalyzeStackRequest protobufs built as the engine builds them
 * (pkg/resource/plugin/analyzer_plugin.go: properties as a Struct with unknowns as sentinels and
 * secrets as signature objects). Deserialisation, `unknownCheckingProxy`, the advisory "can't run
 * policy ... during preview" for UnknownValueError, enforcement levels and message formatting are
 * therefore upstream's, not ours.
 *
 * Differences from a real engine run, by design:
 * - no gRPC transport and no separate process (test/policy-host.test.ts drives the real host);
 * - per-policy config is applied by wrapping each policy's `getConfig` and enforcement level instead
 *   of the Configure RPC (same result: schema defaults, then "all", then per-policy values, as the
 *   CLI's ReconcilePolicyPackConfig does; the JSON-schema validation of the config is not repeated);
 * - Analyze sees the program's inputs, not the provider's Check-ed inputs (providers fill defaults
 *   the mocks do not), and AnalyzeStack sees the mock's outputs.
 */
import * as path from "path";
import { createRequire } from "module";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { RecordedResource } from "./mock-engine";
import { READS } from "../policies/lib/rule";

const POLICIES_DIR = path.join(__dirname, "..", "policies");
/** Resolves modules exactly as the pack's own files do. */
const packRequire = createRequire(path.join(POLICIES_DIR, "index.ts"));
const policyRequire = createRequire(packRequire.resolve("@pulumi/policy"));
const server = policyRequire("./server") as {
    makeAnalyzeRpcFun(name: string, version: string, level: string, policies: unknown[]): (call: { request: unknown }, cb: (err: unknown, resp: any) => void) => Promise<void>;
    makeAnalyzeStackRpcFun(name: string, version: string, level: string, policies: unknown[]): (call: { request: unknown }, cb: (err: unknown, resp: any) => void) => Promise<void>;
};
const analyzerpb = policyRequire("@pulumi/pulumi/proto/analyzer_pb");
const structpb = createRequire(policyRequire.resolve("@pulumi/pulumi/proto/analyzer_pb"))("google-protobuf/google/protobuf/struct_pb");

export type Enforcement = "advisory" | "mandatory" | "remediate" | "disabled";
/** The `--policy-pack-config` file format: "policy": "advisory" or { "enforcementLevel": ..., ...properties }, and "all". */
export type PackConfig = Record<string, Enforcement | ({ enforcementLevel?: Enforcement } & Record<string, unknown>)>;

export interface Violation {
    readonly policyName: string;
    readonly enforcementLevel: Enforcement;
    /** The policy's own message (the engine prints the description, a newline, then this). */
    readonly message: string;
    /** The diagnostic's message exactly as the analyzer returns it to the engine. */
    readonly rawMessage: string;
    readonly urn?: string;
    readonly resourceType?: string;
    readonly resourceName?: string;
    /** True for the advisory "can't run policy ... during preview" diagnostics of unknown values. */
    readonly deferred: boolean;
}

export interface PolicyRunResult {
    readonly violations: Violation[];
    readonly mandatory: number;
    readonly advisory: number;
    /** Diagnostics deferred to `up` (unknown at preview); counted in `advisory` too. */
    readonly deferred: number;
    readonly policiesRun: number;
}

export interface RunOptions {
    /** Send Analyze for every resource and AnalyzeStack even where no policy of the run can report (see `reportersFor`). */
    exhaustive?: boolean;
    packName?: string;
    packVersion?: string;
    /** The pack's enforcement level (policies/index.ts: mandatory). */
    packEnforcement?: Enforcement;
}

const LEVELS: Record<number, Enforcement> = { 0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate" };

/** Reconciles schema defaults with a policy-pack config as the CLI does (pkg/resource/analyzer/config.go). */
export function reconcileConfig(policies: ReadonlyArray<ResourceValidationPolicy | StackValidationPolicy>, config: PackConfig, packEnforcement: Enforcement): Map<string, { level: Enforcement; props: Record<string, unknown> }> {
    const out = new Map<string, { level: Enforcement; props: Record<string, unknown> }>();
    const parse = (v: PackConfig[string] | undefined) => (typeof v === "string" ? { enforcementLevel: v } : v ?? {});
    const all = parse(config.all).enforcementLevel;
    for (const p of policies) {
        const props: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) if ((v as any).default !== undefined) props[k] = (v as any).default;
        const { enforcementLevel, ...given } = parse(config[p.name]);
        out.set(p.name, { level: (enforcementLevel ?? all ?? p.enforcementLevel ?? packEnforcement) as Enforcement, props: { ...props, ...given } });
    }
    return out;
}

/** A copy of a policy whose validations see `props` from getConfig and which reports at `level`. */
function configured<P extends ResourceValidationPolicy | StackValidationPolicy>(p: P, level: Enforcement, props: Record<string, unknown>): P {
    const wrap = (fn: any) => {
        const w: any = (args: any, report: any) => fn({ ...args, getConfig: () => props }, report);
        if (fn.__pulumiType) w.__pulumiType = fn.__pulumiType;
        return w;
    };
    const copy: any = { ...p, enforcementLevel: level };
    if ("validateResource" in p && p.validateResource) copy.validateResource = Array.isArray(p.validateResource) ? p.validateResource.map(wrap) : wrap(p.validateResource);
    if ("validateStack" in p && p.validateStack) copy.validateStack = wrap(p.validateStack);
    return copy;
}

/** Struct.fromJavaScript rejects undefined; the engine drops such properties too. */
const struct = (o: Record<string, unknown>) => structpb.Struct.fromJavaScript(JSON.parse(JSON.stringify(o ?? {})));

/** The proto classes of the @pulumi/policy copy the pack loads (the gRPC stubs must match them). */
export const proto = { analyzerpb, structpb, grpc: () => policyRequire("@grpc/grpc-js"), analyzerGrpc: () => policyRequire("@pulumi/pulumi/proto/analyzer_grpc_pb"), emptypb: () => createRequire(policyRequire.resolve("@pulumi/pulumi/proto/analyzer_pb"))("google-protobuf/google/protobuf/empty_pb") };

function options(r: RecordedResource) {
    const o = new analyzerpb.AnalyzerResourceOptions();
    o.setProtect(r.protect);
    o.setIgnorechangesList([...r.ignoreChanges]);
    o.setDeletebeforereplace(r.deleteBeforeReplace);
    o.setDeletebeforereplacedefined(r.deleteBeforeReplace);
    o.setAdditionalsecretoutputsList([...(r.additionalSecretOutputs ?? [])]);
    o.setAliasesList([]);
    o.setParent(r.parent);
    return o;
}

function providerOf(r: RecordedResource, byUrn: ReadonlyMap<string, RecordedResource>) {
    const urn = r.provider.split("::").slice(0, -1).join("::");
    const p = byUrn.get(urn);
    if (!p) return undefined;
    const pr = new analyzerpb.AnalyzerProviderResource();
    pr.setType(p.type);
    pr.setProperties(struct(p.rawInputs));
    pr.setUrn(p.urn);
    pr.setName(p.name);
    return pr;
}

/** Resources by URN (build once per stack, not once per resource). */
export function byUrnOf(resources: readonly RecordedResource[]): ReadonlyMap<string, RecordedResource> {
    return new Map(resources.map((x) => [x.urn, x]));
}

/** The AnalyzeRequest the engine sends for a resource (inputs, options, provider); `byUrn` from byUrnOf. */
export function analyzeRequest(r: RecordedResource, byUrn: ReadonlyMap<string, RecordedResource>): any {
    const req = new analyzerpb.AnalyzeRequest();
    req.setType(r.type);
    req.setProperties(struct(r.rawInputs));
    req.setUrn(r.urn);
    req.setName(r.name);
    req.setOptions(options(r));
    const provider = providerOf(r, byUrn);
    if (provider) req.setProvider(provider);
    return req;
}

/** The AnalyzeStackRequest the engine sends at the end of a preview or update (outputs, parents, dependencies). */
export function analyzeStackRequest(resources: readonly RecordedResource[]): any {
    const byUrn = byUrnOf(resources);
    const req = new analyzerpb.AnalyzeStackRequest();
    req.setResourcesList(resources.map((r) => {
        const ar = new analyzerpb.AnalyzerResource();
        ar.setType(r.type);
        ar.setProperties(struct(r.custom ? r.rawState : r.rawInputs));
        ar.setUrn(r.urn);
        ar.setName(r.name);
        ar.setOptions(options(r));
        const provider = providerOf(r, byUrn);
        if (provider) ar.setProvider(provider);
        ar.setParent(r.parent);
        ar.setDependenciesList([...r.dependencies]);
        return ar;
    }));
    return req;
}

const LEVEL_CODES: Record<Enforcement, number> = { advisory: 0, mandatory: 1, disabled: 2, remediate: 3 };

/** The ConfigureAnalyzerRequest the engine sends: every policy's reconciled level and properties. */
export function configureRequest(policies: ReadonlyArray<ResourceValidationPolicy | StackValidationPolicy>, config: PackConfig = {}, packEnforcement: Enforcement = "mandatory"): any {
    const req = new analyzerpb.ConfigureAnalyzerRequest();
    for (const [name, c] of reconcileConfig(policies, config, packEnforcement)) {
        const pc = new analyzerpb.PolicyConfig();
        pc.setEnforcementlevel(LEVEL_CODES[c.level]);
        pc.setProperties(struct(c.props));
        req.getPolicyconfigMap().set(name, pc);
    }
    return req;
}

/** Diagnostics of an AnalyzeResponse as plain objects. */
export function diagnosticsOf(resp: any): Array<{ policyName: string; enforcementLevel: Enforcement; message: string; urn: string }> {
    return resp.getDiagnosticsList().map((d: any) => ({ policyName: d.getPolicyname(), enforcementLevel: LEVELS[d.getEnforcementlevel()], message: d.getMessage(), urn: d.getUrn() }));
}

const call = (fn: (c: { request: unknown }, cb: (err: unknown, resp: any) => void) => Promise<void>, request: unknown) =>
    new Promise<any>((resolve, reject) => { void fn({ request }, (err, resp) => (err ? reject(err) : resolve(resp))); });

const DEFERRED = /^can't run policy '[^']+' from policy pack '[^']+' during preview: /;

/** Which types a resource validation can report on (a predicate), or undefined for any type. */
function readsOf(v: unknown): ((type: string) => boolean) | undefined {
    if (Array.isArray(v)) {
        const each = v.map(readsOf);
        return each.every((f) => f) ? (t) => each.some((f) => f!(t)) : undefined;
    }
    const f = v as { __pulumiType?: unknown; [READS]?: unknown } | undefined;
    if (typeof f?.__pulumiType === "string") return (t) => t === f.__pulumiType;
    if (typeof f?.[READS] === "function") return f[READS] as (type: string) => boolean;
    return undefined;
}

/**
 * Which resource types an Analyze call can get a finding for from these policies. @pulumi/policy's server
 * (makeAnalyzeRpcFun, server.js) skips a policy whose validateResource carries a Pulumi type
 * (validateResourceOfType: `__pulumiType`) for a resource of another type without reading its properties,
 * and answers no diagnostic where no policy is left; the pack's other validations say which types they report
 * on (policies/lib/rule.ts READS: onTypes, anyOf, the Kubernetes rules) and return at once for any other. A request that
 * cannot produce a finding is not built: the mutation test runs one policy at a time over whole stacks,
 * where building every request was most of its time. With no resource policy, no Analyze; with no stack
 * policy, no AnalyzeStack (makeAnalyzeStackRpcFun loops over none). test/mutation.test.ts compares the
 * findings with `exhaustive: true` (every request sent) over a sample of mutations, one at least for each policy
 * the fixture mutations target.
 */
function reportersFor(policies: readonly ResourceValidationPolicy[]): (type: string) => boolean {
    const reads: Array<(type: string) => boolean> = [];
    for (const p of policies) {
        const f = readsOf(p.validateResource);
        if (!f) return () => true;
        reads.push(f);
    }
    return (type) => reads.some((f) => f(type));
}

/**
 * Analyzes every resource (Analyze, on inputs) and then the whole stack (AnalyzeStack, on outputs),
 * as the engine does at the end of a preview or update.
 */
export async function runPolicies(
    resources: readonly RecordedResource[],
    policies: { resource: readonly ResourceValidationPolicy[]; stack: readonly StackValidationPolicy[] },
    packConfig: PackConfig = {},
    opts: RunOptions = {},
): Promise<PolicyRunResult> {
    const packName = opts.packName ?? "archaeo-workbench-security";
    const packVersion = opts.packVersion ?? (packRequire("./package.json") as { version: string }).version;
    const packLevel = opts.packEnforcement ?? "mandatory";
    const reconciled = reconcileConfig([...policies.resource, ...policies.stack], packConfig, packLevel);
    const cfg = (p: { name: string }) => reconciled.get(p.name)!;
    const resourcePolicies = policies.resource.map((p) => configured(p, cfg(p).level, cfg(p).props));
    const stackPolicies = policies.stack.map((p) => configured(p, cfg(p).level, cfg(p).props));
    const analyze = server.makeAnalyzeRpcFun(packName, packVersion, packLevel, resourcePolicies);
    const analyzeStack = server.makeAnalyzeStackRpcFun(packName, packVersion, packLevel, stackPolicies);
    const byUrn = byUrnOf(resources);
    const descriptions = new Map([...policies.resource, ...policies.stack].map((p) => [p.name, p.description]));
    const violations: Violation[] = [];

    const collect = (resp: any, r?: RecordedResource) => {
        for (const d of resp.getDiagnosticsList()) {
            const urn = d.getUrn() || r?.urn || undefined;
            const target = urn ? byUrn.get(urn) : undefined;
            const full: string = d.getMessage();
            const description = descriptions.get(d.getPolicyname()) ?? d.getDescription();
            const message = full.startsWith(`${description}\n`) ? full.slice(description.length + 1) : full;
            violations.push({
                policyName: d.getPolicyname(),
                enforcementLevel: LEVELS[d.getEnforcementlevel()],
                message,
                rawMessage: full,
                urn,
                resourceType: target?.type,
                resourceName: target?.name,
                deferred: DEFERRED.test(full),
            });
        }
    };

    const reaches = opts.exhaustive ? () => true : reportersFor(policies.resource);
    for (const r of resources) if (reaches(r.type)) collect(await call(analyze, analyzeRequest(r, byUrn)), r);
    if (opts.exhaustive || policies.stack.length) collect(await call(analyzeStack, analyzeStackRequest(resources)));

    const run = [...reconciled.values()].filter((c) => c.level !== "disabled").length;
    return {
        violations,
        mandatory: violations.filter((v) => v.enforcementLevel === "mandatory").length,
        advisory: violations.filter((v) => v.enforcementLevel === "advisory").length,
        deferred: violations.filter((v) => v.deferred).length,
        policiesRun: run,
    };
}

/**
 * Runs `fn` while every unknown value a policy reads through @pulumi/policy's own
 * `unknownCheckingProxy` (the proxy the analyzer wraps props in) is reported to `onRead` with its
 * property path, before the proxy throws as usual. For audits: "did any rule read an unknown and
 * still report nothing?" The proxy's behaviour is unchanged; the wrapper only observes.
 */
export async function observingUnknownReads<T>(onRead: (path: readonly (string | symbol)[]) => void, fn: () => Promise<T>): Promise<T> {
    const proxyMod = policyRequire("./proxy") as { unknownCheckingProxy: (o: unknown) => unknown; UnknownValueError: new (...a: any[]) => Error; isSpecialProxy: string; getSpecialProxyTarget: string };
    const original = proxyMod.unknownCheckingProxy;
    const observe = (target: unknown): unknown => {
        if (!(target instanceof Object)) return target;
        return new Proxy(target as object, {
            get: (obj, prop) => {
                let v: unknown;
                try {
                    v = Reflect.get(obj, prop);
                } catch (e) {
                    if (e instanceof proxyMod.UnknownValueError) onRead((e as any).props ?? [prop]);
                    throw e;
                }
                if (prop === proxyMod.isSpecialProxy || prop === proxyMod.getSpecialProxyTarget) return v;
                // The V8 proxy invariant the upstream proxy honours too: non-configurable, non-writable data properties pass as they are.
                const desc = Object.getOwnPropertyDescriptor(obj, prop);
                if (desc && "value" in desc && desc.configurable === false && desc.writable === false) return v;
                return observe(v);
            },
        });
    };
    proxyMod.unknownCheckingProxy = (o: unknown) => observe(original(o));
    try {
        return await fn();
    } finally {
        proxyMod.unknownCheckingProxy = original;
    }
}
