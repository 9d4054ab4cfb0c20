"""The maximum session (config maxSessionHours): when the workbench stops regardless of activity, the
warning an hour before, and `archaeo-extend` to move the stop.

Instance mode (ARCHAEO_SESSION_LIMIT_BY=host): a session is the workstation's run since it booted. The
host's archaeo-autostop stops it at boot + ARCHAEO_MAX_SESSION_HOURS + the extensions recorded for
this boot, and reports each extension to the researcher's SSM status (<ssmPath>/status/session). The
extensions are JSON lines in <ARCHAEO_SESSION_DIR>/session-extensions.jsonl (/workspace/.archaeo, on
the workspace volume the host mounts at the same path), each with the kernel's boot_id, so both sides
compute the same stop time from the same records.

Cluster mode (ARCHAEO_SESSION_LIMIT_BY=hub): JupyterHub's idle culler stops the server maxSessionHours
after it started, active or not (jupyterhub-idle-culler `--max-age`, z2jh `cull.maxAge`; it counts from
the hub's `started`, which no server-side record can move), so `archaeo-extend` explains that instead
of recording. The stop time is estimated from the start of the pod's first process (its pause container).

Warnings reach the researcher where they are: written to every terminal a session leader holds - SSH
sessions, Jupyter terminals (shown in the browser's terminal tab), tmux and screen panes - as `wall`
does, found through /proc instead of utmp (the unprivileged sshd writes no utmp; see probe.py). A
notebook-only researcher sees no terminal; JupyterLab has no server-to-browser notification channel
without a frontend extension, so /api/archaeo/activity carries the stop time for one.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import stat
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from .probe import CLOCK_TICKS, ActivityProbe, read_procs

EXTENSIONS_FILE = "session-extensions.jsonl"
WARN_SECONDS = 3600
MIN_EXTEND_SECONDS = 15 * 60
MAX_EXTEND_SECONDS = 24 * 3600
MAX_RECORDS_BYTES = 1 << 20


def session_dir() -> str:
    return os.environ.get("ARCHAEO_SESSION_DIR", "/workspace/.archaeo")


def max_session_hours() -> float:
    try:
        return max(float(os.environ.get("ARCHAEO_MAX_SESSION_HOURS", "0") or 0), 0.0)
    except ValueError:
        return 0.0


def limit_by() -> str:
    return os.environ.get("ARCHAEO_SESSION_LIMIT_BY", "host")


def boot_id(proc: str = "/proc") -> str:
    with open(f"{proc}/sys/kernel/random/boot_id", encoding="ascii") as f:
        return f.read().strip()


def boot_time(proc: str = "/proc") -> float:
    """btime (proc(5): boot time, seconds since the epoch): a whole number, the same for the host's auto-stop."""
    with open(f"{proc}/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError(f"no btime in {proc}/stat")


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> int:
    """'2h', '90m', '1h30m', '1.5h' -> seconds; raises ValueError naming the accepted forms."""
    m = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+)m(?:in)?)?\s*", text.lower())
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"'{text}' is not a duration; write it like 2h, 90m or 1h30m")
    seconds = int(float(m.group(1) or 0) * 3600) + int(m.group(2) or 0) * 60
    if not MIN_EXTEND_SECONDS <= seconds <= MAX_EXTEND_SECONDS:
        raise ValueError(f"'{text}' is outside 15m-24h; extend again later for more")
    return seconds


def read_extensions(directory: str, current_boot: str) -> List[Dict[str, Any]]:
    """This boot's extension records, each with `seconds` clamped to 0-24 h. The file is the researcher's:
    it is opened without following a link, read only if it is a regular file, and at most 1 MiB of it."""
    path = os.path.join(directory, EXTENSIONS_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return []
        data = f.read(MAX_RECORDS_BYTES)
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            r = json.loads(line)
            seconds = float(r["seconds"])
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(r, dict) and r.get("boot_id") == current_boot and seconds > 0:
            out.append({**r, "seconds": min(seconds, MAX_EXTEND_SECONDS)})
    return out


def deadline(probe: Optional[ActivityProbe] = None, proc: str = "/proc") -> Optional[Tuple[float, float]]:
    """(stop time, extended seconds), or None without a maximum session."""
    hours = max_session_hours()
    if hours <= 0:
        return None
    if limit_by() == "hub":
        procs = read_procs(proc)
        root = procs.get(probe.root_pid if probe else 1) or procs.get(1)
        start = boot_time(proc) + root.start_ticks / CLOCK_TICKS if root else time.time()
        return start + hours * 3600, 0.0
    extended = sum(r["seconds"] for r in read_extensions(session_dir(), boot_id(proc)))
    return boot_time(proc) + hours * 3600 + extended, extended


def warning_text(stop: float, now: float) -> str:
    minutes = max(int((stop - now) // 60), 0)
    what = "server" if limit_by() == "hub" else "workstation"
    how = ("save your work; start it again from the hub afterwards" if limit_by() == "hub"
           else "save your work, or extend the session: archaeo-extend 2h")
    return (f"archaeo: this {what} stops at {iso(stop)} (in {minutes} min): its maximum session of "
            f"{max_session_hours():g} h ends. {how[0].upper()}{how[1:]}.")


def warn(message: str, probe: ActivityProbe, skip: Iterable[str] = ()) -> List[str]:
    """Writes the message to every terminal not in `skip`; returns the terminals it reached."""
    reached = []
    text = ("\r\n\a*** " + message + " ***\r\n").encode("utf-8", "replace")
    for name, path in probe.ttys():
        key = f"{name}@{path}"
        if key in skip:
            continue
        try:
            # O_NONBLOCK: a terminal whose output is stopped (^S) must not hang the server; O_NOCTTY:
            # opening it must not make it ours.
            fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(fd, text)
            reached.append(key)
        except OSError:
            pass
        finally:
            os.close(fd)
    return reached


class SessionWarner:
    """Warns each terminal once per stop time, from WARN_SECONDS before the stop (the extension's tick)."""

    def __init__(self, probe: ActivityProbe, warn_seconds: float = WARN_SECONDS) -> None:
        self.probe = probe
        self.warn_seconds = warn_seconds
        self.stop: Optional[float] = None
        self.extended = 0.0
        self.warned: Set[str] = set()
        self._warned_for: Optional[float] = None

    def tick(self, now: Optional[float] = None) -> List[str]:
        now = time.time() if now is None else now
        d = deadline(self.probe, self.probe.proc)
        self.stop, self.extended = d if d else (None, 0.0)
        if self.stop is None or not 0 < self.stop - now <= self.warn_seconds:
            return []
        if self._warned_for is None or abs(self._warned_for - self.stop) > 1:
            self.warned, self._warned_for = set(), self.stop  # a new stop time (an extension): warn again
        reached = warn(warning_text(self.stop, now), self.probe, self.warned)
        self.warned.update(reached)
        return reached

    def model(self) -> Optional[Dict[str, Any]]:
        if self.stop is None:
            return None
        return {"stops_at": iso(self.stop), "max_hours": max_session_hours(), "extended_seconds": int(self.extended),
                "limit_by": limit_by(), "warned_terminals": len(self.warned)}


def _who() -> str:
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
    for fd in (0, 1, 2):
        try:
            return f"{user} on {os.ttyname(fd).replace('/dev/', '')}"
        except OSError:
            continue
    return f"{user} (no terminal)"


def extend_main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="archaeo-extend",
        description="Move this workstation's maximum-session stop later (instance mode). The extension is recorded with "
                    "your name and terminal, and reported to your SSM status (status/session) within 5 minutes.",
    )
    parser.add_argument("duration", help="how much later: 2h, 90m, 1h30m (15m-24h; run it again for more)")
    parser.add_argument("note", nargs="*", help="why (recorded with the extension), e.g. 'epoch 40 of 60'")
    args = parser.parse_args(argv)
    hours = max_session_hours()
    if hours <= 0:
        print("archaeo-extend: this workbench has no maximum session (maxSessionHours is 0): nothing to extend.")
        return 0
    if limit_by() == "hub":
        print(f"archaeo-extend: JupyterHub stops this server {hours:g} h after it started (maxSessionHours) and "
              "cannot be asked to wait from inside it. Save your work; start the server again from the hub "
              "afterwards, or ask your research-computing engineer for a longer maxSessionHours.", file=sys.stderr)
        return 1
    try:
        seconds = parse_duration(args.duration)
    except ValueError as e:
        print(f"archaeo-extend: {e}", file=sys.stderr)
        return 2
    directory = session_dir()
    # ARCHAEO_PROC: another proc(5) root, as the host's archaeo-autostop takes one (tests: a boot of a known age).
    proc = os.environ.get("ARCHAEO_PROC", "/proc")
    record = {"boot_id": boot_id(proc), "at": iso(time.time()), "seconds": seconds, "by": _who(), "note": " ".join(args.note)[:200]}
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, EXTENSIONS_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    except OSError as e:
        print(f"archaeo-extend: cannot record the extension in {directory}: {e}", file=sys.stderr)
        return 1
    d = deadline(proc=proc)
    stop = f" The workstation now stops at {iso(d[0])}." if d else ""
    print(f"archaeo-extend: extended by {seconds // 3600} h {seconds % 3600 // 60:02d} min, recorded.{stop}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """python -m archaeo_activity.session {warn MESSAGE | deadline | extend DURATION [NOTE]}."""
    argv = sys.argv[1:] if argv is None else argv
    probe = ActivityProbe(root_pid=int(float(os.environ.get("ARCHAEO_ACTIVITY_ROOT_PID", "1") or 1)))
    if argv[:1] == ["warn"] and len(argv) > 1:
        for name in warn(" ".join(argv[1:]), probe):
            print(name.split("@")[0])
        return 0
    if argv[:1] == ["deadline"]:
        d = deadline(probe)
        print(json.dumps({"stops_at": iso(d[0]), "extended_seconds": int(d[1])} if d else None))
        return 0
    if argv[:1] == ["extend"]:
        return extend_main(argv[1:])
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
