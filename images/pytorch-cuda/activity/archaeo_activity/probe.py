"""What counts as the researcher's work inside the container, read from /proc and nvidia-smi.

Pure standard library and no Jupyter import, so it can be run and tested on its own. A sample
(`ActivityProbe.observe`) returns human-readable reasons - an empty list means "nothing is happening" -
and, separately, the time of the researcher's last keystroke on a terminal outside Jupyter.

Work (each a reason):
- CPU: a process (other than the Jupyter server itself and TensorBoard, which only answer polling)
  that used at least `cpu_busy_percent` of one core since the previous sample (or over its lifetime,
  the first time it is seen) - a busy kernel, `nohup python train.py &`, a shell loop;
- a Jupyter terminal whose shell has a child process (a command still running in it), as before;
- a GPU at or above `gpu_idle_percent` utilisation (`nvidia-smi`; absent on CPU-only hosts);
- a running process outside Jupyter: any process that is not a shell or a program that only waits
  for the researcher (sshd, ssh-agent, gpg-agent, a tmux or screen server or client, script, VS Code's
  remote server and its language servers), found
  in an SSH session (`ssh host 'python train.py'`, `cmd &`), or left behind by one (`nohup`,
  `setsid`, a daemon, a tmux pane: processes reparented to the container's init). Not counted this
  way: the foreground job of an SSH terminal (an editor, `less`, a REPL, `watch nvidia-smi` waiting
  on the researcher) - it counts while it uses CPU or a GPU, or while the researcher types; a
  container's own main process (started with its init: sshd, the cluster sidecar's `sleep infinity`);
  processes started by `docker exec` (the healthcheck).

Not work: an SSH connection by itself. Before, any established TCP connection to the SSH port kept
the workstation up, so a forgotten terminal window or an idle `ssh -L` tunnel held a GPU for ever.

Input: the latest access time (atime) of the pseudo-terminals of processes outside Jupyter (SSH
sessions, tmux and screen panes), which is what `w` and `who -u` show as IDLE (procps w.c
`idletime`: time(NULL) - stat(tty).st_atime; coreutils who.c likewise). The kernel sets a tty's
atime when a read returns data (drivers/tty/tty_io.c `tty_read`; since Linux 3.x only when it moved
by 8 s or more, `tty_update_time`), i.e. when the researcher types; output sets mtime instead, so
training logs and our own warnings are not input. Measured on Linux 6.18 with Debian's sshd: a
keystroke moves the pty's atime, a write to it moves only mtime. The tty is stat'ed through
/proc/<pid>/fd (the sshd container's /dev/pts is another devpts instance than Jupyter's).

Not used, with the reason: nvidia-smi's compute apps - the driver reports host PIDs, not the
container's (NVIDIA/nvidia-docker#1483, #179), and a process holding a CUDA context with an idle GPU
(an idle kernel with a model loaded) is not work; utilisation is. utmp (`who`, `w`, `wall`): the
image's sshd runs unprivileged and writes no login records (OpenSSH loginrec.c `login_write`:
"Attempt to write login records by non-root user (aborting)").
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SHELLS = frozenset({"bash", "sh", "dash", "zsh", "fish", "ksh", "mksh", "tcsh", "csh"})
# sshd-session (OpenSSH 9.8+) and sshd-auth (10.0+) are the per-connection binaries of newer releases.
SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})
# Programs that wait for the researcher rather than work for them: what an idle session is made of.
# comm as the kernel reports it (tmux names its processes "tmux: server" / "tmux: client").
WAITING = SHELLS | SSHD | frozenset({"ssh-agent", "gpg-agent", "tmux: server", "tmux: client", "tmux", "screen", "SCREEN", "script", "login"})
# The same by command line: VS Code Remote-SSH's server (~/.vscode-server/..., node and the language servers
# its extensions start) is an editor waiting like a tmux server, and lives on for hours after its window
# closes ("The server is kept alive for 3 hours in case you want to reconnect", microsoft/vscode-remote-release#245;
# #8780, #10448). Commands run from its terminals are work like any other; its own CPU still counts.
WAITING_PATHS = ("/.vscode-server",)
# Unix98 pty slaves (/dev/pts/N): majors 136-143 (Linux Documentation/admin-guide/devices.txt).
PTY_MAJORS = range(136, 144)
# A reaper's child started this soon after it is the container's main process, not a left-behind job.
MAIN_PROCESS_SECONDS = 5.0


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    ticks: int  # utime + stime, in clock ticks
    start_ticks: int  # start time after boot, in clock ticks
    cmdline: str
    state: str = "S"
    pgrp: int = 0
    sid: int = 0
    tty_nr: int = 0
    tpgid: int = -1


def read_procs(proc: str = "/proc") -> Dict[int, Proc]:
    """Every process visible in `proc` (this container's PID namespace), by pid."""
    out: Dict[int, Proc] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
            with open(f"{proc}/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue  # exited while we looked
        # comm may contain spaces and parentheses: it ends at the last ')'.
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        # proc(5): fields after comm start at 3 (state): ppid=4, pgrp=5, session=6, tty_nr=7, tpgid=8,
        # utime=14, stime=15, starttime=22.
        out[int(entry)] = Proc(
            pid=int(entry),
            ppid=int(fields[1]),
            comm=comm,
            ticks=int(fields[11]) + int(fields[12]),
            start_ticks=int(fields[19]),
            cmdline=cmdline,
            state=fields[0],
            pgrp=int(fields[2]),
            sid=int(fields[3]),
            tty_nr=int(fields[4]),
            tpgid=int(fields[5]),
        )
    return out


def children_of(procs: Mapping[int, Proc]) -> Dict[int, List[int]]:
    children: Dict[int, List[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    return children


def descendants(procs: Mapping[int, Proc], root: int, children: Optional[Mapping[int, List[int]]] = None) -> Set[int]:
    """Pids below `root` (not including it)."""
    children = children if children is not None else children_of(procs)
    seen: Set[int] = set()
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def is_pty(tty_nr: int) -> bool:
    return tty_nr > 0 and os.major(tty_nr) in PTY_MAJORS


def tty_name(tty_nr: int) -> str:
    return f"pts/{os.minor(tty_nr)}" if is_pty(tty_nr) else f"tty {os.major(tty_nr)}:{os.minor(tty_nr)}"


def tty_fd(proc: str, p: Proc) -> Optional[Tuple[str, os.stat_result]]:
    """(/proc/<pid>/fd/<n>, its stat) of one of the process's standard streams that is its controlling terminal.
    The stat's (st_dev, st_ino) names the terminal: st_rdev (tty_nr) alone does not, since each container
    has its own devpts instance and /dev/pts/0 of the SSH container is another terminal than Jupyter's."""
    for fd in (0, 1, 2):
        path = f"{proc}/{p.pid}/fd/{fd}"
        try:
            st = os.stat(path)
        except OSError:
            continue  # another user's process, or it exited
        if st.st_rdev == p.tty_nr:
            return path, st
    return None


def gpu_utilisation(nvidia_smi: str = "nvidia-smi") -> List[Tuple[str, int]]:
    """(index, utilisation %) per GPU; empty without nvidia-smi or GPUs."""
    exe = shutil.which(nvidia_smi)
    if not exe:
        return []
    try:
        r = subprocess.run(
            [exe, "--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=15, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in r.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[1].isdigit():
            out.append((parts[0], int(parts[1])))
    return out


@dataclass
class Sample:
    """One look at the container: reasons it is busy now, and the last keystroke outside Jupyter."""

    reasons: List[str]
    last_input: Optional[float] = None  # epoch seconds
    sessions: List[Dict[str, object]] = field(default_factory=list)


class ActivityProbe:
    """Samples the container for work; keeps per-process CPU counters between samples."""

    def __init__(
        self,
        *,
        proc: str = "/proc",
        cpu_busy_percent: float = 10.0,
        gpu_idle_percent: float = 5.0,
        root_pid: int = 1,
        server_pid: Optional[int] = None,
        ignore_pids: Iterable[int] = (),
        ignore_patterns: Iterable[str] = ("tensorboard",),
        nvidia_smi: str = "nvidia-smi",
        ssh_port: Optional[int] = None,  # accepted for old callers; an SSH connection is no longer work
    ) -> None:
        self.proc = proc
        self.cpu_busy_percent = cpu_busy_percent
        self.gpu_idle_percent = gpu_idle_percent
        self.root_pid = root_pid
        self.server_pid = server_pid
        self.ignore_pids = set(ignore_pids)
        self.ignore_patterns = tuple(ignore_patterns)
        self.nvidia_smi = nvidia_smi
        self._prev: Dict[int, Tuple[int, float]] = {}

    def _uptime(self) -> float:
        with open(f"{self.proc}/uptime", encoding="ascii") as f:
            return float(f.read().split()[0])

    def _scope(self, procs: Mapping[int, Proc]) -> Set[int]:
        # In the container every process descends from PID 1 (tini, or the pod's pause); tests narrow
        # this to their own tree, whose root then plays PID 1 (a subreaper: orphans come back to it).
        if self.root_pid <= 1:
            return set(procs)
        return descendants(procs, self.root_pid)

    def _ignored(self, p: Proc) -> bool:
        return p.pid in self.ignore_pids or any(pat in p.cmdline for pat in self.ignore_patterns)

    def cpu_busy(self, procs: Mapping[int, Proc], now: Optional[float] = None) -> List[str]:
        now = time.monotonic() if now is None else now
        uptime = self._uptime()
        reasons: List[str] = []
        current: Dict[int, Tuple[int, float]] = {}
        for pid in sorted(self._scope(procs)):
            p = procs[pid]
            if self._ignored(p):
                continue
            current[pid] = (p.ticks, now)
            prev = self._prev.get(pid)
            if prev and prev[0] <= p.ticks and now > prev[1]:
                rate = (p.ticks - prev[0]) / CLOCK_TICKS / (now - prev[1])
            else:
                lifetime = max(uptime - p.start_ticks / CLOCK_TICKS, 1.0)
                rate = p.ticks / CLOCK_TICKS / lifetime
            if rate * 100 >= self.cpu_busy_percent:
                reasons.append(f"process {pid} ({p.comm}) at {rate * 100:.0f}% CPU")
        self._prev = current
        return reasons

    def terminals_running(self, procs: Mapping[int, Proc], terminal_pids: Mapping[str, int]) -> List[str]:
        reasons = []
        for name, pid in sorted(terminal_pids.items()):
            kids = sorted(descendants(procs, pid))
            if kids:
                reasons.append(f"terminal {name} runs {procs[kids[0]].comm}")
        return reasons

    def _jupyter(self, procs: Mapping[int, Proc], children: Mapping[int, List[int]]) -> Set[int]:
        """The Jupyter server and everything under it (kernels, terminals): judged by Jupyter's rules."""
        if self.server_pid is None or self.server_pid not in procs:
            return set()
        return {self.server_pid} | descendants(procs, self.server_pid, children)

    def sessions(self, procs: Mapping[int, Proc], now: Optional[float] = None) -> Tuple[List[str], List[Dict[str, object]], Optional[float]]:
        """(reasons, SSH sessions for the model, last keystroke) for everything outside Jupyter."""
        now = time.time() if now is None else now
        uptime = self._uptime()
        scope = self._scope(procs)
        children = children_of(procs)
        jupyter = self._jupyter(procs, children)
        # Reapers: PID 1 (or the test's root) and processes whose parent is outside the namespace (the
        # sidecar's tini, the pod's pause, `docker exec` and healthcheck processes).
        reapers = {1, self.root_pid} | {pid for pid in scope if procs[pid].ppid == 0}

        def main_process(p: Proc) -> bool:
            parent = procs.get(p.ppid)
            return p.ppid in reapers and parent is not None and (p.start_ticks - parent.start_ticks) / CLOCK_TICKS <= MAIN_PROCESS_SECONDS

        # SSH connections: sshd processes whose parent is the listener (an sshd whose parent is not one).
        def sshd(pid: int) -> bool:
            return pid in procs and procs[pid].comm in SSHD

        connections = sorted(pid for pid in scope if sshd(pid) and sshd(procs[pid].ppid) and not sshd(procs[procs[pid].ppid].ppid))
        in_session: Dict[int, int] = {}
        for conn in connections:
            for pid in descendants(procs, conn, children):
                if not sshd(pid):
                    in_session.setdefault(pid, conn)

        # Input: atime of each pty held outside Jupyter, read through a process that has it open.
        atimes: Dict[Tuple[int, int], float] = {}
        tty_of: Dict[int, Tuple[int, int]] = {}
        for pid in sorted(scope - jupyter):
            p = procs[pid]
            found = tty_fd(self.proc, p) if is_pty(p.tty_nr) else None
            if found:
                key = (found[1].st_dev, found[1].st_ino)
                tty_of[pid] = key
                atimes[key] = min(found[1].st_atime, now)

        reasons: List[str] = []
        per_conn: Dict[int, List[str]] = {c: [] for c in connections}
        for pid in sorted(scope - jupyter):
            p = procs[pid]
            waiting = p.comm in WAITING or any(w in p.cmdline for w in WAITING_PATHS)
            if pid in reapers or p.state in ("Z", "X") or self._ignored(p) or waiting or main_process(p):
                continue
            conn = in_session.get(pid)
            if conn is not None and is_pty(p.tty_nr) and p.pgrp == p.tpgid:
                continue  # the foreground job of an SSH terminal waits for the researcher (input, CPU, GPU judge it)
            if conn is not None:
                tty = next((procs[q].tty_nr for q in sorted(descendants(procs, conn, children)) if is_pty(procs[q].tty_nr)), 0)
                where = f"in ssh session {tty_name(tty) if tty else '(no terminal)'}"
                per_conn[conn].append(f"{pid} ({p.comm})")
            else:
                where = "detached from any session"
            age = uptime - p.start_ticks / CLOCK_TICKS
            reasons.append(f"process {pid} ({p.comm}) running {where} for {int(age)} s")

        sessions: List[Dict[str, object]] = []
        for conn in connections:
            mine = sorted(q for q, c in in_session.items() if c == conn)
            ttys = sorted({procs[q].tty_nr for q in mine if is_pty(procs[q].tty_nr)})
            seen = [atimes[tty_of[q]] for q in mine if q in tty_of]
            sessions.append({
                "tty": tty_name(ttys[0]) if ttys else None,
                "idle_seconds": int(now - max(seen)) if seen else None,
                "running": per_conn[conn],
            })
        return reasons, sessions, (max(atimes.values()) if atimes else None)

    def observe(self, terminal_pids: Optional[Mapping[str, int]] = None) -> Sample:
        procs = read_procs(self.proc)
        reasons = self.cpu_busy(procs)
        reasons += self.terminals_running(procs, terminal_pids or {})
        work, sessions, last_input = self.sessions(procs)
        reasons += work
        for index, util in gpu_utilisation(self.nvidia_smi):
            if util >= self.gpu_idle_percent:
                reasons.append(f"gpu {index} at {util}%")
        return Sample(reasons=reasons, last_input=last_input, sessions=sessions)

    def sample(self, terminal_pids: Optional[Mapping[str, int]] = None) -> List[str]:
        return self.observe(terminal_pids).reasons

    def ttys(self) -> List[Tuple[str, str]]:
        """(name, /proc/<pid>/fd/<n>) of every terminal a session leader in scope holds: SSH sessions,
        Jupyter terminals, tmux and screen panes - where a `wall`-like message reaches the researcher."""
        procs = read_procs(self.proc)
        out: Dict[Tuple[int, int], Tuple[str, str]] = {}
        for pid in sorted(self._scope(procs)):
            p = procs[pid]
            found = tty_fd(self.proc, p) if p.sid == p.pid and is_pty(p.tty_nr) else None
            if found:
                out.setdefault((found[1].st_dev, found[1].st_ino), (tty_name(p.tty_nr), found[0]))
        return [out[k] for k in sorted(out)]
