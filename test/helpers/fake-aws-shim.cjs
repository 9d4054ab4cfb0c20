// The fake `aws` executable that test/helpers/fake-aws.ts puts first on PATH (read that file's header).
// One process per call, as the real CLI: reads the recording from $FAKE_AWS_DIR/recording.json, logs the
// call to calls.jsonl, answers with the next recorded response of the first rule that matches, and for
// `ssm start-session` behaves as the Session Manager plugin does (relay to a local port). No network
// beyond 127.0.0.1.
"use strict";
// Plain CommonJS run by node itself (no tsx start-up per call): require() is the way in.
/* eslint-disable @typescript-eslint/no-require-imports */
const fs = require("fs");
const net = require("net");
const path = require("path");

const dir = process.env.FAKE_AWS_DIR;
if (!dir) {
    process.stderr.write("fake aws: FAKE_AWS_DIR is not set (run it through test/helpers/fake-aws.ts)\n");
    process.exit(255);
}
const rec = JSON.parse(fs.readFileSync(path.join(dir, "recording.json"), "utf8"));
const argv = process.argv.slice(2);

// Global options of AWS CLI v2 (`aws help`, "GLOBAL OPTIONS") that take a value, and those that don't.
const GLOBAL_VALUE = new Set(["--profile", "--region", "--output", "--query", "--endpoint-url", "--color", "--cli-read-timeout", "--cli-connect-timeout", "--ca-bundle", "--cli-binary-format", "--cli-error-format"]);
const GLOBAL_BOOL = new Set(["--debug", "--no-cli-pager", "--no-paginate", "--no-verify-ssl", "--no-sign-request", "--cli-auto-prompt", "--no-cli-auto-prompt"]);
const BOOL = new Set(rec.booleanFlags);

const globals = {};
const flags = {};
const positionals = [];
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (GLOBAL_VALUE.has(a)) globals[a.slice(2)] = argv[++i];
    else if (GLOBAL_BOOL.has(a)) globals[a.slice(2)] = true;
    else if (a.startsWith("--")) {
        const values = [];
        while (!BOOL.has(a) && i + 1 < argv.length && !argv[i + 1].startsWith("--")) values.push(argv[++i]);
        flags[a] = values.length ? values.join(" ") : true;
    } else positionals.push(a);
}
const [service, operation, ...rest] = positionals;

function log(extra) {
    const entry = { argv, service, operation, args: rest, flags, profile: globals.profile, region: globals.region, globals, pid: process.pid, t: Date.now(), ...extra };
    fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify(entry) + "\n");
}

if (argv.length === 1 && argv[0] === "--version") {
    log({ rule: -1 });
    process.stdout.write(`${rec.version}\n`);
    process.exit(0);
}

const matches = (rule) => rule.service === service && rule.operation === operation
    && (rule.profile === undefined || rule.profile === globals.profile)
    && (rule.region === undefined || rule.region === globals.region)
    && Object.entries(rule.args ?? {}).every(([k, v]) => (v === true ? k in flags : v === false ? !(k in flags) : flags[k] === v));
const index = rec.rules.findIndex(matches);
if (index < 0) {
    log({ rule: -1 });
    process.stderr.write(`\nfake aws: no recorded response for: aws ${argv.join(" ")}\n`);
    process.exit(255);
}
const rule = rec.rules[index];
// The n-th call of this rule (0-based), counted across processes: O_APPEND writes of one byte are atomic.
const counter = path.join(dir, `count-${index}`);
fs.appendFileSync(counter, ".");
const n = fs.statSync(counter).size - 1;
const response = rule.responses[Math.min(n, rule.responses.length - 1)];
log({ rule: index, response: Math.min(n, rule.responses.length - 1) });

/** `--query` in the subset the guide's and connectInfo's commands use: Field.Field[0].Field. */
function query(value, q) {
    for (const part of q.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
        if (value === null || value === undefined) return null;
        value = part.startsWith("[") ? value[Number(part.slice(1, -1))] : value[part];
    }
    return value === undefined ? null : value;
}

function print(output) {
    let out = output;
    if (globals.query) {
        if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*|\[\d+\])*$/.test(globals.query)) {
            process.stderr.write(`fake aws: --query ${globals.query} is beyond the fake's subset (Field.Field[0])\n`);
            process.exit(255);
        }
        out = query(out, globals.query);
    }
    if (globals.output === "text") {
        // The CLI's text output: a scalar as is (null as None), a list tab-separated.
        const text = (v) => (v === null ? "None" : Array.isArray(v) ? v.map(text).join("\t") : typeof v === "object" ? Object.values(v).map(text).join("\t") : String(v));
        process.stdout.write(`${text(out)}\n`);
    } else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
}

/** --parameters as JSON ({"portNumber":["8888"]}) or shorthand (portNumber=2222,localPortNumber=8888). */
function sessionParameters(p) {
    if (typeof p !== "string") return {};
    const parsed = p.trim().startsWith("{") ? JSON.parse(p) : Object.fromEntries(p.split(",").map((kv) => kv.split("=")));
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]));
}

function session() {
    const params = sessionParameters(flags["--parameters"]);
    const doc = flags["--document-name"];
    const remote = Number(params.portNumber);
    const target = rec.ports[String(remote)];
    const sid = `${globals.profile ?? "user"}-0f1e2d3c4b5a69788`;
    if (!target) {
        process.stderr.write(`fake aws: the fake instance serves nothing on port ${params.portNumber} (ports: ${JSON.stringify(rec.ports)})\n`);
        process.exit(255);
    }
    // session-manager-plugin src/sessionmanagerplugin/session/session.go Execute: printed first, to stdout, in every session type.
    process.stdout.write(`\nStarting session with SessionId: ${sid}\n`);
    if (doc === "AWS-StartSSHSession") {
        // StandardStreamForwarding: stdin/stdout are the data channel to the instance's port.
        const s = net.connect(target, "127.0.0.1");
        process.stdin.pipe(s);
        s.pipe(process.stdout);
        s.on("close", () => process.exit(0));
        s.on("error", (e) => { process.stderr.write(`fake aws: ${e.message}\n`); process.exit(255); });
        return;
    }
    if (doc === "AWS-StartPortForwardingSession") {
        // MuxPortForwarding (agents since 3.0.222.0): listens on localhost:<localPortNumber> (0: any free port),
        // each connection a new stream to the instance's port; muxportforwarding.go handleClientConnections.
        const server = net.createServer((c) => {
            const u = net.connect(target, "127.0.0.1");
            c.pipe(u);
            u.pipe(c);
            u.on("error", () => c.destroy());
            c.on("error", () => u.destroy());
        });
        server.on("error", (e) => {
            process.stderr.write(`\nfake aws: cannot listen on localhost:${params.localPortNumber}: ${e.message}\n`);
            process.exit(1);
        });
        server.listen(Number(params.localPortNumber ?? 0), "127.0.0.1", () => {
            process.stdout.write(`Port ${server.address().port} opened for sessionId ${sid}.\nWaiting for connections...\n`);
        });
        const end = () => {
            process.stdout.write(`\n\nExiting session with sessionId: ${sid}.\n\n`);
            process.exit(0);
        };
        process.on("SIGINT", end);
        process.on("SIGTERM", end);
        return;
    }
    process.stderr.write(`fake aws: the fake plugin does not play document ${doc}\n`);
    process.exit(255);
}

if (response.session) session();
else if (response.error) {
    // AWS CLI v2 (2.34+, awscli/errorformat.py write_error) prints a service error as
    // "\naws: [ERROR]: <botocore ClientError text>\n" on stderr and exits 254 (awscli/constants.py CLIENT_ERROR_RC).
    const op = response.error.operation ?? operation.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
    process.stderr.write(`\naws: [ERROR]: An error occurred (${response.error.code}) when calling the ${op} operation: ${response.error.message}\n`);
    process.exit(254);
} else if (response.fail) {
    process.stderr.write(response.fail.stderr);
    process.exit(response.fail.rc);
} else {
    if (response.stdout !== undefined) process.stdout.write(response.stdout);
    else if (response.output !== undefined) print(response.output);
    process.exit(0);
}
