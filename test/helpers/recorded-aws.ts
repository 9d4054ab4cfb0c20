/**
 * Recorded AWS CLI responses for the restore tool (test/fixtures/restore/aws-responses.json) as an injectable
 * runner (tools/quotas.ts AwsCli, as preflight --quotas takes one): strict, so a call the recording does not
 * have fails the test naming it, and each runner keeps its own place in the `responses` sequences. The
 * recordings' shapes are checked against botocore's models by checkAwsCommands (test/restore.test.ts).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { AwsCli } from "../../tools/quotas";
import { restore } from "../../tools/restore";
import { STACKS_DIR } from "../../tools/stacks";
import { tmpDir } from "./tools";
import { pythonCandidates } from "../../tools/api-rules/generate";

export const RECORDED = path.join(__dirname, "..", "fixtures", "restore", "aws-responses.json");

export interface RecordedResponse { stdout?: unknown; stderr?: string; code?: number }
export interface RecordedCall extends RecordedResponse { note?: string; argv: string[]; responses?: RecordedResponse[] }

export function loadRecorded(file = RECORDED): RecordedCall[] {
    return JSON.parse(fs.readFileSync(file, "utf8")).calls;
}

const keyOf = (argv: readonly string[]) => argv.join("\u0000");

/** A runner answering only the recorded calls; `made` lists every call in order. */
export function recordedAws(calls: readonly RecordedCall[] = loadRecorded()): { aws: AwsCli; made: string[][] } {
    const byKey = new Map(calls.map((c) => [keyOf(c.argv), { call: c, next: 0 }]));
    const made: string[][] = [];
    const aws: AwsCli = async (args) => {
        made.push([...args]);
        const hit = byKey.get(keyOf(args));
        if (!hit) throw new Error(`no recorded response for: aws ${args.map((a) => (/[\s'"{}$]/.test(a) ? `'${a}'` : a)).join(" ")}`);
        const seq = hit.call.responses;
        const r: RecordedResponse = seq ? seq[Math.min(hit.next++, seq.length - 1)] : hit.call;
        return { code: r.code ?? 0, stdout: r.stdout === undefined ? "" : `${JSON.stringify(r.stdout, null, 4)}\n`, stderr: r.stderr ?? "" };
    };
    return { aws, made };
}

export interface CommandCheck { id: string; service?: string; operation?: string; problems: string[]; params?: Record<string, unknown> }

/**
 * Checks AWS CLI argv (without `aws`) and, where given, the JSON printed for it against botocore's service
 * models with test/helpers/aws_cli_model.py (botocore's ParamValidator on the input and output shapes).
 */
export function checkAwsCommands(commands: Array<{ id: string; argv: string[]; stdout?: string }>): { botocore: string; data: string; results: CommandCheck[] } {
    // One process: Debian's python3-botocore first (the models the docs cite), then the others tools/api-rules tries.
    const pythons = [...new Set([process.env.ARCHAEO_BOTOCORE_PYTHON, "/usr/bin/python3", ...pythonCandidates()].filter((p): p is string => !!p))];
    const errors: string[] = [];
    for (const python of pythons) {
        const r = spawnSync(python, [path.join(__dirname, "aws_cli_model.py")], { input: JSON.stringify({ commands }), encoding: "utf8", maxBuffer: 64 << 20 });
        if (r.status === 0) return JSON.parse(r.stdout);
        errors.push(`${python}: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`);
    }
    throw new Error(`no Python with botocore ran test/helpers/aws_cli_model.py (apt-get install python3-botocore, or set ARCHAEO_BOTOCORE_PYTHON):\n${errors.join("\n")}`);
}

/** Runs the tool in-process against recorded responses, in a scratch directory, on a copy of the stack file. */
export async function runRestore(argv: string[], o: { calls?: RecordedCall[]; stackText?: string; cwd?: string } = {}) {
    const stack = argv[argv.indexOf("--stack") + 1];
    const cwd = o.cwd ?? tmpDir("archaeo-restore-");
    const stackFile = path.join(cwd, `Pulumi.${stack}.yaml`);
    fs.writeFileSync(stackFile, o.stackText ?? fs.readFileSync(path.join(STACKS_DIR, `Pulumi.${stack}.yaml`), "utf8"));
    const { aws, made } = recordedAws(o.calls);
    const lines: string[] = [];
    let sleeps = 0;
    const code = await restore([...argv, "--stack-file", stackFile], {
        aws, out: (l) => lines.push(l), now: () => new Date("2026-11-20T15:00:00Z"), sleep: async () => { sleeps++; }, cwd,
    });
    return { code, out: lines.join("\n"), made, stackFile, cwd, sleeps, stackText: fs.readFileSync(stackFile, "utf8") };
}

