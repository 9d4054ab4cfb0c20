/**
 * The Pulumi program. Reads and validates the whole stack config first (every bad key reported at
 * once, before any cloud resource is registered), checks it against the deploying account, then
 * composes the workbench and returns the documented stack outputs (README "Outputs").
 */
import * as pulumi from "@pulumi/pulumi";
import { lifecycleWarnings, parseConfig } from "./config";
import { utcDate } from "./data/eks";
import { program } from "./workbench";

export = async (): Promise<Record<string, unknown>> => {
    const all = pulumi.runtime.allConfig();
    // Every key but aws:region (as tools/stacks.ts reads a stack file): parseConfig reads this project's keys and
    // reports a namespace that is the project's name misspelt (archeo-workbench:researchers) instead of dropping it.
    // Dated facts (EKS support windows) are judged on today's date; ARCHAEO_TODAY overrides the clock (rehearsals).
    const today = process.env.ARCHAEO_TODAY ?? utcDate();
    const cfg = parseConfig(
        Object.fromEntries(Object.entries(all).filter(([k]) => k !== "aws:region")),
        { stack: pulumi.getStack(), project: pulumi.getProject(), region: all["aws:region"], today },
    );
    for (const w of lifecycleWarnings(cfg, today)) pulumi.log.warn(w);
    return (await program(cfg)).outputs;
};
