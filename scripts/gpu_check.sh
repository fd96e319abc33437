#!/usr/bin/env bash
# The GPU check: every family on trainer=gpu in bf16 mixed precision, compiled and not, zoo's training step against
# a hand-written loop on the same GPU, one Markdown table out (scripts/benchmarks/gpu.py), in under 10 minutes on an
# H100. Without a CUDA GPU it says so in one line and exits 0.
#   bash scripts/gpu_check.sh [--repeats N] [--families cnn rnn] [--out gpu.md]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check"
    exit 0
fi
exec python scripts/benchmark.py gpu --repeats 1 "$@"
