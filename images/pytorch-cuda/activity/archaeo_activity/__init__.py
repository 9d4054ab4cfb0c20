"""Jupyter server extension: the server's reported last activity follows the researcher's real work.

jupyter_server computes `ServerApp.web_app.last_activity()` as the latest of its start time, kernel
messages, API requests and every value in `settings["last_activity_times"]` (jupyter_server
serverapp.py `last_activity`, v1.23 and v2.17 alike). That is what `/api/status` reports, what
JupyterHub's singleuser extension sends to the hub every `JUPYTERHUB_ACTIVITY_INTERVAL` seconds
(jupyterhub 5.5.0 singleuser/extension.py `notify_activity`), and so what the hub's idle culler and
the instance's auto-stop read. Left alone it misses silent work: a cell sleeping or training for
150 s without output sends no message, a `nohup python train.py &` over SSH or a GPU job sends
nothing at all. Every `ARCHAEO_ACTIVITY_INTERVAL` seconds (60) this extension samples busy kernels,
terminals with a running command, CPU-busy processes, open SSH sessions and GPU utilisation
(`archaeo_activity.probe`) and, when any is found, stamps `last_activity_times["archaeo_activity"]`.

Polling is never activity: `GET /api/archaeo/activity` (this extension's verdict, for the host's
auto-stop) sets `_track_activity = False`, and callers read other APIs with `?no_track_activity=1`
(jupyter_server base/handlers.py `APIHandler.update_api_activity`).

Settings (environment): ARCHAEO_ACTIVITY_INTERVAL (s, 60), ARCHAEO_CPU_BUSY_PERCENT (of one core, 10),
ARCHAEO_GPU_IDLE_PERCENT (5), ARCHAEO_SSH_PORT (2222), ARCHAEO_ACTIVITY_ROOT_PID (1: whole container).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from typing import Any, Dict, List, Optional

from tornado import ioloop, web

from .probe import ActivityProbe

KEY = "archaeo_activity"


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
            ssh_port=int(_env_float("ARCHAEO_SSH_PORT", 2222)),
            cpu_busy_percent=_env_float("ARCHAEO_CPU_BUSY_PERCENT", 10),
            gpu_idle_percent=_env_float("ARCHAEO_GPU_IDLE_PERCENT", 5),
            root_pid=int(_env_float("ARCHAEO_ACTIVITY_ROOT_PID", 1)),
            ignore_pids=[os.getpid()],
        )
        self.reasons: List[str] = []
        self.last_check: Optional[dt.datetime] = None
        self.last_active: Optional[dt.datetime] = None
        self._busy = False
        self._callback: Optional[ioloop.PeriodicCallback] = None

    def start(self) -> None:
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
            loop = asyncio.get_running_loop()
            reasons += await loop.run_in_executor(None, self.probe.sample, terminals)
            now = _utcnow()
            self.reasons, self.last_check = reasons, now
            if reasons:
                self.last_active = now
                self.settings.setdefault("last_activity_times", {})[KEY] = now
                self.serverapp.log.debug("archaeo_activity: active (%s)", "; ".join(reasons))
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
            "interval_seconds": self.interval,
        }


def _api_handler_base() -> Any:
    from jupyter_server.base.handlers import APIHandler

    return APIHandler


class ActivityHandler(_api_handler_base()):  # type: ignore[misc]
    """GET /api/archaeo/activity: the extension's latest verdict. Reading it is never activity."""

    _track_activity = False

    @web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(self.settings[KEY].model()))


def _jupyter_server_extension_points() -> List[Dict[str, str]]:
    return [{"module": "archaeo_activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    tracker = ActivityTracker(serverapp)
    web_app = serverapp.web_app
    web_app.settings[KEY] = tracker
    web_app.add_handlers(".*$", [(url_path_join(web_app.settings["base_url"], "/api/archaeo/activity"), ActivityHandler)])
    tracker.start()
    serverapp.log.info("archaeo_activity: sampling every %ss (kernels, terminals, CPU, SSH, GPU)", tracker.interval)


# The pre-2.0 name, still looked up by jupyter_server 1.x.
load_jupyter_server_extension = _load_jupyter_server_extension
