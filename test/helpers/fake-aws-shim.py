"""The fake `aws` executable that test/helpers/fake-aws.ts puts first on PATH (read that file's header).

One process per call, as the real CLI (Python without site: about 30 ms a call): reads the recording from
$FAKE_AWS_DIR/recording.json, logs the call to calls.jsonl, answers with the next recorded response of the first
rule that matches, and for `ssm start-session` behaves as the Session Manager plugin does (relays to a local
port). No network beyond 127.0.0.1.
"""
import json
import os
import re
import sys
import time

d = os.environ.get("FAKE_AWS_DIR")
if not d:
    sys.stderr.write("fake aws: FAKE_AWS_DIR is not set (run it through test/helpers/fake-aws.ts)\n")
    sys.exit(255)
with open(os.path.join(d, "recording.json"), encoding="utf-8") as fh:
    rec = json.load(fh)
argv = sys.argv[1:]

# Global options of AWS CLI v2 (`aws help`, "GLOBAL OPTIONS") that take a value, and those that don't.
GLOBAL_VALUE = {"--profile", "--region", "--output", "--query", "--endpoint-url", "--color", "--cli-read-timeout", "--cli-connect-timeout",
                "--ca-bundle", "--cli-binary-format", "--cli-error-format"}
GLOBAL_BOOL = {"--debug", "--no-cli-pager", "--no-paginate", "--no-verify-ssl", "--no-sign-request", "--cli-auto-prompt", "--no-cli-auto-prompt"}
BOOL = set(rec["booleanFlags"])

glob, flags, positionals = {}, {}, []
i = 0
while i < len(argv):
    a = argv[i]
    if a in GLOBAL_VALUE:
        i += 1
        glob[a[2:]] = argv[i] if i < len(argv) else ""
    elif a in GLOBAL_BOOL:
        glob[a[2:]] = True
    elif a.startswith("--"):
        values = []
        while a not in BOOL and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            i += 1
            values.append(argv[i])
        flags[a] = " ".join(values) if values else True
    else:
        positionals.append(a)
    i += 1
service = positionals[0] if positionals else None
operation = positionals[1] if len(positionals) > 1 else None


def log(**extra):
    entry = {"argv": argv, "service": service, "operation": operation, "args": positionals[2:], "flags": flags,
             "profile": glob.get("profile"), "region": glob.get("region"), "globals": glob, "pid": os.getpid(), "t": int(time.time() * 1000)}
    entry.update(extra)
    fd = os.open(os.path.join(d, "calls.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps(entry) + "\n").encode())
    os.close(fd)


if argv == ["--version"]:
    log(rule=-1)
    print(rec["version"])
    sys.exit(0)


def matches(rule):
    if rule["service"] != service or rule["operation"] != operation:
        return False
    if rule.get("profile") is not None and rule["profile"] != glob.get("profile"):
        return False
    if rule.get("region") is not None and rule["region"] != glob.get("region"):
        return False
    for k, v in (rule.get("args") or {}).items():
        if v is True and k not in flags or v is False and k in flags or isinstance(v, str) and flags.get(k) != v:
            return False
    return True


index = next((n for n, r in enumerate(rec["rules"]) if matches(r)), -1)
if index < 0:
    log(rule=-1)
    sys.stderr.write("\nfake aws: no recorded response for: aws %s\n" % " ".join(argv))
    sys.exit(255)
rule = rec["rules"][index]
# The n-th call of this rule (0-based), counted across processes: O_APPEND writes of one byte are atomic.
counter = os.path.join(d, "count-%d" % index)
fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b".")
os.close(fd)
n = min(os.stat(counter).st_size - 1, len(rule["responses"]) - 1)
response = rule["responses"][n]
log(rule=index, response=n)


def query(value, q):
    """`--query` in the subset the guide's and connectInfo's commands use: Field.Field[0].Field."""
    for part in re.findall(r"[^.[\]]+|\[\d+\]", q):
        if value is None:
            return None
        value = value[int(part[1:-1])] if part.startswith("[") and isinstance(value, list) and int(part[1:-1]) < len(value) else (
            value.get(part) if isinstance(value, dict) and not part.startswith("[") else None)
    return value


def text(v):
    if v is None:
        return "None"
    if isinstance(v, list):
        return "\t".join(text(x) for x in v)
    if isinstance(v, dict):
        return "\t".join(text(x) for x in v.values())
    if isinstance(v, bool):
        return "True" if v else "False"
    return str(v)


def emit(output):
    out = output
    if glob.get("query"):
        if re.match(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*|\[\d+\])*$", glob["query"]):
            out = query(out, glob["query"])
        else:
            # Anything else through jmespath, the library the AWS CLI evaluates --query with
            # (its --query argument is a compiled jmespath expression), as Debian's python3-jmespath installs it beside python3-botocore.
            sys.path.append(os.environ.get("ARCHAEO_DIST_PACKAGES", "/usr/lib/python3/dist-packages"))
            import jmespath
            out = jmespath.search(glob["query"], out)
    if glob.get("output") == "text":
        # The CLI's text output: a scalar as is (null as None), a list tab-separated.
        sys.stdout.write(text(out) + "\n")
    else:
        sys.stdout.write(json.dumps(out, indent=4) + "\n")


def session_parameters(p):
    """--parameters as JSON ({"portNumber":["8888"]}) or shorthand (portNumber=2222,localPortNumber=8888)."""
    if not isinstance(p, str):
        return {}
    parsed = json.loads(p) if p.strip().startswith("{") else dict(kv.split("=", 1) for kv in p.split(","))
    return {k: str(v[0] if isinstance(v, list) else v) for k, v in parsed.items()}


def half_close(sock):
    import socket

    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def pump(src, dst, close):
    try:
        while True:
            data = src() if callable(src) else src.recv(65536)
            if not data:
                break
            dst(data) if callable(dst) else dst.sendall(data)
    except OSError:
        pass
    close()


def session():
    import signal
    import socket
    import threading

    params = session_parameters(flags.get("--parameters"))
    doc = flags.get("--document-name")
    target = rec["ports"].get(params.get("portNumber", ""))
    sid = "%s-0f1e2d3c4b5a69788" % (glob.get("profile") or "user")
    if not target:
        sys.stderr.write("fake aws: the fake instance serves nothing on port %s (ports: %s)\n" % (params.get("portNumber"), json.dumps(rec["ports"])))
        sys.exit(255)
    out = sys.stdout.buffer
    # session-manager-plugin src/sessionmanagerplugin/session/session.go Execute: printed first, to stdout, in every session type.
    out.write(("\nStarting session with SessionId: %s\n" % sid).encode())
    out.flush()
    if doc == "AWS-StartSSHSession":
        # StandardStreamForwarding: stdin/stdout are the data channel to the instance's port.
        try:
            s = socket.create_connection(("127.0.0.1", target))
        except OSError as e:
            sys.stderr.write("fake aws: %s\n" % e)
            sys.exit(255)
        t = threading.Thread(target=pump, args=(lambda: os.read(0, 65536), s.sendall, lambda: half_close(s)), daemon=True)
        t.start()
        pump(s, lambda b: (out.write(b), out.flush()), lambda: None)
        sys.exit(0)
    if doc == "AWS-StartPortForwardingSession":
        # MuxPortForwarding (agents since 3.0.222.0): listens on localhost:<localPortNumber> (0: any free port), each
        # connection a new stream to the instance's port; muxportforwarding.go handleClientConnections.
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", int(params.get("localPortNumber") or 0)))
        except OSError as e:
            sys.stderr.write("\nfake aws: cannot listen on localhost:%s: %s\n" % (params.get("localPortNumber"), e))
            sys.exit(1)
        server.listen(16)

        def end(*_):
            out.write(("\n\nExiting session with sessionId: %s.\n\n" % sid).encode())
            out.flush()
            os._exit(0)

        signal.signal(signal.SIGINT, end)
        signal.signal(signal.SIGTERM, end)
        out.write(("Port %d opened for sessionId %s.\nWaiting for connections...\n" % (server.getsockname()[1], sid)).encode())
        out.flush()
        while True:
            c, _ = server.accept()
            try:
                u = socket.create_connection(("127.0.0.1", target))
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=pump, args=(a, b, lambda b=b: half_close(b)), daemon=True).start()
    sys.stderr.write("fake aws: the fake plugin does not play document %s\n" % doc)
    sys.exit(255)


if response.get("session"):
    session()
elif response.get("error"):
    # AWS CLI v2 (2.34+, awscli/errorformat.py write_error) prints a service error as
    # "\naws: [ERROR]: <botocore ClientError text>\n" on stderr and exits 254 (awscli/constants.py CLIENT_ERROR_RC).
    e = response["error"]
    op = e.get("operation") or "".join(w[:1].upper() + w[1:] for w in operation.split("-"))
    sys.stderr.write("\naws: [ERROR]: An error occurred (%s) when calling the %s operation: %s\n" % (e["code"], op, e["message"]))
    sys.exit(254)
elif response.get("fail"):
    sys.stderr.write(response["fail"]["stderr"])
    sys.exit(response["fail"]["rc"])
else:
    if "stdout" in response:
        sys.stdout.write(response["stdout"])
    elif "output" in response:
        emit(response["output"])
    sys.exit(0)
