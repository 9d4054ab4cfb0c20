// npm test's static checks, side by side: the typecheck (tsc) and the lint (eslint) each use one core, so on a
// 2-core runner together they take the longer of the two instead of the sum; on a fresh clone the policy pack's
// own production install (what tools/prereqs.mjs does without --skip-pack; mostly disk) runs beside them. Each
// one's output is printed whole after it ends, under its name; the exit status is 1 if any failed, else 0.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
    console.log("usage: node tools/checks.mjs   (npm test runs it: npm run typecheck and npm run lint, side by side)");
    process.exit(0);
}

const run = (script, args = ["run", "-s", script]) => new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn("npm", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("close", (code) => resolve({ script, code: code ?? 1, out, seconds: (Date.now() - t0) / 1000 }));
});

// The policy pack as `pulumi preview --policy-pack policies` runs it: its own production install (tests run it through the real host).
const packDeps = Object.keys(JSON.parse(readFileSync("policies/package.json", "utf8")).dependencies);
const packMissing = packDeps.some((d) => !existsSync(`policies/node_modules/${d}/package.json`));
const jobs = [run("typecheck"), run("lint")];
if (packMissing) jobs.push(run("the policy pack's dependencies (npm ci --omit=dev --prefix policies)", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefix", "policies"]));
const results = await Promise.all(jobs);
for (const r of results) {
    console.log(`checks: ${r.script.includes(" ") ? r.script : `npm run ${r.script}`}: ${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`} in ${r.seconds.toFixed(1)} s`);
    if (r.out.trim()) console.log(r.out.trimEnd());
}
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
