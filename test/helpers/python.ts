/**
 * Runs the archaeo Python package from the source tree (PYTHONPATH=images/pytorch-cuda/python) with
 * Debian's torch Python, in a clean, offline, single-threaded environment; file hashes and JSON lines.
 */
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PYTHON } from "./tools";

export const REPO_ROOT = path.join(__dirname, "..", "..");
export const PACKAGE_DIR = path.join(REPO_ROOT, "images", "pytorch-cuda", "python");
export const NOTEBOOK_DIR = path.join(REPO_ROOT, "images", "pytorch-cuda", "notebooks");
const APT_PACKAGES = "python3-torch python3-torchvision python3-matplotlib python3-nbconvert python3-ipykernel";

export interface PyResult { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; seconds: number }

/**
 * How the tests run torch on CPU cheaply, whatever the test: one intra-op thread (two mocha workers share the cores),
 * and glibc's allocator tuned. Allocator and thread settings only: what a program computes does not change.
 */
export const FAST_TORCH_CPU_ENV = {
    OMP_NUM_THREADS: "1",
    // glibc hands every freed block over 128 KiB back to the kernel, so each training step's
    // temporaries page-fault afresh: keeping them in the heap cuts a CPU run's page faults by about
    // 60% and its CPU time by about a quarter (mallopt(3): M_MMAP_THRESHOLD, M_TRIM_THRESHOLD).
    MALLOC_MMAP_THRESHOLD_: String(1 << 30),
    MALLOC_TRIM_THRESHOLD_: String(2 ** 31),
    // ... and with the heap held, glibc's malloc asks for transparent huge pages on it (madvise MADV_HUGEPAGE on
    // its sbrk and mmap extents; the kernel's THP mode is usually 'madvise', where nothing else asks): one fault
    // per 2 MiB instead of per 4 KiB. train-messy.test's Python: 1.39 M page faults -> 0.71 M, about a fifth
    // less CPU. glibc >= 2.35 (NEWS: "a new tunable, glibc.malloc.hugetlb, can be used to make malloc issue
    // madvise plus MADV_HUGEPAGE on mmap and sbrk calls"); older glibc or THP 'never' ignore it.
    GLIBC_TUNABLES: "glibc.malloc.hugetlb=1",
} as const;

/** Fails with the apt packages to install when the Python cannot import what archaeo and the tests need. */
export function requirePython(): void {
    const probe = spawnSync(PYTHON, ["-c", "import torch, torchvision, matplotlib, nbconvert, ipykernel"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0) {
        throw new Error(`${PYTHON} cannot import torch/torchvision/matplotlib/nbconvert/ipykernel `
            + `(${probe.error?.message ?? probe.stderr.trim().split("\n").pop()}); `
            + `apt-get install -y --no-install-recommends ${APT_PACKAGES} (or set ARCHAEO_PYTHON)`);
    }
}

/**
 * The environment every Python run gets: the source tree first on PYTHONPATH, no bytecode written into
 * it, one CPU thread (deterministic sums, so a resumed run can be compared bit for bit, and two runs
 * share 2 cores), no inherited torchrun/archaeo/Jupyter variables, and an HTTPS proxy that refuses
 * connections so nothing can be downloaded.
 */
export function pythonEnv(work: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    const drop = /^(ARCHAEO_|TORCH_HOME$|TENSORBOARD_LOGDIR$|RANK$|LOCAL_RANK$|WORLD_SIZE$|LOCAL_WORLD_SIZE$|MASTER_|JUPYTER_|PYTHON|MALLOC_|GLIBC_TUNABLES$|https?_proxy$|HTTPS?_PROXY$|no_proxy$|NO_PROXY$|OMP_NUM_THREADS$)/;
    for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
    return {
        ...env,
        PYTHONPATH: PACKAGE_DIR,
        PYTHONDONTWRITEBYTECODE: "1",
        PYTHONUNBUFFERED: "1",
        ...FAST_TORCH_CPU_ENV,
        MPLCONFIGDIR: path.join(work, ".mpl"),
        TORCH_HOME: path.join(work, "torch-home-empty"),
        ARCHAEO_BAKED_TORCH_HOME: path.join(work, "no-baked-weights"),
        TENSORBOARD_LOGDIR: path.join(work, "runs"),
        https_proxy: "http://127.0.0.1:9",
        HTTPS_PROXY: "http://127.0.0.1:9",
        ...extra,
    };
}

export interface RunOptions {
    env: NodeJS.ProcessEnv;
    cwd?: string;
    timeoutMs?: number;
    /** Called with each chunk of stdout; return true to SIGKILL the process (a simulated crash). */
    killWhen?: (stdoutSoFar: string) => boolean;
    /** Called with each chunk of stdout and the process: to send it a signal or change its files mid-run. */
    onStdout?: (stdoutSoFar: string, child: import("child_process").ChildProcess) => void;
}

const ZYGOTE = path.join(__dirname, "pyzygote.py");
/** The interpreter settings a pre-warmed server must share with a run (read when Python starts). */
const interpreterKey = (env: NodeJS.ProcessEnv) =>
    JSON.stringify(Object.keys(env).filter((k) => /^(PYTHON|OMP_|MKL_|LD_|MALLOC_|GLIBC_)/.test(k)).sort().map((k) => [k, env[k]]));
const zygotes = new Map<string, Promise<string | undefined>>();

/**
 * A pyzygote.py server (torch imported once; each run a fork of it) for runs with these interpreter
 * settings, or undefined where it cannot start (ARCHAEO_TEST_ZYGOTE=0 turns it off). One per test process.
 */
function zygoteFor(env: NodeJS.ProcessEnv): Promise<string | undefined> {
    if (process.env.ARCHAEO_TEST_ZYGOTE === "0" || process.platform !== "linux") return Promise.resolve(undefined);
    const key = interpreterKey(env);
    let z = zygotes.get(key);
    if (!z) {
        z = new Promise((resolve) => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-zygote-"));
            const socket = path.join(dir, "s");
            const server = spawn(PYTHON, [ZYGOTE, "serve", socket], { env: { ...env, ARCHAEO_ZYGOTE_RUSAGE: process.env.ARCHAEO_ZYGOTE_RUSAGE ?? "" }, cwd: dir, stdio: ["pipe", "pipe", "inherit"] });
            let out = "";
            server.stdout.on("data", (d) => {
                out += d;
                if (out.startsWith("ready\n")) resolve(socket);
            });
            server.on("error", () => resolve(undefined));
            server.on("exit", () => { resolve(undefined); zygotes.delete(key); fs.rmSync(dir, { recursive: true, force: true }); });
            // The server exits when its stdin closes: with this process, however it ends.
            server.unref();
            (server.stdin as any).unref?.();
            (server.stdout as any).unref?.();
            process.once("exit", () => { fs.rmSync(dir, { recursive: true, force: true }); });
        });
        zygotes.set(key, z);
    }
    return z;
}

/**
 * Runs PYTHON with `args` asynchronously (so several runs can share the two cores). `-m archaeo.*` and
 * `-c` runs go through a pre-warmed server (pyzygote.py: the same interpreter, torch already imported,
 * the run's own environment, directory, output, exit status and signals), which saves about 2.5 s of
 * CPU per run; anything else, or where the server cannot start, is a fresh interpreter.
 */
export async function runPython(args: string[], opts: RunOptions): Promise<PyResult> {
    const warm = (args[0] === "-m" && args[1]?.startsWith("archaeo.")) || args[0] === "-c" ? await zygoteFor(opts.env) : undefined;
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const child = warm
            ? spawn(PYTHON, [ZYGOTE, "run", warm, ...args], { env: opts.env, cwd: opts.cwd ?? os.tmpdir() })
            : spawn(PYTHON, args, { env: opts.env, cwd: opts.cwd ?? os.tmpdir() });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 180_000);
        child.stdout.on("data", (d) => {
            stdout += d;
            if (opts.killWhen?.(stdout)) child.kill("SIGKILL");
            opts.onStdout?.(stdout, child);
        });
        child.stderr.on("data", (d) => { stderr += d; });
        child.on("error", (e) => { clearTimeout(timer); reject(new Error(`${PYTHON} could not start: ${e.message}`)); });
        child.on("close", (status, signal) => {
            clearTimeout(timer);
            resolve({ status, signal, stdout, stderr, seconds: (Date.now() - started) / 1000 });
        });
    });
}

/** `python -m archaeo.<module> args` from the source tree. */
export function runArchaeo(module: string, args: string[], opts: RunOptions): Promise<PyResult> {
    return runPython(["-m", `archaeo.${module}`, ...args], opts);
}

/** Throws with the process's output unless it exited 0. */
export function ok(r: PyResult, what: string): PyResult {
    if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
    return r;
}

export function sha256File(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export function readJsonLines(file: string): any[] {
    return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/**
 * A pool that runs at most `slots` jobs at once (each job one or more Python processes): lets a test
 * file start all its independent runs up front and keep both CI cores busy without oversubscribing.
 */
export function pool(slots: number): <T>(job: () => Promise<T>) => Promise<T> {
    let active = 0;
    const waiting: Array<() => void> = [];
    return async <T>(job: () => Promise<T>): Promise<T> => {
        while (active >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
        active += 1;
        try {
            return await job();
        } finally {
            active -= 1;
            waiting.shift()?.();
        }
    };
}

/** Starts `job` after `after` settles; the returned promise never triggers an unhandled rejection. */
export function later<T>(after: Promise<unknown>[], job: () => Promise<T>): Promise<T> {
    const p = Promise.all(after).then(job);
    p.catch(() => undefined);
    return p;
}
