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
 * validation function, so one dispatching function is cheaper than an array of typed ones); other
 * types are reported as not applicable, as `validateResourceOfType` does.
 */
export function onTypes(bodies: Record<string, { subject: string; body: Body<any> }>): ResourceValidation {
    return (args, report) => {
        const b = bodies[args.type];
        if (!b) return args.notApplicable(`Policy only applies to resources of types ${Object.keys(bodies).join(", ")}`);
        return deferring(`${b.subject} '${args.name}'`, (d) => b.body(args.props, args, report, d));
    };
}
