/** Physical names, tags and SSM paths of a stack: pure functions of the config, never of list positions. */
import * as crypto from "crypto";
import type { StackConfig } from "./config";
import { MOUNTS } from "./constants";

type Naming = Pick<StackConfig, "institution" | "stack">;

/** Cost-allocation tag naming the stack (activate it, and `researcher`, in the Billing console). */
export const COST_TAG = "workbench";

/** Tags every AWS resource carries (through the provider's defaultTags). Pure. */
export function standardTags(cfg: Pick<StackConfig, "institution" | "dataClassification" | "stack" | "project">): Record<string, string> {
    return {
        /** The one cost-allocation tag the budget filters on: unique per institution and stack. */
        [COST_TAG]: resourcePrefix(cfg),
        institution: cfg.institution,
        "data-classification": cfg.dataClassification,
        stack: cfg.stack,
        project: cfg.project,
        "managed-by": "pulumi",
    };
}

/** Tags of one researcher's resources (their cost line in Cost Explorer, and the policy pack's ownership key). */
export function researcherTags(id: string): Record<string, string> {
    return { researcher: id };
}

/** The stack name as it may appear in physical names: lower-case a-z, 0-9 and '-'. */
export function stackSlug(stack: string): string {
    return stack.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "stack";
}

/**
 * Prefix of every physical name: archaeo-<institution>-<stack>. IAM, S3 and ECR names are global to an
 * account or the world, so two stacks of one institution must not collide: the stack is always in it.
 */
export function resourcePrefix(cfg: Naming): string {
    return `archaeo-${cfg.institution}-${stackSlug(cfg.stack)}`;
}

/**
 * `<prefix>-<parts...>` within `maxLength` characters (IAM roles: 64, S3 buckets: 63, ...). When too
 * long, the stack part is shortened and a hash of the full name keeps it unique and deterministic.
 */
export function physicalName(cfg: Naming, parts: readonly string[], maxLength: number): string {
    const full = [resourcePrefix(cfg), ...parts].join("-");
    if (full.length <= maxLength) return full;
    const hash = crypto.createHash("sha256").update(full).digest("hex").slice(0, 8);
    const fixed = ["archaeo", cfg.institution, ...parts, hash].join("-");
    const room = maxLength - fixed.length - 1;
    if (room >= 1) return ["archaeo", cfg.institution, stackSlug(cfg.stack).slice(0, room).replace(/-+$/, ""), ...parts, hash].join("-").replace(/--+/g, "-");
    return `${["archaeo", ...parts].join("-").slice(0, maxLength - hash.length - 1)}-${hash}`;
}

/** Words Cognito refuses anywhere in a domain prefix ("Domain cannot contain reserved word: aws"). */
export const COGNITO_RESERVED_WORDS = ["aws", "amazon", "cognito"] as const;

/**
 * The Cognito hosted-UI domain prefix: physicalName(cfg, [], 50), with a hyphen put inside every reserved
 * word Cognito refuses anywhere in the prefix ("dawson" -> "daw-son", "amazonia" -> "ama-zonia"), so an
 * institution or stack name containing one still deploys; unchanged for every name that never contained one.
 * Cognito allows 1-63 of a-z, 0-9 and '-' here (cognito-idp CreateUserPoolDomain Domain).
 */
export function cognitoDomainPrefix(cfg: Naming): string {
    const base = physicalName(cfg, [], 50);
    let out = base;
    for (const w of COGNITO_RESERVED_WORDS) out = out.split(w).join(`${w.slice(0, Math.ceil(w.length / 2))}-${w.slice(Math.ceil(w.length / 2))}`);
    if (out.length <= 63) return out;
    return `archaeo-hub-${crypto.createHash("sha256").update(base).digest("hex").slice(0, 8)}`;
}

/** A short, stable hash of account and region, so bucket names are globally unique yet deterministic. */
export function accountRegionHash(accountId: string, region: string): string {
    return crypto.createHash("sha256").update(`${accountId}/${region}`).digest("hex").slice(0, 8);
}

/** The stack's S3 bucket for `purpose` ("data": the datasets and researchers' areas; "audit": the audit trail). */
export function bucketName(cfg: Naming & { region: string }, purpose: "data" | "audit", accountId: string): string {
    return physicalName(cfg, [purpose, accountRegionHash(accountId, cfg.region)], 63);
}

/** Tag the daily DLM snapshot policy targets; only workspace volumes carry it. */
export function snapshotTargetTag(cfg: Naming): Record<string, string> {
    return { "archaeo-snapshot": `${cfg.institution}-${stackSlug(cfg.stack)}-workspace` };
}

/** The AWS CLI profile a researcher acts through (awsProfileSnippet), named in every command they are given. */
export function awsProfileName(id: string): string {
    return `archaeo-${id}`;
}

/** SSM parameter path holding the stack's parameters. */
export function ssmPath(cfg: Naming): string {
    return `/archaeo/${cfg.institution}/${stackSlug(cfg.stack)}`;
}

/** SSM path of one researcher's parameters (token, status); only they and their workstation read it. */
export function researcherSsmPath(cfg: Naming, id: string): string {
    return `${ssmPath(cfg)}/researchers/${id}`;
}

/** S3 prefixes of the dataset bucket: shared datasets (read-only to researchers) and each researcher's own area. */
export const DATASETS_PREFIX = "datasets/";
export function researcherPrefix(id: string): string {
    return `researchers/${id}/`;
}

/** ARCHAEO_DATA_MOUNTS of a researcher's containers and jobs, both modes: /data and /mydata with the S3 prefixes behind them. */
export function dataMountsEnv(bucketName: string, id: string): string {
    return `${MOUNTS.data}=s3://${bucketName}/${DATASETS_PREFIX};${MOUNTS.mydata}=s3://${bucketName}/${researcherPrefix(id)}`;
}
