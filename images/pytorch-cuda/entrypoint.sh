#!/usr/bin/env bash
# archaeo-workbench entrypoint, run under tini as uid 1000.
#   jupyter      JupyterLab on :8888; token from JUPYTER_TOKEN_FILE (read by the server config, never argv)
#   sshd         key-only sshd on :2222 as the researcher; host keys made once in SSH_HOST_KEY_DIR
#   tensorboard  TensorBoard on :6006 over TENSORBOARD_LOGDIR
#   smoke        GPU smoke test (exit 1 when ARCHAEO_EXPECT_GPU=1 and CUDA is unavailable)
#   idle-stop    cluster mode: sidecar that scales the workbench to zero when idle
#   ssh-heartbeat  cluster mode: sidecar that writes the open SSH session count for idle-stop
#   healthcheck  probe for whichever role PID 1 runs
#   <command>    anything else runs as given (batch jobs)
set -euo pipefail

role="${1:-jupyter}"
[ "$#" -gt 0 ] && shift

die() { echo "archaeo-entrypoint: $*" >&2; exit 1; }

[ "$(id -u)" -ne 0 ] || die "refusing to run as root; run with --user 1000:1000"

case "$role" in
  jupyter)
    [ -n "${JUPYTER_TOKEN_FILE:-}" ] || [ -n "${JUPYTER_TOKEN:-}" ] \
      || die "no Jupyter token: set JUPYTER_TOKEN_FILE (preferred) or JUPYTER_TOKEN"
    if [ -n "${JUPYTER_TOKEN_FILE:-}" ]; then
      [ -s "$JUPYTER_TOKEN_FILE" ] || die "JUPYTER_TOKEN_FILE=${JUPYTER_TOKEN_FILE} is missing or empty"
    fi
    exec jupyter lab --no-browser "$@"
    ;;
  sshd)
    keydir="${SSH_HOST_KEY_DIR:-/workspace/.archaeo/ssh-host-keys}"
    mkdir -p "$keydir"
    chmod 700 "$keydir"
    for type in ed25519 rsa; do
      key="${keydir}/ssh_host_${type}_key"
      if [ ! -s "$key" ]; then
        echo "archaeo-entrypoint: generating ${type} host key in ${keydir}"
        if [ "$type" = rsa ]; then ssh-keygen -q -t rsa -b 3072 -N '' -f "$key"; else ssh-keygen -q -t "$type" -N '' -f "$key"; fi
      fi
    done
    [ -s /etc/archaeo/authorized_keys ] || die "/etc/archaeo/authorized_keys is missing or empty: mount the researchers' public keys"
    exec /usr/sbin/sshd -D -e -f /etc/archaeo/sshd_config \
      -o "HostKey=${keydir}/ssh_host_ed25519_key" -o "HostKey=${keydir}/ssh_host_rsa_key" "$@"
    ;;
  tensorboard)
    logdir="${TENSORBOARD_LOGDIR:-/workspace/runs}"
    mkdir -p "$logdir"
    exec tensorboard --logdir "$logdir" --host 0.0.0.0 --port 6006 "$@"
    ;;
  smoke)
    exec python /opt/archaeo/smoke.py "$@"
    ;;
  idle-stop)
    exec python /opt/archaeo/idle_stop.py "$@"
    ;;
  ssh-heartbeat)
    # Established TCP connections on :2222 (hex 08AE, state 01) in this pod's network namespace.
    out="${SSH_HEARTBEAT_FILE:-/workspace/.archaeo/ssh-sessions}"
    mkdir -p "$(dirname "$out")"
    while true; do
      n="$(awk '$2 ~ /:08AE$/ && $4 == "01"' /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l)"
      printf '%s %s\n' "$(date +%s)" "$n" > "${out}.tmp" && mv "${out}.tmp" "$out"
      sleep 60
    done
    ;;
  healthcheck)
    pid1="$(tr '\0' ' ' < /proc/1/cmdline 2>/dev/null || true)"
    case "$pid1" in
      *archaeo-entrypoint\ jupyter*|*archaeo-entrypoint) url=http://127.0.0.1:8888/api ;;
      *archaeo-entrypoint\ tensorboard*) url=http://127.0.0.1:6006/ ;;
      *archaeo-entrypoint\ sshd*)
        exec python -c 'import socket; socket.create_connection(("127.0.0.1", 2222), timeout=3).close()' ;;
      *) exit 0 ;;
    esac
    exec python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$url"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
