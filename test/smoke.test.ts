/**
 * The image's smoke test, run for real with Debian's torch (CPU): it must pass where /dev/shm is as
 * large as the workstation gives its containers, and fail at Docker's 64 MB default - proven by
 * running it in a private mount namespace whose /dev/shm is a tmpfs of that size.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { shmSize } from "../infra/instance/userdata";
import { FAST_TORCH_CPU_ENV, PACKAGE_DIR } from "./helpers/python";
import { PYTHON, requireTool, tmpDir } from "./helpers/tools";

const SMOKE = path.join(__dirname, "..", "images", "pytorch-cuda", "smoke.py");
// Checks 3 and 4 are archaeo.selftest's: the package comes from the source tree, as it is installed in the image.
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", PYTHONDONTWRITEBYTECODE: "1", PYTHONPATH: PACKAGE_DIR, ...FAST_TORCH_CPU_ENV };

function smoke(extraEnv: Record<string, string> = {}) {
    const r = spawnSync(PYTHON, [SMOKE], { encoding: "utf8", env: { ...env, ...extraEnv }, timeout: 120_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Runs the smoke test with /dev/shm replaced by a tmpfs of `size` (util-linux unshare, user + mount namespace). */
function smokeWithShm(size: string) {
    const script = `mount -t tmpfs -o size=${size} tmpfs /dev/shm && exec "$0" "$1"`;
    const r = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", script, PYTHON, SMOKE],
        { encoding: "utf8", env, timeout: 120_000 });
    if (r.error) throw new Error(`unshare could not run (${r.error.message}): apt-get install util-linux`);
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("smoke test (images/pytorch-cuda/smoke.py, real CPU path with Debian torch)", function () {
    this.timeout(180_000);
    before(() => requireTool(PYTHON, "python3-torch python3-torchvision"));

    // The passing run uses the smallest /dev/shm the workstation gives its containers (shmSize: 2g).
    let pass: { status: number | null; out: string };
    before(() => { pass = smokeWithShm(shmSize(4)); });

    it("passes its real CPU path with a 2 GiB /dev/shm: training step, a DataLoader batch well over 64 MB through /dev/shm, a 2-rank gloo all_reduce", () => {
        assert.equal(pass.status, 0, pass.out);
        assert.match(pass.out, /smoke: forward\+backward x3 on cpu/);
        assert.match(pass.out, /smoke: gloo all_reduce of 8 MiB over 2 ranks: ok/);
        assert.match(pass.out, /\/dev\/shm 2048 MiB/);
        assert.match(pass.out, /smoke: PASS$/m);
        assert.doesNotMatch(pass.out, /skip/i, "never a skip");
    });

    it("the batch it moves is well over Docker's 64 MB default, and all that is in flight fits the smallest /dev/shm the workbench gives", () => {
        const m = /moved 3 batches of (\d+) MiB through \/dev\/shm/.exec(pass.out);
        assert.ok(m, pass.out);
        const batchMiB = Number(m[1]);
        assert.ok(batchMiB * 2 ** 20 >= 2 * 64e6, `${batchMiB} MiB is at least twice 64 MB`);
        // 2 workers x prefetch 2, plus the batch the main process holds.
        const inFlightMiB = (2 * 2 + 1) * batchMiB;
        assert.ok(inFlightMiB < parseInt(shmSize(4), 10) * 1024, `${inFlightMiB} MiB < ${shmSize(4)}`);
    });

    it("fails, naming /dev/shm and --shm-size, when /dev/shm is Docker's default 64 MB", () => {
        const r = smokeWithShm("64m");
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /\/dev\/shm 64 MiB/);
        assert.match(r.out, /smoke: FAIL: DataLoader workers could not move a \d+ MiB batch through \/dev\/shm \(64 MiB\).*--shm-size/);
    });

    it("fails when a GPU is expected but there is none", () => {
        const r = smoke({ ARCHAEO_EXPECT_GPU: "1", CUDA_VISIBLE_DEVICES: "" });
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /smoke: FAIL: a GPU was expected/);
    });

    it("fails - never skips - where torch cannot be imported", () => {
        // A `torch` module that raises ImportError shadows the real one: the state of a Python without torch.
        const shadow = tmpDir();
        fs.writeFileSync(path.join(shadow, "torch.py"), "raise ImportError('No module named torch')\n");
        const r = smoke({ PYTHONPATH: `${shadow}${path.delimiter}${PACKAGE_DIR}` });
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /smoke: FAIL: torch cannot be imported/);
    });
});
