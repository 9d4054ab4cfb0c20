#!/usr/bin/env bash
# archaeo-workbench entrypoint, run under tini as uid 1000 (never root).
#   jupyter      JupyterLab on :8888; token from JUPYTER_TOKEN_FILE (read by the server config, never argv).
#                TensorBoard is served by Jupyter's server proxy at /tensorboard/ (behind the token).
#   sshd         key-only sshd on :2222 as the researcher; host keys made once in SSH_HOST_KEY_DIR;
#                sessions (login and `ssh host 'cmd'`) get this container's environment via SetEnv
#   smoke        smoke test: GPU, a >64 MB DataLoader batch through /dev/shm, a 2-rank all_reduce
#   healthcheck  probe for whichever role PID 1 runs
#   <command>    anything else runs as given (batch jobs, jupyterhub-singleuser in cluster mode)
# Every role except healthcheck first makes the persistent home usable (never overwriting a file).
set -euo pipefail

role="${1:-jupyter}"
[ "$#" -gt 0 ] && shift

die() { echo "archaeo-entrypoint: $*" >&2; exit 1; }
say() { echo "archaeo-entrypoint: $*" >&2; }

[ "$(id -u)" -ne 0 ] || die "refusing to run as root; run with --user 1000:1000"

# Where the image keeps what the home skeleton is made from (overridable for tests).
SKEL_DIR="${ARCHAEO_SKEL_DIR:-/etc/skel}"
NOTEBOOKS_SRC="${ARCHAEO_NOTEBOOKS_SRC:-/opt/archaeo/notebooks}"
BAKED_CHECKPOINTS="${ARCHAEO_BAKED_CHECKPOINTS:-/opt/archaeo/torch/hub/checkpoints}"

# Links the weights baked into the image into TORCH_HOME's checkpoint cache (torch.hub looks there
# first), so offline workstations find them without copying hundreds of MB onto the volume. A file
# the researcher downloaded themselves always wins; a link whose target vanished (a newer image
# without that file) is removed so torch.hub downloads it again.
link_baked_weights() {
  local cache="${TORCH_HOME:-$HOME/.cache/torch}/hub/checkpoints" f name
  mkdir -p "$cache"
  for f in "$cache"/*; do
    if [ -L "$f" ] && [ ! -e "$f" ]; then rm -f "$f"; fi
  done
  [ -d "$BAKED_CHECKPOINTS" ] || return 0
  for f in "$BAKED_CHECKPOINTS"/*; do
    [ -f "$f" ] || continue
    name="$(basename "$f")"
    if [ ! -e "$cache/$name" ] && [ ! -L "$cache/$name" ]; then ln -s "$f" "$cache/$name"; fi
  done
}

# First start on a new (or fresh, unmounted) home: the directories the environment points at, the
# distribution's shell dotfiles and the starter notebooks. Idempotent; never overwrites anything.
prepare_home() {
  [ -n "${HOME:-}" ] || die "HOME is not set; the contract is HOME=/home/researcher"
  mkdir -p "$HOME" 2>/dev/null || true
  if [ ! -w "$HOME" ]; then
    say "warning: HOME=${HOME} is not writable; shell history, pip --user and the torch cache will not persist"
    return 0
  fi
  mkdir -p "$HOME/.local/bin" "$HOME/.cache" "$HOME/.config/pip" "$HOME/.jupyter"
  local f
  for f in .bashrc .profile .bash_logout; do
    if [ -f "$SKEL_DIR/$f" ] && [ ! -e "$HOME/$f" ]; then cp "$SKEL_DIR/$f" "$HOME/$f"; fi
  done
  link_baked_weights
  local marker="$HOME/.local/share/archaeo/starter-notebooks-copied"
  if [ ! -e "$marker" ] && [ -d "$NOTEBOOKS_SRC" ]; then
    mkdir -p "$HOME/notebooks" "$(dirname "$marker")"
    for f in "$NOTEBOOKS_SRC"/*.ipynb; do
      [ -f "$f" ] || continue
      [ -e "$HOME/notebooks/$(basename "$f")" ] || cp "$f" "$HOME/notebooks/"
    done
    date -u +%FT%TZ > "$marker"
    say "copied the starter notebooks to ${HOME}/notebooks"
  fi
  # Jupyter's file browser is rooted at /workspace, where the home itself is hidden (.home): show
  # the notebooks there too, once, if the researcher has nothing of that name.
  if [ -d "$HOME/notebooks" ] && [ -d /workspace ] && [ -w /workspace ] \
    && [ ! -e /workspace/notebooks ] && [ ! -L /workspace/notebooks ]; then
    ln -s "$HOME/notebooks" /workspace/notebooks
  fi
}

# The container's environment as one sshd `SetEnv` option, so that SSH sessions, login or not
# (`ssh host 'nohup python train.py &'`), see the same PATH, HOME settings, AWS/Pod Identity and
# archaeo variables as Jupyter and jobs. sshd keeps only the first SetEnv it reads and reads -o
# before its config file (OpenSSH servconf.c, sSetEnv), so everything goes into this one option.
# Secrets (tokens, passwords, keys) are never passed; *_FILE paths naming where one lives are.
session_env_option() {
  local out="" kv name value
  while IFS= read -r -d '' kv; do
    name="${kv%%=*}"
    value="${kv#*=}"
    case "$name" in
      PATH|HOME|SHELL|LANG|LC_*|TZ) ;;
      PYTHON*|PIP_*|TORCH_*|PYTORCH_*|NCCL_*|CUDA_*|NVIDIA_*|LD_LIBRARY_PATH|OMP_NUM_THREADS) ;;
      ARCHAEO_*|AWS_*|TENSORBOARD_LOGDIR|MPLCONFIGDIR|JUPYTER_CONFIG_DIR|JUPYTER_DATA_DIR|JUPYTER_RUNTIME_DIR|HISTFILE|XDG_*) ;;
      *) continue ;;
    esac
    case "$name" in
      *_FILE|*_DIR|*_URI) ;;
      *TOKEN*|*SECRET*|*PASSWORD*|*ACCESS_KEY*|*CREDENTIAL*) continue ;;
    esac
    case "$value" in *$'\n'*) continue ;; esac
    value="${value//\\/\\\\}"
    value="${value//\"/\\\"}"
    out+="${out:+ }\"${name}=${value}\""
  done < <(env -0)
  printf 'SetEnv=%s' "$out"
}

if [ "$role" != healthcheck ]; then prepare_home; fi

case "$role" in
  jupyter)
    [ -n "${JUPYTER_TOKEN_FILE:-}" ] || [ -n "${JUPYTER_TOKEN:-}" ] \
      || die "no Jupyter token: set JUPYTER_TOKEN_FILE (preferred) or JUPYTER_TOKEN"
    if [ -n "${JUPYTER_TOKEN_FILE:-}" ]; then
      [ -s "$JUPYTER_TOKEN_FILE" ] || die "JUPYTER_TOKEN_FILE=${JUPYTER_TOKEN_FILE} is missing or empty"
    fi
    mkdir -p "${TENSORBOARD_LOGDIR:-/workspace/runs}" 2>/dev/null \
      || say "warning: cannot create ${TENSORBOARD_LOGDIR:-/workspace/runs}; TensorBoard will show no runs"
    exec jupyter lab --no-browser "$@"
    ;;
  sshd)
    sshd_config="${ARCHAEO_SSHD_CONFIG:-/etc/archaeo/sshd_config}"
    authorized_keys="${ARCHAEO_AUTHORIZED_KEYS:-/etc/archaeo/authorized_keys}"
    keydir="${SSH_HOST_KEY_DIR:-/workspace/.archaeo/ssh-host-keys}"
    mkdir -p "$keydir"
    chmod 700 "$keydir"
    for type in ed25519 rsa; do
      key="${keydir}/ssh_host_${type}_key"
      if [ ! -s "$key" ]; then
        say "generating ${type} host key in ${keydir}"
        if [ "$type" = rsa ]; then ssh-keygen -q -t rsa -b 3072 -N '' -f "$key"; else ssh-keygen -q -t "$type" -N '' -f "$key"; fi
      fi
    done
    if [ ! -s "$authorized_keys" ]; then
      # Cluster mode runs sshd as a sidecar of every server; a researcher without keys gets no SSH
      # (and no crash loop): the sidecar idles until the pod ends.
      if [ "${ARCHAEO_SSHD_OPTIONAL:-0}" = 1 ]; then
        say "${authorized_keys} is empty: no SSH for this researcher (add sshPublicKeys to their entry in the stack config)"
        exec sleep infinity
      fi
      die "${authorized_keys} is missing or empty: mount the researcher's public keys"
    fi
    exec /usr/sbin/sshd -D -e -f "$sshd_config" \
      -o "$(session_env_option)" \
      -o "HostKey=${keydir}/ssh_host_ed25519_key" -o "HostKey=${keydir}/ssh_host_rsa_key" "$@"
    ;;
  smoke)
    exec python "${ARCHAEO_SMOKE:-/opt/archaeo/smoke.py}" "$@"
    ;;
  healthcheck)
    pid1="$(tr '\0' ' ' < /proc/1/cmdline 2>/dev/null || true)"
    case "$pid1" in
      *archaeo-entrypoint\ jupyter*|*archaeo-entrypoint) url='http://127.0.0.1:8888/api?no_track_activity=1' ;;
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
