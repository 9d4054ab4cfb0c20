"""Jupyter server extension: the server's reported last activity follows the researcher's real work.

jupyter_server computes `ServerApp.web_app.last_activity()` as the latest of its start time, kernel
messages, API requests and every value in `settings["last_activity_times"]` (jupyter_server
serverapp.py `last_activity`, v1.23 and v2.17 alike). That is what `/api/status` reports, what
JupyterHub's singleuser extension sends to the hub every `JUPYTERHUB_ACTIVITY_INTERVAL` seconds
(jupyterhub 5.5.0 singleuser/extension.py `notify_activity`), and so what the hub's idle culler and
the instance's auto-stop read. Left alone it misses silent work: a cell sleeping or training for
150 s without output sends no message, a `nohup python train.py &` over SSH or a GPU job sends
nothing at all. Every `ARCHAEO_ACTIVITY_INTERVAL` seconds (60) this extension samples busy kernels,
terminals with a running command, CPU-busy processes, processes running in or left behind by SSH
sessions, and GPU utilisation (`archaeo_activity.probe`) and, when any is found, stamps
`last_activity_times["archaeo_activity"]` with the time of the sample. It stamps
`last_activity_times["archaeo_input"]` with the researcher's last keystroke on an SSH (or tmux)
terminal - the terminal's atime, as `w` reads it - so an SSH session counts while its researcher types
or while something runs in it, and an open but idle one does not. The stamps only ever move forward.

It also warns of the maximum session (`archaeo_activity.session`, ARCHAEO_MAX_SESSION_HOURS): an hour
before the stop, every terminal (SSH, Jupyter's, tmux panes) gets a message once per stop time.

Polling is never activity: `GET /api/archaeo/activity` (this extension's verdict, for the host's
auto-stop) sets `_track_activity = False`, and callers read other APIs with `?no_track_activity=1`
(jupyter_server base/handlers.py `APIHandler.update_api_activity`).

Settings (environment): ARCHAEO_ACTIVITY_INTERVAL (s, 60), ARCHAEO_CPU_BUSY_PERCENT (of one core, 10),
ARCHAEO_GPU_IDLE_PERCENT (5), ARCHAEO_ACTIVITY_ROOT_PID (1: whole container), ARCHAEO_MAX_SESSION_HOURS
(0: none), ARCHAEO_SESSION_LIMIT_BY (host | hub), ARCHAEO_SESSION_DIR (/workspace/.archaeo).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any, Dict, List, Optional

# Tornado and jupyter_server are imported where the server uses them, so that `archaeo-extend` and
# `python -m archaeo_activity.session` (this package's __init__ runs first) start in a tenth of the time.
from .probe import ActivityProbe
from .session import SessionWarner

KEY = "archaeo_activity"
INPUT_KEY = "archaeo_input"


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _utcnow() -> dt.datetime:
    # Timezone-aware, like jupyter_server's own timestamps (max() must compare like with like).
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: Optional[dt.datetime]) -> Optional[str]:
    return t.isoformat().replace("+00:00", "Z") if t else None


class ActivityTracker:
    """Samples the container on the server's event loop and stamps real work as activity."""

    def __init__(self, serverapp: Any, probe: Optional[ActivityProbe] = None, interval: Optional[float] = None) -> None:
        self.serverapp = serverapp
        self.settings: Dict[str, Any] = serverapp.web_app.settings
        self.interval = interval if interval is not None else max(_env_float("ARCHAEO_ACTIVITY_INTERVAL", 60), 0.2)
        self.probe = probe or ActivityProbe(
            cpu_busy_percent=_env_float("ARCHAEO_CPU_BUSY_PERCENT", 10),
            gpu_idle_percent=_env_float("ARCHAEO_GPU_IDLE_PERCENT", 5),
            root_pid=int(_env_float("ARCHAEO_ACTIVITY_ROOT_PID", 1)),
            server_pid=os.getpid(),
            ignore_pids=[os.getpid()],
        )
        self.warner = SessionWarner(self.probe)
        self.reasons: List[str] = []
        self.sessions: List[Dict[str, Any]] = []
        self.last_check: Optional[dt.datetime] = None
        self.last_active: Optional[dt.datetime] = None
        self.last_input: Optional[dt.datetime] = None
        self._busy = False
        self._callback: Any = None

    def start(self) -> None:
        from tornado import ioloop

        # Same pattern as jupyter_server's own periodic tasks: started during initialize(), they run
        # once the server's loop does.
        self._callback = ioloop.PeriodicCallback(self.tick, self.interval * 1000)
        self._callback.start()
        ioloop.IOLoop.current().add_callback(self.tick)

    def busy_kernels(self) -> List[str]:
        km = self.serverapp.kernel_manager
        reasons = []
        for kid in list(km.list_kernel_ids()):
            try:
                state = getattr(km.get_kernel(kid), "execution_state", None)
            except KeyError:
                continue
            if state == "busy":
                reasons.append(f"kernel {kid[:8]} busy")
        return reasons

    def terminal_pids(self) -> Dict[str, int]:
        tm = self.settings.get("terminal_manager")
        out = {}
        for name, term in dict(getattr(tm, "terminals", {}) or {}).items():
            pid = getattr(getattr(term, "ptyproc", None), "pid", None)
            if isinstance(pid, int):
                out[str(name)] = pid
        return out

    async def tick(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            reasons = self.busy_kernels()
            terminals = self.terminal_pids()
            import asyncio

            loop = asyncio.get_running_loop()
            sample = await loop.run_in_executor(None, self.probe.observe, terminals)
            reasons += sample.reasons
            now = _utcnow()
            self.reasons, self.sessions, self.last_check = reasons, sample.sessions, now
            times = self.settings.setdefault("last_activity_times", {})
            if reasons:
                self.last_active = now
                times[KEY] = now
                self.serverapp.log.debug("archaeo_activity: active (%s)", "; ".join(reasons))
            if sample.last_input is not None:
                typed = dt.datetime.fromtimestamp(sample.last_input, dt.timezone.utc)
                if self.last_input is None or typed > self.last_input:
                    self.last_input = times[INPUT_KEY] = typed
            reached = await loop.run_in_executor(None, self.warner.tick)
            if reached:
                self.serverapp.log.warning("archaeo_activity: warned %s of the maximum session's end", ", ".join(r.split("@")[0] for r in reached))
        except Exception:  # never take the server down over a probe
            self.serverapp.log.exception("archaeo_activity: sample failed")
        finally:
            self._busy = False

    def model(self) -> Dict[str, Any]:
        return {
            "active": bool(self.reasons),
            "reasons": self.reasons,
            "checked": _iso(self.last_check),
            "last_active": _iso(self.last_active),
            "last_input": _iso(self.last_input),
            "ssh_sessions": self.sessions,
            "session_limit": self.warner.model(),
            "interval_seconds": self.interval,
        }


def _activity_handler() -> Any:
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class ActivityHandler(APIHandler):  # type: ignore[misc]
        """GET /api/archaeo/activity: the extension's latest verdict. Reading it is never activity."""

        _track_activity = False

        @web.authenticated
        def get(self) -> None:
            self.finish(json.dumps(self.settings[KEY].model()))

    return ActivityHandler


def _jupyter_server_extension_points() -> List[Dict[str, str]]:
    return [{"module": "archaeo_activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    tracker = ActivityTracker(serverapp)
    web_app = serverapp.web_app
    web_app.settings[KEY] = tracker
    web_app.add_handlers(".*$", [(url_path_join(web_app.settings["base_url"], "/api/archaeo/activity"), _activity_handler())])
    tracker.start()
    serverapp.log.info("archaeo_activity: sampling every %ss (kernels, terminals, CPU, SSH work and input, GPU)", tracker.interval)


# The pre-2.0 name, still looked up by jupyter_server 1.x.
load_jupyter_server_extension = _load_jupyter_server_extension
