#!/usr/bin/env bash
# One command on a GPU machine: check the build, run the GPU parity tests, the export/TensorRT tests,
# the full benchmark and the pytest-benchmark suite; everything lands in bench/results/<device>/.
#
#   bench/gpu.sh                 # every step (about 10-20 min on an H100)
#   bench/gpu.sh kernels bench   # only some steps: build kernels export bench tf32 pytest-bench
#
# Needs: a CUDA GPU, torch with CUDA, triton; onnxruntime-gpu and tensorrt are used when installed
# (their measurements are reported as skipped, with the reason, when not).  Exit status: 0 when every
# step passed, 1 otherwise; bench/results/<device>/summary.txt lists each step's status.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# tests/conftest.py turns the Triton interpreter on unless told otherwise: on a GPU the kernels must compile
export TRITON_INTERPRET=0

device=$($PY -c "import torch; assert torch.cuda.is_available(); from bench.records import slug; \
print(slug(torch.cuda.get_device_name()))" 2>/dev/null) || { echo "bench/gpu.sh: torch sees no CUDA device" >&2; exit 2; }
OUT=bench/results/$device
mkdir -p "$OUT"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build kernels export bench tf32 pytest-bench)
status=0

step() {  # step NAME COMMAND... : run, log to $OUT/NAME.log, record the exit status
    local name=$1; shift
    echo "=== $name: $*"
    local start=$SECONDS
    "$@" > >(tee "$OUT/$name.log") 2>&1
    local rc=$?
    echo "$name: rc=$rc ($((SECONDS - start)) s): $*" | tee -a "$OUT/summary.txt"
    [ $rc -eq 0 ] || status=1
}

build() {  # environment facts, and every Triton kernel compiled once (forward and backward) on this GPU
    nvidia-smi || true
    $PY - <<'EOF'
import json

import torch
from torch import nn

import kernels
from bench.records import environment

print(json.dumps(environment(torch.device("cuda")), indent=1))
dev = torch.device("cuda")
lstms = [[nn.LSTM(64, 32, bidirectional=True, batch_first=True).to(dev) for _ in range(3)]]
x = torch.randn(2, 16, 64, device=dev, requires_grad=True)
out = kernels.ms_lstm([x], torch.tensor([16, 9], device=dev), lstms, backend="triton")[0]
out.sum().backward()
v, q = torch.randn(2, 16, 64, device=dev, requires_grad=True), torch.randn(2, 5, 64, device=dev)
cm, qm = torch.ones(2, 16, dtype=torch.bool, device=dev), torch.ones(2, 5, dtype=torch.bool, device=dev)
w = [torch.randn(64, device=dev) for _ in range(3)]
kernels.cqa(v, q, cm, qm, *w, torch.randn(64, 256, device=dev), None, backend="triton").sum().backward()
torch.cuda.synchronize()
print("Triton kernels compiled and ran (forward + backward) on", torch.cuda.get_device_name())
EOF
}

: > "$OUT/summary.txt"
for s in "${steps[@]}"; do
    case $s in
        build) step build build ;;
        kernels) step kernels $PY -m pytest -q -p no:cacheprovider tests/kernels ;;
        export) step export $PY -m pytest -q -p no:cacheprovider -rs tests/export ;;
        bench) step bench $PY -m bench --out "$OUT/bench" ;;
        tf32) step tf32 $PY -m bench --suites kernels --dtypes fp32 --tf32 --out "$OUT/bench-tf32" ;;
        pytest-bench) step pytest-bench $PY -m pytest -q -p no:cacheprovider bench/ \
            --benchmark-json="$OUT/pytest-benchmark.json" ;;
        *) echo "bench/gpu.sh: unknown step '$s' (build kernels export bench tf32 pytest-bench)" >&2; exit 2 ;;
    esac
done
echo "results in $OUT (summary.txt, *.log, bench/results.{json,md}, bench/speedup_vs_length.png)"
exit $status
