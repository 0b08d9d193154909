"""Inputs and tolerances shared by the selective-scan tests (interface and kernels)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from crelens.encoder.ops import fused

HAS_FUSED = fused.kernels() is not None
KERNELS = ["torch", pytest.param("fused", marks=pytest.mark.skipif(not HAS_FUSED, reason="numba unavailable"))]
needs_fused = pytest.mark.skipif(not HAS_FUSED, reason="numba unavailable")


def make_inputs(batch, dim, length, n_state, dtype=torch.float32, seed=0):
    """Realistic magnitudes: Δ = softplus(N(-4, 1)), A = -exp(log(1..N) + noise), as in trained Mamba."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, dim, length, generator=g, dtype=dtype)
    delta = F.softplus(torch.randn(batch, dim, length, generator=g, dtype=dtype) - 4)
    A_log = torch.log(torch.arange(1, n_state + 1, dtype=dtype)).repeat(dim, 1) + 0.3 * torch.randn(
        dim, n_state, generator=g, dtype=dtype
    )
    A = -torch.exp(A_log)
    B = torch.randn(batch, n_state, length, generator=g, dtype=dtype)
    C = torch.randn(batch, n_state, length, generator=g, dtype=dtype)
    D = torch.randn(dim, generator=g, dtype=dtype)
    return u, delta, A, B, C, D


def assert_rel_close(actual, expected, rel=1e-5):
    """Within `rel` of the output's scale (elementwise relative error is meaningless near zeros)."""
    scale = expected.abs().max().clamp_min(1e-30)
    err = (actual - expected).abs().max()
    assert err <= rel * scale, f"max error {err:.3e} > {rel} × scale {scale:.3e}"


def grads(fn, inputs, h0, gy, glast, **kw):
    """Gradients of a weighted sum of a scan's outputs and last state w.r.t. inputs and h0."""
    y, last = fn(*inputs, initial_state=h0, return_last_state=True, **kw)
    return torch.autograd.grad((y * gy).sum() + (last * glast).sum(), [*inputs, h0])
