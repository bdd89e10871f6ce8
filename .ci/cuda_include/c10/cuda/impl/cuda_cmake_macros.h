#pragma once
// Stand-in for the header that CUDA builds of torch generate and CPU wheels
// lack; it only defines this macro. Used by .ci/compile_cuda.sh alone.
#define C10_CUDA_BUILD_SHARED_LIBS
