/**
 * A runtime check for "no resource created inside apply": every resource registered while an Output's
 * apply callback runs is recorded, however the callback reaches the constructor (inline, through a
 * named function it calls, in another module, or after an `await` inside an async callback).
 *
 * How: the SDK's Output class (the prototype of every `pulumi.output(...)`) runs each apply callback
 * inside an AsyncLocalStorage context, which follows synchronous calls and every promise continuation
 * started from them; the SDK's `runtime/resource.registerResource`, which each Resource constructor calls
 * synchronously (resource.js: `resource_1.registerResource(this, ...)`), records a registration made in
 * that context, with the program's frames of the constructor call.
 */
import { AsyncLocalStorage } from "async_hooks";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export interface ApplyRegistration {
    readonly type: string;
    readonly name: string;
    /** The program's frames (infra/, tools/, test/) of the constructor call, innermost first. */
    readonly where: readonly string[];
}

const inApply = new AsyncLocalStorage<true>();
const recorded: ApplyRegistration[] = [];
let installed = false;
const ROOT = path.join(__dirname, "..", "..");

function programFrames(stack: string | undefined): string[] {
    return (stack ?? "").split("\n").slice(1)
        .map((l) => l.trim().replace(/^at /, ""))
        .filter((l) => l.includes(ROOT) && !l.includes("node_modules") && !l.includes(__filename))
        .map((l) => l.split(ROOT + path.sep).join(""));
}

/** Installs the check (once per process; runProgram calls it): from then on every registration inside an apply is recorded. */
export function installApplyGuard(): void {
    if (installed) return;
    const outputProto = Object.getPrototypeOf(pulumi.output(0));
    const apply = outputProto.apply;
    if (typeof apply !== "function") throw new Error("apply-guard: the SDK's Output has no prototype apply; the check cannot install");
    outputProto.apply = function (this: unknown, func: (v: unknown) => unknown, runWithUnknowns?: boolean) {
        return apply.call(this, (v: unknown) => inApply.run(true, () => func(v)), runWithUnknowns);
    };
    const runtimeResource = require("@pulumi/pulumi/runtime/resource");
    const register = runtimeResource.registerResource;
    if (typeof register !== "function") throw new Error("apply-guard: @pulumi/pulumi/runtime/resource has no registerResource; the check cannot install");
    runtimeResource.registerResource = function (this: unknown, res: unknown, parent: unknown, t: string, name: string, ...rest: unknown[]) {
        if (inApply.getStore()) recorded.push({ type: t, name, where: programFrames(new Error().stack) });
        return register.call(this, res, parent, t, name, ...rest);
    };
    installed = true;
}

/** The registrations recorded inside an apply since the last call, and clears them. */
export function takeApplyRegistrations(): ApplyRegistration[] {
    return recorded.splice(0, recorded.length);
}
