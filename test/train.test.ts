/**
 * archaeo-train / -evaluate / -predict run for real on Debian's torch 1.13 (CPU) from the source tree:
 * learning, checkpoints, a crash + resume, early stopping, pretrained weights found offline, provenance
 * (run.json), 2-process gloo DDP started with torchrun's environment, and the installed console scripts.
 *
 * Upstream behaviour these tests rely on (checked against the sources):
 * - torchrun exports RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT to each
 *   worker and init_process_group(init_method="env://") reads them (torch/distributed/rendezvous.py
 *   `_env_rendezvous_handler`: `_get_env_or_raise("MASTER_ADDR")`, Debian's torch 1.13). Debian's 1.13
 *   torchrun crashes on Python 3.11, so the workers are started here with that environment directly.
 *   torchrun's `-m/--module` and `--no-python` start `archaeo.train` / the console script
 *   (pytorch/pytorch torch/distributed/run.py `get_args_parser`).
 * - torch.hub caches weights in $TORCH_HOME/hub/checkpoints/<file name of the URL> and downloads through
 *   urllib, which honours https_proxy; load_state_dict_from_url(url, model_dir, map_location, progress,
 *   check_hash, file_name[, weights_only]) in 1.13 and 2.x (pytorch/pytorch torch/hub.py). torchvision's
 *   ResNet18_Weights.IMAGENET1K_V1 is .../resnet18-f37072fd.pth, and the weights enums with `.DEFAULT`
 *   and `.url` exist from 0.13 (pytorch/vision torchvision/models/_api.py @0209327, Debian's 0.14).
 * - torch >= 2.6 loads with weights_only=True by default; its unpickler rebuilds tensors, dicts,
 *   OrderedDict, lists, tuples, str, int, float (BINFLOAT), bool and None, and refuses any other class
 *   by name, str subclasses included (pytorch/pytorch torch/_weights_only_unpickler.py @00f730b
 *   `_get_allowed_globals`). torch 1.13's restricted unpickler lacks BINFLOAT, hence archaeo.compat's probe.
 * - LambdaLR.state_dict() stores None for plain functions and load_state_dict keeps the constructed
 *   lambdas (pytorch/pytorch torch/optim/lr_scheduler.py), so a resumed run recomputes its cosine.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    PACKAGE_DIR, REPO_ROOT, later, ok, pool, pythonEnv, readJsonLines, requirePython, runArchaeo, runPython, sha256File, type PyResult,
} from "./helpers/python";
import { freePort, PYTHON, tmpDir } from "./helpers/tools";

const BUCKET_PREFIX = "s3://museum-datasets/datasets/";
const IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/archaeo-workbench@sha256:" + "ab".repeat(32);
const CLASSES = ["mural", "pottery", "roof_tile"];

/** Saves a randomly initialised ResNet-18 state dict under the torch.hub file name of its ImageNet weights. */
const FAKE_WEIGHTS = `
import os, sys, torch, torchvision
torch.manual_seed(0)
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])
`;

/**
 * One Python process for everything the tests inspect inside torch: the versions run.json must report,
 * that checkpoints hold only plain data (what weights_only=True accepts), and that the early-stopping
 * run's backbone is exactly the loaded weights (frozen, BatchNorm statistics kept) under a new head.
 */
const INSPECT = `
import collections, json, platform, sys, torch, torchvision
allowed = (dict, collections.OrderedDict, list, tuple, str, int, float, bool, type(None), torch.Tensor)
def foreign(x, where):
    # Exact types: a subclass (torch.__version__ is a str subclass) is pickled by class name and refused.
    if type(x) not in allowed:
        return [f"{where}: {type(x).__module__}.{type(x).__name__}"]
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, (list, tuple)) else ()
    return [bad for k, v in items for bad in foreign(v, f"{where}/{k}")]
weights, early_best, *checkpoints = sys.argv[1:]
w = torch.load(weights, map_location="cpu")
best = torch.load(early_best, map_location="cpu")["state_dict"]
print(json.dumps({
    "torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
    "foreign": [bad for f in checkpoints for bad in foreign(torch.load(f, map_location="cpu"), f)],
    "conv1_kept": torch.equal(w["conv1.weight"], best["conv1.weight"]),
    "bn_stats_kept": torch.equal(w["layer4.1.bn2.running_mean"], best["layer4.1.bn2.running_mean"]),
    "head_shape": list(best["fc.weight"].shape),
}))
`;

function filesUnder(root: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
        const full = path.join(root, entry.name);
        if (entry.isDirectory()) out.push(...filesUnder(full));
        else out.push(full);
    }
    return out.sort();
}

function readRun(dir: string): any {
    return JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8"));
}

describe("archaeo (Python package, real torch on CPU)", function () {
    // Real torch training (a 3-epoch ResNet-18, 2-process gloo DDP): about 30 s for the longest test on an idle
    // 2-core machine; sized for one with other CPU-heavy work beside it.
    this.timeout(300_000);
    const work = tmpDir("archaeo-py-");
    const data = path.join(work, "mount", "artefacts");
    const bakedHome = path.join(work, "baked-torch");
    const cachedHome = path.join(work, "torch-cache");
    const weightsFile = (home: string) => path.join(home, "hub", "checkpoints", "resnet18-f37072fd.pth");
    const out = (name: string) => path.join(work, name);
    const env = pythonEnv(work, {
        ARCHAEO_DATA_MOUNTS: `/elsewhere=s3://other-bucket/x/;${path.join(work, "mount")}=${BUCKET_PREFIX}`,
        ARCHAEO_IMAGE: IMAGE,
        ARCHAEO_RESEARCHER: "ada",
    });
    // The reference run; the crashed-and-resumed run and the refusals use exactly the same arguments. The default
    // --workers (2 DataLoader processes on a 2-core runner): a SIGKILLed run resumes exactly with them too (issue 18).
    const trainArgs = (dir: string) => ["--data-dir", data, "--model", "resnet18", "--epochs", "3", "--batch-size", "8",
        "--lr", "1e-3", "--no-pretrained", "--image-size", "48", "--seed", "42", "--output-dir", dir];
    const train = (args: string[], extra: Partial<Parameters<typeof runArchaeo>[2]> = {}) =>
        runArchaeo("train", args, { env, ...extra });

    // Every run is started in the top-level before() (three at a time, in dependency order); each describe
    // awaits the runs it asserts on. Keeps this file near its CPU time divided by two cores.
    const jobs: Record<string, Promise<PyResult>> = {};
    let ddpRanks: Promise<PyResult[]>;
    let ddpRun: any;
    let ddpMetrics: any[];

    before(async () => {
        requirePython();
        const run = pool(3);
        const [gen, fake] = await Promise.all([
            runArchaeo("example_data", ["--output", data, "--per-class", "20", "--size", "48", "--seed", "0"], { env }),
            runPython(["-c", FAKE_WEIGHTS, weightsFile(bakedHome)], { env }),
        ]);
        ok(gen, "archaeo-example-data");
        ok(fake, "fake weights");
        fs.mkdirSync(path.dirname(weightsFile(cachedHome)), { recursive: true });
        fs.copyFileSync(weightsFile(bakedHome), weightsFile(cachedHome));

        jobs.main = run(() => train(trainArgs(out("out-main"))));
        // SIGKILL once epoch 2 is reported (its last.pt is written before the line is printed).
        jobs.killed = run(() => train(trainArgs(out("out-resume")), { killWhen: (s) => /^epoch 2\/3 /m.test(s) }));
        const port = String(await freePort());
        // Rank 1 gets its own --output-dir, which must never appear: it proves rank 1 writes nothing
        // (under torchrun both get the same arguments and rank 0 alone writes there).
        const ddpArgs = (dir: string) => ["--data-dir", data, "--model", "resnet18", "--epochs", "1", "--batch-size", "8",
            "--lr", "1e-3", "--pretrained", "--image-size", "48", "--workers", "0", "--run-name", "ddp", "--output-dir", dir];
        const rankEnv = (rank: number) => ({
            ...env, TORCH_HOME: cachedHome, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: "2",
            LOCAL_WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: port,
        });
        ddpRanks = later([], async () => {
            const ranks = await Promise.all([
                run(() => train(ddpArgs(out("out-ddp")), { env: rankEnv(0) })),
                run(() => train(ddpArgs(out("out-ddp-rank1")), { env: rankEnv(1) })),
            ]);
            // What the DDP run left, before the resumed run below continues it.
            if (ranks.every((r) => r.status === 0)) {
                ddpRun = readRun(out("out-ddp"));
                ddpMetrics = readJsonLines(path.join(out("out-ddp"), "metrics.jsonl"));
            }
            return ranks;
        });
        // Continue the DDP run in one process, with no weight file anywhere and no network.
        jobs.ddpResumed = later([ddpRanks], () => run(() => train([...ddpArgs(out("out-ddp")), "--epochs", "2", "--resume"])));
        jobs.early = run(() => train(["--data-dir", data, "--model", "resnet18", "--epochs", "10", "--patience", "2",
            "--freeze-backbone", "--lr", "0", "--pretrained", "--batch-size", "16", "--image-size", "48", "--workers", "0",
            "--s3-versions", "--output-dir", out("out-early")], { env: { ...env, ARCHAEO_BAKED_TORCH_HOME: bakedHome } }));
        jobs.resumed = later([jobs.killed], () => run(() => train([...trainArgs(out("out-resume")), "--resume"])));
        jobs.offline = run(() => train(["--data-dir", data, "--output-dir", out("out-offline"), "--epochs", "1", "--image-size", "48"]));
        jobs.fetchCheck = run(() => runArchaeo("models", ["resnet18", "mobilenet_v3_small", "--check", "--torch-home", out("empty-home")], { env }));
        jobs.onMount = run(() => train(trainArgs(path.join(work, "mount", "models", "x"))));
        jobs.invalid = run(() => train([...trainArgs(out("out-invalid")), "--val-fraction", "1.5", "--epochs", "0"]));
        jobs.reuse = later([jobs.main], () => run(() => train(trainArgs(out("out-main")))));
        jobs.changed = later([jobs.main], () => run(() => train([...trainArgs(out("out-main")), "--resume", "--lr", "0.5"])));
        jobs.inspect = later([jobs.main, jobs.early], () => run(() => runPython(["-c", INSPECT, weightsFile(bakedHome),
            path.join(out("out-early"), "best.pt"), path.join(out("out-main"), "last.pt"), path.join(out("out-main"), "best.pt")], { env })));
        const best = path.join(out("out-main"), "best.pt");
        const heldOut = out("held-out");
        const predictInput = out("predict-in");
        const testSet = later([], () => run(() => runArchaeo("example_data", ["--output", heldOut, "--per-class", "6", "--size", "48", "--seed", "7"], { env })));
        jobs.evaluate = later([jobs.main, testSet], () => run(() => runArchaeo("evaluate",
            ["--checkpoint", best, "--data-dir", heldOut, "--output-dir", out("eval")], { env })));
        jobs.evaluateVal = later([jobs.main], () => run(() => runArchaeo("evaluate",
            ["--checkpoint", best, "--data-dir", data, "--split", "val", "--output-dir", out("eval-val")], { env })));
        jobs.predict = later([jobs.main, testSet], () => {
            fs.cpSync(heldOut, predictInput, { recursive: true });
            fs.writeFileSync(path.join(predictInput, "pottery", "broken.jpg"), "not a JPEG");
            fs.writeFileSync(path.join(predictInput, "notes.txt"), "not an image");
            return run(() => runArchaeo("predict", ["--checkpoint", best, "--input", predictInput, "--output",
                out("predictions.csv"), "--top-k", "2"], { env }));
        });
        // Debian's torch is CPU-only: --device cuda must be refused with the fix, before any image is read.
        jobs.evaluateCuda = later([jobs.main], () => run(() => runArchaeo("evaluate",
            ["--checkpoint", best, "--data-dir", data, "--device", "cuda", "--output-dir", out("eval-cuda")], { env })));
        jobs.predictCuda = later([jobs.main], () => run(() => runArchaeo("predict",
            ["--checkpoint", best, "--input", data, "--output", out("predictions-cuda.csv"), "--device", "cuda"], { env })));
        jobs.selftest = run(() => runArchaeo("selftest", ["--all-reduce", "gloo"], { env }));
        // pip builds in the source folder (build/, *.egg-info): install from a copy.
        const src = out("pkg-src");
        fs.cpSync(PACKAGE_DIR, src, { recursive: true, filter: (p) => !/(__pycache__|\.egg-info|[/\\]build)$/.test(p) });
        jobs.pip = run(() => runPython(["-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
            "--target", out("site"), src], { env }));
    });

    after(async () => {
        await Promise.allSettled([...Object.values(jobs), ddpRanks]);
        fs.rmSync(work, { recursive: true, force: true });
    });

    describe("archaeo-train: a 3-epoch ResNet-18 from scratch, a crash + resume, early stopping", () => {
        let main: PyResult;
        let killed: PyResult;
        let resumed: PyResult;
        let early: PyResult;
        let inspected: any;

        before(async () => {
            [main, killed, resumed, early] = await Promise.all([jobs.main, jobs.killed, jobs.resumed, jobs.early]);
            ok(main, "archaeo-train (reference run)");
            inspected = JSON.parse(ok(await jobs.inspect, "inspect").stdout);
        });

        it("learns the classes: best validation accuracy >= 0.8 after 3 epochs (chance is 0.33)", () => {
            const run = readRun(out("out-main"));
            assert.equal(run.status, "completed");
            assert.ok(run.best.val_acc >= 0.8, `best val acc ${run.best.val_acc}\n${main.stdout}`);
            assert.equal(run.final_metrics.epoch, 3);
        });

        it("writes last.pt, best.pt, one metrics.jsonl line and one progress line per epoch, and a summary", () => {
            for (const f of ["last.pt", "best.pt", "metrics.jsonl", "run.json"]) {
                assert.ok(fs.existsSync(path.join(out("out-main"), f)), `${f} missing`);
            }
            const rows = readJsonLines(path.join(out("out-main"), "metrics.jsonl"));
            assert.deepEqual(rows.map((r) => r.epoch), [1, 2, 3]);
            for (const r of rows) {
                for (const k of ["train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]) {
                    assert.equal(typeof r[k], "number", `${k} in ${JSON.stringify(r)}`);
                }
            }
            const lines = main.stdout.split("\n").filter((l) => /^epoch \d+\/3 .*train loss .*val loss .*img\/s/.test(l));
            assert.equal(lines.length, 3, main.stdout);
            assert.match(main.stdout, /archaeo-train: done in .*best val acc/);
        });

        it("splits every class 16 train / 4 val (stratified, --val-fraction 0.2) and records the counts", () => {
            const run = readRun(out("out-main"));
            assert.deepEqual(run.data.classes, CLASSES);
            for (const c of CLASSES) {
                assert.equal(run.data.counts.train[c], 16, c);
                assert.equal(run.data.counts.val[c], 4, c);
                const val = run.data.manifest.filter((e: any) => e.class === c && e.split === "val");
                assert.equal(val.length, 4, `manifest val entries of ${c}`);
            }
        });

        it("the same --seed gives the same split in another run", () => {
            const valOf = (dir: string) => readRun(dir).data.manifest.filter((e: any) => e.split === "val").map((e: any) => e.path);
            assert.deepEqual(valOf(out("out-early")), valOf(out("out-main")));
        });

        it("run.json's manifest lists every training file with its sha256, size and S3 URI (ARCHAEO_DATA_MOUNTS)", () => {
            const run = readRun(out("out-main"));
            const files = filesUnder(data);
            assert.equal(run.data.manifest.length, files.length);
            assert.equal(run.data.root_s3_uri, `${BUCKET_PREFIX}artefacts/`);
            const byPath = new Map<string, any>(run.data.manifest.map((e: any) => [e.path, e]));
            for (const file of files) {
                const rel = path.relative(data, file).split(path.sep).join("/");
                const entry = byPath.get(rel);
                assert.ok(entry, `${rel} not in the manifest`);
                assert.equal(entry.sha256, sha256File(file), rel);
                assert.equal(entry.bytes, fs.statSync(file).size, rel);
                assert.equal(entry.s3_uri, `${BUCKET_PREFIX}artefacts/${rel}`, rel);
                assert.equal(entry.class, rel.split("/")[0]);
            }
            assert.match(run.data.manifest_sha256, /^[0-9a-f]{64}$/);
        });

        it("run.json records image, versions, hardware, git commit, exact argv, arguments and times", () => {
            const run = readRun(out("out-main"));
            assert.equal(run.image, IMAGE);
            assert.equal(run.researcher, "ada");
            assert.equal(run.software.torch, inspected.torch);
            assert.equal(run.software.torchvision, inspected.torchvision);
            assert.equal(run.software.python, inspected.python);
            assert.ok("cuda" in run.software && "cudnn" in run.software, "cuda/cudnn keys");
            const smi = spawnSync("nvidia-smi", ["--query-gpu=driver_version", "--format=csv,noheader"], { encoding: "utf8" });
            assert.equal(run.software.nvidia_driver, smi.status === 0 ? smi.stdout.trim().split("\n")[0] : null);
            assert.equal(run.hardware.device, "cpu");
            assert.ok(Array.isArray(run.hardware.gpus));
            const head = spawnSync("git", ["-C", REPO_ROOT, "rev-parse", "HEAD"], { encoding: "utf8" });
            assert.equal(run.git?.commit ?? null, head.status === 0 ? head.stdout.trim() : null, "git commit of the code");
            assert.deepEqual(run.command.argv, [path.join(PACKAGE_DIR, "archaeo", "train.py"), ...trainArgs(out("out-main"))]);
            assert.equal(run.arguments.lr, 0.001);
            assert.equal(run.arguments.model, "resnet18");
            assert.equal(run.arguments.pretrained, false);
            assert.equal(run.distributed.world_size, 1);
            assert.equal(run.pretrained, null);
            assert.ok(Date.parse(run.started_at) <= Date.parse(run.finished_at), `${run.started_at} ${run.finished_at}`);
            // Debian has no tensorboard package: the reason is recorded and metrics.jsonl is the record.
            assert.equal(run.outputs.tensorboard, null);
            assert.match(run.outputs.tensorboard_skipped, /tensorboard/);
        });

        it("checkpoints hold only plain data (what torch >= 2.6's weights_only=True loader accepts)", () => {
            assert.deepEqual(inspected.foreign, []);
        });

        it("a run killed after epoch 2 resumes at epoch 3 and ends exactly where the uninterrupted run ended", () => {
            assert.equal(killed.signal, "SIGKILL", `not killed: ${killed.stdout}`);
            assert.doesNotMatch(killed.stdout, /^epoch 3\/3/m);
            ok(resumed, "archaeo-train --resume");
            assert.match(resumed.stdout, /resuming .* after epoch 2/);
            assert.deepEqual(resumed.stdout.match(/^epoch \d+/gm), ["epoch 3"]);
            const a = readJsonLines(path.join(out("out-main"), "metrics.jsonl"));
            const b = readJsonLines(path.join(out("out-resume"), "metrics.jsonl"));
            assert.deepEqual(b.map((r) => r.epoch), [1, 2, 3]);
            for (const k of ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]) {
                assert.equal(b[2][k], a[2][k], `epoch 3 ${k}: model, optimiser, schedule and RNG must continue exactly`);
            }
            const run = readRun(out("out-resume"));
            assert.equal(run.status, "completed");
            assert.deepEqual(run.resumed.map((r: any) => r.from_epoch), [2]);
        });

        it("--s3-versions without boto3 or AWS access: warns, records the reason, leaves version ids null", () => {
            // Debian has no boto3 here; with boto3 the dead HTTPS proxy makes HeadObject fail the same way.
            const run = readRun(out("out-early"));
            assert.match(run.data.s3_versions_warning, /boto3 is not installed|HeadObject failed/);
            assert.match(early.stdout, /warning: --s3-versions: /);
            assert.ok(run.data.manifest.every((e: any) => e.s3_version_id === null && e.s3_uri.startsWith(BUCKET_PREFIX)));
        });

        it("stops early when --monitor (val_loss) does not improve for --patience epochs", () => {
            ok(early, "archaeo-train (early stop)");
            assert.match(early.stdout, /early stop: val_loss has not improved for 2 epochs/);
            const run = readRun(out("out-early"));
            assert.equal(run.status, "stopped_early");
            assert.equal(run.epochs_completed, 3);
            assert.deepEqual(readJsonLines(path.join(out("out-early"), "metrics.jsonl")).map((r) => r.epoch), [1, 2, 3]);
        });

        it("loads pretrained weights offline from the image's baked copy, records their hash, trains only the head", () => {
            const run = readRun(out("out-early"));
            assert.equal(run.pretrained.source, "baked");
            assert.equal(run.pretrained.file, weightsFile(bakedHome));
            assert.equal(run.pretrained.sha256, sha256File(weightsFile(bakedHome)));
            assert.equal(run.pretrained.matches_published_hash, false, "a stand-in file is not the published one");
            assert.match(early.stderr, /is not the published ResNet18_Weights.IMAGENET1K_V1 file/);
            assert.equal(inspected.conv1_kept, true, "backbone weights = the loaded file (frozen)");
            assert.equal(inspected.bn_stats_kept, true, "frozen backbone keeps its BatchNorm statistics");
            assert.deepEqual(inspected.head_shape, [3, 512], "a new 3-class head");
        });
    });

    describe("archaeo-train refuses, with one message naming the fix", () => {
        let offline: PyResult;
        let reuse: PyResult;
        let changed: PyResult;
        let onMount: PyResult;
        let invalid: PyResult;
        let fetchCheck: PyResult;

        before(async () => {
            [offline, reuse, changed, onMount, invalid, fetchCheck] = await Promise.all(
                [jobs.offline, jobs.reuse, jobs.changed, jobs.onMount, jobs.invalid, jobs.fetchCheck]);
        });

        it("no cached weights and no network: names --no-pretrained and archaeo-fetch-weights, no traceback, writes nothing", () => {
            assert.equal(offline.status, 2, offline.stderr);
            assert.match(offline.stderr, /archaeo-train: error: the pretrained weights for resnet18 .*resnet18-f37072fd\.pth/);
            assert.match(offline.stderr, /--no-pretrained/);
            assert.match(offline.stderr, /archaeo-fetch-weights resnet18/);
            assert.doesNotMatch(offline.stderr, /Traceback/);
            assert.ok(!fs.existsSync(out("out-offline")), "nothing written for a run that could not start");
        });

        it("an --output-dir that already holds a run, without --resume", () => {
            assert.equal(reuse.status, 2, reuse.stderr);
            assert.match(reuse.stderr, /already holds a run .*pass --resume to continue it or choose another --output-dir/);
        });

        it("--resume with a setting that differs from the run's", () => {
            assert.equal(changed.status, 2, changed.stderr);
            assert.match(changed.stderr, /--resume: these differ .*--lr 0\.5 \(the run used 0\.001\)/);
        });

        it("an --output-dir on an S3 mount (no appends/renames/overwrites there)", () => {
            assert.equal(onMount.status, 2, onMount.stderr);
            assert.match(onMount.stderr, /is on the S3 mount .*s3:\/\/museum-datasets\/datasets\/.*\/workspace/);
        });

        it("every invalid value at once", () => {
            assert.equal(invalid.status, 2, invalid.stderr);
            assert.match(invalid.stderr, /--epochs 0: must be at least 1/);
            assert.match(invalid.stderr, /--val-fraction 1\.5: must be between 0 and 1/);
            assert.doesNotMatch(invalid.stderr, /Traceback/);
        });

        it("archaeo-fetch-weights --check reports a missing file with exit 1 (no download)", () => {
            assert.equal(fetchCheck.status, 1, fetchCheck.stderr);
            assert.match(fetchCheck.stdout, /resnet18: missing .*resnet18-f37072fd\.pth/);
            // The smallest backbone's file name is torchvision's own (MobileNet_V3_Small_Weights.DEFAULT.url).
            assert.match(fetchCheck.stdout, /mobilenet_v3_small: missing .*mobilenet_v3_small-047dcff4\.pth/);
        });
    });

    describe("archaeo-train under DDP: two gloo processes with the environment torchrun sets", () => {
        let ranks: PyResult[];

        before(async () => {
            ranks = await ddpRanks;
        });

        it("both ranks exit 0", () => {
            ranks.forEach((r, i) => ok(r, `rank ${i}`));
        });

        it("only rank 0 logs and writes checkpoints, metrics and run.json", () => {
            assert.match(ranks[0].stdout, /^epoch 1\/1 /m);
            assert.equal(ranks[1].stdout, "", "rank 1 prints nothing");
            assert.ok(fs.existsSync(path.join(out("out-ddp"), "last.pt")) && fs.existsSync(path.join(out("out-ddp"), "best.pt")));
            assert.ok(!fs.existsSync(out("out-ddp-rank1")), "rank 1 wrote into its --output-dir");
        });

        it("run.json says world_size 2 over gloo; metrics are summed over both ranks' shards", () => {
            assert.equal(ddpRun.distributed.world_size, 2);
            assert.equal(ddpRun.distributed.backend, "gloo");
            assert.equal(ddpRun.distributed.global_batch_size, 16);
            assert.deepEqual(ddpMetrics.map((r) => r.epoch), [1]);
            for (const r of ddpMetrics) {
                assert.equal(r.train_images, 48, "24 per rank, summed");
                assert.equal(r.val_images, 12, "6 per rank, summed");
            }
        });

        it("local rank 0 loads the pretrained weights from TORCH_HOME, the other rank after it", () => {
            assert.equal(ddpRun.pretrained.source, "cache");
            assert.equal(ddpRun.pretrained.file, weightsFile(cachedHome));
        });

        it("the run resumes in a single process without the pretrained file or a network (weights come from last.pt)", async () => {
            const resumed = ok(await jobs.ddpResumed, "archaeo-train --resume (1 process, empty TORCH_HOME)");
            assert.match(resumed.stdout, /resuming .* after epoch 1/);
            const run = readRun(out("out-ddp"));
            assert.equal(run.status, "completed");
            assert.equal(run.distributed.world_size, 1);
            assert.equal(run.pretrained.file, weightsFile(cachedHome), "the original run's weights stay on record");
            assert.deepEqual(readJsonLines(path.join(out("out-ddp"), "metrics.jsonl")).map((r) => r.epoch), [1, 2]);
        });
    });

    describe("archaeo-evaluate and archaeo-predict on a held-out generated set", () => {
        let evaluation: any;
        let valEvaluation: any;
        let csvRows: string[][];

        before(async () => {
            const [ev, evVal, pr] = await Promise.all([jobs.evaluate, jobs.evaluateVal, jobs.predict]);
            ok(ev, "archaeo-evaluate");
            ok(evVal, "archaeo-evaluate --split val");
            ok(pr, "archaeo-predict");
            evaluation = JSON.parse(fs.readFileSync(path.join(out("eval"), "evaluation.json"), "utf8"));
            valEvaluation = JSON.parse(fs.readFileSync(path.join(out("eval-val"), "evaluation.json"), "utf8"));
            // The csv module ends rows with CRLF (RFC 4180), as spreadsheets expect.
            csvRows = fs.readFileSync(out("predictions.csv"), "utf8").trim().split("\r\n").map((l) => l.split(","));
        });

        it("evaluation.json: accuracy and per-class precision/recall/F1 agree with its confusion matrix", () => {
            const m: number[][] = evaluation.confusion_matrix;
            assert.deepEqual(evaluation.class_names, CLASSES);
            const total = m.flat().reduce((a, b) => a + b, 0);
            assert.equal(total, 18);
            assert.equal(evaluation.accuracy, m.reduce((a, row, i) => a + row[i], 0) / total);
            CLASSES.forEach((c, k) => {
                const predicted = m.reduce((a, row) => a + row[k], 0);
                const support = m[k].reduce((a, b) => a + b, 0);
                const p = predicted ? m[k][k] / predicted : 0;
                const r = m[k][k] / support;
                assert.equal(evaluation.per_class[c].support, 6);
                assert.ok(Math.abs(evaluation.per_class[c].precision - p) < 1e-12, `${c} precision`);
                assert.ok(Math.abs(evaluation.per_class[c].recall - r) < 1e-12, `${c} recall`);
                assert.ok(Math.abs(evaluation.per_class[c].f1 - (p + r ? 2 * p * r / (p + r) : 0)) < 1e-12, `${c} f1`);
            });
            assert.ok(evaluation.accuracy >= 0.6, `held-out accuracy ${evaluation.accuracy}`);
        });

        it("writes the confusion matrix as a PNG", () => {
            const png = fs.readFileSync(path.join(out("eval"), "confusion_matrix.png"));
            assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        });

        it("--split val evaluates exactly the run's validation images and reproduces its best val accuracy", () => {
            const run = readRun(out("out-main"));
            assert.equal(valEvaluation.n_images, 12);
            assert.ok(Math.abs(valEvaluation.accuracy - run.best.val_acc) < 1e-9, `${valEvaluation.accuracy} vs ${run.best.val_acc}`);
        });

        it("predictions.csv: one row per image (the unreadable one with its error), top-2 with probabilities", () => {
            const [header, ...rows] = csvRows;
            assert.deepEqual(header, ["path", "class_1", "probability_1", "class_2", "probability_2", "error"]);
            assert.equal(rows.length, 19, "18 images + broken.jpg; notes.txt is not an image");
            const broken = rows.find((r) => r[0] === "pottery/broken.jpg");
            assert.ok(broken && broken[1] === "" && /UnidentifiedImageError|cannot identify/.test(broken[5]), JSON.stringify(broken));
            let correct = 0;
            for (const r of rows.filter((x) => x !== broken)) {
                const [p1, p2] = [Number(r[2]), Number(r[4])];
                assert.ok(CLASSES.includes(r[1]) && CLASSES.includes(r[3]) && r[1] !== r[3], r.join(","));
                assert.ok(p1 >= p2 && p1 <= 1 && p2 >= 0, r.join(","));
                if (r[1] === r[0].split("/")[0]) correct += 1;
            }
            assert.equal(correct / 18, evaluation.accuracy, "predict's top-1 agrees with evaluate");
        });

        it("--device cuda without a visible GPU: exit 2 naming --device cpu, no traceback, nothing written", async () => {
            const [ev, pr] = await Promise.all([jobs.evaluateCuda, jobs.predictCuda]);
            for (const [r, prog] of [[ev, "archaeo-evaluate"], [pr, "archaeo-predict"]] as const) {
                assert.equal(r.status, 2, `${prog}: ${r.stderr}`);
                assert.match(r.stderr, new RegExp(`${prog}: error: --device cuda: no CUDA GPU is visible .*use --device cpu`));
                assert.doesNotMatch(r.stderr, /Traceback/);
            }
            assert.ok(!fs.existsSync(out("eval-cuda")) && !fs.existsSync(out("predictions-cuda.csv")), "nothing written");
        });
    });

    describe("archaeo-selftest: the training side of the image's smoke test", () => {
        it("moves 128 MiB batches (twice Docker's 64 MB /dev/shm default) from 2 DataLoader workers and all_reduces over gloo", async () => {
            // With a 64 MB /dev/shm the same check fails with a bus error and names --shm-size/--ipc=host
            // (measured here in a mount namespace with a 64 MB tmpfs over /dev/shm; not run in CI, which may
            // not allow mount namespaces), while the 3 MB batch the old smoke test used passes there.
            const r = ok(await jobs.selftest, "archaeo-selftest");
            assert.match(r.stdout, /selftest: \/dev\/shm \(\d+ MiB\): 4 batches of 128 MiB from 2 DataLoader workers .*: ok/);
            assert.match(r.stdout, /selftest: all_reduce over gloo, 2 processes: ok/);
            assert.match(r.stdout, /selftest: PASS/);
        });
        it("--workers 0 or --shm-mib 0 would check nothing: refused with exit 2 naming the option", async () => {
            for (const [option, value] of [["--workers", "0"], ["--shm-mib", "0"]]) {
                const r = await runArchaeo("selftest", [option, value, "--all-reduce", "skip"], { env });
                assert.equal(r.status, 2, r.stdout + r.stderr);
                assert.match(r.stderr, new RegExp(`argument ${option}: 0 checks nothing; give at least 1`));
                assert.doesNotMatch(r.stdout, /PASS/);
            }
        });
    });

    describe("packaging: the install the Dockerfile runs", () => {
        const scripts = ["archaeo-train", "archaeo-evaluate", "archaeo-predict", "archaeo-example-data", "archaeo-fetch-weights",
            "archaeo-selftest", "archaeo-cite"];

        it("pip install --no-deps --no-build-isolation installs the seven console scripts (pyproject's [project.scripts]), and each runs", async () => {
            ok(await jobs.pip, "pip install");
            const installEnv = { ...env, PYTHONPATH: out("site") };
            const helps = await Promise.all(scripts.map((s) => runPython([path.join(out("site"), "bin", s), "--help"], { env: installEnv })));
            helps.forEach((r, i) => {
                ok(r, `${scripts[i]} --help`);
                assert.match(r.stdout, new RegExp(`usage: ${scripts[i]}`));
            });
            const gen = ok(await runPython([path.join(out("site"), "bin", "archaeo-example-data"), "--output", out("via-script"),
                "--per-class", "2"], { env: installEnv }), "archaeo-example-data");
            assert.match(gen.stdout, /wrote 6 images/);
        });

        it("the tests import archaeo from the source tree, not an installed copy", () => {
            const r = spawnSync(PYTHON, ["-c", "import archaeo; print(archaeo.__file__)"], { encoding: "utf8", env });
            assert.equal(r.stdout.trim(), path.join(PACKAGE_DIR, "archaeo", "__init__.py"));
        });
    });

    // runPython sends -m archaeo.* and -c runs to a pre-warmed interpreter (test/helpers/pyzygote.py): the runs above
    // are only as real as that stand-in is faithful to `python -c` / `python -m`.
    describe("the pre-warmed interpreter the tests run Python in behaves as a fresh `python3`", () => {
        const probe = "import os, sys, torch; print(os.getcwd(), sys.argv, os.environ['ARCHAEO_PROBE'], torch.get_num_threads()); sys.exit(int(sys.argv[1]))";
        const fresh = (args: string[], input: string) => spawnSync(PYTHON, args, { env: { ...env, ARCHAEO_PROBE: "é" }, cwd: work, input, encoding: "utf8" });

        it("the same argv, working directory, environment, thread count, output and exit status as a fresh interpreter", async () => {
            const expected = fresh(["-c", probe, "7", "x y"], "");
            assert.equal(expected.status, 7);
            const r = await runPython(["-c", probe, "7", "x y"], { env: { ...env, ARCHAEO_PROBE: "é" }, cwd: work });
            assert.deepEqual([r.status, r.stdout], [7, expected.stdout]);
            const m = await runArchaeo("example_data", ["--bogus"], { env, cwd: work });
            const mFresh = fresh(["-m", "archaeo.example_data", "--bogus"], "");
            assert.deepEqual([m.status, m.stderr], [mFresh.status, mFresh.stderr], "-m: argparse's usage names the module as python -m does");
            const uncaught = await runPython(["-c", "raise ValueError('boom')"], { env });
            assert.equal(uncaught.status, 1);
            assert.match(uncaught.stderr, /Traceback[\s\S]*ValueError: boom/);
        });

        it("a signal sent to the run is the run's (SIGTERM forwarded; death by a signal reported as that signal)", async () => {
            const handled = await runPython(["-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(143)); print('up', flush=True); time.sleep(60)"], {
                env, onStdout: (s, child) => { if (s.includes("up")) child.kill("SIGTERM"); },
            });
            assert.equal(handled.status, 143, handled.stderr);
            const died = await runPython(["-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], { env });
            assert.deepEqual([died.status, died.signal], [null, "SIGTERM"]);
        });

        it("SIGKILL of the run's process (a simulated crash) leaves no run behind", async () => {
            let pid = 0;
            const r = await runPython(["-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"], {
                env, killWhen: (s) => { pid = Number(s.trim().split("\n")[0]); return pid > 0; },
            });
            assert.equal(r.signal, "SIGKILL");
            const gone = () => { try { process.kill(pid, 0); return false; } catch { return true; } };
            for (let i = 0; i < 50 && !gone(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
            assert.ok(gone(), `process ${pid} outlived its killed stand-in`);
        });
    });
});
