#!/usr/bin/env bash
# Keeps the CUDA code compiling on machines without a GPU (or a CUDA torch):
# every csrc/**/*.cu through nvcc for sm_80 and sm_90, and the CUDA host
# sources (csrc/cuda/*.cpp) through the host compiler, with the flags that
# torch.utils.cpp_extension uses. Object files are thrown away.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  echo "compile_cuda: nvcc not found (set NVCC)" >&2
  exit 1
fi
# The CUDA headers: $CUDA_HOME, else beside nvcc, else the usual places.
for dir in "${CUDA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$NVCC")")")" /usr/local/cuda /usr/local/cuda-*; do
  if [ -n "$dir" ] && [ -f "$dir/include/cuda_runtime.h" ]; then CUDA_HOME=$dir; break; fi
done
if [ ! -f "${CUDA_HOME:-}/include/cuda_runtime.h" ]; then
  echo "compile_cuda: cuda_runtime.h not found (set CUDA_HOME)" >&2
  exit 1
fi
TORCH_INC=$(python3 -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'include'))")
INCLUDES=(-I.ci/cuda_include -Icsrc -I"$TORCH_INC" -I"$TORCH_INC/torch/csrc/api/include" -I"$CUDA_HOME/include")
DEFINES=(-DSMARTOPS_WITH_CUDA -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__
         -D__CUDA_NO_BFLOAT16_CONVERSIONS__ -D__CUDA_NO_HALF2_OPERATORS__)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$NVCC" --version | tail -n 2
status=0
for f in $(find csrc -name '*.cu' | sort); do
  echo "nvcc  $f (sm_80, sm_90)"
  start=$SECONDS
  "$NVCC" -std=c++20 -O2 --expt-relaxed-constexpr "${DEFINES[@]}" "${INCLUDES[@]}" --threads 2 \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
    --compiler-options -fPIC -c "$f" -o "$out/$(basename "$f").o" || status=1
  echo "      $((SECONDS - start)) s"
done
for f in $(find csrc/cuda -name '*.cpp' | sort); do
  echo "c++   $f"
  c++ -std=c++20 -fsyntax-only -fPIC "${DEFINES[@]}" "${INCLUDES[@]}" "$f" || status=1
done
exit $status
