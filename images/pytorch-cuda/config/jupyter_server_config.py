"""JupyterLab server config for the archaeo workbench (loaded from /etc/jupyter).

The token is read from JUPYTER_TOKEN_FILE (a read-only mount of a tmpfs file the host fetched from
SSM SecureString) so it never appears in argv, the image, or user data. Startup fails without one.
"""
import os

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

c.ServerApp.ip = "0.0.0.0"  # inside the container; the host publishes 8888 on 127.0.0.1 in ssm mode
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.allow_root = False
c.ServerApp.root_dir = "/workspace"
c.ServerApp.allow_remote_access = True
c.ServerApp.disable_check_xsrf = False
c.ServerApp.allow_origin = ""
c.ServerApp.trust_xheaders = False


def _token() -> str:
    path = os.environ.get("JUPYTER_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return os.environ.get("JUPYTER_TOKEN", "").strip()


_tok = _token()
if len(_tok) < 32:
    raise SystemExit("archaeo: refusing to start Jupyter without a token of at least 32 characters")
c.IdentityProvider.token = _tok
c.PasswordIdentityProvider.password_required = False
c.PasswordIdentityProvider.allow_password_change = False

# Cull kernels idle for an hour (checked every 5 minutes) so the host's auto-stop can fire; busy
# kernels (a training cell still running) are never culled.
c.MappingKernelManager.cull_idle_timeout = 3600
c.MappingKernelManager.cull_interval = 300
c.MappingKernelManager.cull_connected = True
c.MappingKernelManager.cull_busy = False
c.TerminalManager.cull_inactive_timeout = 3600
