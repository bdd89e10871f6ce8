#pragma once
// Stand-in for c10::cuda's current stream: emulated launches are synchronous,
// so every stream is the null stream.
#include <c10/core/Device.h>

#include "cuda_emu.h"

namespace c10 {
namespace cuda {

struct CUDAStream {
  operator cudaStream_t() const { return nullptr; }
};

inline CUDAStream getCurrentCUDAStream(DeviceIndex = -1) { return {}; }

}  // namespace cuda
}  // namespace c10
