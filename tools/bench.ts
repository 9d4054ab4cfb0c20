/**
 * npm run bench: prints numbers, asserts nothing.
 *  - offline plan wall time per stack (a fresh process each, as a user runs it), median of N runs;
 *  - bare SDK import time in the same run (tsx importing the SDKs the program uses), and the ratio;
 *  - real stacks of 10, 50 and 200 researchers in both modes (tools/scale.ts): program and pack CPU per
 *    researcher and per resource, and memory, so a superlinear step shows up;
 *  - policy-pack throughput over a synthetic stack of 2,000 resources.
 * Targets on 2 cores: plan <= 5 s and <= 3x the bare import; 2,000 resources through the pack <= 2 s.
 */
import { spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";
import type { RecordedResource } from "./mock-engine";
import type { ScaleSample } from "./scale";
import { listStacks, ROOT } from "./stacks";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

function timeProcess(args: string[]): number {
    const t = process.hrtime.bigint();
    const r = spawnSync(TSX, args, { cwd: ROOT, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return ms;
}

/** A synthetic stack of n resources that the pack must find clean (its kinds cycle). */
export function synthetic(n: number): RecordedResource[] {
    const KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const provider = "urn:pulumi:bench::archaeo-workbench::pulumi:providers:aws::p";
    const kinds: Array<[string, Record<string, unknown>]> = [
        ["aws:ebs/volume:Volume", { encrypted: true, kmsKeyId: KEY, size: 100, type: "gp3", tags: { "archaeo-snapshot": "b" } }],
        ["aws:dlm/lifecyclePolicy:LifecyclePolicy", { state: "ENABLED", policyDetails: { resourceTypes: ["VOLUME"], targetTags: { "archaeo-snapshot": "b" }, schedules: [{ createRule: { interval: 24, intervalUnit: "HOURS" }, retainRule: { count: 14 } }] } }],
        ["aws:ec2/instance:Instance", { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, rootBlockDevice: { encrypted: true, kmsKeyId: KEY, tags: { institution: "x", "data-classification": "c" } }, userData: "#cloud-config\n" }],
        ["aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { ipProtocol: "tcp", fromPort: 2222, toPort: 2222, cidrIpv4: "203.0.113.0/24" }],
        ["aws:ecr/repository:Repository", { encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: KEY }], imageScanningConfiguration: { scanOnPush: true }, imageTagMutability: "IMMUTABLE", repositoryUrl: "1.dkr.ecr.us-east-1.amazonaws.com/r" }],
        ["aws:ssm/parameter:Parameter", { name: "/a/token", type: "SecureString", keyId: KEY }],
        ["aws:iam/rolePolicy:RolePolicy", { policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "A", Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::b/datasets/*" }] }) }],
        ["kubernetes:apps/v1:Deployment", { spec: { template: { spec: { securityContext: { runAsNonRoot: true }, containers: [{ name: "c", image: `1.dkr.ecr.us-east-1.amazonaws.com/r@sha256:${"a".repeat(64)}`, securityContext: { allowPrivilegeEscalation: false } }] } } } }],
    ];
    const out: RecordedResource[] = [{
        type: "pulumi:providers:aws", name: "p", urn: provider, custom: true, parent: "", provider: "", protect: false, retainOnDelete: false, deleteBeforeReplace: false,
        ignoreChanges: [], dependencies: [], inputs: {}, secretInputs: [], state: {}, rawInputs: { defaultTags: JSON.stringify({ tags: { institution: "x", "data-classification": "c" } }) }, rawState: {}, id: "p",
    }];
    for (let i = 0; i < n - 1; i++) {
        const [type, inputs] = kinds[i % kinds.length];
        out.push({
            type, name: `r${i}`, urn: `urn:pulumi:bench::archaeo-workbench::${type}::r${i}`, custom: true, parent: "", provider: `${provider}::p`,
            protect: true, retainOnDelete: true, deleteBeforeReplace: false, ignoreChanges: [], dependencies: [], inputs, secretInputs: [], state: inputs,
            rawInputs: inputs, rawState: inputs, id: `r${i}`,
        });
    }
    return out;
}

export const USAGE = `usage: npm run bench   (env: BENCH_RUNS=3, BENCH_SCALE=10,50,200)

Prints timings and asserts nothing: the offline plan's wall time per stack against the bare SDK import,
real stacks of 10, 50 and 200 researchers in both modes (program and pack CPU per researcher and per
resource, memory), and the policy pack over a synthetic stack of 2,000 resources. Takes several minutes;
each step prints as it finishes.

  --help, -h   this text`;

async function main() {
    const { runPolicies } = require("./policy-runner") as typeof import("./policy-runner");
    const { resourcePolicies, stackValidationPolicies } = require("../policies/rules") as typeof import("../policies/rules");
    console.log(`archaeo-workbench bench: ${os.cpus().length} cores, node ${process.version}, median of ${RUNS} runs`);
    const bare = median(Array.from({ length: RUNS }, () => timeProcess(["-e",
        "require('@pulumi/pulumi'); require('@pulumi/aws'); require('@pulumi/docker'); require('@pulumi/random'); require('@pulumi/policy'); require('@pulumi/kubernetes');"])));
    console.log(`bare SDK import (tsx, @pulumi/pulumi+aws+docker+random+policy+kubernetes): ${(bare / 1000).toFixed(2)} s`);
    for (const stack of listStacks()) {
        const ms = median(Array.from({ length: RUNS }, () => timeProcess(["tools/plan.ts", "--stack", stack])));
        const ratio = ms / bare;
        console.log(`plan ${stack.padEnd(18)} ${(ms / 1000).toFixed(2)} s   ${ratio.toFixed(2)}x bare import   target <= 5 s and <= 3x: ${ms <= 5000 && ratio <= 3 ? "met" : "MISSED"}`);
    }
    // Real stacks of 10, 50 and 200 researchers in both modes, each in a fresh process: CPU and memory per
    // researcher, so a step that grows faster than the number of researchers shows up.
    const SCALE = (process.env.BENCH_SCALE ?? "10,50,200").split(",").map(Number);
    for (const mode of ["instance", "cluster"] as const) {
        const samples: ScaleSample[] = [];
        for (const n of SCALE) {
            const r = spawnSync(TSX, ["tools/scale.ts", mode, String(n)], { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 24 });
            if (r.status !== 0) throw new Error(`tools/scale.ts ${mode} ${n} exited ${r.status}: ${r.stderr}`);
            samples.push(JSON.parse(r.stdout.trim().split("\n").pop()!));
        }
        for (const s of samples) {
            console.log(`scale ${mode.padEnd(8)} ${String(s.researchers).padStart(3)} researchers ${String(s.resources).padStart(5)} resources: program ${(s.programCpuMs / 1000).toFixed(1)} s CPU (${(s.programCpuMs / s.researchers).toFixed(0)} ms/researcher), pack ${(s.packCpuMs / 1000).toFixed(1)} s CPU (${(s.packCpuMs / s.resources).toFixed(2)} ms/resource), heap ${s.heapMiB.toFixed(0)} MiB (${(s.heapMiB / s.researchers).toFixed(1)} MiB/researcher), rss ${s.rssMiB.toFixed(0)} MiB`);
        }
        const [first, last] = [samples[0], samples[samples.length - 1]];
        const growth = (last.packCpuMs / last.resources) / (first.packCpuMs / first.resources);
        console.log(`scale ${mode.padEnd(8)} pack CPU per resource at ${last.researchers} researchers = ${growth.toFixed(2)}x that at ${first.researchers}   target <= 1.5x: ${growth <= 1.5 ? "met" : "MISSED"}`);
    }
    const resources = synthetic(2000);
    const pack = { resource: resourcePolicies, stack: stackValidationPolicies };
    await runPolicies(resources, pack); // warm up: the engine's pack process analyzes every resource of every preview, so it runs warm
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
        const t = process.hrtime.bigint();
        const r = await runPolicies(resources, pack);
        if (r.mandatory !== 0) throw new Error(`synthetic stack should be clean: ${JSON.stringify(r.violations.slice(0, 3))}`);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const pm = median(times);
    console.log(`policy pack over 2,000 resources (${pack.resource.length + pack.stack.length} policies): ${(pm / 1000).toFixed(2)} s = ${Math.round(2000 / (pm / 1000))} resources/s   target <= 2 s: ${pm <= 2000 ? "met" : "MISSED"}`);
}

if (require.main === module) {
    if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) console.log(USAGE);
    else main().catch((e) => { console.error(e); process.exitCode = 1; });
}
