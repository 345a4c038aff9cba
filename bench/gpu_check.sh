#!/usr/bin/env bash
# The first-GPU check, one script under 8 minutes on one GPU: config E at 256x256 sec/kimg (float32 and mixed
# bfloat16, XLA on and off), the input pipeline's img/s from dataset_tool records beside the step's consumption,
# and FID (Inception) throughput. Figures go into docs/benchmarks.md beside StyleGAN2-ADA's published one.
#   bash bench/gpu_check.sh           # on the GPU machine, from the repository root's environment
#   bash bench/gpu_check.sh --tiny    # the same code on CPU at 8x8 with a tiny model (tests/test_bench.py)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m bench.gpu_check "$@"
