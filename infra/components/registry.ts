import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";

export interface ImageRegistryArgs {
    /** Repository name, e.g. archaeo/<institution>/pytorch-cuda. */
    repositoryName: string;
    /** The stack's customer-managed KMS key. */
    keyArn: pulumi.Input<string>;
    /** Absolute path of the Docker build context (images/pytorch-cuda). */
    contextDir: string;
    /** Tag of the PyTorch base image (images/pytorch-cuda/image.json). */
    baseImage: string;
    /** sha256 digest of the base image; without it the build follows the tag (and the plan warns). */
    baseImageDigest?: string;
    /** Keep this many images. Defaults to 10. */
    keepImages?: number;
}

/**
 * Private ECR repository (KMS-encrypted with the stack key, scan on push, IMMUTABLE tags, lifecycle
 * policy) and the workbench image built from images/pytorch-cuda and pushed there. The tag derives
 * from the build context's content, so an unchanged context is not rebuilt; everything downstream
 * uses `imageDigestRef` (repository@sha256:...), never a tag.
 */
export class ImageRegistry extends pulumi.ComponentResource {
    public readonly repositoryUrl: pulumi.Output<string>;
    public readonly repositoryArn: pulumi.Output<string>;
    public readonly registryId: pulumi.Output<string>;
    /** repository@sha256:<digest> of the pushed image. */
    public readonly imageDigestRef: pulumi.Output<string>;
    /** The content-derived tag pushed. */
    public readonly imageTag: string;

    constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:registry:ImageRegistry", name, {}, opts);
        const child = { parent: this };

        const repo = new aws.ecr.Repository(`${name}-repo`, {
            name: args.repositoryName,
            imageTagMutability: "IMMUTABLE",
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: args.keyArn }],
            forceDelete: false,
        }, child);

        new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, {
            repository: repo.name,
            policy: JSON.stringify(ecrLifecyclePolicy(args.keepImages ?? 10)),
        }, child);

        const buildArgs: Record<string, string> = { BASE_IMAGE: args.baseImage };
        if (args.baseImageDigest) buildArgs.BASE_DIGEST = args.baseImageDigest;
        this.imageTag = imageTag(args.contextDir, buildArgs);

        const auth = aws.ecr.getAuthorizationTokenOutput({ registryId: repo.registryId }, { parent: this });
        const image = new docker.Image(`${name}-image`, {
            imageName: pulumi.interpolate`${repo.repositoryUrl}:${this.imageTag}`,
            build: {
                context: args.contextDir,
                dockerfile: path.join(args.contextDir, "Dockerfile"),
                platform: "linux/amd64",
                args: buildArgs,
            },
            registry: {
                server: repo.repositoryUrl,
                username: auth.userName,
                password: pulumi.secret(auth.password),
            },
        }, child);

        this.repositoryUrl = repo.repositoryUrl;
        this.repositoryArn = repo.arn;
        this.registryId = repo.registryId;
        this.imageDigestRef = image.repoDigest;
        this.registerOutputs({ repositoryUrl: this.repositoryUrl, imageDigestRef: this.imageDigestRef });
    }
}

export function ecrLifecyclePolicy(keep: number) {
    return {
        rules: [
            {
                rulePriority: 1,
                description: "Expire untagged images after 7 days",
                selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 7 },
                action: { type: "expire" },
            },
            {
                rulePriority: 2,
                description: `Keep the ${keep} most recent images`,
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keep },
                action: { type: "expire" },
            },
        ],
    };
}

/** Files of a build context, sorted, as paths relative to it (no .git, no node_modules). */
export function contextFiles(dir: string): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
        for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
            if (entry.name === ".git" || entry.name === "node_modules" || entry.name === "__pycache__") continue;
            const r = rel ? `${rel}/${entry.name}` : entry.name;
            if (entry.isDirectory()) walk(r);
            else if (entry.isFile()) out.push(r);
        }
    };
    walk("");
    return out.sort();
}

/** Deterministic tag from the context's paths, modes and bytes plus the build args. */
export function imageTag(dir: string, buildArgs: Record<string, string>): string {
    const h = crypto.createHash("sha256");
    for (const f of contextFiles(dir)) {
        const full = path.join(dir, f);
        h.update(`${f}\0${fs.statSync(full).mode & 0o111 ? "x" : "-"}\0`);
        h.update(fs.readFileSync(full));
        h.update("\0");
    }
    for (const k of Object.keys(buildArgs).sort()) h.update(`${k}=${buildArgs[k]}\0`);
    return `ctx-${h.digest("hex").slice(0, 16)}`;
}
