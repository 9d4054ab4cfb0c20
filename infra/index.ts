/**
 * The Pulumi program. Reads and validates the whole stack config first (every bad key reported at
 * once, before any cloud resource is registered), checks it against the deploying account, then
 * composes the workbench and returns the documented stack outputs (README "Outputs").
 */
import * as pulumi from "@pulumi/pulumi";
import { parseConfig, PROJECT } from "./config";
import { program } from "./workbench";

export = async (): Promise<Record<string, unknown>> => {
    const all = pulumi.runtime.allConfig();
    const cfg = parseConfig(
        Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(`${PROJECT}:`))),
        { stack: pulumi.getStack(), project: pulumi.getProject(), region: all["aws:region"] },
    );
    return (await program(cfg)).outputs;
};
