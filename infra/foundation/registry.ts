/**
 * Private ECR repository and an image built from a context under images/ and pushed there (the
 * workbench image; in cluster mode also the hub tunnel), tagged by the same context digest
 * pulumi-docker computes, so a rebuild never re-pushes a tag.
 *
 * Both the tag and the digest the provider compares are a pure function of the repository, not of
 * the checkout's umask. pulumi-docker 5.x hashes each file's real mode (provider/provider.go
 * hashContext: fsutil.Walk, then contextHashAccumulator.hashPath writes `fileMode.String()`; read at
 * github.com/pulumi/pulumi-docker v5.1.0 e944612c and master 237b7899, which have the same
 * hashContext; fsutil's mkstat takes `fi.Mode()`), and git records only 100644 or 100755 and checks
 * files out with 0666/0777 minus the umask. So a checkout under umask 077 (0600/0700) would give the
 * provider another contextDigest, an update, a rebuild, and a push of the same tag into the IMMUTABLE
 * repository, which ECR refuses. Hence `normaliseContextModes`: before the image is registered, every
 * file of the context the provider hashes gets the mode git records for it (0644 or 0755) and every
 * directory at least 0755, in place. In place rather than a normalised copy elsewhere: the copy's
 * path would be a new `build.context`, itself an input the provider diffs, so every existing stack
 * would rebuild and re-push its tag once; in place, a stack deployed from a default-umask checkout
 * sees no change at all. It also makes the image the same: COPY keeps the context's modes, and a 0600
 * root-owned notebook would be unreadable by the researcher's uid 1000. Line endings are pinned by
 * .gitattributes (`eol=lf`), and directory entries are read in sorted order.
 */
import * as crypto from "crypto";
import { spawnSync } from "child_process";
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
    /**
     * protectData: protect and retain the repository (the images a run may reference); false: a teardown, where
     * `pulumi destroy` deletes it with the images `up` pushed (ECR refuses to delete a repository that holds images).
     * Defaults to true.
     */
    protect?: boolean;
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
            forceDelete: args.protect === false,
        }, { parent: this, protect: args.protect !== false, retainOnDelete: args.protect !== false });
        new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, { repository: repo.name, policy: JSON.stringify(ecrLifecyclePolicy(args.retentionDays)) }, child);

        const dockerfile = `${args.context}/Dockerfile`;
        const contextDir = path.join(args.projectRoot, args.context);
        const normalised = normaliseContextModes(contextDir, path.join(args.projectRoot, dockerfile));
        if (normalised.length) {
            const shown = normalised.slice(0, 5).join(", ") + (normalised.length > 5 ? `, and ${normalised.length - 5} more` : "");
            pulumi.log.info(`${args.context}: gave ${normalised.length} paths the image build hashes git's modes (files 0644/0755, directories 0755): ${shown}`, this);
        }
        // What the provider will hash must be what the tag names, or a second machine rebuilds and re-pushes the tag.
        const { repository: digest, provider: providerDigest } = contextDigests(contextDir, path.join(args.projectRoot, dockerfile));
        if (providerDigest !== digest) throw new Error(`${args.context}: the docker provider would hash this checkout as ${providerDigest}, not the repository's ${digest}; its file modes differ from git's (see normaliseContextModes)`);
        this.imageTag = imageTag(digest, args.buildArgs);
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

/**
 * Go's fs.FileMode.String() for a regular file or a bare mode (e.g. "-rw-r--r--", "----------"): the
 * setuid, setgid and sticky bits (04000, 02000, 01000, which fsutil carries into Go's ModeSetuid,
 * ModeSetgid, ModeSticky) as the leading letters "u", "g", "t" (Go's "dalTLDpSugct?" order), else "-".
 */
export function goModeString(mode: number): string {
    const rwx = "rwxrwxrwx";
    const special = `${mode & 0o4000 ? "u" : ""}${mode & 0o2000 ? "g" : ""}${mode & 0o1000 ? "t" : ""}`;
    let out = special || "-";
    for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? rwx[i] : "-";
    return out;
}

/**
 * The mode git records for a regular file, as a checkout under umask 022 has it: 0755 when its owner
 * may execute it, else 0644 (git read-cache-ll.h, formerly cache.h: `ce_permissions(mode)
 * (((mode) & 0100) ? 0755 : 0644)`).
 */
export function gitFileMode(mode: number): number {
    return mode & 0o100 ? 0o755 : 0o644;
}

export interface ContextEntry {
    /** Slash path relative to the context. */
    rel: string;
    full: string;
    isDirectory: boolean;
    /** Permission and special bits on this machine (0o7777 mask). */
    mode: number;
}

/**
 * The modes git records for the context's tracked files (`git ls-files -s`: 100755 -> 0755, 100644 ->
 * 0644), by slash path relative to the context; undefined where the context is not in a git work tree or
 * git is missing. A file's executable bit then comes from the repository, not from a file system that
 * may not keep it (Windows reports 0666, a WSL /mnt/c checkout 0777).
 */
export function repositoryModes(contextDir: string): Map<string, number> | undefined {
    const r = spawnSync("git", ["ls-files", "-s", "-z", "--", "."], { cwd: contextDir, encoding: "utf8" });
    if (r.status !== 0 || r.error) return undefined;
    const out = new Map<string, number>();
    for (const rec of r.stdout.split("\0")) {
        const m = /^(\d{6}) [0-9a-f]+ \d+\t(.+)$/.exec(rec);
        if (m && (m[1] === "100755" || m[1] === "100644")) out.set(m[2], m[1] === "100755" ? 0o755 : 0o644);
    }
    return out;
}

/** The mode an entry should have: git's record of it when tracked, else git's rule applied to its owner's exec bit. */
function wantedFileMode(e: ContextEntry, tracked: Map<string, number> | undefined): number {
    return tracked?.get(e.rel) ?? gitFileMode(e.mode);
}

/**
 * What fsutil.Walk yields for the provider: every directory and regular file not excluded by
 * .dockerignore (an excluded directory is not entered), directory entries sorted by name. Symlinks
 * are refused (the provider hashes their target path), and so are names outside printable ASCII
 * (sorting and Unicode normalisation would then depend on the file system).
 */
export function contextEntries(contextDir: string, dockerfile: string): ContextEntry[] {
    const patterns = readDockerignore(contextDir, dockerfile);
    const out: ContextEntry[] = [];
    const walk = (relDir: string) => {
        const entries = fs.readdirSync(path.join(contextDir, relDir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const e of entries) {
            const rel = relDir ? `${relDir}/${e.name}` : e.name;
            if (isIgnored(rel, patterns)) continue;
            if (!/^[\x20-\x7e]+$/.test(e.name)) throw new Error(`build context ${contextDir}: '${rel}' has a name outside printable ASCII; rename it`);
            if (e.isSymbolicLink()) throw new Error(`build context ${contextDir} has a symlink (${rel}); replace it with a file`);
            const full = path.join(contextDir, rel);
            if (e.isDirectory()) {
                out.push({ rel, full, isDirectory: true, mode: fs.statSync(full).mode & 0o7777 });
                walk(rel);
            } else if (e.isFile()) out.push({ rel, full, isDirectory: false, mode: fs.statSync(full).mode & 0o7777 });
            else throw new Error(`build context ${contextDir}: '${rel}' is neither a file nor a directory (a FIFO, socket or device); remove it`);
        }
    };
    walk("");
    return out;
}

/**
 * Gives every file of the context the mode git records for it (repositoryModes; gitFileMode for an
 * untracked file), setuid/setgid/sticky bits cleared, so what the provider hashes and what the image's
 * COPY carries are the repository's whatever the umask of the checkout (chmod is not subject to the
 * umask). Directories only gain what COPY needs (0755 added, nothing taken: a group-shared 2775 checkout
 * stays group-writable; the provider does not hash directory modes). Each change is read back: a file
 * system that ignores chmod (Windows, WSL's /mnt/c, some CIFS mounts) is refused, because the provider
 * would hash other modes there. Returns the paths it changed (none in a default checkout).
 */
export function normaliseContextModes(contextDir: string, dockerfile: string): string[] {
    const changed: string[] = [];
    const tracked = repositoryModes(contextDir);
    for (const e of contextEntries(contextDir, dockerfile)) {
        const want = e.isDirectory ? e.mode | 0o755 : wantedFileMode(e, tracked);
        if (e.mode === want) continue;
        try {
            fs.chmodSync(e.full, want);
        } catch (err) {
            throw new Error(`${e.full} has mode ${e.mode.toString(8)}; the image build needs ${want.toString(8)} (git's mode) so that its digest does not depend on the checkout's umask, and chmod failed: ${(err as Error).message}`);
        }
        const now = fs.statSync(e.full).mode & 0o7777;
        if (now !== want) {
            throw new Error(`${e.full}: chmod to ${want.toString(8)} left ${now.toString(8)}; this file system does not keep Unix modes, so the image's digest would depend on it. Build the image from a Linux or macOS checkout (not Windows or a WSL /mnt/c path).`);
        }
        changed.push(e.rel);
    }
    return changed;
}

/**
 * The build context digest as pulumi-docker's Image computes it (provider/provider.go hashContext +
 * contextHashAccumulator.hashPath, v4.x-v5.x): the Dockerfile first under the name "Dockerfile" with
 * mode 0, then every file fsutil.Walk yields (directory entries sorted by name, .dockerignore applied):
 * its slash path, its mode string and the sha256 of its content, then a NUL; the sha256 of all that, in
 * hex. Computed twice in one walk: `repository` with the modes git records (wantedFileMode), a pure
 * function of the repository that names the tag; `provider` with this checkout's modes, what the
 * provider will hash (the two agree once normaliseContextModes has run).
 */
export function contextDigests(contextDir: string, dockerfile: string): { repository: string; provider: string } {
    const tracked = repositoryModes(contextDir);
    const repository = crypto.createHash("sha256");
    const provider = crypto.createHash("sha256");
    const add = (file: string, rel: string, repoMode: number, localMode: number) => {
        const content = crypto.createHash("sha256").update(fs.readFileSync(file)).digest();
        for (const [acc, m] of [[repository, repoMode], [provider, localMode]] as const) {
            acc.update(rel);
            acc.update(goModeString(m));
            acc.update(content);
            acc.update(Buffer.from([0]));
        }
    };
    add(dockerfile, "Dockerfile", 0, 0);
    for (const e of contextEntries(contextDir, dockerfile)) if (!e.isDirectory) add(e.full, e.rel, wantedFileMode(e, tracked), e.mode);
    return { repository: repository.digest("hex"), provider: provider.digest("hex") };
}

/** The digest the tag names: a pure function of the repository (contextDigests().repository). */
export function contextDigest(contextDir: string, dockerfile: string): string {
    return contextDigests(contextDir, dockerfile).repository;
}

/** What the provider hashes with this checkout's modes (equal to contextDigest after normaliseContextModes). */
export function providerContextDigest(contextDir: string, dockerfile: string): string {
    return contextDigests(contextDir, dockerfile).provider;
}

/** Deterministic tag from the context digest and the build args: a new tag exactly when pulumi-docker would rebuild. */
export function imageTag(digest: string, buildArgs: Record<string, string>): string {
    const h = crypto.createHash("sha256").update(digest);
    for (const k of Object.keys(buildArgs).sort()) h.update(`\0${k}=${buildArgs[k]}`);
    return `ctx-${h.digest("hex").slice(0, 16)}`;
}
