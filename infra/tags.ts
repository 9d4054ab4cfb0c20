import type { StackConfig } from "./config";

/** Tags every AWS resource carries (through the provider's defaultTags). Pure. */
export function standardTags(cfg: Pick<StackConfig, "institution" | "dataClassification" | "stack" | "project">): Record<string, string> {
    return {
        institution: cfg.institution,
        "data-classification": cfg.dataClassification,
        stack: cfg.stack,
        project: cfg.project,
        "managed-by": "pulumi",
    };
}

/** Tag the daily DLM snapshot policy targets; only the workspace volume carries it. */
export function snapshotTargetTag(cfg: Pick<StackConfig, "institution" | "stack">): Record<string, string> {
    return { "archaeo-snapshot": `${cfg.institution}-${cfg.stack}-workspace` };
}

/** Prefix of every physical name and SSM parameter of the stack. */
export function resourcePrefix(cfg: Pick<StackConfig, "institution">): string {
    return `archaeo-${cfg.institution}`;
}

/** SSM parameter path holding the stack's parameters; the workstation may read only these. */
export function ssmPath(cfg: Pick<StackConfig, "institution" | "stack">): string {
    return `/archaeo/${cfg.institution}/${cfg.stack}`;
}
