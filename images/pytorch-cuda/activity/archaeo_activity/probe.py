"""What counts as the researcher's work inside the container, read from /proc, /proc/net and nvidia-smi.

Pure standard library and no Jupyter import, so the host-independent part can be tested on its own.
A probe sample returns human-readable reasons; an empty list means "nothing is happening":
- a process (other than the Jupyter server itself and TensorBoard, which only answer polling) that
  used at least `cpu_busy_percent` of one core since the previous sample (or over its lifetime,
  the first time it is seen) - e.g. `nohup python train.py &` started over SSH, a busy kernel;
- a Jupyter terminal whose shell has a child process (a command still running in it);
- an established TCP connection to the SSH port in this network namespace (an open SSH session);
- a GPU at or above `gpu_idle_percent` utilisation (`nvidia-smi`; absent on CPU-only hosts).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    ticks: int  # utime + stime, in clock ticks
    start_ticks: int  # start time after boot, in clock ticks
    cmdline: str


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
        # proc(5): fields after comm start at 3 (state): ppid=4, utime=14, stime=15, starttime=22.
        out[int(entry)] = Proc(
            pid=int(entry),
            ppid=int(fields[1]),
            comm=comm,
            ticks=int(fields[11]) + int(fields[12]),
            start_ticks=int(fields[19]),
            cmdline=cmdline,
        )
    return out


def descendants(procs: Mapping[int, Proc], root: int) -> Set[int]:
    """Pids below `root` (not including it)."""
    children: Dict[int, List[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    seen: Set[int] = set()
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def ssh_sessions(proc: str = "/proc", port: int = 2222) -> int:
    """Established TCP connections whose local port is `port` (proc(5) /proc/net/tcp: st 01)."""
    want = f"{port:04X}"
    n = 0
    for name in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/net/{name}", encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[1].rsplit(":", 1)[-1] == want and parts[3] == "01":
                n += 1
    return n


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


class ActivityProbe:
    """Samples the container for work; keeps per-process CPU counters between samples."""

    def __init__(
        self,
        *,
        proc: str = "/proc",
        ssh_port: int = 2222,
        cpu_busy_percent: float = 10.0,
        gpu_idle_percent: float = 5.0,
        root_pid: int = 1,
        ignore_pids: Iterable[int] = (),
        ignore_patterns: Iterable[str] = ("tensorboard",),
        nvidia_smi: str = "nvidia-smi",
    ) -> None:
        self.proc = proc
        self.ssh_port = ssh_port
        self.cpu_busy_percent = cpu_busy_percent
        self.gpu_idle_percent = gpu_idle_percent
        self.root_pid = root_pid
        self.ignore_pids = set(ignore_pids)
        self.ignore_patterns = tuple(ignore_patterns)
        self.nvidia_smi = nvidia_smi
        self._prev: Dict[int, Tuple[int, float]] = {}

    def _uptime(self) -> float:
        with open(f"{self.proc}/uptime", encoding="ascii") as f:
            return float(f.read().split()[0])

    def _scope(self, procs: Mapping[int, Proc]) -> Set[int]:
        # In the container every process descends from PID 1 (tini); tests narrow this to their own tree.
        if self.root_pid <= 1:
            return set(procs)
        return descendants(procs, self.root_pid)

    def cpu_busy(self, procs: Mapping[int, Proc], now: Optional[float] = None) -> List[str]:
        now = time.monotonic() if now is None else now
        uptime = self._uptime()
        reasons: List[str] = []
        current: Dict[int, Tuple[int, float]] = {}
        for pid in sorted(self._scope(procs)):
            p = procs[pid]
            if pid in self.ignore_pids or any(pat in p.cmdline for pat in self.ignore_patterns):
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

    def sample(self, terminal_pids: Optional[Mapping[str, int]] = None) -> List[str]:
        procs = read_procs(self.proc)
        reasons = self.cpu_busy(procs)
        reasons += self.terminals_running(procs, terminal_pids or {})
        n = ssh_sessions(self.proc, self.ssh_port)
        if n:
            reasons.append(f"{n} ssh session(s)")
        for index, util in gpu_utilisation(self.nvidia_smi):
            if util >= self.gpu_idle_percent:
                reasons.append(f"gpu {index} at {util}%")
        return reasons
