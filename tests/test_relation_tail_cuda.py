"""The CUDA kernel of relation_tail through its host code, on the CPU
emulation of tests/cuda_emulation (always) and on a GPU (when there is one):
values against the standard-operator reference in both layouts, grid-stride
loops over many chunks, NaN propagation."""
import contextlib

import pytest
import torch

from op_utils import channels_last
from smartops.ops import relation_tail, relation_tail_reference
from test_cuda_ops import backend  # noqa: F401  (the emulated / real CUDA fixture)
from test_relation_tail import coeffs

# Planar runs shorter and longer than a chunk, interleaved rows with pairs
# spread over blocks, one position per sample.
SHAPES = [(3, 6, 3, 5, 7), (2, 40, 2, 9, 11), (16, 8, 1, 1, 1)]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(backend, shape, dtype, layout):  # noqa: F811
    u = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    scale, shift = coeffs(shape[1] // 2, torch.float64)
    want = relation_tail_reference(u, scale, shift)
    u = u.to(device=backend.device, dtype=dtype)
    if layout == "channels_last":
        u = channels_last(u)
    # Emulated: few SMs, so every block loops over several chunks.
    with backend.sm_count(2) if backend.name == "emulated" else contextlib.nullcontext():
        got = relation_tail(u, scale.to(backend.device, dtype), shift.to(backend.device, dtype))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got.cpu().double(), want, rtol=tol, atol=tol)


def test_nan_propagates(backend):  # noqa: F811
    u = torch.randn(2, 4, 2, 3, 3)
    u[1, 3, 1, 2, 2] = float("nan")
    scale, shift = torch.full((2,), -1.0), torch.full((2,), -1.0)  # finite q < 0: only NaN survives
    y = relation_tail(u.to(backend.device), scale.to(backend.device), shift.to(backend.device)).cpu()
    assert y[1, 1, 1, 2, 2].isnan() and int(y.isnan().sum()) == 1
