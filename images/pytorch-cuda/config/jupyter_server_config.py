"""JupyterLab server config for the archaeo workbench (loaded from /etc/jupyter).

Instance mode: the token is read from JUPYTER_TOKEN_FILE (a read-only mount of a tmpfs file the host
fetched from SSM SecureString) so it never appears in argv, the image, or user data; startup fails
without one. Cluster mode: `jupyterhub-singleuser` authenticates through the hub (OAuth), so no token
is needed there. TensorBoard runs behind the same authentication through jupyter-server-proxy.
"""
import os

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

# Inside the container; the host publishes 8888 on 127.0.0.1 only (instance mode) or the hub's proxy
# reaches the pod (cluster mode). Nothing else in the container listens beyond localhost.
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.allow_root = False
c.ServerApp.root_dir = "/workspace"
c.ServerApp.allow_remote_access = True
c.ServerApp.disable_check_xsrf = False
c.ServerApp.allow_origin = ""
c.ServerApp.trust_xheaders = False

# Terminals: bash as a login shell, so /etc/profile.d/archaeo.sh gives them the image's environment
# (jupyter_server_terminals: an explicit shell_command is used as given, without an added "-l").
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}


def _under_jupyterhub() -> bool:
    return bool(os.environ.get("JUPYTERHUB_SERVICE_URL") or os.environ.get("JUPYTERHUB_API_TOKEN"))


def _token() -> str:
    path = os.environ.get("JUPYTER_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return os.environ.get("JUPYTER_TOKEN", "").strip()


if not _under_jupyterhub():
    _tok = _token()
    if len(_tok) < 32:
        raise SystemExit("archaeo: refusing to start Jupyter without a token of at least 32 characters")
    c.IdentityProvider.token = _tok
    c.PasswordIdentityProvider.password_required = False
    c.PasswordIdentityProvider.allow_password_change = False

# TensorBoard through jupyter-server-proxy at <base_url>/tensorboard/: started on first visit,
# listening on 127.0.0.1 only, reachable only through Jupyter's authentication. Its frontend polls
# every few seconds; update_last_activity=False keeps that polling from counting as activity
# (jupyter-server-proxy docs/source/server-process.md, `update_last_activity`, v4.4.0).
c.ServerProxy.servers = {
    "tensorboard": {
        "command": [
            "tensorboard",
            "--logdir", os.environ.get("TENSORBOARD_LOGDIR", "/workspace/runs"),
            "--host", "127.0.0.1",
            "--port", "{port}",
            "--reload_interval", "30",
        ],
        "timeout": 60,
        "absolute_url": False,
        "update_last_activity": False,
        "launcher_entry": {"enabled": True, "title": "TensorBoard", "path_info": "tensorboard/"},
        "new_browser_tab": True,
    },
}

# Cull kernels idle for an hour (checked every 5 minutes) so auto-stop / the hub's culler can fire;
# busy kernels (a training cell still running) are never culled.
c.MappingKernelManager.cull_idle_timeout = 3600
c.MappingKernelManager.cull_interval = 300
c.MappingKernelManager.cull_connected = True
c.MappingKernelManager.cull_busy = False
# Terminals are never culled: "inactive" means no output, and a terminal running a silent
# `python train.py` would be killed mid-run (0 disables, jupyter_server_terminals TerminalManager).
c.TerminalManager.cull_inactive_timeout = 0
