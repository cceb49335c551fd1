#!/usr/bin/env bash
# bench/gpu.sh -- one short, safe call on a GPU machine: safest steps first, riskiest last, and every result back.
# Everything goes under bench/results/<device>/ (RESULTS): results.jsonl (every measurement appended the moment it is
# taken, flush + fsync), summary.txt, logs/<step>.log (unbuffered, kept when a step is killed), compile/, and
# results.md / results.json / speedup_vs_length.png rebuilt after every step (python -m bench.report RESULTS).
# After every step, and when the script itself is stopped, RESULTS is packed into ONE archive in $OUT (when OUT is
# set: the device machine's output folder): $OUT/results-<device>.tar.gz plus a copy of summary.txt -- two files,
# whatever the run wrote.  Unpack with: tar -xzf results-<device>.tar.gz -C bench/results
#
# Usage:
#   bench/gpu.sh                  the quick plan below: about 7.5 min on an H100 / H200, never more than 8
#   bench/gpu.sh STEP...          some steps of the quick plan (appends to the existing results.jsonl)
#   bench/gpu.sh full             the complete suite (no time limit that fits a short call): build check,
#                                 tests/kernels, tests/export, python -m bench (full plan), fp32 with TF32,
#                                 pytest-benchmark
#   bench/gpu.sh --dry-run [...]  print the steps, their commands and limits, and the cases; run nothing
#   bench/gpu.sh --help           this text
#   DEVICE=cpu bench/gpu.sh       the same flow on the CPU: kernels through the Triton interpreter, tiny
#                                 shapes, the GPU tests only collected (tests the flow, measures nothing)
#
# Quick plan, safest first (expected time on an H100 / H200 -> the step's time limit):
#   1 env       ~45 s -> 80 s   python -m gpu_run.check: environment, nvidia-smi, memory bandwidth; the v1 and CQA
#                               kernels compiled into Triton's cache (python -m compile_report --warm --sources
#                               ms_lstm,cqa) and run fwd+bwd at the bench shapes in bf16 and fp32 (no v2 here)
#   2 tests     ~80 s -> 110 s  the v1 / CQA CUDA tests (tests/kernels without the v2 file, tests/export/test_fused.py),
#                               each test isolated (60 s limit; a CUDA fault ends only that test, the rest resume)
#   3 kernels   ~65 s -> 100 s  python -m bench --plan gpu-quick --suites kernels: MS-LSTM E=1,3 and CQA,
#                               fwd and fwd+bwd, bf16 and fp32, T=64,256, triton vs the cuDNN reference
#   4 model     ~55 s -> 90 s   --suites model: one training step of EAMAT and of DP, both workloads, bf16, fp32
#   5 video     ~25 s -> 45 s   python -m bench --plan video --no-compile: seconds of video per second of the I3D
#                               and C3D recipes' backbones (fp32 eager, bf16 channels-last; decoding where PyAV is)
#   6 hour      ~25 s -> 45 s   python -m bench.hour_latency: one query over an hour of clips (7,200), windows
#                               batched, reference and fused kernels, the paper presets' EAMAT and DP then the
#                               synthetic ones (random weights) -> hour_latency.json, rewritten after each model
#   7 compiled  ~20 s -> 35 s   --suites compiled: torch.compile of the references, priority order, as many
#                               cases as the limit allows (a kill here is expected and loses nothing)
#   8 v2-build  ~40 s -> 60 s   v2 alone from here: python -m gpu_run.check --backend triton-v2 (its kernels
#                               compiled, its group plans, run fwd+bwd in bf16)
#   9 v2-tests  ~45 s -> 70 s   tests/kernels/test_ms_lstm_resident.py, each test isolated with a 20 s limit
#  10 v2-bench  ~30 s -> 50 s   --suites v2: the MS-LSTM cases with triton-v2 next to triton, priority order
#   after each step: the report rebuilt (~2 s, limit 20 s) and the archive packed (~1 s)
#   total ~7.5 min expected; no step starts past DEADLINE_S (480 s) and each is cut to the time left.
# Every benchmark step runs its cases through python -m gpu_run.isolation (60 s per case): a case that faults (a
# poisoned CUDA context) or hangs ends only itself; the journal records it as faulted and the step resumes after it.
# The expected times (EXPECT below) are planning estimates made before any GPU run; the measured time of every step
# is its record in results.jsonl (and the report): correct EXPECT from those.
#
# Environment: PYTHON (default python3, else python), DEVICE (cuda | cpu), RESULTS (results directory; default
# bench/results/<device>, on the CPU bench/out/gpu-sh-<cpu>), OUT (where the archive goes; unset: no archive),
# DEADLINE_S (480), LIMIT_<STEP> (e.g. LIMIT_KERNELS=30, LIMIT_V2_TESTS=40: one step's limit in seconds),
# CASE_LIMIT_S (60: one benchmark case or test), V2_TEST_LIMIT_S (20: one v2 test).
# Exit status: 0 every step passed, 1 a step failed or was cut, 2 bad usage / no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif command -v python3 >/dev/null 2>&1; then PY=python3
else PY=python
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1  # a killed step loses no buffered output
DEVICE=${DEVICE:-cuda}
DEADLINE_S=${DEADLINE_S:-480}
CASE_LIMIT_S=${CASE_LIMIT_S:-60}
V2_TEST_LIMIT_S=${V2_TEST_LIMIT_S:-20}
REPORT_LIMIT_S=20
QUICK_STEPS=(env tests kernels model video hour compiled v2-build v2-tests v2-bench)
FULL_STEPS=(env kernel-tests export-tests bench tf32 pytest-bench)
declare -A EXPECT=([env]=45 [tests]=80 [kernels]=65 [model]=55 [video]=25 [hour]=25 [compiled]=20 [v2-build]=40
                   [v2-tests]=45 [v2-bench]=30)
declare -A LIMIT=([env]=80 [tests]=110 [kernels]=100 [model]=90 [video]=45 [hour]=45 [compiled]=35 [v2-build]=60
                  [v2-tests]=70 [v2-bench]=50 [kernel-tests]=1800 [export-tests]=1800 [bench]=3600 [tf32]=1800 [pytest-bench]=3600)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

dry_run=0
mode=quick
steps=()
for arg in "$@"; do
    case $arg in
        -h|--help) usage; exit 0 ;;
        -n|--dry-run) dry_run=1 ;;
        full) mode=full ;;
        env|tests|kernels|model|video|hour|compiled|v2-build|v2-tests|v2-bench) steps+=("$arg") ;;
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
    device=cpu-$($PY -c "from gpu_run.machine import cpu_model, slug; print(slug(cpu_model()))")
    RESULTS=${RESULTS:-bench/out/gpu-sh-$device}
else
    device=$($PY -c "import torch; assert torch.cuda.is_available(); from gpu_run.machine import slug; \
print(slug(torch.cuda.get_device_name()))" 2>/dev/null) || {
        [ $dry_run = 1 ] && device="<device>" || { echo "bench/gpu.sh: torch sees no CUDA device (DEVICE=cpu runs the flow on the CPU)" >&2; exit 2; }
    }
    RESULTS=${RESULTS:-bench/results/$device}
fi
OUT=${OUT:-}
LOGS=$RESULTS/logs
ARCHIVE=results-$device.tar.gz
V1_TESTS=(tests/kernels --ignore=tests/kernels/test_ms_lstm_resident.py tests/export/test_fused.py)
V2_TESTS=(tests/kernels/test_ms_lstm_resident.py)
BENCH=($PY -m bench --device "$DEVICE" --append --out "$RESULTS" --case-limit "$CASE_LIMIT_S")
ISOLATED=($PY -m gpu_run.isolation --out "$RESULTS")
PYTEST=($PY -m pytest -p no:cacheprovider --device "$DEVICE")
HOUR=($PY -m bench.hour_latency --device "$DEVICE" --json "$RESULTS/hour_latency.json")
HOUR_PRESETS=(--preset eamat-charades --preset dp-charades --preset synthetic --preset dp-synthetic)
[ "$DEVICE" = cpu ] && HOUR_PRESETS=(--preset synthetic --clip-seconds 60 --repeats 1)  # the flow, in seconds

tests_command() {  # tests_command PART LIMIT PATH...: each test isolated on a GPU; collected only on the CPU
    local part=$1 limit=$2; shift 2
    if [ "$DEVICE" = cpu ]; then
        echo "${PYTEST[*]} --collect-only -q $*"
    else
        echo "${ISOLATED[*]} -- ${PYTEST[*]} -p gpu_run.pytest_isolation --case-journal $RESULTS --case-part $part" \
             "--case-limit $limit -q -rfE $*"
    fi
}

command_of() {  # the command line of a step
    case $1 in
        env) echo "$PY -m gpu_run.check --out $RESULTS --device $DEVICE --backend triton" ;;
        tests) tests_command tests "$CASE_LIMIT_S" "${V1_TESTS[@]}" ;;
        kernels|model|compiled) echo "${ISOLATED[*]} --resume-flag=--resume -- ${BENCH[*]} --plan gpu-quick --suites $1" ;;
        video) echo "${ISOLATED[*]} --resume-flag=--resume -- ${BENCH[*]} --plan video --no-compile" ;;
        hour) echo "${HOUR[*]} ${HOUR_PRESETS[*]}" ;;
        v2-build) echo "$PY -m gpu_run.check --out $RESULTS --device $DEVICE --backend triton-v2" ;;
        v2-tests) tests_command v2-tests "$V2_TEST_LIMIT_S" "${V2_TESTS[@]}" ;;
        v2-bench) echo "${ISOLATED[*]} --resume-flag=--resume -- ${BENCH[*]} --plan gpu-quick --suites v2" ;;
        kernel-tests) echo "$PY -m pytest -p no:cacheprovider --device $DEVICE -q -rfE tests/kernels" ;;
        export-tests) echo "$PY -m pytest -p no:cacheprovider --device $DEVICE -q -rs tests/export" ;;
        bench) echo "${ISOLATED[*]} --resume-flag=--resume -- ${BENCH[*]} --plan full" ;;
        tf32) echo "$PY -m bench --device $DEVICE --plan full --suites kernels --dtypes fp32 --tf32 --out $RESULTS/tf32" ;;
        pytest-bench) echo "$PY -m pytest -p no:cacheprovider -q bench/test_bench.py --benchmark-json=$RESULTS/pytest-benchmark.json" ;;
    esac
}

if [ $dry_run = 1 ]; then
    echo "bench/gpu.sh plan ($mode) on DEVICE=$DEVICE -> $RESULTS/results.jsonl$([ $fresh = 1 ] && echo ' (started afresh)')"
    echo "archive after every step: ${OUT:-<OUT unset: none>}${OUT:+/$ARCHIVE}"
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

mkdir -p "$LOGS"
if [ $fresh = 1 ] && [ -s "$RESULTS/results.jsonl" ]; then  # a new run starts a new journal; keep the old one
    mkdir -p "$RESULTS/previous"
    mv "$RESULTS/results.jsonl" "$RESULTS/previous/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
fi
: > "$RESULTS/summary.txt"
status=0
start_all=$SECONDS
child=

pack() {  # RESULTS -> one archive in $OUT (written aside, then renamed: never half an archive), + summary.txt
    [ -n "$OUT" ] || return 0
    mkdir -p "$OUT" || return 0
    tar -czf "$OUT/$ARCHIVE.part" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")" \
        && mv -f "$OUT/$ARCHIVE.part" "$OUT/$ARCHIVE" || echo "(could not pack $RESULTS into $OUT)" >&2
    cp "$RESULTS/summary.txt" "$OUT/summary.txt" 2>/dev/null || true
}

stopped() {  # the script itself was signalled: end the running step, keep what it wrote, pack, leave
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && sleep 1
    echo "=== stopped by a signal after $((SECONDS - start_all)) s" | tee -a "$RESULTS/summary.txt"
    pack
    exit 1
}
trap stopped TERM INT HUP

report() {
    timeout --kill-after=5 $REPORT_LIMIT_S $PY -m bench.report "$RESULTS" > /dev/null || echo "(report rebuild failed)" >&2
}

run_step() {  # run_step INDEX NAME
    local i=$1 name=$2 cmd limit left start rc log=$LOGS/$2.log
    cmd=$(command_of "$name")
    limit=${LIMIT[$name]}
    if [ "$DEADLINE_S" -gt 0 ]; then
        left=$((DEADLINE_S - (SECONDS - start_all) - REPORT_LIMIT_S - 5))
        [ $left -lt $limit ] && limit=$left
        if [ $left -lt 10 ]; then
            echo "=== [$i/${#steps[@]}] $name: NOT RUN: $((SECONDS - start_all)) s of the ${DEADLINE_S} s deadline used" \
                | tee -a "$RESULTS/summary.txt"
            $PY -m bench.journal step "$RESULTS" --step "$name" --rc 125 --elapsed 0 --timeout 0 \
                --command "not run: deadline" --log "" || true
            status=1
            return
        fi
    fi
    echo "=== [$i/${#steps[@]}] $name (expected ~${EXPECT[$name]:-?} s, limit $limit s): $cmd"
    start=$SECONDS
    # shellcheck disable=SC2086 -- the command line is built from known words
    timeout --kill-after=5 "$limit" $cmd > >(tee "$log") 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=
    local took=$((SECONDS - start))
    local what=ok
    [ $rc -eq 0 ] || what="FAILED (rc $rc)"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="KILLED at its $limit s limit (rc $rc)"
    echo "--- $name: $what in $took s; $((SECONDS - start_all)) s since the start" | tee -a "$RESULTS/summary.txt"
    $PY -m bench.journal step "$RESULTS" --step "$name" --rc $rc --elapsed $took --timeout "$limit" \
        --command "$cmd" --log "logs/$name.log" || echo "(could not append the step record)" >&2
    [ $rc -eq 0 ] || status=1
    report
    pack
}

i=0
for s in "${steps[@]}"; do
    i=$((i + 1))
    run_step $i "$s"
done
$PY -m gpu_run.isolation --out "$RESULTS" --list-faults | tee -a "$RESULTS/summary.txt"  # the cases that faulted
echo "=== done in $((SECONDS - start_all)) s, $([ $status = 0 ] && echo 'every step passed' || echo 'SOME STEPS FAILED')" \
    | tee -a "$RESULTS/summary.txt"
pack
echo "results: $RESULTS (results.jsonl: every record; results.md, results.json, summary.txt, logs/<step>.log)"
[ -n "$OUT" ] && echo "archive: $OUT/$ARCHIVE (+ summary.txt); unpack with tar -xzf $ARCHIVE -C bench/results"
exit $status
