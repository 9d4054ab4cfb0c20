/** Building blocks for rules: typed resource and stack validations that defer unknowns to `up`. */
import type { Resource } from "@pulumi/pulumi";
import type * as q from "@pulumi/pulumi/queryable";
import {
    ReportViolation, ResourceValidation, ResourceValidationArgs, StackValidation, StackValidationArgs, validateResourceOfType,
} from "@pulumi/policy";
import { Deferrals, deferring } from "./unknowns";

/** A stand-in "class" for a type token, for types whose SDK the pack does not load (Kubernetes, Helm). */
export function typeToken(type: string): { new (...rest: any[]): Resource } {
    return { __pulumiType: type } as any;
}

type Body<P> = (props: P, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => void | Promise<void>;

/**
 * A validation for one resource type (the upstream `validateResourceOfType`, so the engine's fast
 * type check applies) whose unknowns end in a DeferredToUp naming `<subject> '<name>'`.
 */
export function onResource<TResource extends Resource>(
    resourceClass: { new (...rest: any[]): TResource }, subject: string, body: Body<q.ResolvedResource<TResource>>,
): ResourceValidation {
    return validateResourceOfType(resourceClass, (props, args, report) => deferring(`${subject} '${args.name}'`, (d) => body(props, args, report, d)));
}

/** Same as `onResource` for a type token (props untyped). */
export function onType(type: string, subject: string, body: Body<any>): ResourceValidation {
    return validateResourceOfType(typeToken(type), (props: any, args, report) => deferring(`${subject} '${args.name}'`, (d) => body(props, args, report, d)));
}

/** A stack validation whose unknowns end in one DeferredToUp listing "<Kind> '<name>'.<path>" entries. */
export function onStack(body: (args: StackValidationArgs, report: ReportViolation, d: Deferrals) => void | Promise<void>): StackValidation {
    return (args, report) => deferring("this stack", (d) => body(args, report, d));
}

/** "Kind 'name'" for messages about a stack resource. */
export function label(r: { type: string; name: string }): string {
    return `${r.type.split(":").pop()} '${r.name}'`;
}

/**
 * One validation for several type tokens (the engine deserializes a resource's properties once per
 * validation function, so one dispatching function is cheaper than an array of typed ones). A resource
 * of another type is left passing, not marked not applicable: @pulumi/policy's server marks it by
 * throwing a NotApplicableError (an Error, with its stack captured) per call, which over a 2,000-resource
 * stack cost more than the rules themselves; the CLI prints violations only.
 */
export function onTypes(bodies: Record<string, { subject: string; body: Body<any> }>): ResourceValidation {
    return readsOnly(Object.keys(bodies), (args, report) => {
        const b = bodies[args.type]!;
        return deferring(`${b.subject} '${args.name}'`, (d) => b.body(args.props, args, report, d));
    });
}

/**
 * Which resource types a validation can report on. Not read by the engine, whose own fast path knows one type per
 * function (`__pulumiType`, validateResourceOfType); the offline runner (tools/policy-runner.ts reportersFor) reads it
 * to skip building requests that cannot produce a finding.
 */
export const READS = "__archaeoReads";

/** `v` for the types `reads` lists or accepts, nothing for any other (so the READS it carries holds by construction). */
export function readsOnly(reads: readonly string[] | ((type: string) => boolean), v: ResourceValidation): ResourceValidation {
    const accepts = typeof reads === "function" ? reads : ((set: ReadonlySet<string>) => (t: string) => set.has(t))(new Set(reads));
    const only: ResourceValidation = (args, report) => (accepts(args.type) ? v(args, report) : undefined);
    Object.defineProperty(only, READS, { value: accepts, enumerable: false });
    return only;
}

/**
 * One validation over several typed ones (each from onResource/onType, which carry their type token):
 * the engine deserializes a resource's properties once per validation function and each one that does
 * not apply throws a NotApplicableError (with its stack), so an array of typed validations costs every
 * resource one deserialization and one exception per entry. This dispatches to the entry for the
 * resource's type; another type is left passing (see onTypes).
 */
export function anyOf(...validations: ResourceValidation[]): ResourceValidation {
    const byType = new Map<string, ResourceValidation[]>();
    for (const v of validations) {
        const type = (v as { __pulumiType?: string }).__pulumiType;
        if (!type) throw new Error("anyOf takes typed validations (onResource / onType)");
        byType.set(type, [...(byType.get(type) ?? []), v]);
    }
    return readsOnly([...byType.keys()], async (args, report) => {
        for (const v of byType.get(args.type)!) await v(args, report);
    });
}
