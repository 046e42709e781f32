#!/usr/bin/env bash
# Build a separate virtual environment with TRL 1.12.0, the last TRL with PPO (removed in
# 1.13), for benchmarks/trl_ppo_steps.py and scripts/snapshot_trl_configs.py. The course's
# own .venv keeps trl 1.16; the two cannot share one environment.
#
#   bash benchmarks/make_trl_ppo_env.sh [ENV_DIR]        (default /tmp/trl112env)
#
# torch is installed first and pinned, as in the Makefile; on a CPU-only machine pass the
# same TORCH_SPEC you give `make` (e.g. one with the CPU wheel index) so that pip does not
# pull a multi-GB CUDA build:  TORCH_SPEC="torch==2.13.0 --index-url ..." bash ...
set -euo pipefail
ENV_DIR="${1:-/tmp/trl112env}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ ! -x "$ENV_DIR/bin/python" ]; then
    "$PYTHON" -m venv "$ENV_DIR"
fi
# shellcheck disable=SC2086  # TORCH_SPEC may carry pip options
"$ENV_DIR/bin/pip" install --quiet $TORCH_SPEC
"$ENV_DIR/bin/pip" install --quiet -r "$HERE/requirements-trl-ppo.txt"
TRL_EXPERIMENTAL_SILENCE=1 "$ENV_DIR/bin/python" -c \
    "import trl, transformers; from trl.experimental.ppo import PPOConfig, PPOTrainer; \
print('trl', trl.__version__, 'transformers', transformers.__version__, 'with PPO: ok')"
echo "TRL 1.12.0 environment ready: $ENV_DIR/bin/python (export TRL_PPO_PYTHON=$ENV_DIR/bin/python)"
