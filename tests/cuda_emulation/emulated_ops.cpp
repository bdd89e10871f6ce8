// The test-only extension of the CUDA emulation: the CUDA host code of
// csrc/cuda (checks, workspaces, launch geometry, dtype dispatch) and its
// kernels, compiled as C++ against include/, serve as the CPU kernels of the
// smartops ops while installed, so that the ops' Python code (autograd,
// running statistics, modules) runs them on CPU tensors unchanged.
//
//   torch.ops.smartops_emu.install()          the emulated kernels replace the CPU ones
//   torch.ops.smartops_emu.uninstall()        the CPU kernels are back
//   torch.ops.smartops_emu.set_sm_count(n)    the SM count the launches are sized by
#include <torch/library.h>

#include <memory>

#include "cuda/relation_pool_cuda.h"
#include "cuda/relation_pool_phases_cuda.h"
#include "cuda/relation_tail_cuda.h"
#include "cuda_emu.h"

namespace {

std::unique_ptr<torch::Library> installed;

void install() {
  TORCH_CHECK(!installed, "smartops_emu: the emulated kernels are already installed");
  installed = std::make_unique<torch::Library>(torch::Library::IMPL, "smartops", c10::DispatchKey::CPU, __FILE__,
                                               __LINE__);
  // One line per emulated op.
  installed->impl("relation_pool", &smartops::cuda::relation_pool_cuda);
  installed->impl("relation_pool_backward", &smartops::cuda::relation_pool_backward_cuda);
  installed->impl("relation_pool_moments", &smartops::cuda::relation_pool_moments_cuda);
  installed->impl("relation_pool_merge_stats", &smartops::cuda::relation_pool_merge_stats_cuda);
  installed->impl("relation_pool_apply", &smartops::cuda::relation_pool_apply_cuda);
  installed->impl("relation_pool_grad_sums", &smartops::cuda::relation_pool_grad_sums_cuda);
  installed->impl("relation_pool_grad_input", &smartops::cuda::relation_pool_grad_input_cuda);
  installed->impl("relation_tail", &smartops::cuda::relation_tail_cuda);
}

// Deregistering makes the earlier (real CPU) kernels current again.
void uninstall() { installed.reset(); }

void set_sm_count(int64_t count) { cuda_emu::set_sm_count(static_cast<int>(count)); }

int64_t sm_count() { return cuda_emu::sm_count_setting(); }

}  // namespace

TORCH_LIBRARY(smartops_emu, m) {
  m.def("install() -> ()", &install);
  m.def("uninstall() -> ()", &uninstall);
  m.def("set_sm_count(int count) -> ()", &set_sm_count);
  m.def("sm_count() -> int", &sm_count);
}
