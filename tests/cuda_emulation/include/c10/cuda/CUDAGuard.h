#pragma once
// Stand-in for c10::cuda::CUDAGuard: the emulated device is the host, and
// the emulated op runs on CPU tensors, so there is no device to switch to.
#include <c10/core/Device.h>

namespace c10 {
namespace cuda {

struct CUDAGuard {
  explicit CUDAGuard(Device) {}
};

}  // namespace cuda
}  // namespace c10
