"""A pre-warmed Python for the tests: torch and torchvision imported once, each run a fork of it.

Importing torch 1.13 + torchvision costs about 2.5 s of CPU; the Python tests start some thirty torch
processes, which on a 2-core CI machine is over a minute of imports. This server imports them once and
forks a child per run, which then runs exactly what `python -m MODULE ARGS` or `python -c CODE ARGS`
would (runpy with alter_sys, as the interpreter's -m does), in the run's own environment, working
directory and stdin/stdout/stderr (passed over the socket with SCM_RIGHTS, so output streams straight
to the test).

    python3 pyzygote.py serve SOCKET     prints "ready" once torch is imported, then serves
    python3 pyzygote.py run SOCKET (-m MODULE | -c CODE) [ARGS...]

The `run` client is a plain Python without torch (about 20 ms): it stands in for the run's process.
Its exit status is the run's (an exit code, or death by the same signal); SIGTERM, SIGINT, SIGHUP and
SIGUSR1/2 sent to it are forwarded to the run; and when the client dies (SIGKILL, a test's timeout)
the server SIGKILLs the run at once, as if the client had been the run. Only runs whose interpreter
settings equal the server's go through it (test/helpers/python.ts checks the PYTHON*/OMP variables):
everything else, and anything the server cannot start, runs as a fresh interpreter.
"""
import array
import json
import os
import selectors
import signal
import socket
import struct
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def recv_request(conn):
    """One request: a 4-byte length, JSON, and the client's three standard fds."""
    fds = array.array("i")
    head, ancdata, _flags, _addr = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    (size,) = struct.unpack("!I", head)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise EOFError("client went away mid-request")
        body += chunk
    return json.loads(body), list(fds)


def child(request, fds):
    """In the forked child: become the requested run. Never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        # Nothing of the server's (the listener, other runs' sockets) stays open in the run.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for sig in FORWARDED + (signal.SIGCHLD,):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import runpy

        args = request["args"]
        try:
            if args[0] == "-m":
                sys.argv = ["-m"] + args[2:]
                runpy.run_module(args[1], run_name="__main__", alter_sys=True)
            else:
                sys.argv = ["-c"] + args[2:]
                sys.path.insert(0, "")
                exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


def serve(path):
    import PIL.Image  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch.utils.data  # noqa: F401
    import torchvision  # noqa: F401
    import torchvision.models  # noqa: F401
    import torchvision.transforms  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, ("accept", None))
    # The test process holds the other end of stdin: when it exits, however it exits, so does the server.
    sel.register(sys.stdin, selectors.EVENT_READ, ("parent", None))
    running = set()
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            what, state = key.data
            if what == "parent":
                if not os.read(sys.stdin.fileno(), 64):
                    for pid in running:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    if os.environ.get("ARCHAEO_ZYGOTE_RUSAGE"):  # for measuring: the CPU the server and its runs used
                        import resource

                        used = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
                        with open(os.environ["ARCHAEO_ZYGOTE_RUSAGE"], "a") as f:
                            f.write(f"{sum(u.ru_utime for u in used):.2f}+{sum(u.ru_stime for u in used):.2f}\n")
                    os._exit(0)
            elif what == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = recv_request(conn)
                except (OSError, EOFError, ValueError):
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    listener.close()
                    conn.close()
                    child(request, fds)
                for fd in fds:
                    os.close(fd)
                running.add(pid)
                pidfd = os.pidfd_open(pid)
                run = {"pid": pid, "conn": conn, "pidfd": pidfd}
                conn.sendall(f"pid {pid}\n".encode())
                sel.register(conn, selectors.EVENT_READ, ("client", run))
                sel.register(pidfd, selectors.EVENT_READ, ("exit", run))
            elif what == "client":
                # The client only ever sends EOF: it died, so the run dies with it.
                if not state["conn"].recv(64):
                    sel.unregister(state["conn"])
                    try:
                        os.kill(state["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            elif what == "exit":
                _, status = os.waitpid(state["pid"], 0)
                running.discard(state["pid"])
                sel.unregister(state["pidfd"])
                os.close(state["pidfd"])
                if os.WIFSIGNALED(status):
                    reply = f"signal {os.WTERMSIG(status)}\n"
                else:
                    reply = f"exit {os.WEXITSTATUS(status)}\n"
                try:
                    state["conn"].sendall(reply.encode())
                except OSError:
                    pass
                try:
                    sel.unregister(state["conn"])
                except (KeyError, ValueError):
                    pass
                state["conn"].close()


def run(path, args):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    body = json.dumps({"args": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    conn.sendmsg([struct.pack("!I", len(body))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    conn.sendall(body)
    reader = conn.makefile("r")
    pid = int(reader.readline().split()[1])

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    line = reader.readline().split()
    if not line:
        os._exit(1)
    if line[0] == "signal":
        sig = int(line[1])
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(int(line[1]))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3:])
