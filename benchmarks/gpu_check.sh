#!/usr/bin/env bash
# The GPU checks of a session that is lent a GPU, in one call (about 4 minutes on one H200, with time to spare).
#
#   here:  python benchmarks/gpu_training.py prepare --slice 151673 --out .gpu   (.gpu/ ignored; carry it)
#   there: bash benchmarks/gpu_check.sh                                         (writes under $OUT, else gpu_out/)
#   here:  copy cuda/ into benchmarks/results/gpu_training/, then gpu_training.py score (see its docstring)
#
# tests/test_gpu.py (needs torch alone), where two identical training steps part (determinism), and the training
# benchmark of each encoder, seeds 0-4 (train). Each step has its own time limit, so one that hangs leaves the rest.
set -o pipefail
out=${OUT:-gpu_out}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.csv"
timeout 120 python3 -m pytest -v -p no:cacheprovider --noconftest tests/test_gpu.py 2>&1 | tee "$out/test_gpu.log"
timeout 100 python3 benchmarks/gpu_training.py determinism --data .gpu/dlpfc151673.npz --device cuda 2>&1 |
    tee "$out/determinism.log"
timeout 300 python3 benchmarks/gpu_training.py train --data .gpu/dlpfc151673.npz --device cuda --out "$out/cuda" 2>&1 |
    tee "$out/cuda.log"
