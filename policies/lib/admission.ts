/**
 * ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) on the CONNECT of pods/portforward,
 * evaluated as the API server would for one request: its matchConditions, variables and validations
 * in CEL, with the policy's failurePolicy on errors. Kubernetes evaluates these with cel-go and its
 * extension libraries; this uses @bufbuild/cel (the CEL spec for ECMAScript) with the strings
 * extension, which covers startsWith, substring, split, matches and the macros. An expression that
 * uses a library this engine lacks (authorizer, quantity, ip...) evaluates to an error here, and an
 * error denies under failurePolicy Fail: such a policy is judged by what this engine can prove.
 */
import { isCelError, parse, plan, celEnv, CelEnv, CelResult } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { asArray } from "./util";

let env: CelEnv | undefined;
const compiled = new Map<string, ((ctx: Record<string, unknown>) => CelResult) | Error>();

/** Evaluates one CEL expression; a parse error or a runtime error comes back as an Error. */
export function evalCel(expression: string, bindings: Record<string, unknown>): unknown {
    env ??= celEnv({ funcs: strings });
    let fn = compiled.get(expression);
    if (fn === undefined) {
        try {
            const p = plan(env, parse(expression));
            fn = (ctx) => p(ctx as never);
        } catch (e) {
            fn = e instanceof Error ? e : new Error(String(e));
        }
        compiled.set(expression, fn);
    }
    if (fn instanceof Error) return new Error(`does not compile: ${fn.message}`);
    try {
        const v = fn(bindings);
        return isCelError(v) ? new Error(v.message) : v;
    } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
    }
}

/**
 * The admission request of `kubectl port-forward pod/<pod>` by `username` in `namespace`, as the
 * API server hands it to CEL (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy
 * "request" is an AdmissionRequest; for CONNECT, `object` is the PodPortForwardOptions and
 * `oldObject` is null).
 */
export function portForwardRequest(username: string, pod: string, namespace: string): Record<string, unknown> {
    const gvr = { group: "", version: "v1", resource: "pods" };
    const gvk = { group: "", version: "v1", kind: "PodPortForwardOptions" };
    return {
        request: {
            uid: "00000000-0000-0000-0000-000000000000", kind: gvk, resource: gvr, subResource: "portforward",
            requestKind: gvk, requestResource: gvr, requestSubResource: "portforward",
            name: pod, namespace, operation: "CONNECT",
            userInfo: { username, uid: `uid-${username}`, groups: ["system:authenticated"], extra: {} },
            dryRun: false, options: null,
        },
        object: { apiVersion: "v1", kind: "PodPortForwardOptions", ports: [8888] },
        oldObject: null,
        params: null,
        namespaceObject: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "kubernetes.io/metadata.name": namespace } } },
    };
}

/**
 * The admission request of creating pod `pod` in `namespace` (the hub's KubeSpawner creating a server pod), with
 * `params` the binding's parameter object (ValidatingAdmissionPolicy paramKind): for CREATE, `object` is the pod and
 * `oldObject` null.
 */
export interface PodShape { containers?: unknown[]; initContainers?: unknown[]; ephemeralContainers?: unknown[]; annotations?: Record<string, string>; username?: string; subResource?: "ephemeralcontainers" }
export function podCreateRequest(pod: string, namespace: string, params: unknown, shape: PodShape = {}): Record<string, unknown> {
    const gvr = { group: "", version: "v1", resource: "pods" };
    const gvk = { group: "", version: "v1", kind: "Pod" };
    const username = shape.username ?? `system:serviceaccount:${namespace}:hub`;
    const sub = shape.subResource ?? "";
    return {
        request: {
            uid: "00000000-0000-0000-0000-000000000000", kind: gvk, resource: gvr, subResource: sub,
            requestKind: gvk, requestResource: gvr, requestSubResource: sub,
            name: pod, namespace, operation: sub ? "UPDATE" : "CREATE",
            userInfo: { username, uid: `uid-${username}`, groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"], extra: {} },
            dryRun: false, options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
        },
        object: {
            apiVersion: "v1", kind: "Pod",
            metadata: { name: pod, namespace, labels: { component: "singleuser-server" }, ...(shape.annotations ? { annotations: shape.annotations } : {}) },
            spec: {
                containers: shape.containers ?? [{ name: "notebook", image: "jupyter" }],
                ...(shape.initContainers ? { initContainers: shape.initContainers } : {}),
                ...(shape.ephemeralContainers ? { ephemeralContainers: shape.ephemeralContainers } : {}),
            },
        },
        oldObject: sub ? { apiVersion: "v1", kind: "Pod", metadata: { name: pod, namespace }, spec: { containers: shape.containers ?? [] } } : null,
        params,
        namespaceObject: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "kubernetes.io/metadata.name": namespace } } },
    };
}

/** How a policy decided: skipped (a matchCondition false), passed (every validation true), false (a validation false), error (failurePolicy applied). */
export type Decision = { allowed: boolean; why: string; via: "skipped" | "passed" | "false" | "error" };

/**
 * Whether a policy spec admits a request: a matchCondition that is false skips the policy (admit);
 * one that errors, with none false, applies failurePolicy; otherwise every validation must be true,
 * and a false one denies, an error applies failurePolicy ("Fail" unless "Ignore").
 * (KEP-3488 / kubernetes.io "Validating Admission Policy": matchConditions, variables, validations.)
 */
export function decide(spec: any, bindings: Record<string, unknown>): Decision {
    const failOpen = spec?.failurePolicy === "Ignore";
    const variables: Record<string, unknown> = {};
    for (const v of asArray(spec?.variables)) {
        const r = evalCel(String(v?.expression ?? ""), { ...bindings, variables });
        if (!(r instanceof Error)) variables[String(v?.name)] = r; // an erroring variable errors where it is used
    }
    const ctx = { ...bindings, variables };
    let matchError: string | undefined;
    // Variables are not available in matchConditions (ValidatingAdmissionPolicySpec.variables: "available under `variables`
    // in other expressions of the policy except MatchConditions because MatchConditions are evaluated before the rest of
    // the policy"): there `variables` is undeclared, an error.
    for (const m of asArray(spec?.matchConditions)) {
        const r = evalCel(String(m?.expression ?? ""), bindings);
        if (r === false) return { allowed: true, why: `matchCondition '${m?.name}' is false, so the policy does not apply`, via: "skipped" };
        if (r instanceof Error || typeof r !== "boolean") matchError ??= `matchCondition '${m?.name}' ${r instanceof Error ? `errs (${r.message})` : "is not a boolean"}`;
    }
    if (matchError) return { allowed: failOpen, why: `${matchError}, failurePolicy ${failOpen ? "Ignore" : "Fail"}`, via: "error" };
    for (const v of asArray(spec?.validations)) {
        const r = evalCel(String(v?.expression ?? ""), ctx);
        if (r === true) continue;
        if (r === false) return { allowed: false, why: `validation '${v?.expression}' is false`, via: "false" };
        return { allowed: failOpen, why: `validation '${v?.expression}' ${r instanceof Error ? `errs (${r.message})` : "is not a boolean"}, failurePolicy ${failOpen ? "Ignore" : "Fail"}`, via: "error" };
    }
    return { allowed: true, why: "every validation is true", via: "passed" };
}

/**
 * Why a port-forward policy does not hold researchers to their own server in `namespace`, or
 * undefined when it does: for every two distinct researchers a and b (users <prefix><a>), a's
 * port-forward to b's server must be denied and to a's own allowed.
 */
export function portForwardGuardProblem(spec: any, namespace: string, ids: readonly string[], o: { researcherUserPrefix: string; serverPodPrefix: string }): string | undefined {
    for (const a of ids) {
        const user = `${o.researcherUserPrefix}${a}`;
        const own = decide(spec, portForwardRequest(user, `${o.serverPodPrefix}${a}`, namespace));
        if (!own.allowed) return `it denies ${user} a port-forward to their own server ${o.serverPodPrefix}${a} (${own.why}), so it cannot be the design's guard`;
        for (const b of ids) {
            if (b === a) continue;
            const cross = decide(spec, portForwardRequest(user, `${o.serverPodPrefix}${b}`, namespace));
            if (cross.allowed) return `it lets ${user} port-forward to ${o.serverPodPrefix}${b}, another researcher's server (${cross.why})`;
        }
    }
    return undefined;
}

/**
 * Whether a CEL expression reads nothing of the request but `paths` ("object.metadata.name"...): every use of a variable
 * the API server binds (object, oldObject, params, request, namespaceObject, authorizer, variables) must be one of those
 * paths, not indexed further (a method called on one is fine: name.startsWith(...)). String literals are left out first;
 * triple-quoted strings are not read (refused).
 */
export function celReadsOnly(expression: string, paths: ReadonlySet<string>): boolean {
    if (/'''|"""/.test(expression)) return false;
    const code = expression.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
    const use = /(^|[^.\w])(object|oldObject|params|request|namespaceObject|authorizer|variables)\b((?:\s*\.\s*[A-Za-z_]\w*)*)\s*([[(])?/g;
    for (const m of code.matchAll(use)) {
        const segments = m[3].replace(/\s+/g, "").split(".").filter(Boolean);
        // A path followed by "(" ends in a method called on the value before it (name.startsWith(...)).
        if (m[4] === "(") segments.pop();
        if (m[4] === "[" || !paths.has([m[2], ...segments].join("."))) return false;
    }
    return true;
}
