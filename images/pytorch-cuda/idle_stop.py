"""Cluster-mode auto-stop for the archaeo workbench (sidecar of the Jupyter pod, role `idle-stop`).

Every CHECK_SECONDS it asks Jupyter (on localhost) for its last activity and busy kernels, and reads
the SSH session heartbeat the sshd pod writes to the shared workspace. When nothing has happened for
IDLE_MINUTES it scales the workbench Deployments (DEPLOYMENTS, comma-separated) to zero through the
Kubernetes API with its own service account; Karpenter then removes the empty GPU node.
Only the standard library: it runs in the workbench image.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import sys
import time
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def log(msg: str) -> None:
    print(f"idle-stop: {msg}", flush=True)


def jupyter_activity(base: str, token: str) -> tuple[float | None, int]:
    """Seconds since the last Jupyter activity and the number of busy kernels (None when unreachable)."""
    headers = {"Authorization": f"token {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/status", headers=headers), timeout=5) as r:
            status = json.load(r)
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels", headers=headers), timeout=5) as r:
            kernels = json.load(r)
    except OSError:
        return None, 0
    last = dt.datetime.fromisoformat(status["last_activity"].replace("Z", "+00:00"))
    busy = sum(1 for k in kernels if k.get("execution_state") == "busy")
    return (dt.datetime.now(dt.timezone.utc) - last).total_seconds(), busy


def ssh_sessions(path: str, max_age: float) -> int:
    """Open SSH sessions from the heartbeat file; a stale heartbeat counts as none."""
    try:
        with open(path, encoding="utf-8") as f:
            stamp, count = f.read().split()
        return int(count) if time.time() - float(stamp) < max_age else 0
    except (OSError, ValueError):
        return 0


def scale_to_zero(namespace: str, deployments: list[str]) -> None:
    with open(f"{SA}/token", encoding="utf-8") as f:
        token = f.read().strip()
    ctx = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    host = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}"
    for name in deployments:
        req = urllib.request.Request(
            f"{host}/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            data=json.dumps({"spec": {"replicas": 0}}).encode(),
            method="PATCH",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"},
        )
        with urllib.request.urlopen(req, timeout=10, context=ctx):
            log(f"scaled {namespace}/{name} to 0")


def main() -> int:
    idle_limit = int(os.environ.get("IDLE_MINUTES", "60")) * 60
    interval = int(os.environ.get("CHECK_SECONDS", "300"))
    namespace = os.environ["NAMESPACE"]
    deployments = [d for d in os.environ.get("DEPLOYMENTS", "jupyter").split(",") if d]
    base = os.environ.get("JUPYTER_URL", "http://127.0.0.1:8888")
    with open(os.environ["JUPYTER_TOKEN_FILE"], encoding="utf-8") as f:
        token = f.read().strip()
    heartbeat = os.environ.get("SSH_HEARTBEAT_FILE", "/workspace/.archaeo/ssh-sessions")
    started = time.time()
    while True:
        time.sleep(interval)
        since, busy = jupyter_activity(base, token)
        sessions = ssh_sessions(heartbeat, max_age=3 * interval)
        up = time.time() - started
        idle_for = min(since if since is not None else up, up)
        if busy or sessions:
            log(f"busy ({busy} busy kernel(s), {sessions} ssh session(s))")
            continue
        log(f"idle for {int(idle_for // 60)} of {idle_limit // 60} minutes")
        if idle_for >= idle_limit:
            scale_to_zero(namespace, deployments)
            return 0


if __name__ == "__main__":
    sys.exit(main())
