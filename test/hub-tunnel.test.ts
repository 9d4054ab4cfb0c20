/**
 * The hub tunnel's relay (images/hub-tunnel/relay.mjs), run for real with this machine's Node against a
 * stand-in for the chart's proxy-public: HTTP and an upgraded (WebSocket-style) connection pass through
 * byte for byte, a routing-API request is just forwarded (there is no API to re-route anyone), and the
 * StatefulSet and the image start it the way the script expects.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { hubTunnelObjects } from "../infra/cluster/manifests";
import { freePort } from "./helpers/tools";

const DIR = path.join(__dirname, "..", "images", "hub-tunnel");
const RELAY = path.join(DIR, "relay.mjs");

function startRelay(env: Record<string, string>): Promise<{ child: ChildProcess; out: () => string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [RELAY], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        const onData = (d: Buffer) => { out += d.toString(); if (out.includes("relaying")) resolve({ child, out: () => out }); };
        child.stdout!.on("data", onData);
        child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
        child.on("exit", (code) => reject(new Error(`relay exited ${code}: ${out}`)));
    });
}

/** Sends raw bytes, resolves with everything received until the peer closes or `until` matches. */
function exchange(port: number, send: string, until?: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1");
        let got = "";
        s.on("data", (d) => { got += d.toString(); if (until && until.test(got)) { s.destroy(); resolve(got); } });
        s.on("close", () => resolve(got));
        // The relay closes a connection it cannot forward; with request bytes still unread the kernel may send
        // a reset instead of a FIN. Either is "closed" here.
        s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(got) : reject(e)));
        s.write(send);
    });
}

describe("hub tunnel relay (images/hub-tunnel/relay.mjs, real Node)", () => {
    const seen: Array<{ method: string; url: string; host: string }> = [];
    let upstream: http.Server;
    let relay: { child: ChildProcess; out: () => string };
    let upstreamPort = 0;
    let port = 0;

    before(async () => {
        upstream = http.createServer((req, res) => {
            seen.push({ method: req.method!, url: req.url!, host: String(req.headers.host) });
            const body = `hub saw ${req.method} ${req.url}`;
            res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body), connection: "close" });
            res.end(body);
        });
        // An upgraded connection (what JupyterLab's kernel WebSockets are): 101, then an echo in both directions.
        upstream.on("upgrade", (_req, socket) => {
            socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            socket.on("data", (d) => socket.write(`echo:${d}`));
        });
        await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
        upstreamPort = (upstream.address() as net.AddressInfo).port;
        port = await freePort();
        relay = await startRelay({ LISTEN_PORT: String(port), TARGET_HOST: "127.0.0.1", TARGET_PORT: String(upstreamPort) });
    });
    after(() => { relay?.child.kill("SIGTERM"); upstream?.close(); });

    it("relays HTTP unchanged, Host header included (the hub sees what the browser sent)", async () => {
        const got = await exchange(port, "GET /hub/login HTTP/1.1\r\nHost: localhost:8000\r\nConnection: close\r\n\r\n");
        assert.match(got, /^HTTP\/1\.1 200 OK/);
        assert.match(got, /hub saw GET \/hub\/login$/);
        assert.deepEqual(seen.at(-1), { method: "GET", url: "/hub/login", host: "localhost:8000" });
    });

    it("has no routing API: a configurable-http-proxy API call is forwarded to the hub like any request", async () => {
        const body = JSON.stringify({ target: "http://attacker.example" });
        const got = await exchange(port, `POST /api/routes/hub HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        assert.match(got, /hub saw POST \/api\/routes\/hub$/);
        const after = await exchange(port, "GET /hub/ HTTP/1.1\r\nHost: localhost:8000\r\nConnection: close\r\n\r\n");
        assert.match(after, /hub saw GET \/hub\/$/, "the next request still reaches the hub");
    });

    it("passes an upgraded connection both ways (kernel WebSockets)", async () => {
        const got = await new Promise<string>((resolve, reject) => {
            const s = net.connect(port, "127.0.0.1");
            let buf = "";
            s.on("data", (d) => {
                buf += d.toString();
                if (buf.includes("\r\n\r\n") && !buf.includes("echo:")) s.write("frame-1");
                if (buf.includes("echo:frame-1")) { s.destroy(); resolve(buf); }
            });
            s.on("error", reject);
            s.write("GET /user/alice/api/kernels/1/channels HTTP/1.1\r\nHost: localhost:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        });
        assert.match(got, /^HTTP\/1\.1 101 Switching Protocols/);
        assert.ok(got.endsWith("echo:frame-1"));
    });

    it("when the hub is unreachable it closes that connection and keeps serving", async () => {
        const deadPort = await freePort();
        const lone = await startRelay({ LISTEN_PORT: String(await freePort()), TARGET_HOST: "127.0.0.1", TARGET_PORT: String(deadPort) });
        try {
            const listen = Number(/relaying :(\d+)/.exec(lone.out())![1]);
            assert.equal(await exchange(listen, "GET / HTTP/1.1\r\n\r\n"), "");
            assert.equal(await exchange(listen, "GET / HTTP/1.1\r\n\r\n"), "", "still accepting");
            assert.equal(lone.child.exitCode, null);
            assert.match(lone.out(), /ECONNREFUSED/);
        } finally { lone.child.kill("SIGTERM"); }
    });

    it("refuses to start without a target, naming the settings", async () => {
        const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
            const c = spawn(process.execPath, [RELAY], { env: { PATH: process.env.PATH }, stdio: ["ignore", "pipe", "pipe"] });
            let err = "";
            c.stderr.on("data", (d) => { err += d; });
            c.on("exit", (code) => resolve({ code, err }));
        });
        assert.equal(r.code, 2);
        assert.match(r.err, /TARGET_HOST, TARGET_PORT and LISTEN_PORT/);
    });

    it("the StatefulSet sets exactly the variables the relay reads, and the image runs the script it copies", () => {
        const read = [...fs.readFileSync(RELAY, "utf8").matchAll(/process\.env\.([A-Z_]+)/g)].map((m) => m[1]);
        const c = hubTunnelObjects({ institution: "x", stack: "s", image: "i" }).statefulSet.spec.template.spec.containers[0];
        assert.deepEqual([...new Set(read)].sort(), c.env.map((e) => e.name).sort());
        const dockerfile = fs.readFileSync(path.join(DIR, "Dockerfile"), "utf8");
        const copied = /^COPY relay\.mjs (\S+)$/m.exec(dockerfile)?.[1];
        assert.ok(copied, "the Dockerfile copies relay.mjs");
        assert.match(dockerfile, new RegExp(`^ENTRYPOINT \\["node", "${copied!.replace(/[/.]/g, "\\$&")}"\\]$`, "m"));
        assert.ok(!("command" in c) && !("args" in c), "the pod runs the image's entrypoint");
    });
});
