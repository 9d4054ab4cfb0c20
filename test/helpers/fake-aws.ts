/**
 * A fake `aws` executable for tests, replaying recorded AWS responses, with every call logged.
 *
 * Usage:
 *   const aws = fakeAws({ rules: [
 *       { service: "ec2", operation: "describe-instances", args: { "--instance-ids": "i-0123456789abcdef0" },
 *         responses: [{ output: stopped }, { output: pending }, { output: running }] },   // one per call, the last repeats
 *       { service: "ssm", operation: "get-parameter", args: { "--name": "/p/status/prepare" },
 *         responses: [{ error: { code: "ParameterNotFound", message: "" } }] },       // printed and exit 254, as the CLI does
 *       { service: "ssm", operation: "start-session", responses: [{ session: true }] },   // the Session Manager plugin
 *   ], ports: { 2222: sshdPort, 8888: jupyterPort } });
 *   spawnSync("my-tool", [...], { env: aws.env() });      // PATH starts with the shim's directory
 *   aws.calls();        // [{ service, operation, flags: { "--instance-ids": "i-..." }, profile, region, rule, argv }, ...]
 *   aws.unmatched();    // calls no rule answered (they exit 255 with "fake aws: no recorded response for: ...")
 *   checkRecording(rules) / checkCalls(aws.calls());   // shapes and flags against AWS's service models
 *   aws.cleanup();
 * A `session-manager-plugin` stub sits beside it (tools check it is installed), unless `plugin: false`.
 *
 * Matching: the first rule whose service, operation, and every `args` entry match (a string equals the flag's
 * value, its tokens joined by one space; `true`: present; `false`: absent), and `profile`/`region` when given.
 * Responses: `output` (a botocore output shape, printed as the CLI prints JSON; `--query` through Debian's
 * python3-jmespath, as the CLI evaluates it, with `Field.Field[0]` done in the shim; `--output text` for that subset), `stdout` (printed as is), `error` (a service error: `aws: [ERROR]: An error
 * occurred (Code) when calling the Op operation: message`, exit 254), `fail` (stderr and exit code as given:
 * expired SSO, missing plugin), `session` (`ssm start-session`: AWS-StartSSHSession relays stdin/stdout to
 * `ports[portNumber]`; AWS-StartPortForwardingSession listens on localhost:localPortNumber and forwards each
 * connection to `ports[portNumber]`, printing the plugin's own lines, until SIGINT/SIGTERM).
 *
 * Recorded shapes are AWS's: checkRecording validates every `output` against the operation's output shape,
 * every `error` code against the operation's modeled errors and every `args` flag against its input members,
 * in botocore's service models as Debian's python3-botocore installs them
 * (/usr/lib/python3/dist-packages/botocore/data/<service>/<version>/service-2.json; ARCHAEO_BOTOCORE_DATA
 * overrides the directory). Flags map to members as the CLI maps them (botocore.utils.xform_name with "-").
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { PYTHON } from "./tools";

export type AwsResponse =
    | { output: unknown }
    | { stdout: string }
    | { error: { code: string; message: string; operation?: string } }
    | { fail: { stderr: string; rc: number } }
    | { session: true };

export interface AwsRule {
    service: string;
    /** The CLI's operation name: describe-instances, get-parameter, start-session. */
    operation: string;
    args?: Record<string, string | boolean>;
    profile?: string;
    region?: string;
    /** One per call, in order; the last repeats. */
    responses: AwsResponse[];
}

export interface AwsCall {
    argv: string[];
    service: string;
    operation: string;
    /** Positional arguments after the operation (s3 paths). */
    args: string[];
    flags: Record<string, string | true>;
    profile?: string;
    region?: string;
    globals: Record<string, string | true>;
    /** Index of the rule that answered, -1 for none. */
    rule: number;
    /** Which of that rule's responses. */
    response?: number;
    pid: number;
    t: number;
}

export interface FakeAwsOptions {
    rules: AwsRule[];
    /** What the fake instance serves: an SSM session to port P reaches 127.0.0.1:ports[P]. */
    ports?: Record<number, number>;
    /** Flags that take no value, beyond the built-in ones (so a positional after them is not their value). */
    booleanFlags?: string[];
    /** What `aws --version` prints. */
    version?: string;
    /** Also put a `session-manager-plugin` on PATH (it only answers --version, as `aws ssm start-session` asks it). Default true. */
    plugin?: boolean;
}

export interface FakeAws {
    /** The directory holding the `aws` shim (first on PATH in env()). */
    bin: string;
    /** Scratch directory: recording.json, calls.jsonl, a counter per rule. */
    dir: string;
    /** process.env with the shim first on PATH and AWS credentials/config variables removed. */
    env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
    calls(): AwsCall[];
    unmatched(): AwsCall[];
    /** Replaces the recording (counters restart), and the ports when given. */
    setRules(rules: AwsRule[], ports?: Record<number, number>): void;
    cleanup(): void;
}

const SHIM = path.join(__dirname, "fake-aws-shim.py");

/** Boolean flags of the commands the project's tools and guides use (AWS CLI v2 help pages). */
const BOOLEAN_FLAGS = [
    "--with-decryption", "--no-with-decryption", "--include-all-instances", "--no-include-all-instances", "--force", "--no-force",
    "--dry-run", "--no-dry-run", "--recursive", "--dryrun", "--delete", "--quiet", "--only-show-errors", "--no-progress", "--exact-timestamps",
    "--size-only", "--follow-symlinks", "--no-follow-symlinks", "--verbose", "--overwrite", "--no-overwrite",
];

export function fakeAws(opts: FakeAwsOptions): FakeAws {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-fake-aws-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    // Debian's Python without site (-S: standard library only), started directly by the kernel (one exec a call, ~50 ms of
    // CPU); the launcher tells the shim where its recording is.
    fs.writeFileSync(path.join(bin, "aws"), [
        `#!${PYTHON} -S`,
        `import os, sys; os.environ["FAKE_AWS_DIR"] = ${JSON.stringify(dir)}; sys.argv[0] = "aws"`,
        `exec(compile(open(${JSON.stringify(SHIM)}, encoding="utf-8").read(), ${JSON.stringify(SHIM)}, "exec"))`,
        "",
    ].join("\n"), { mode: 0o755 });
    if (opts.plugin !== false) fs.writeFileSync(path.join(bin, "session-manager-plugin"), "#!/bin/sh\necho 1.2.764.0\n", { mode: 0o755 });
    let ports = opts.ports ?? {};
    const write = (rules: AwsRule[], newPorts?: Record<number, number>) => {
        if (newPorts) ports = newPorts;
        for (const f of fs.readdirSync(dir)) if (f.startsWith("count-")) fs.rmSync(path.join(dir, f));
        fs.writeFileSync(path.join(dir, "recording.json"), JSON.stringify({
            rules, ports, booleanFlags: [...BOOLEAN_FLAGS, ...(opts.booleanFlags ?? [])],
            version: opts.version ?? "aws-cli/2.34.0 Python/3.13.11 Linux/6.1.0 exe/x86_64.debian.12",
        }));
    };
    write(opts.rules);
    const calls = (): AwsCall[] => {
        const f = path.join(dir, "calls.jsonl");
        return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AwsCall) : [];
    };
    return {
        bin,
        dir,
        env(extra = {}) {
            const env: NodeJS.ProcessEnv = { ...process.env };
            for (const k of Object.keys(env)) if (/^AWS_/.test(k)) delete env[k];
            return { ...env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`, ...extra };
        },
        calls,
        unmatched: () => calls().filter((c) => c.rule < 0 && c.argv[0] !== "--version"),
        setRules: write,
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

// ---- AWS's service models (botocore) ----

interface Shape {
    type: string;
    members?: Record<string, { shape: string }>;
    member?: { shape: string };
    key?: { shape: string };
    value?: { shape: string };
    enum?: string[];
    required?: string[];
    exception?: boolean;
}
interface ServiceModel {
    metadata: { apiVersion: string };
    operations: Record<string, { name: string; input?: { shape: string }; output?: { shape: string }; errors?: Array<{ shape: string }> }>;
    shapes: Record<string, Shape>;
}

/** Where Debian's python3-botocore keeps the models. */
export function botocoreDataDir(): string {
    const d = process.env.ARCHAEO_BOTOCORE_DATA ?? "/usr/lib/python3/dist-packages/botocore/data";
    if (!fs.existsSync(d)) throw new Error(`${d} is missing: apt-get install -y --no-install-recommends python3-botocore (npm run prereqs installs it)`);
    return d;
}

/** The service-2.json of a service's newest API version under `base` (Debian's, or pip's service-2.json.gz), or undefined. */
export function newestModelFile(base: string): string | undefined {
    if (!fs.existsSync(base)) return undefined;
    const version = fs.readdirSync(base).filter((v) => MODEL_NAMES.some((f) => fs.existsSync(path.join(base, v, f)))).sort().pop();
    return version ? MODEL_NAMES.map((f) => path.join(base, version, f)).find((f) => fs.existsSync(f)) : undefined;
}
const MODEL_NAMES = ["service-2.json", "service-2.json.gz"];
export function readModelText(file: string): string {
    return file.endsWith(".gz") ? zlib.gunzipSync(fs.readFileSync(file)).toString("utf8") : fs.readFileSync(file, "utf8");
}

const models = new Map<string, ServiceModel & { file: string }>();
/** The newest API version of a service's model, as botocore loads it. */
export function serviceModel(service: string): ServiceModel & { file: string } {
    const cached = models.get(service);
    if (cached) return cached;
    const base = path.join(botocoreDataDir(), service);
    const file = newestModelFile(base);
    if (!file) throw new Error(`no service-2.json under ${base}`);
    const m = { ...(JSON.parse(readModelText(file)) as ServiceModel), file };
    models.set(service, m);
    return m;
}

/** botocore.utils.xform_name(name, "-"): DescribeInstances -> describe-instances, InstanceIds -> instance-ids. */
export function xformName(name: string): string {
    let n = name;
    const special = /[A-Z]{2,}s$/.exec(n);
    if (special) n = `${n.slice(0, special.index)}-${special[0].toLowerCase()}`;
    return n.replace(/(.)([A-Z][a-z]+)/g, "$1-$2").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

/** The model's operation for a CLI operation name, or undefined. */
export function modelOperation(service: string, cliOperation: string): string | undefined {
    return Object.keys(serviceModel(service).operations).find((op) => xformName(op) === cliOperation);
}

/**
 * Commands that are AWS CLI customizations rather than API operations, with the flags their source
 * defines (aws/aws-cli v2: awscli/customizations/eks/update_kubeconfig.py, s3/subcommands.py).
 */
const CUSTOM_COMMANDS: Record<string, string[]> = {
    "eks update-kubeconfig": ["--name", "--kubeconfig", "--role-arn", "--proxy-url", "--dry-run", "--verbose", "--alias", "--user-alias", "--assume-role-arn"],
    "s3 sync": ["--delete", "--exclude", "--include", "--exact-timestamps", "--size-only", "--dryrun", "--quiet", "--only-show-errors", "--no-progress", "--sse", "--sse-kms-key-id", "--follow-symlinks", "--no-follow-symlinks"],
    "s3 cp": ["--recursive", "--exclude", "--include", "--dryrun", "--quiet", "--only-show-errors", "--no-progress", "--sse", "--sse-kms-key-id"],
    "s3 ls": ["--recursive", "--human-readable", "--summarize"],
};

/** Problems with one value against a shape: unknown members, wrong types, values outside an enum. */
export function shapeProblems(model: ServiceModel, shapeName: string, value: unknown, at: string): string[] {
    const shape = model.shapes[shapeName];
    const out: string[] = [];
    if (!shape) return [`${at}: shape ${shapeName} is not in the model`];
    switch (shape.type) {
        case "structure": {
            if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${at}: expected a ${shapeName} object`];
            for (const [k, v] of Object.entries(value)) {
                const m = shape.members?.[k];
                if (!m) out.push(`${at}.${k}: ${shapeName} has no member ${k} (members: ${Object.keys(shape.members ?? {}).join(", ")})`);
                else out.push(...shapeProblems(model, m.shape, v, `${at}.${k}`));
            }
            break;
        }
        case "list":
            if (!Array.isArray(value)) return [`${at}: expected a list (${shapeName})`];
            value.forEach((v, i) => out.push(...shapeProblems(model, shape.member!.shape, v, `${at}[${i}]`)));
            break;
        case "map":
            if (typeof value !== "object" || value === null) return [`${at}: expected a map (${shapeName})`];
            for (const [k, v] of Object.entries(value)) out.push(...shapeProblems(model, shape.value!.shape, v, `${at}.${k}`));
            break;
        case "string":
            if (typeof value !== "string") return [`${at}: expected a string (${shapeName})`];
            if (shape.enum && !shape.enum.includes(value)) out.push(`${at}: '${value}' is not one of ${shapeName}'s values (${shape.enum.join(", ")})`);
            break;
        case "integer":
        case "long":
            if (!Number.isInteger(value)) out.push(`${at}: expected an integer (${shapeName})`);
            break;
        case "float":
        case "double":
            if (typeof value !== "number") out.push(`${at}: expected a number (${shapeName})`);
            break;
        case "boolean":
            if (typeof value !== "boolean") out.push(`${at}: expected a boolean (${shapeName})`);
            break;
        case "timestamp":
            // The CLI prints timestamps as ISO 8601 (cli_timestamp_format iso8601, v2's default).
            if (typeof value !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) out.push(`${at}: expected an ISO 8601 timestamp (${shapeName})`);
            break;
        case "blob":
            if (typeof value !== "string") out.push(`${at}: expected base64 text (${shapeName})`);
            break;
        default:
            out.push(`${at}: shape type ${shape.type} not checked`);
    }
    return out;
}

/** Flags a CLI operation accepts: its input members as the CLI names them (booleans also as --no-x). */
export function operationFlags(service: string, cliOperation: string): string[] | undefined {
    const custom = CUSTOM_COMMANDS[`${service} ${cliOperation}`];
    if (custom) return custom;
    const op = modelOperation(service, cliOperation);
    if (!op) return undefined;
    const model = serviceModel(service);
    const input = model.operations[op].input;
    const members = input ? model.shapes[input.shape].members ?? {} : {};
    return Object.entries(members).flatMap(([name, m]) => {
        const flag = `--${xformName(name)}`;
        return model.shapes[m.shape].type === "boolean" ? [flag, `--no-${flag.slice(2)}`] : [flag];
    });
}

/** Every problem of a recording against AWS's models; empty when each rule is an operation AWS has, answered as AWS answers. */
export function checkRecording(rules: AwsRule[]): string[] {
    const out: string[] = [];
    for (const [i, r] of rules.entries()) {
        const at = `rule ${i} (${r.service} ${r.operation})`;
        const flags = operationFlags(r.service, r.operation);
        if (!flags) {
            out.push(`${at}: ${r.service} has no operation ${r.operation} in ${serviceModel(r.service).file}`);
            continue;
        }
        for (const f of Object.keys(r.args ?? {})) if (!flags.includes(f)) out.push(`${at}: ${f} is not a flag of ${r.service} ${r.operation} (${flags.join(" ")})`);
        const op = modelOperation(r.service, r.operation);
        if (!op) continue;
        const model = serviceModel(r.service);
        const o = model.operations[op];
        for (const [j, resp] of r.responses.entries()) {
            if ("output" in resp) {
                if (!o.output) out.push(`${at} response ${j}: ${op} has no output`);
                else out.push(...shapeProblems(model, o.output.shape, resp.output, `${at} response ${j}`));
            }
            // EC2's model lists no errors (its codes are in the EC2 API reference, "Error codes"): judged by the test that records one.
            if ("error" in resp && r.service !== "ec2" && !(o.errors ?? []).some((e) => e.shape === resp.error.code)) {
                out.push(`${at} response ${j}: ${resp.error.code} is not an error of ${op} (${(o.errors ?? []).map((e) => e.shape).join(", ")})`);
            }
            if ("session" in resp && !(r.service === "ssm" && r.operation === "start-session")) out.push(`${at}: only ssm start-session plays a session`);
        }
    }
    return out;
}

/** Every problem of the calls a tool made: operations AWS lacks, flags the operation does not take. */
export function checkCalls(calls: AwsCall[]): string[] {
    const out: string[] = [];
    for (const c of calls) {
        if (c.argv[0] === "--version") continue;
        const flags = operationFlags(c.service, c.operation);
        if (!flags) {
            out.push(`aws ${c.argv.join(" ")}: ${c.service} has no operation ${c.operation}`);
            continue;
        }
        for (const f of Object.keys(c.flags)) if (!flags.includes(f)) out.push(`aws ${c.argv.join(" ")}: ${f} is not a flag of ${c.service} ${c.operation}`);
    }
    return out;
}
