// The smartops operator library: schemas (device kernels are registered in
// cpu/ and cuda/, fake and autograd implementations from Python in
// smartops/ops/), and the Python module smartops._C that loads them.
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(smartops, m) {
  // Relation branch after its 3D conv: BN1 (2C channels) -> square -> mean of
  // adjacent channel pairs -> BN2 (C channels) -> optional ReLU. With
  // mean1..var2 omitted the batch statistics are used (training) and
  // returned; given, they are used as they are (evaluation) and returned
  // as copies. Running statistics are not touched: the caller updates them.
  m.def(
      "relation_pool(Tensor x, Tensor weight1, Tensor bias1, Tensor weight2, Tensor bias2, "
      "Tensor? mean1, Tensor? var1, Tensor? mean2, Tensor? var2, float eps, bool relu) "
      "-> (Tensor out, Tensor mean1, Tensor var1, Tensor mean2, Tensor var2)");
  // Gradients of relation_pool. batch_stats: the statistics were x's own
  // batch statistics (their dependence on x is differentiated).
  m.def(
      "relation_pool_backward(Tensor grad_out, Tensor x, Tensor weight1, Tensor bias1, Tensor weight2, "
      "Tensor bias2, Tensor mean1, Tensor var1, Tensor mean2, Tensor var2, float eps, bool relu, "
      "bool batch_stats) -> (Tensor grad_x, Tensor grad_weight1, Tensor grad_bias1, Tensor grad_weight2, "
      "Tensor grad_bias2)");
  // Phases of relation_pool for synchronized batch norm across processes
  // (smartops/ops/relation_pool_sync.py), as torch splits its SyncBatchNorm.
  // Statistics pass: per-pair moment records (pairs, width) in float64.
  m.def("relation_pool_moments(Tensor x) -> Tensor");
  // Both BNs' batch statistics from the records (processes, pairs, width).
  m.def(
      "relation_pool_merge_stats(Tensor moments, Tensor weight1, Tensor bias1, Tensor weight2, Tensor bias2, "
      "float eps) -> (Tensor mean1, Tensor var1, Tensor mean2, Tensor var2)");
  // Apply pass: relation_pool's training output given the merged batch
  // statistics of `count` positions per channel (all processes'), which
  // select the same forms as the single-process op's own statistics do.
  m.def(
      "relation_pool_apply(Tensor x, Tensor weight1, Tensor bias1, Tensor weight2, Tensor bias2, Tensor mean1, "
      "Tensor var1, Tensor mean2, Tensor var2, int count, float eps, bool relu) -> Tensor");
  // Backward pass 1: per-pair gradient sums (pairs, width) in float64, with
  // q and ph recomputed as the apply pass formed them (same `count`).
  m.def(
      "relation_pool_grad_sums(Tensor grad_out, Tensor x, Tensor weight1, Tensor bias1, Tensor weight2, "
      "Tensor bias2, Tensor mean1, Tensor var1, Tensor mean2, Tensor var2, int count, float eps, bool relu) "
      "-> Tensor");
  // Backward pass 2: dx and the parameter gradients from the sums over all
  // processes' `count` positions per channel.
  m.def(
      "relation_pool_grad_input(Tensor grad_out, Tensor x, Tensor weight1, Tensor bias1, Tensor weight2, "
      "Tensor bias2, Tensor mean1, Tensor var1, Tensor mean2, Tensor var2, Tensor grad_sums, int count, "
      "float eps, bool relu) -> (Tensor grad_x, Tensor grad_weight1, Tensor grad_bias1, Tensor grad_weight2, "
      "Tensor grad_bias2)");
  // conv3d(cat([a, z], 1), weight, bias) for a 1x1x1 weight of shape
  // (Cout, Ca + Cz, 1, 1, 1), without forming the concatenation.
  m.def("concat_reduce(Tensor a, Tensor z, Tensor weight, Tensor? bias) -> Tensor");
  // Gradients of concat_reduce; grad_bias is empty unless bias_grad.
  m.def(
      "concat_reduce_backward(Tensor grad_out, Tensor a, Tensor z, Tensor weight, bool bias_grad) "
      "-> (Tensor grad_a, Tensor grad_z, Tensor grad_weight, Tensor grad_bias)");
  // Folded relation tail for inference (smartops.nn.fold): with BN1 folded
  // into the relation conv (u its output), BN2 and the pair mean into
  // per-pair scale and shift: relu(scale_k * (u_2k^2 + u_2k+1^2) + shift_k).
  m.def("relation_tail(Tensor u, Tensor scale, Tensor shift, bool relu) -> Tensor");
}

extern "C" {
// A plain module: importing smartops._C runs the static registrations above.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", "smartops compiled operators", -1, nullptr};
  PyObject* module = PyModule_Create(&module_def);
  if (module == nullptr) return nullptr;
#ifdef SMARTOPS_WITH_CUDA
  PyModule_AddIntConstant(module, "with_cuda", 1);
#else
  PyModule_AddIntConstant(module, "with_cuda", 0);
#endif
  return module;
}
}
