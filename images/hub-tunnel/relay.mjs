// The hub tunnel: relays every TCP connection on LISTEN_PORT to TARGET_HOST:TARGET_PORT (the chart's
// proxy-public service). Bytes in, bytes out: no API, no HTTP parsing, nothing to reconfigure from a
// connection (a researcher port-forwards to this pod; configurable-http-proxy here would expose its
// routing API to them on 127.0.0.1:8001). WebSockets pass as plain TCP. Node's core `net` only.
import * as net from "node:net";

const listenPort = Number(process.env.LISTEN_PORT || "8000");
const host = process.env.TARGET_HOST;
const port = Number(process.env.TARGET_PORT || "80");
if (!host || !Number.isInteger(port) || !Number.isInteger(listenPort)) {
    console.error("hub-tunnel: set TARGET_HOST, TARGET_PORT and LISTEN_PORT");
    process.exit(2);
}

const server = net.createServer((client) => {
    const upstream = net.connect({ host, port });
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on("error", close);
    upstream.on("error", (e) => { console.error(`hub-tunnel: ${host}:${port}: ${e.message}`); close(); });
    client.on("close", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
});
// No host: Node listens on :: (and 0.0.0.0 through it), so the pod's 127.0.0.1 and ::1, which
// port-forwarding connects to, both reach it.
server.listen(listenPort, () => console.log(`hub-tunnel: relaying :${listenPort} to ${host}:${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
