"""A stand-in for the workstation's shared PID namespace (test/idle.test.ts).

In the instance the Jupyter and SSH containers share one PID namespace whose init is tini, and the
SSH container's tini runs with TINI_SUBREAPER=1 (infra/instance/userdata.ts), so what an SSH session
leaves behind (`nohup`, `setsid`, a tmux server) is reparented to an init, not to the host's. This
process plays that init: it marks itself a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER, what
`tini -s` does), starts each command of the JSON spec in argv[1] as its child ("{POD}" in an
environment value becomes its own pid, the activity extension's ARCHAEO_ACTIVITY_ROOT_PID), prints
their pids as one JSON line, reaps whatever comes back to it, and on SIGTERM ends everything below it.

Spec: [{"argv": [...], "env": {...}, "log": "/path"}, ...]
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def tree(root):
    """Pids below root, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rfind(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        out += kids
        todo += kids
    return out


def end(*_):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tree(os.getpid()):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        time.sleep(0.3)
    os._exit(0)


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"pod: prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")
    signal.signal(signal.SIGTERM, end)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # the test runner died: end everything too
    me = str(os.getpid())
    pids = []
    for child in json.loads(sys.argv[1]):
        env = {k: v.replace("{POD}", me) for k, v in child["env"].items()}
        log = open(child["log"], "w")
        pids.append(subprocess.Popen(child["argv"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT).pid)
    print(json.dumps(pids), flush=True)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
