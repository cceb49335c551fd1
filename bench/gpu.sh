#!/usr/bin/env bash
# bench/gpu.sh -- one short, safe call on a GPU machine (H100 / H200): build check, GPU kernel tests, kernel and
# model benchmarks, torch.compile comparisons.  Every measurement is appended to
# bench/results/<device>/results.jsonl the moment it is taken (flush + fsync), so a kill keeps everything
# finished; results.md / results.json / speedup_vs_length.png are rebuilt from it after every step
# (by hand: python -m bench.report bench/results/<device>).
#
# Usage:
#   bench/gpu.sh                  the quick plan below: about 6.5 min on an H100 / H200, never more than 8
#   bench/gpu.sh STEP...          some steps of the quick plan (appends to the existing results.jsonl)
#   bench/gpu.sh full             the complete suite (no time limit that fits a short call): build check,
#                                 tests/kernels, tests/export, python -m bench (full plan), fp32 with TF32,
#                                 pytest-benchmark
#   bench/gpu.sh --dry-run [...]  print the steps, their commands and limits, and the cases; run nothing
#   bench/gpu.sh --help           this text
#   DEVICE=cpu bench/gpu.sh       the same flow on the CPU: kernels through the Triton interpreter, tiny
#                                 shapes, the GPU tests only collected (tests the flow, measures nothing)
#
# Quick plan, in order (expected time on an H100 / H200 -> the step's time limit):
#   1 env       ~70 s -> 100 s  python -m bench.gpu check: environment, nvidia-smi, memory bandwidth (nominal
#                               and a measured copy); python -m bench.compile --warm (every kernel the bench
#                               launches compiled on all cores into Triton's cache, 60 s at most, with a
#                               register/spill report); every Triton op (MS-LSTM triton, CQA, then triton-v2)
#                               built and run fwd+bwd at the bench shapes in bf16 and fp32
#   2 tests     ~90 s -> 120 s  python -m pytest --device cuda tests/kernels tests/export/test_fused.py
#   3 kernels   ~65 s -> 100 s  python -m bench --plan gpu-quick --suites kernels: MS-LSTM E=1,3 and CQA,
#                               fwd and fwd+bwd, bf16 and fp32, T=64,256, triton vs the cuDNN reference
#   4 model     ~55 s -> 90 s   --suites model: one training step of EAMAT and of DP, both workloads, bf16, fp32
#   5 v2        ~40 s -> 60 s   --suites v2: the MS-LSTM cases with triton-v2 next to triton, priority order
#   6 compiled  ~45 s -> 45 s   --suites compiled: torch.compile of the references, priority order, as many
#                               cases as the limit allows (a kill here is expected and loses nothing)
#   after each step: the report rebuilt (~2 s, limit 20 s)
#   total ~6.3 min expected; no step starts past DEADLINE_S (480 s) and each is cut to the time left.
# How the times were estimated (no GPU was available to measure them): Triton compile times measured
# offline for sm_90 (python -m bench.compile: 0.5-3 s per v1 / CQA kernel on a 2-core VM; the v2 launcher
# compiles the co-residable group sizes, three per bf16 kernel, 2-70 s each), counted per step and spread over
# the cores where the step compiles in parallel; kernel and training-step times from the cuDNN per-step latency (~10-20 us per LSTM
# step at H=256) times the sequential steps and the timed calls (5 warm-up + 30 samples; 3 + 10 for the
# model step); ~5 s per process for the torch import and CUDA start.  The step records in results.jsonl
# hold the real times: correct this table from the first run.
#
# Environment: PYTHON (default python3, else python), DEVICE (cuda | cpu), OUT (results directory),
# DEADLINE_S (480), LIMIT_<STEP> (e.g. LIMIT_KERNELS=30: one step's limit in seconds).
# Exit status: 0 every step passed, 1 a step failed or was cut, 2 bad usage / no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif command -v python3 >/dev/null 2>&1; then PY=python3
else PY=python
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DEVICE=${DEVICE:-cuda}
DEADLINE_S=${DEADLINE_S:-480}
REPORT_LIMIT_S=20
QUICK_STEPS=(env tests kernels model v2 compiled)
FULL_STEPS=(env kernel-tests export-tests bench tf32 pytest-bench)
declare -A EXPECT=([env]=70 [tests]=90 [kernels]=65 [model]=55 [v2]=40 [compiled]=45)
declare -A LIMIT=([env]=100 [tests]=120 [kernels]=100 [model]=90 [v2]=60 [compiled]=45
                  [kernel-tests]=1800 [export-tests]=1800 [bench]=3600 [tf32]=1800 [pytest-bench]=3600)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

dry_run=0
mode=quick
steps=()
for arg in "$@"; do
    case $arg in
        -h|--help) usage; exit 0 ;;
        -n|--dry-run) dry_run=1 ;;
        full) mode=full ;;
        env|tests|kernels|model|v2|compiled) steps+=("$arg") ;;
        *) echo "bench/gpu.sh: unknown argument '$arg' (--help lists the steps)" >&2; exit 2 ;;
    esac
done
fresh=0
if [ $mode = full ]; then
    [ ${#steps[@]} -eq 0 ] || { echo "bench/gpu.sh: 'full' runs every step; name no steps with it" >&2; exit 2; }
    steps=("${FULL_STEPS[@]}"); DEADLINE_S=0; fresh=1
elif [ ${#steps[@]} -eq 0 ]; then
    steps=("${QUICK_STEPS[@]}"); fresh=1
fi
for s in "${!LIMIT[@]}"; do  # LIMIT_<STEP> overrides
    var="LIMIT_$(echo "$s" | tr 'a-z-' 'A-Z_')"
    [ -n "${!var:-}" ] && LIMIT[$s]=${!var}
done

case $DEVICE in
    cuda*) export TRITON_INTERPRET=0 ;;  # tests/conftest.py and the bench must compile the real kernels
    cpu) export TRITON_INTERPRET=1 ;;
    *) echo "bench/gpu.sh: DEVICE must be cuda[:N] or cpu, got '$DEVICE'" >&2; exit 2 ;;
esac
if [ "$DEVICE" = cpu ]; then
    device=cpu-$($PY -c "from bench.records import cpu_model, slug; print(slug(cpu_model()))")
    OUT=${OUT:-bench/out/gpu-sh-$device}
else
    device=$($PY -c "import torch; assert torch.cuda.is_available(); from bench.records import slug; \
print(slug(torch.cuda.get_device_name()))" 2>/dev/null) || {
        [ $dry_run = 1 ] && device="<device>" || { echo "bench/gpu.sh: torch sees no CUDA device (DEVICE=cpu runs the flow on the CPU)" >&2; exit 2; }
    }
    OUT=${OUT:-bench/results/$device}
fi
TESTS=(tests/kernels tests/export/test_fused.py)
BENCH=($PY -m bench --device "$DEVICE" --append --out "$OUT")

command_of() {  # the command line of a step
    case $1 in
        env) echo "$PY -m bench.gpu check --out $OUT --device $DEVICE" ;;
        tests) if [ "$DEVICE" = cpu ]; then
                   echo "$PY -m pytest -p no:cacheprovider --device cpu --collect-only -q ${TESTS[*]}"
               else
                   echo "$PY -m pytest -p no:cacheprovider --device $DEVICE -q -rfE ${TESTS[*]}"
               fi ;;
        kernels|model|v2|compiled) echo "${BENCH[*]} --plan gpu-quick --suites $1" ;;
        kernel-tests) echo "$PY -m pytest -p no:cacheprovider --device $DEVICE -q -rfE tests/kernels" ;;
        export-tests) echo "$PY -m pytest -p no:cacheprovider --device $DEVICE -q -rs tests/export" ;;
        bench) echo "${BENCH[*]} --plan full" ;;
        tf32) echo "$PY -m bench --device $DEVICE --plan full --suites kernels --dtypes fp32 --tf32 --out $OUT/tf32" ;;
        pytest-bench) echo "$PY -m pytest -p no:cacheprovider -q bench/ --benchmark-json=$OUT/pytest-benchmark.json" ;;
    esac
}

if [ $dry_run = 1 ]; then
    echo "bench/gpu.sh plan ($mode) on DEVICE=$DEVICE -> $OUT/results.jsonl$([ $fresh = 1 ] && echo ' (started afresh)')"
    [ "$DEADLINE_S" -gt 0 ] && echo "no step starts after ${DEADLINE_S} s; each is cut to the time left"
    total=0
    for s in "${steps[@]}"; do
        e=${EXPECT[$s]:-?}; [ "$e" != "?" ] && total=$((total + e))
        printf '  %-13s expected ~%s s, limit %s s: %s\n' "$s" "$e" "${LIMIT[$s]}" "$(command_of "$s")"
    done
    [ $mode = quick ] && echo "expected total ~$((total + ${#steps[@]} * 2)) s (with the report after each step)"
    if [ $mode = quick ] && [ "$device" != "<device>" ]; then
        echo "cases of plan gpu-quick on $DEVICE:"
        $PY -m bench --plan gpu-quick --device "$DEVICE" --list | sed 's/^/  /'
    fi
    exit 0
fi

mkdir -p "$OUT"
if [ $fresh = 1 ] && [ -s "$OUT/results.jsonl" ]; then  # a new run starts a new journal; keep the old one
    mkdir -p "$OUT/previous"
    mv "$OUT/results.jsonl" "$OUT/previous/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
fi
: > "$OUT/summary.txt"
status=0
start_all=$SECONDS

report() {
    timeout --kill-after=5 $REPORT_LIMIT_S $PY -m bench.report "$OUT" > /dev/null || echo "(report rebuild failed)" >&2
}

run_step() {  # run_step INDEX NAME
    local i=$1 name=$2 cmd limit left start rc
    cmd=$(command_of "$name")
    limit=${LIMIT[$name]}
    if [ "$DEADLINE_S" -gt 0 ]; then
        left=$((DEADLINE_S - (SECONDS - start_all) - REPORT_LIMIT_S - 5))
        [ $left -lt $limit ] && limit=$left
        if [ $left -lt 10 ]; then
            echo "=== [$i/${#steps[@]}] $name: NOT RUN: $((SECONDS - start_all)) s of the ${DEADLINE_S} s deadline used" \
                | tee -a "$OUT/summary.txt"
            $PY -m bench.journal step "$OUT" --step "$name" --rc 125 --elapsed 0 --timeout 0 \
                --command "not run: deadline" --log "" || true
            status=1
            return
        fi
    fi
    echo "=== [$i/${#steps[@]}] $name (expected ~${EXPECT[$name]:-?} s, limit $limit s): $cmd"
    start=$SECONDS
    # shellcheck disable=SC2086 -- the command line is built from known words
    timeout --kill-after=5 "$limit" $cmd > >(tee "$OUT/$name.log") 2>&1
    rc=$?
    local took=$((SECONDS - start))
    local what=ok
    [ $rc -eq 0 ] || what="FAILED (rc $rc)"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="KILLED at its $limit s limit (rc $rc)"
    echo "--- $name: $what in $took s; $((SECONDS - start_all)) s since the start" | tee -a "$OUT/summary.txt"
    $PY -m bench.journal step "$OUT" --step "$name" --rc $rc --elapsed $took --timeout "$limit" \
        --command "$cmd" --log "$name.log" || echo "(could not append the step record)" >&2
    [ $rc -eq 0 ] || status=1
    report
}

i=0
for s in "${steps[@]}"; do
    i=$((i + 1))
    run_step $i "$s"
done
echo "=== done in $((SECONDS - start_all)) s, $([ $status = 0 ] && echo 'every step passed' || echo 'SOME STEPS FAILED')"
echo "results: $OUT/results.jsonl (every record), results.md, results.json, speedup_vs_length.png, summary.txt, <step>.log"
exit $status
