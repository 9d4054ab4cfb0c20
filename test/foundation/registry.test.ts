/** The image tag and pulumi-docker's context digest must agree, or a rebuild re-pushes an IMMUTABLE tag. */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { contextDigest, ecrLifecyclePolicy, goModeString, imageTag, isIgnored, readDockerignore } from "../../infra/foundation/registry";
import { IMAGE_CONTEXT, PROJECT_ROOT } from "../../infra/foundation";
import { runStack, ProgramRun } from "../helpers/program";
import { PYTHON } from "../helpers/tools";

/**
 * An independent statement of pulumi-docker's hashContext (provider/provider.go, v4.x-v5.x):
 * Dockerfile first as "Dockerfile" with mode 0, then os.walk-in-sorted-order files not excluded by
 * .dockerignore, each as relpath + Go FileMode.String() + sha256(content) + NUL; sha256 of the lot.
 */
const PY_DIGEST = String.raw`
import hashlib, os, stat, sys, fnmatch, re
ctx, dockerfile = sys.argv[1], sys.argv[2]
pats = []
for f in (dockerfile + ".dockerignore", os.path.join(ctx, ".dockerignore")):
    if os.path.exists(f):
        pats = [l.strip().strip("/") for l in open(f) if l.strip() and not l.startswith("#")]
        break
def rx(p):
    out, i = "", 0
    while i < len(p):
        if p[i:i+3] == "**/": out += "(?:.*/)?"; i += 3
        elif p[i:i+2] == "**": out += ".*"; i += 2
        elif p[i] == "*": out += "[^/]*"; i += 1
        elif p[i] == "?": out += "[^/]"; i += 1
        else: out += re.escape(p[i]); i += 1
    return re.compile("^" + out + "$")
R = [rx(p) for p in pats]
def ignored(rel):
    parts = rel.split("/")
    return any(r.match("/".join(parts[:i+1])) for r in R for i in range(len(parts)))
def mode(m):
    s = "-"
    for i, c in enumerate("rwxrwxrwx"):
        s += c if m & (1 << (8 - i)) else "-"
    return s
acc = hashlib.sha256()
def add(full, rel, m):
    acc.update(rel.encode()); acc.update(mode(m).encode()); acc.update(hashlib.sha256(open(full, "rb").read()).digest()); acc.update(b"\0")
add(dockerfile, "Dockerfile", 0)
def walk(reldir):
    for name in sorted(os.listdir(os.path.join(ctx, reldir))):
        rel = reldir + "/" + name if reldir else name
        if ignored(rel): continue
        full = os.path.join(ctx, rel)
        if os.path.isdir(full): walk(rel)
        else: add(full, rel, stat.S_IMODE(os.stat(full).st_mode))
walk("")
print(acc.hexdigest())
`;

function copyContext(): string {
    const dst = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-ctx-"));
    fs.cpSync(path.join(PROJECT_ROOT, IMAGE_CONTEXT), dst, { recursive: true, preserveTimestamps: true });
    return dst;
}

describe("foundation: image registry", () => {
    it("Go's FileMode.String for the modes a checkout has", () => {
        assert.equal(goModeString(0o644), "-rw-r--r--");
        assert.equal(goModeString(0o755), "-rwxr-xr-x");
        assert.equal(goModeString(0), "----------");
    });

    it(".dockerignore patterns: a pattern excludes what it matches and everything under a matched directory", () => {
        const p = ["**/__pycache__", "**/*.pyc", ".pytest_cache"];
        for (const yes of ["__pycache__/smoke.cpython-311.pyc", "python/archaeo/__pycache__/x.pyc", "a/b.pyc", ".pytest_cache/v/cache"]) assert.ok(isIgnored(yes, p), yes);
        for (const no of ["smoke.py", "python/archaeo/train.py", "pyc", "a/__pycache__x"]) assert.ok(!isIgnored(no, p), no);
    });

    it("the context digest equals an independent implementation of pulumi-docker's hashContext", () => {
        const ctx = path.join(PROJECT_ROOT, IMAGE_CONTEXT);
        const r = spawnSync(PYTHON, ["-c", PY_DIGEST, ctx, path.join(ctx, "Dockerfile")], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(contextDigest(ctx, path.join(ctx, "Dockerfile")), r.stdout.trim());
    });

    it("a build context in another checkout path, with rewritten .pyc files, hashes the same (no rebuild, no re-push)", () => {
        const a = path.join(PROJECT_ROOT, IMAGE_CONTEXT);
        const b = copyContext();
        assert.ok(readDockerignore(b, path.join(b, "Dockerfile")).length > 0, "the context has a .dockerignore");
        fs.mkdirSync(path.join(b, "__pycache__"), { recursive: true });
        fs.writeFileSync(path.join(b, "__pycache__", "smoke.cpython-311.pyc"), `bytecode ${Date.now()}`);
        assert.equal(contextDigest(b, path.join(b, "Dockerfile")), contextDigest(a, path.join(a, "Dockerfile")));
    });

    it("a changed file or exec bit gives a new digest and so a new tag (pulumi-docker hashes both; git records the exec bit)", () => {
        const b = copyContext();
        const df = path.join(b, "Dockerfile");
        const before = contextDigest(b, df);
        fs.chmodSync(path.join(b, "entrypoint.sh"), 0o644);
        const afterMode = contextDigest(b, df);
        fs.appendFileSync(path.join(b, "entrypoint.sh"), "\n# edit\n");
        const afterEdit = contextDigest(b, df);
        assert.equal(new Set([before, afterMode, afterEdit]).size, 3);
        assert.notEqual(imageTag(before, {}), imageTag(afterMode, {}));
        assert.notEqual(imageTag(before, { BASE_DIGEST: "sha256:1" }), imageTag(before, { BASE_DIGEST: "sha256:2" }));
        assert.match(imageTag(before, {}), /^ctx-[0-9a-f]{16}$/);
    });

    it("the repository keeps every pushed image for the retention period and expires only untagged layers early", () => {
        const p = ecrLifecyclePolicy(1825);
        assert.deepEqual(p.rules.map((r: any) => [r.selection.tagStatus, r.selection.countType, r.selection.countNumber]), [["untagged", "sinceImagePushed", 14], ["tagged", "sinceImagePushed", 1825]]);
        assert.ok(!JSON.stringify(p).includes("imageCountMoreThan"), "no count-based expiry of images a run may reference");
        assert.deepEqual(ecrLifecyclePolicy(0).rules.map((r: any) => r.selection.tagStatus), ["untagged"]);
    });

    describe("in the program", () => {
        let run: ProgramRun;
        before(async () => { run = await runStack("example"); });

        // Pulumi runs the program and its plugins in the project's `main` when that is a directory
        // (pulumi/pulumi v3.248.0 pkg/engine/project.go getPwdMain: `pwd = main`), and the docker provider
        // opens build.dockerfile and the context relative to that (pulumi-docker provider/image.go).
        it("docker.Image gets a context and Dockerfile that exist from the directory Pulumi runs the provider in, tagged by the digest, pushed with a secret token", () => {
            const image = run.engine.one("docker:index/image:Image");
            const main = String(YAML.parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")).main ?? ".");
            const pwd = fs.statSync(path.join(PROJECT_ROOT, main)).isDirectory() ? path.join(PROJECT_ROOT, main) : path.dirname(path.join(PROJECT_ROOT, main));
            assert.ok(!path.isAbsolute(image.inputs.build.context), "relative: another checkout path is not a change");
            assert.equal(path.resolve(pwd, image.inputs.build.context), path.join(PROJECT_ROOT, IMAGE_CONTEXT));
            assert.equal(path.resolve(pwd, image.inputs.build.dockerfile), path.join(PROJECT_ROOT, IMAGE_CONTEXT, "Dockerfile"));
            assert.ok(fs.existsSync(path.resolve(pwd, image.inputs.build.dockerfile)));
            const ctx = path.join(PROJECT_ROOT, IMAGE_CONTEXT);
            assert.ok(image.inputs.imageName.endsWith(`:${imageTag(contextDigest(ctx, path.join(ctx, "Dockerfile")), image.inputs.build.args)}`), image.inputs.imageName);
            assert.ok(image.secretInputs.includes("registry"));
            const repo = run.engine.one("aws:ecr/repository:Repository");
            assert.deepEqual([repo.inputs.imageTagMutability, repo.inputs.imageScanningConfiguration.scanOnPush, repo.inputs.encryptionConfigurations[0].encryptionType], ["IMMUTABLE", true, "KMS"]);
            assert.match(String(run.outputs.imageUri), /@sha256:[0-9a-f]{64}$/);
        });
    });
});
