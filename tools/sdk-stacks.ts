/**
 * Two stack traces the Pulumi SDK (3.248.0) formats on every step of a program, which under tsx cost
 * more than the program itself: tsx turns Node's source maps on, and Node then maps every frame of
 * every formatted stack through the source map (node:internal/source_map/prepare_stack_trace).
 *
 * - runtime/debuggable.js `debuggablePromise` stores `new Error().stack` on each promise it tracks, read
 *   only to describe a leaked promise when the process exits;
 * - resource.js `Resource.callsites` formats an unlimited stack for each resource, sent to the engine as
 *   the registration's source position and stack trace, which the mock engine ignores.
 *
 * A 200-researcher instance stack evaluated and judged in one process: 58 s of CPU, of which these two
 * were 55% (a --cpu-prof profile), and 34 s with them made cheap. The offline plan, the bench and the
 * tests install this with the mock engine (never in `pulumi up`): a leaked promise is still reported
 * (without its creation stack) and every resource is registered as before; errors and failing tests keep
 * their source-mapped stacks.
 */
let installed = false;

export function cheapSdkStackTraces(): void {
    if (installed) return;
    installed = true;
    const debuggable = require("@pulumi/pulumi/runtime/debuggable");
    const { Resource } = require("@pulumi/pulumi/resource");
    const debuggablePromise = debuggable.debuggablePromise;
    // Callers read the export at each call (`(0, debuggable_1.debuggablePromise)(...)`), so replacing it reaches them.
    debuggable.debuggablePromise = function (p: Promise<unknown>, ctx: unknown) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
            return debuggablePromise(p, ctx);
        } finally {
            Error.stackTraceLimit = limit;
        }
    };
    const callsites = Resource.callsites;
    Resource.callsites = function (this: unknown) {
        const mapped = process.sourceMapsEnabled;
        if (mapped) process.setSourceMapsEnabled(false);
        try {
            return callsites.call(this);
        } finally {
            if (mapped) process.setSourceMapsEnabled(true);
        }
    };
}
