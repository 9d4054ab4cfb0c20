/**
 * Day one with a real collection (issue 18), with real torch on CPU: a messy collection laid out as a
 * museum lays it out (/data/<project>/images/<class>/..., Chinese class names, upper-case extensions, a
 * 16-bit scan, a cut-out, a truncated JPEG, a zero-byte file, a web page saved as .jpg, an oversized image,
 * a non-UTF-8 name, a symlink loop, a file linked twice, a duplicate across classes, a HEIC photo, an
 * empty class folder, a class of one image: test/fixtures/messy_collection.py) trains in one attempt;
 * a run stopped by SIGTERM mid-epoch with the default DataLoader workers resumes to bit-identical weights;
 * a file deleted mid-run is skipped; archaeo-cite writes what a methods section needs; the notebooks run
 * headless on the collection and draw its class names.
 *
 * Upstream behaviour relied on: torchvision's v1 transforms draw from torch's global generator (seeded per
 * image here inside torch.random.fork_rng, torch/random.py); DistributedSampler shuffles with its own
 * generator seeded by seed + epoch (torch/utils/data/distributed.py); a DataLoader iterator takes its base
 * seed from the loader's `generator` (torch/utils/data/dataloader.py _BaseDataLoaderIter); Pillow refuses
 * images over 2 x MAX_IMAGE_PIXELS (PIL/Image.py _decompression_bomb_check) and reports truncated JPEGs as
 * OSError "image file is truncated" (PIL/ImageFile.py); matplotlib >= 3.6 falls back along font.family for
 * missing glyphs and warns "Glyph ... missing from current font" when none has it (matplotlib 3.6.3,
 * backends/backend_agg.py).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { later, NOTEBOOK_DIR, ok, pool, pythonEnv, readJsonLines, requirePython, runArchaeo, runPython, type PyResult } from "./helpers/python";
import { PYTHON, tmpDir } from "./helpers/tools";

const FIXTURE = path.join(__dirname, "fixtures", "messy_collection.py");

const readRun = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8"));

/** Compares the first checkpoint's weights with each of the others, tensor by tensor (torch.equal: bit-identical); one line per other. */
const SAME_WEIGHTS = `
import sys, torch
a = torch.load(sys.argv[1], map_location="cpu")["state_dict"]
for other in sys.argv[2:]:
    b = torch.load(other, map_location="cpu")["state_dict"]
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    print("identical" if not differ else f"{len(differ)} tensors differ: {differ[:3]}")
`;

describe("archaeo-train on a messy real-world collection (issue 18)", function () {
    this.timeout(420_000);
    const work = tmpDir("archaeo-messy-");
    // A share whose path has a space: the command a notebook prints must quote it.
    const shared = path.join(work, "museum share");
    const root = path.join(shared, "archaeology", "images");
    const example = path.join(work, "example");
    const out = (name: string) => path.join(work, name);
    const env = pythonEnv(work, { ARCHAEO_CACHE_DIR: path.join(work, "cache"), ARCHAEO_IMAGE: "123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo@sha256:" + "d".repeat(64) });
    // The smallest backbone (archaeo.models mobilenet_v3_small): what these runs prove does not depend on the model, and
    // its optimiser step is an eighth of ResNet-18's (this file 48 -> 30 CPU-s); train.test runs ResNet-18 itself.
    const messyArgs = (dir: string, epochs = "2") => ["--data-dir", root, "--model", "mobilenet_v3_small", "--epochs", epochs, "--batch-size", "8", "--no-pretrained",
        "--image-size", "32", "--max-megapixels", "10", "--seed", "3", "--output-dir", dir];
    // Default --workers (min(8, CPUs): 2 on a 2-core runner): exactness must not need --workers 0.
    // Small batches: many batch boundaries per epoch, so a SIGTERM lands mid-epoch.
    const exactArgs = (dir: string) => ["--data-dir", example, "--model", "mobilenet_v3_small", "--epochs", "2", "--batch-size", "2", "--no-pretrained",
        "--image-size", "32", "--seed", "1", "--output-dir", dir];
    const jobs: Record<string, Promise<PyResult>> = {};
    let planted: Record<string, string> = {};

    before(async () => {
        requirePython();
        const gen = ok(await runPython([FIXTURE, shared, "--per-class", "16", "--size", "32"], { env }), "messy_collection.py");
        planted = JSON.parse(gen.stdout).planted;
        ok(await runArchaeo("example_data", ["--output", example, "--per-class", "10", "--size", "32", "--seed", "0"], { env }), "example data");
        const run = pool(3);
        jobs.messy = run(() => runArchaeo("train", messyArgs(out("messy")), { env }));
        jobs.strict = later([jobs.messy], () => run(() => runArchaeo("train", [...messyArgs(out("strict")), "--strict"], { env })));
        jobs.cite = later([jobs.messy], () => run(() => runArchaeo("cite", [out("messy"), "--author", "Ada Lovelace"], { env })));
        jobs.whole = run(() => runArchaeo("train", exactArgs(out("whole")), { env }));
        jobs.workers0 = run(() => runArchaeo("train", [...exactArgs(out("workers0")), "--workers", "0"], { env }));
        // SIGTERM (what auto-stop, eviction and a spot reclaim send) once epoch 2 has begun: the run saves at the next batch boundary.
        let sent = false;
        jobs.stopped = run(() => runArchaeo("train", exactArgs(out("stopped")), {
            env, onStdout: (s, child) => { if (!sent && /^epoch 1\/2 /m.test(s)) { sent = true; setTimeout(() => child.kill("SIGTERM"), 300); } },
        }));
        jobs.resumed = later([jobs.stopped], () => {
            // A temporary file a SIGKILL during a save would leave (pid 2^22 + 1 cannot be alive on Linux: pid_max <= 2^22).
            fs.writeFileSync(path.join(out("stopped"), "last.pt.tmp-4194305"), "torn");
            return run(() => runArchaeo("train", [...exactArgs(out("stopped")), "--resume"], { env }));
        });
        // A file deleted while the run reads the collection: skipped and recorded, not fatal; the run then resumes for one more epoch.
        const doomed = path.join(example, "pottery");
        let removed = "";
        jobs.vanish = later([jobs.whole, jobs.workers0, jobs.resumed], () => run(() => runArchaeo("train", exactArgs(out("vanish")), {
            env, onStdout: (s) => {
                if (!removed && /^epoch 1\/2 /m.test(s)) {
                    removed = fs.readdirSync(doomed).sort()[0];
                    fs.rmSync(path.join(doomed, removed));
                }
            },
        })));
        jobs.vanishResumed = later([jobs.vanish], () => run(() => runArchaeo("train", [...exactArgs(out("vanish")), "--epochs", "3", "--resume"], { env })));
        // --gpu is --device cuda (parsed without torch; the refusal without a GPU is train.test's --device cuda case).
        jobs.gpu = run(() => runPython(["-c", "from archaeo.train import build_parser; print(build_parser().parse_args(['--data-dir', 'd', '--output-dir', 'o', '--gpu']).device)"], { env }));
    });

    after(async () => {
        await Promise.allSettled(Object.values(jobs));
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("trains in one attempt (exit 0), naming each file it leaves out and why, in its output and run.json", async () => {
        const r = ok(await jobs.messy, "archaeo-train on the messy collection");
        const excluded: Array<{ path: string; reason: string }> = readRun(out("messy")).data.excluded;
        const reasonOf = (p: string) => excluded.find((e) => e.path === p)?.reason ?? "(not excluded)";
        const expected: Record<string, RegExp> = {
            "陶器/truncated.jpg": /truncated or corrupt: (image file is truncated|Truncated File Read)/,
            "陶器/empty.jpg": /empty file \(0 bytes\)/,
            "青铜器/download.jpg": /a web page \(HTML\), although named \.jpg/,
            "瓦当/orthomosaic.png": /too large: 4000x3000 = 12 megapixels, over --max-megapixels 10/,
            "瓦当/IMG_2000.HEIC": /\.HEIC photos cannot be decoded by Pillow; convert them/,
            "陶器/loop": /symlink loop/,
            "陶器/2023/again.jpg": /the same file as 陶器\/IMG_0002\.jpg \(reached twice through links\)/,
            "瓦当/bronzes-2019": /a link into class 青铜器's folder: not followed/,
            "瓦当/IMG_linked.jpg": /a link to an image of class 青铜器: counted there/,
            "待分类/": /class folder holds no images/,
            "铁器/": /1 usable image\(s\), fewer than --min-images 2: class left out/,
        };
        for (const [p, reason] of Object.entries(expected)) {
            assert.match(reasonOf(p), reason, `${p}: ${reasonOf(p)}`);
            assert.ok(r.stdout.includes(`excluded ${p}: `), `${p} named in the output`);
        }
        // Every file the fixture planted as broken is among them.
        for (const p of Object.keys(planted)) assert.ok(excluded.some((e) => `archaeology/images/${e.path}` === p), p);
        assert.equal(excluded.length, Object.keys(expected).length, JSON.stringify(excluded, null, 1));
        assert.match(r.stdout, /^epoch 2\/2 /m);
        assert.equal(readRun(out("messy")).status, "completed");
    });

    it("keeps the usable oddities: a 16-bit scan (as the drawing, not white), a cut-out, a non-UTF-8 name written as \\xNN", async () => {
        await jobs.messy;
        const manifest: Array<{ path: string; split: string; sha256: string; class: string }> = readRun(out("messy")).data.manifest;
        const paths = manifest.map((e) => e.path);
        for (const p of ["陶器/scan-16bit.png", "青铜器/cutout.PNG", "瓦当/tuile-\\x82t\\xe9.jpg", "陶器/IMG_0000.JPG", "青铜器/IMG_1003.JPG", "青铜器/2019/dig-0.jpg"]) assert.ok(paths.includes(p), p);
        // Linked from 瓦当 (sorted before 青铜器), the bronzes keep their own class.
        assert.ok(manifest.filter((e) => e.path.startsWith("青铜器/")).length >= 16 && manifest.every((e) => e.path.split("/")[0] === e.class), "each image under its own class");
        const check = await runPython(["-c", [
            "import sys, numpy as np", "from PIL import Image", "from archaeo.data import load_rgb",
            "a = np.asarray(load_rgb(sys.argv[1]), dtype=np.int16)",
            "print(a.min(), a.max(), int((a < 128).mean() * 100))",
        ].join("\n"), path.join(root, "陶器", "scan-16bit.png")], { env });
        const [min, max, darkPct] = ok(check, "load_rgb 16-bit").stdout.trim().split(" ").map(Number);
        // The drawing: a dark ellipse on a light ground (Pillow's plain convert("RGB") of I;16 clips it all to 255).
        assert.ok(min < 100 && max > 140 && darkPct > 20 && darkPct < 90, `${min} ${max} ${darkPct}%`);
    });

    it("reports identical files and keeps every copy out of validation (no leak from train into val)", async () => {
        const r = await jobs.messy;
        const run = readRun(out("messy"));
        const groups: string[][] = run.data.duplicates;
        assert.deepEqual(groups.map((g) => [...g].sort()), [["瓦当/IMG_2001.jpg", "瓦当/tuile-\\x82t\\xe9.jpg"], ["瓦当/IMG_2002.jpg", "青铜器/IMG_dup.jpg"]]);
        const split = new Map(run.data.manifest.map((e: any) => [e.path, e.split]));
        for (const p of groups.flat()) assert.equal(split.get(p), "train", p);
        // No image content (sha256) is on both sides of the split.
        const bySplit = (s: string) => new Set(run.data.manifest.filter((e: any) => e.split === s).map((e: any) => e.sha256));
        const val = bySplit("val");
        assert.ok([...bySplit("train")].every((h) => !val.has(h)));
        assert.match(r.stdout, /duplicate: 瓦当\/IMG_2002\.jpg, 青铜器\/IMG_dup\.jpg {2}\(in different classes: 瓦当, 青铜器\)/);
    });

    it("reads the collection once: a resumed run decodes nothing it read before (cache by path, size and mtime)", async () => {
        ok(await jobs.messy, "first run");
        const first = readRun(out("messy")).data.read_once;
        assert.equal(first.decoded_now, first.files, "a new collection is read whole");
        ok(await jobs.resumed, "the run resumed after SIGTERM");
        const stopped = readRun(out("stopped")).data.read_once;
        assert.deepEqual([stopped.decoded_now, stopped.from_cache], [0, stopped.files], "the resume re-read nothing");
    });

    it("--strict stops instead, listing the same files, and --gpu means --device cuda", async () => {
        const strict = await jobs.strict;
        assert.equal(strict.status, 2);
        assert.match(strict.stderr, /--strict: 11 file\(s\) or folder\(s\) cannot be used:[\s\S]*陶器\/truncated\.jpg: truncated/);
        assert.ok(!fs.existsSync(path.join(out("strict"), "last.pt")));
        assert.equal(ok(await jobs.gpu, "--gpu").stdout.trim(), "cuda");
    });

    it("a run stopped by SIGTERM mid-epoch (default workers) saves, says so, and resumes to bit-identical weights", async () => {
        const stopped = await jobs.stopped;
        assert.equal(stopped.status, 143, stopped.stdout + stopped.stderr);
        // Sent 0.3 s into epoch 2 (of 2, with 12 batches of 2 images): some batches in, wherever the machine's load puts it.
        const at = /stopped by SIGTERM in epoch (2) after batch (\d+): last\.pt holds that point/.exec(stopped.stdout);
        assert.ok(at, stopped.stdout);
        const resumed = ok(await jobs.resumed, "archaeo-train --resume after SIGTERM");
        assert.match(resumed.stdout, new RegExp(`continuing epoch ${at![1]} after batch ${at![2]}`));
        const run = readRun(out("stopped"));
        assert.equal(run.status, "completed");
        assert.deepEqual([run.resumed[0].from_epoch, run.resumed[0].from_batch], [Number(at![1]) - 1, Number(at![2])]);
        assert.equal(run.data_loading.workers >= 1, true, "the default ran with DataLoader workers");
        assert.ok(!fs.existsSync(path.join(out("stopped"), "last.pt.tmp-4194305")), "a dead process's temporary file is removed");
        ok(await jobs.whole, "uninterrupted run");
        ok(await jobs.workers0, "--workers 0 run");
        const compared = ok(await runPython(["-c", SAME_WEIGHTS, ...["whole", "stopped", "workers0"].map((d) => path.join(out(d), "last.pt"))], { env }), "compare");
        assert.deepEqual(compared.stdout.trim().split("\n"), ["identical", "identical"], "resumed after SIGTERM, and --workers 0, give the uninterrupted default run's model");
        const a = readJsonLines(path.join(out("whole"), "metrics.jsonl"));
        const b = readJsonLines(path.join(out("stopped"), "metrics.jsonl"));
        for (const k of ["train_loss", "train_acc", "val_loss", "val_acc"]) assert.deepEqual(b.map((r) => r[k]), a.map((r) => r[k]), k);
    });

    it("a file deleted mid-run is skipped and recorded; --resume goes on without it", async () => {
        const r = ok(await jobs.vanish, "archaeo-train with a file deleted mid-run");
        assert.match(r.stdout, /^epoch 2\/2 /m);
        const run = readRun(out("vanish"));
        assert.ok(run.data.excluded.some((e: any) => /pottery\/.*\.(png|jpg)$/.test(e.path) && /unreadable during the run/.test(e.reason)), JSON.stringify(run.data.excluded));
        const resumed = ok(await jobs.vanishResumed, "--resume without the file");
        assert.match(resumed.stdout, /1 file\(s\) of this run are gone or unreadable now and are left out: pottery\//);
        assert.match(resumed.stdout, /^epoch 3\/3 /m);
        assert.equal(readRun(out("vanish")).resumed[0].files_gone.length, 1);
    });

    it("archaeo-cite names the data manifest hash, the code hash, every transform and the optimizer, in METHODS.md, CITATION.cff and an RO-Crate", async () => {
        ok(await jobs.cite, "archaeo-cite");
        const run = readRun(out("messy"));
        const methods = fs.readFileSync(path.join(out("messy"), "METHODS.md"), "utf8");
        assert.ok(methods.includes(run.data.manifest_sha256), "manifest sha256");
        assert.match(run.code.package_sha256, /^[0-9a-f]{64}$/);
        assert.ok(methods.includes(run.code.package_sha256), "code sha256");
        assert.ok(methods.includes(run.image), "image digest");
        for (const t of ["RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "ColorJitter", "Resize", "CenterCrop", "Normalize"]) assert.ok(methods.includes(t), t);
        assert.match(methods, /AdamW \(lr 0\.0003, .*weight_decay 0\.05/);
        assert.match(methods, /11 file\(s\) or folder\(s\) were excluded before training \(/);
        const cff = YAML.parse(fs.readFileSync(path.join(out("messy"), "CITATION.cff"), "utf8"));
        // Citation File Format 1.2.0's required keys (schema.json "required": cff-version, message, title, authors).
        assert.equal(cff["cff-version"], "1.2.0");
        for (const k of ["message", "title", "authors"]) assert.ok(cff[k], k);
        assert.equal(cff.authors[0].name, "Ada Lovelace");
        assert.deepEqual(cff.identifiers.map((i: any) => i.value).slice(0, 2), [`sha256:${run.data.manifest_sha256}`, `sha256:${run.code.package_sha256}`]);
        const crate = JSON.parse(fs.readFileSync(path.join(out("messy"), "ro-crate-metadata.json"), "utf8"));
        assert.equal(crate["@context"], "https://w3id.org/ro/crate/1.1/context");
        const action = crate["@graph"].find((e: any) => e["@type"] === "CreateAction");
        assert.deepEqual(action.result, [{ "@id": "best.pt" }, { "@id": "last.pt" }]);
    });

    it("matplotlib draws the Chinese class names with the CJK font (pixels differ from the missing-glyph boxes)", async () => {
        // The same label drawn with archaeo.viz's fonts and with DejaVu Sans alone (which has no CJK glyphs: every
        // character becomes the same box). Real glyphs differ from the boxes, and from each other.
        const r = ok(await runPython(["-c", [
            "import io, warnings, numpy as np, matplotlib", "from archaeo import viz",
            "from matplotlib.figure import Figure", "from matplotlib.backends.backend_agg import FigureCanvasAgg",
            "def draw(text, family):",
            "    matplotlib.rcParams['font.family'] = family",
            "    fig = Figure(figsize=(1.2, 0.5), dpi=100); FigureCanvasAgg(fig); fig.text(0.05, 0.3, text, fontsize=14)",
            "    buf = io.BytesIO(); fig.savefig(buf, format='png'); return buf.getvalue()",
            "fonts = viz.use_fonts()",
            "with warnings.catch_warnings(record=True) as w:",
            "    warnings.simplefilter('always')",
            "    real = [draw(t, fonts) for t in ('陶器', '瓦当')]",
            "missing = [str(x.message) for x in w if 'missing from' in str(x.message)]",
            "with warnings.catch_warnings():",
            "    warnings.simplefilter('ignore')",
            "    boxes = [draw(t, ['DejaVu Sans']) for t in ('陶器', '瓦当')]",
            "print(fonts, len(missing), real[0] != boxes[0], real[0] != real[1], boxes[0] == boxes[1])",
        ].join("\n")], { env }), "CJK rendering");
        assert.match(r.stdout.trim(), /WenQuanYi Micro Hei|Noto Sans CJK/, "a CJK font is installed and used (fonts-wqy-microhei)");
        assert.match(r.stdout.trim(), / 0 True True True$/);
    });

    describe("the starter notebooks on the collection, headless (nbconvert)", () => {
        const notebooks = ["01-explore-artefacts.ipynb", "02-fine-tune-and-evaluate.ipynb"];
        const executed: Record<string, any> = {};

        before(async () => {
            await jobs.messy; // the collection is complete; the notebooks find it themselves under ARCHAEO_SHARED_DATA
            const kernelDir = path.join(work, "jupyter", "kernels", "archaeo-test");
            fs.mkdirSync(kernelDir, { recursive: true });
            fs.writeFileSync(path.join(kernelDir, "kernel.json"), JSON.stringify({
                argv: [PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"], display_name: "archaeo test", language: "python",
            }));
            await Promise.all(notebooks.map(async (name) => {
                const home = path.join(work, `nb-home-${name.slice(0, 2)}`);
                fs.mkdirSync(home, { recursive: true });
                const nbEnv = pythonEnv(home, {
                    HOME: home, JUPYTER_PATH: path.join(work, "jupyter"), ARCHAEO_SHARED_DATA: shared,
                    ARCHAEO_NOTEBOOK_OUTPUT: path.join(home, "models"), ARCHAEO_CACHE_DIR: path.join(work, "cache"), PYDEVD_DISABLE_FILE_VALIDATION: "1",
                });
                const r = await runPython(["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=archaeo-test",
                    "--ExecutePreprocessor.timeout=240", "--output-dir", path.join(work, "executed"), path.join(NOTEBOOK_DIR, name)], { env: nbEnv, timeoutMs: 300_000 });
                ok(r, `nbconvert --execute ${name}`);
                executed[name] = JSON.parse(fs.readFileSync(path.join(work, "executed", name), "utf8"));
            }));
        });

        const outputsOf = (nb: any) => nb.cells.filter((c: any) => c.cell_type === "code").flatMap((c: any) => c.outputs);
        const text = (nb: any, stream = "stdout") => outputsOf(nb).filter((o: any) => o.output_type === "stream" && o.name === stream).map((o: any) => [o.text].flat().join("")).join("");

        for (const name of notebooks) {
            it(`${name}: finds /data/archaeology/images three levels down, runs without an error, and no class name falls back to boxes`, () => {
                const nb = executed[name];
                assert.equal(outputsOf(nb).filter((o: any) => o.output_type === "error").length, 0);
                assert.ok(text(nb).includes(`Images from: ${root}`), text(nb).slice(0, 400));
                assert.doesNotMatch(text(nb, "stderr"), /missing from current font|missing from font/);
                assert.ok(outputsOf(nb).some((o: any) => o.data && "image/png" in o.data));
            });
        }

        it("02 trains on the collection, evaluates above chance, plots, and writes predictions and run.json (the broken files listed, not fatal)", () => {
            const name = "02-fine-tune-and-evaluate.ipynb";
            const nb = executed[name];
            const out = text(nb);
            assert.match(out, /Pretrained weights: not on this machine; training from scratch/);
            const acc = Number(/Validation accuracy: ([0-9.]+) on \d+ images/.exec(out)?.[1]);
            assert.ok(acc >= 0.5, `validation accuracy ${acc} (chance is 0.33)\n${out}`);
            assert.equal(outputsOf(nb).filter((o: any) => o.data && "image/png" in o.data).length, 3, "training curves, confusion matrix, misclassified images");
            const models = path.join(work, "nb-home-02", "models");
            const dir = path.join(models, fs.readdirSync(models)[0]);
            const run = readRun(dir);
            assert.equal(run.command.entry, "archaeo.train.fit");
            // The same as archaeo-train left out, but the 12-megapixel orthomosaic: the notebook keeps the default --max-megapixels (89.5).
            assert.equal(run.data.excluded.length, 10, JSON.stringify(run.data.excluded));
            assert.ok(run.data.manifest.some((e: any) => e.path === "瓦当/orthomosaic.png"));
            const csv = fs.readFileSync(path.join(dir, "predictions.csv"), "utf8").trim().split("\r\n");
            assert.ok(csv.some((row) => row.includes("truncated.jpg") && /truncated|cannot identify|broken/i.test(row)), "the unreadable files have a row with their error");
        });

        it("01 lists what it left out; 02 prints a command with the folder quoted for the shell", () => {
            assert.match(text(executed["01-explore-artefacts.ipynb"]), /left out: 待分类\/: class folder holds no images/);
            assert.match(text(executed["01-explore-artefacts.ipynb"]), /Could not open: .*青铜器\/download\.jpg/);
            const command = text(executed["02-fine-tune-and-evaluate.ipynb"]).split("\n").find((l: string) => l.includes("archaeo-train --data-dir"))!;
            assert.ok(command.includes(`--data-dir '${root}' `), command);
        });
    });
});
