# shellcheck shell=sh
# Login shells over SSH get the same Python and CUDA environment as the image's processes.
export PATH="/opt/conda/bin:${PATH}"
export TENSORBOARD_LOGDIR="${TENSORBOARD_LOGDIR:-/workspace/runs}"
cd /workspace 2>/dev/null || true
