/**
 * What both modes share: the institution's KMS key, the dataset bucket and its audit trail, the ECR
 * image, and the budget. Built once, before the mode's own parts.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { StackConfig } from "../config";
import { denyInsecureTransportPolicy } from "../iam";
import { accountRegionHash, bucketName as stackBucketName, COST_TAG, physicalName, resourcePrefix, stackSlug } from "../tags";
import image from "../../images/pytorch-cuda/image.json";
import { AuditTrail } from "./audit";
import { Budget } from "./budget";
import { EncryptedBucket } from "./datastore";
import { Key } from "./key";
import { ImageRegistry } from "./registry";

/** The repository root (holds Pulumi.yaml and images/). Pulumi does not run there: see PROGRAM_DIR. */
export const PROJECT_ROOT = path.join(__dirname, "..", "..");
/** The program directory (Pulumi.yaml `main: infra/`): Pulumi runs the program and its providers there. */
export const PROGRAM_DIR = path.join(__dirname, "..");
/** The image's build context, relative to PROJECT_ROOT. */
export const IMAGE_CONTEXT = "images/pytorch-cuda";

/** Where the stack runs: its one AWS provider, and the deploying account's partition and id. */
export interface StackContext {
    provider: aws.Provider;
    partition: pulumi.Output<string>;
    accountId: pulumi.Output<string>;
}

export interface FoundationContext extends StackContext {
    /** Cluster mode: the EKS cluster name (for the log-group key grant). */
    clusterName?: string;
}

/** The foundation's key and dataset bucket, as every researcher's roles, volumes and mounts take them. */
export interface StackData {
    /** The stack's customer-managed KMS key. */
    keyArn: pulumi.Input<string>;
    /** The dataset bucket: datasets/ shared read-only, researchers/<id>/ each researcher's own. */
    bucketName: pulumi.Input<string>;
    bucketArn: pulumi.Input<string>;
}

export interface Foundation {
    keyArn: pulumi.Output<string>;
    keyPolicy: pulumi.Output<string>;
    bucketName: pulumi.Output<string>;
    bucketArn: pulumi.Output<string>;
    repositoryArn: pulumi.Output<string>;
    imageRef: pulumi.Output<string>;
    /** The content-derived tag the image was pushed with. */
    imageTag: string;
    auditBucketName: pulumi.Output<string>;
    auditTrailArn: pulumi.Output<string>;
}

export { accountRegionHash };

/** Build args of the image: the pinned base (by digest when configured). */
export function imageBuildArgs(cfg: Pick<StackConfig, "baseImageDigest">): Record<string, string> {
    return { BASE_IMAGE: `${image.baseImage}:${image.baseTag}`, ...(cfg.baseImageDigest ? { BASE_DIGEST: cfg.baseImageDigest } : {}) };
}

export function createFoundation(cfg: StackConfig, ctx: FoundationContext): Foundation {
    const opts = { providers: { aws: ctx.provider } };
    const trailName = physicalName(cfg, ["datasets-audit"], 128);

    const key = new Key("archaeo-key", {
        aliasName: `archaeo/${cfg.institution}/${stackSlug(cfg.stack)}`,
        description: `Archaeo workbench key for ${cfg.institution} (${cfg.stack}): every byte the stack stores at rest`,
        partition: ctx.partition,
        accountId: ctx.accountId,
        region: cfg.region,
        services: {
            trailName,
            ...(ctx.clusterName ? { logsPrefix: `/aws/eks/${ctx.clusterName}/`, eventBridge: true, autoScaling: true } : {}),
            // The budget enforcer's topics (infra/cluster/budget-enforcer.ts): cluster mode, researchers with a budget.
            ...(ctx.clusterName && cfg.researchers.some((r) => r.budgetMonthlyUsd > 0) ? { budgetTopics: true } : {}),
        },
        existingKeyArn: cfg.kmsKeyArn,
        protect: cfg.protectData,
    }, opts);

    const bucketName = (purpose: "data" | "audit") => ctx.accountId.apply((a) => stackBucketName(cfg, purpose, a));
    const datasets = new EncryptedBucket("archaeo-datasets", {
        bucketName: bucketName("data"),
        keyArn: key.keyArn,
        purpose: "datasets",
        policy: (arn) => arn.apply((a) => JSON.stringify(denyInsecureTransportPolicy(a))),
        protect: cfg.protectData,
    }, opts);

    const audit = new AuditTrail("archaeo-audit", {
        trailName,
        bucketName: bucketName("audit"),
        partition: ctx.partition,
        accountId: ctx.accountId,
        region: cfg.region,
        keyArn: key.keyArn,
        datasetBucketArn: datasets.bucketArn,
        retentionDays: cfg.auditLogRetentionDays,
        protect: cfg.protectData,
        dependsOn: [key],
    }, opts);

    const registry = new ImageRegistry("archaeo-registry", {
        repositoryName: `archaeo/${cfg.institution}/${stackSlug(cfg.stack)}/pytorch-cuda`,
        keyArn: key.keyArn,
        projectRoot: PROJECT_ROOT,
        programDir: PROGRAM_DIR,
        context: IMAGE_CONTEXT,
        platform: "linux/amd64",
        buildArgs: imageBuildArgs(cfg),
        retentionDays: cfg.imageRetentionDays,
        protect: cfg.protectData,
    }, opts);

    new Budget("archaeo-budget", {
        // AWS Budgets allows 100 characters (its model's BudgetName): the same name as before wherever it fitted.
        budgetName: physicalName(cfg, [], 100),
        monthlyUsd: cfg.budget.monthlyUsd,
        tagKey: COST_TAG,
        tagValue: resourcePrefix(cfg),
        alertEmails: cfg.budget.alertEmails,
    }, opts);

    return {
        keyArn: key.keyArn,
        keyPolicy: key.policy,
        bucketName: datasets.bucketName,
        bucketArn: datasets.bucketArn,
        repositoryArn: registry.repositoryArn,
        imageRef: registry.imageDigestRef,
        imageTag: registry.imageTag,
        auditBucketName: audit.bucketName,
        auditTrailArn: audit.trailArn,
    };
}
