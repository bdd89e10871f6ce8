#!/usr/bin/env bash
# The first minutes on a GPU, in one command (under 8 minutes on one
# H100/H200 with 16 cores):
#
#   bash benchmarks/gpu_check.sh [OUTDIR]      # OUTDIR defaults to $OUT, else gpu-check/
#
# builds smartops in place with CUDA for this GPU's architecture only, runs
# the CUDA tests, the CUDA kernel benchmarks (ARTNet layer shapes, float32
# and bfloat16: fused vs eager vs torch.compile, bandwidth vs a device copy),
# the ARTNet (d) / C3D-R18 training-step benchmark with peak memory, the
# memory report and the evaluation throughput of every inference path, and
# regenerates RESULTS.md with the GPU runs. Each step has a time limit; a
# failed step is reported and the next one still runs.
# OUTDIR gets at most 8 files (the device tool brings back no more):
# gpu-check.log (everything), summary.txt, cuda-kernels.json,
# cuda-compile.json, cuda-models.json, memory-cuda.json, eval-throughput-cuda.json and
# RESULTS.md (draw RESULTS.png afterwards with make_results.py on the JSONs).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/gpu-check.log
summary=$out/summary.txt
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
: >"$log"
: >"$summary"
start=$SECONDS
budget=450  # seconds for all steps together: the whole check stays under 8 minutes

note() { echo "$*" | tee -a "$summary" "$log"; }

# step NAME LIMIT_S COMMAND...: runs with the smaller of its own limit and
# what is left of the budget; output to the terminal and the log.
step() {
  local name=$1 limit=$2 left t0 rc
  shift 2
  left=$((budget - (SECONDS - start)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then
    note "SKIP  $name (time budget of ${budget} s spent)"
    return 1
  fi
  echo "== $name (limit ${limit} s)" | tee -a "$log"
  t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) note "PASS  $name ($((SECONDS - t0)) s)" ;;
    124|137) note "TIME  $name: stopped after ${limit} s" ;;
    *) note "FAIL  $name (exit $rc, $((SECONDS - t0)) s; see gpu-check.log)" ;;
  esac
  return "$rc"
}

# Fail fast where there is no GPU.
if ! gpu=$("$PY" -c "import torch, sys
if not torch.cuda.is_available():
    sys.exit('torch %s (CUDA %s) sees no CUDA GPU' % (torch.__version__, torch.version.cuda))
print('%d.%d %s' % (torch.cuda.get_device_capability() + (torch.cuda.get_device_name(),)))" 2>&1); then
  echo "gpu_check: no GPU: $gpu. Run this on a machine with a CUDA GPU, CUDA torch and nvcc." | tee -a "$log" >&2
  exit 2
fi
arch=${gpu%% *}
note "gpu_check: ${gpu#* } (sm ${arch}), $("$PY" -c 'import torch; print("torch", torch.__version__)'), $(nproc) cores, output in $out"

# In place (the repository is on sys.path): no pip, so nothing is fetched.
step "build for TORCH_CUDA_ARCH_LIST=$arch" 240 env SMARTOPS_WITH_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" \
  MAX_JOBS="$(nproc)" "$PY" setup.py build_ext --inplace || { note "gpu_check: no build, nothing else to run"; exit 1; }

# Every test module with GPU cases: the backend fixture's (test_cuda_ops,
# test_cuda_phases, ...) and the NCCL run of the synchronized op.
cuda_tests=$(grep -l "cuda_only\|mark.cuda\|import backend\|is_nccl_available" tests/test_*.py | sort -u | tr '\n' ' ')
# The emulated half of these tests runs in CI; here only the GPU's.
step "CUDA tests on the GPU: $cuda_tests" 150 "$PY" -m pytest -q -rfEs -p no:cacheprovider -k "not emulated" $cuda_tests
grep -E "^[0-9]+ [a-z]+.* in [0-9.]+s" "$log" | tail -n 1 | sed 's/^/      /' | tee -a "$summary"

bench=(-m pytest -q -p no:cacheprovider --benchmark-disable-gc --benchmark-columns=median,iqr,rounds)
# torch.compile's compilations are the slowest part: the fused vs eager run
# comes first and on its own, so that a timeout there loses no other numbers.
step "kernel benchmarks at ARTNet layer shapes, f32 and bf16: fused vs eager" 120 \
  "$PY" "${bench[@]}" benchmarks/test_bench_cuda.py -k "fused or eager" --benchmark-json="$out/cuda-kernels.json"
step "training step, ARTNet (d) fused/unfused and C3D-R18, peak memory" 120 \
  "$PY" "${bench[@]}" benchmarks/test_bench_models.py -k cuda --benchmark-json="$out/cuda-models.json"
step "memory report" 60 "$PY" benchmarks/memory_report.py --device cuda --out "$out/memory-cuda.json"
step "eval throughput, ARTNet (d) 16x112x112 batch 10, every inference path" 150 \
  "$PY" benchmarks/bench_eval_throughput.py --device cuda --out "$out/eval-throughput-cuda.json"
step "kernel benchmarks: fused vs torch.compile" 200 \
  "$PY" "${bench[@]}" benchmarks/test_bench_cuda.py -k "fused or compiled" --benchmark-json="$out/cuda-compile.json"

# A benchmark run stopped by its time limit leaves an empty JSON.
find "$out" -name "*.json" -empty -delete
cuda_json=$(ls "$out"/cuda-*.json 2>/dev/null | tr '\n' ' ')
memory_json=$(ls benchmarks/results/memory-cpu.json "$out/memory-cuda.json" 2>/dev/null | tr '\n' ' ')
if [ -n "$cuda_json" ]; then
  step "RESULTS.md with the GPU runs" 30 "$PY" benchmarks/make_results.py benchmarks/results/cpu-*.json $cuda_json \
    --memory $memory_json --no-plot --out "$out/RESULTS.md"
fi
"$PY" benchmarks/gpu_summary.py "$out" 2>&1 | tee -a "$summary" "$log"
note "gpu_check: done in $((SECONDS - start)) s; copy $out/*.json to benchmarks/results/ and $out/RESULTS.md to benchmarks/"
! grep -q "^FAIL\|^TIME" "$summary"
