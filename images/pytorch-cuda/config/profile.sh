# shellcheck shell=sh
# Login shells (SSH logins, Jupyter terminals, tmux windows) keep the image's environment even where
# /etc/profile resets PATH: the image's Python (/opt/python), the researcher's ~/.local/bin (pip
# install --user), the torch cache and shell history on the persistent home. Idempotent: sourcing it
# twice adds nothing.
for d in /opt/python/bin "${PYTHONUSERBASE:-$HOME/.local}/bin"; do
  case ":${PATH}:" in
    *":${d}:"*) ;;
    *) PATH="${d}:${PATH}" ;;
  esac
done
export PATH
export PYTHONUSERBASE="${PYTHONUSERBASE:-$HOME/.local}"
export TORCH_HOME="${TORCH_HOME:-$HOME/.cache/torch}"
export HISTFILE="${HISTFILE:-$HOME/.bash_history}"
export TENSORBOARD_LOGDIR="${TENSORBOARD_LOGDIR:-/workspace/runs}"
export SHELL=/bin/bash
if [ -n "${BASH_VERSION:-}" ]; then
  # Write each command to the history file at once, so a stopped container loses none.
  # shellcheck disable=SC3044 # bash only, guarded by BASH_VERSION
  shopt -s histappend
  case "${PROMPT_COMMAND:-}" in
    *"history -a"*) ;;
    *) PROMPT_COMMAND="history -a${PROMPT_COMMAND:+; ${PROMPT_COMMAND}}" ;;
  esac
fi
cd /workspace 2>/dev/null || true
