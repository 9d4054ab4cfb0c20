// npm test's static checks, side by side: the typecheck (tsc) and the lint (eslint) each use one core, so on a
// 2-core runner together they take the longer of the two instead of the sum. Each one's output is printed
// whole after it ends, under its name; the exit status is the first failure's (1) or 0.
import { spawn } from "node:child_process";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
    console.log("usage: node tools/checks.mjs   (npm test runs it: npm run typecheck and npm run lint, side by side)");
    process.exit(0);
}

const run = (script) => new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn("npm", ["run", "-s", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("close", (code) => resolve({ script, code: code ?? 1, out, seconds: (Date.now() - t0) / 1000 }));
});

const results = await Promise.all(["typecheck", "lint"].map(run));
for (const r of results) {
    console.log(`checks: npm run ${r.script}: ${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`} in ${r.seconds.toFixed(1)} s`);
    if (r.out.trim()) console.log(r.out.trimEnd());
}
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
