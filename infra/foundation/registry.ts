/**
 * Private ECR repository and an image built from a context under images/ and pushed there (the
 * workbench image; in cluster mode also the hub tunnel), tagged by the same context digest
 * pulumi-docker computes, so a rebuild never re-pushes a tag.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";

export interface ImageRegistryArgs {
    /** Repository name, e.g. archaeo/<institution>/<stack>/pytorch-cuda. */
    repositoryName: string;
    /** The stack's customer-managed KMS key. */
    keyArn: pulumi.Input<string>;
    /** Project root (the directory holding Pulumi.yaml). */
    projectRoot: string;
    /**
     * The directory Pulumi runs the program and its provider plugins in: the project's `main` when that
     * is a directory (pulumi/pulumi pkg/engine/project.go getPwdMain: `pwd = main`; plugins start with
     * that pwd). The docker provider resolves the build context and Dockerfile against it
     * (pulumi-docker provider/image.go: os.Open(build.Dockerfile), GetContextFromLocalDir).
     */
    programDir: string;
    /** Build context relative to projectRoot (images/pytorch-cuda). */
    context: string;
    /** The platform the image runs on: linux/amd64 (workbench, GPU nodes), linux/arm64 (the system node). */
    platform: "linux/amd64" | "linux/arm64";
    /** Build args (BASE_IMAGE, BASE_DIGEST, ...); part of the tag. */
    buildArgs: Record<string, string>;
    /** Keep every pushed image this many days (0: forever). Untagged layers expire after 14 days. */
    retentionDays: number;
}

/**
 * The repository: KMS-encrypted with the stack key, scan on push, IMMUTABLE tags, a lifecycle policy
 * that keeps every tagged image a run may reference. Everything downstream uses `imageDigestRef`
 * (repository@sha256:...), never a tag.
 */
export class ImageRegistry extends pulumi.ComponentResource {
    public readonly repositoryUrl: pulumi.Output<string>;
    public readonly repositoryArn: pulumi.Output<string>;
    /** repository@sha256:<digest> of the pushed image. */
    public readonly imageDigestRef: pulumi.Output<string>;
    /** The content-derived tag pushed. */
    public readonly imageTag: string;

    constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:ImageRegistry", name, {}, opts);
        const child = { parent: this };

        const repo = new aws.ecr.Repository(`${name}-repo`, {
            name: args.repositoryName,
            imageTagMutability: "IMMUTABLE",
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: args.keyArn }],
            forceDelete: false,
        }, child);
        new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, { repository: repo.name, policy: JSON.stringify(ecrLifecyclePolicy(args.retentionDays)) }, child);

        const dockerfile = `${args.context}/Dockerfile`;
        this.imageTag = imageTag(contextDigest(path.join(args.projectRoot, args.context), path.join(args.projectRoot, dockerfile)), args.buildArgs);
        // Relative to where the provider runs, so another checkout path is not a change (and not a rebuild).
        const build = buildPaths(args.projectRoot, args.programDir, args.context);
        const auth = aws.ecr.getAuthorizationTokenOutput({ registryId: repo.registryId }, { parent: this });
        const image = new docker.Image(`${name}-image`, {
            imageName: pulumi.interpolate`${repo.repositoryUrl}:${this.imageTag}`,
            build: { context: build.context, dockerfile: build.dockerfile, platform: args.platform, args: args.buildArgs },
            registry: { server: repo.repositoryUrl, username: auth.userName, password: pulumi.secret(auth.password) },
        }, child);

        this.repositoryUrl = repo.repositoryUrl;
        this.repositoryArn = repo.arn;
        this.imageDigestRef = image.repoDigest;
        this.registerOutputs({ repositoryUrl: this.repositoryUrl, imageDigestRef: this.imageDigestRef });
    }
}

/** The build context and Dockerfile as the docker provider must see them: relative to the program directory, POSIX separators. */
export function buildPaths(projectRoot: string, programDir: string, context: string): { context: string; dockerfile: string } {
    const rel = path.relative(programDir, path.join(projectRoot, context)).split(path.sep).join("/");
    return { context: rel, dockerfile: `${rel}/Dockerfile` };
}

/** Untagged layers go after 14 days; tagged images (every pushed build) stay `retentionDays` (0: forever). */
export function ecrLifecyclePolicy(retentionDays: number) {
    const rules: object[] = [{
        rulePriority: 1,
        description: "Expire untagged images after 14 days",
        selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 14 },
        action: { type: "expire" },
    }];
    if (retentionDays > 0) {
        rules.push({
            rulePriority: 2,
            description: `Expire workbench images ${retentionDays} days after they were pushed`,
            selection: { tagStatus: "tagged", tagPatternList: ["*"], countType: "sinceImagePushed", countUnit: "days", countNumber: retentionDays },
            action: { type: "expire" },
        });
    }
    return { rules };
}

/**
 * .dockerignore patterns, the subset this project uses: globs with `*`, `?` and `**`, no `!`
 * exceptions. A path is excluded when a pattern matches it or one of its parent directories
 * (moby/patternmatcher MatchesOrParentMatches, which fsutil.Walk applies).
 */
export function readDockerignore(contextDir: string, dockerfile: string): string[] {
    // pulumi-docker provider.go getIgnorePatterns: <Dockerfile>.dockerignore first, then <context>/.dockerignore.
    for (const f of [`${dockerfile}.dockerignore`, path.join(contextDir, ".dockerignore")]) {
        if (!fs.existsSync(f)) continue;
        const patterns = fs.readFileSync(f, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
        for (const p of patterns) {
            if (p.startsWith("!") || /[[\]\\]/.test(p)) throw new Error(`${f}: pattern '${p}' is outside the subset infra/foundation/registry.ts implements (no '!', '[]' or '\\')`);
        }
        return patterns.map((p) => p.replace(/^\/+/, "").replace(/\/+$/, ""));
    }
    return [];
}

function patternRegex(p: string): RegExp {
    let re = "";
    for (let i = 0; i < p.length; i++) {
        const c = p[i];
        if (c === "*" && p[i + 1] === "*") {
            re += p[i + 2] === "/" ? "(?:.*/)?" : ".*";
            i += p[i + 2] === "/" ? 2 : 1;
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else re += c.replace(/[.+^${}()|]/g, "\\$&");
    }
    return new RegExp(`^${re}$`);
}

export function isIgnored(rel: string, patterns: readonly string[]): boolean {
    const parts = rel.split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    return patterns.some((p) => { const re = patternRegex(p); return candidates.some((c) => re.test(c)); });
}

/** Go's fs.FileMode.String() for a regular file or a bare mode (e.g. "-rw-r--r--", "----------"). */
export function goModeString(mode: number): string {
    const rwx = "rwxrwxrwx";
    let out = "-";
    for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? rwx[i] : "-";
    return out;
}

/**
 * The build context digest exactly as pulumi-docker's Image computes it (provider/provider.go
 * hashContext + contextHashAccumulator.hashPath, v4.x-v5.x): the Dockerfile first under the name
 * "Dockerfile" with mode 0, then every file fsutil.Walk yields (directory entries sorted by name,
 * .dockerignore applied): its slash path, its mode string and the sha256 of its content, then a NUL;
 * the sha256 of all that, in hex. Symlinks are refused (the provider hashes their target path).
 */
export function contextDigest(contextDir: string, dockerfile: string): string {
    const patterns = readDockerignore(contextDir, dockerfile);
    const acc = crypto.createHash("sha256");
    const add = (file: string, rel: string, mode: number) => {
        acc.update(rel);
        acc.update(goModeString(mode));
        acc.update(crypto.createHash("sha256").update(fs.readFileSync(file)).digest());
        acc.update(Buffer.from([0]));
    };
    add(dockerfile, "Dockerfile", 0);
    const walk = (relDir: string) => {
        const entries = fs.readdirSync(path.join(contextDir, relDir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const e of entries) {
            const rel = relDir ? `${relDir}/${e.name}` : e.name;
            if (isIgnored(rel, patterns)) continue;
            if (e.isSymbolicLink()) throw new Error(`build context ${contextDir} has a symlink (${rel}); replace it with a file`);
            if (e.isDirectory()) walk(rel);
            else if (e.isFile()) add(path.join(contextDir, rel), rel, fs.statSync(path.join(contextDir, rel)).mode & 0o777);
        }
    };
    walk("");
    return acc.digest("hex");
}

/** Deterministic tag from the context digest and the build args: a new tag exactly when pulumi-docker would rebuild. */
export function imageTag(digest: string, buildArgs: Record<string, string>): string {
    const h = crypto.createHash("sha256").update(digest);
    for (const k of Object.keys(buildArgs).sort()) h.update(`\0${k}=${buildArgs[k]}`);
    return `ctx-${h.digest("hex").slice(0, 16)}`;
}
