"""Selective scan vs its sequential definition: values, gradients, long inputs, stability.

Both CPU implementations are checked through the interface (crelens.encoder.scan): the numba
kernel ("fused", the default when numba imports) and the pure-PyTorch chunked fallback ("torch");
the `kernel` fixture runs a test with each.
"""

from __future__ import annotations

import sys

import pytest
import torch

from crelens.encoder import scan
from crelens.encoder.ops import chunked, fused
from crelens.encoder.scan import selective_scan, selective_scan_sequential

from scan_inputs import HAS_FUSED, KERNELS, assert_rel_close, grads, make_inputs, needs_fused


@pytest.fixture(params=KERNELS)
def kernel(request, monkeypatch):
    """Run the test with scan.KERNEL set to each CPU implementation."""
    monkeypatch.setattr(scan, "KERNEL", request.param)
    assert scan.cpu_kernel() == request.param
    return request.param


# ---------------------------------------------------------------------------------------------
# The fused (numba) kernel specifically, and the switch between the two CPU implementations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 2, 3, 63, 64, 65, 600, 1000, 4096])
def test_fast_equals_sequential(length, kernel):
    inputs = make_inputs(2, 16, length, 16, seed=length)
    expected = selective_scan_sequential(*inputs)
    assert_rel_close(selective_scan(*inputs), expected)
    assert_rel_close(selective_scan(*inputs, chunk=7), expected)  # remainder chunks


def test_initial_and_last_state(kernel):
    inputs = make_inputs(2, 8, 50, 4)
    h0 = torch.randn(2, 8, 4)
    y0, last0 = selective_scan_sequential(*inputs, initial_state=h0, return_last_state=True)
    y1, last1 = selective_scan(*inputs, initial_state=h0, return_last_state=True, chunk=16)
    assert_rel_close(y1, y0)
    assert_rel_close(last1, last0)
    # splitting the sequence and carrying the state gives the same result
    u, delta, A, B, C, D = inputs
    ya, ha = selective_scan(
        u[..., :20], delta[..., :20], A, B[..., :20], C[..., :20], D, initial_state=h0, return_last_state=True
    )
    yb = selective_scan(u[..., 20:], delta[..., 20:], A, B[..., 20:], C[..., 20:], D, initial_state=ha)
    assert_rel_close(torch.cat([ya, yb], -1), y0)


@pytest.mark.parametrize("length", [1, 65, 600])
def test_reverse_equals_flipped_definition(length, kernel):
    inputs = make_inputs(2, 8, length, 16, seed=length + 1)
    h0 = torch.randn(2, 8, 16)
    y0, last0 = selective_scan_sequential(*inputs, initial_state=h0, return_last_state=True, reverse=True)
    for chunk in (None, 7):
        y1, last1 = selective_scan(*inputs, initial_state=h0, return_last_state=True, reverse=True, chunk=chunk)
        assert_rel_close(y1, y0)
        assert_rel_close(last1, last0)


def test_reverse_gradients_match_sequential(kernel):
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 29, 4, seed=11)]
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 29, dtype=torch.float64)
    glast = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = grads(selective_scan_sequential, inputs, h0, gy, glast, reverse=True)
    actual = grads(selective_scan, inputs, h0, gy, glast, reverse=True, chunk=4, segment=12)
    for name, a, e in zip(["u", "delta", "A", "B", "C", "D", "h0"], actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10, msg=name)


def test_without_D_and_dtype_round_trip(kernel):
    u, delta, A, B, C, _ = make_inputs(1, 4, 30, 8)
    assert_rel_close(selective_scan(u, delta, A, B, C), selective_scan_sequential(u, delta, A, B, C))
    y = selective_scan(u.bfloat16(), delta.bfloat16(), A, B.bfloat16(), C.bfloat16())
    assert y.dtype == torch.bfloat16


def test_extreme_decay_is_stable(kernel):
    """Large Δ·|A| (decays far below fp32's range within one chunk) must not give inf/NaN."""
    u, delta, A, B, C, D = make_inputs(1, 8, 300, 16)
    delta = delta * 0 + torch.linspace(0.01, 60.0, 300)
    A = A * 10
    expected = selective_scan_sequential(u, delta, A, B, C, D)
    actual = selective_scan(u, delta, A, B, C, D)
    assert torch.isfinite(actual).all()
    assert_rel_close(actual, expected)


def test_nan_and_inf_propagate_like_the_definition(kernel):
    for index, value in [(0, float("nan")), (1, float("nan")), (1, float("inf")), (2, float("nan")), (3, float("nan"))]:
        inputs = [t.clone() for t in make_inputs(1, 4, 20, 4)]
        inputs[index].view(-1)[5] = value
        expected = selective_scan_sequential(*inputs)
        actual = selective_scan(*inputs)
        assert torch.equal(torch.isnan(actual), torch.isnan(expected)), (index, value)
        finite = torch.isfinite(expected)
        assert_rel_close(actual[finite], expected[finite])


def test_gradients_match_sequential(kernel):
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 37, 4)]
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 37, dtype=torch.float64)
    glast = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = grads(selective_scan_sequential, inputs, h0, gy, glast)
    actual = grads(selective_scan, inputs, h0, gy, glast, chunk=4, segment=12)  # several segments
    for name, a, e in zip(["u", "delta", "A", "B", "C", "D", "h0"], actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10, msg=name)


def test_gradients_float32_default_sizes(kernel):
    inputs = [t.requires_grad_() for t in make_inputs(2, 16, 200, 16)]
    y = selective_scan(*inputs)
    y_ref = selective_scan_sequential(*inputs)
    gy = torch.randn_like(y)
    actual = torch.autograd.grad((y * gy).sum(), inputs)
    expected = torch.autograd.grad((y_ref * gy).sum(), inputs)
    for a, e in zip(actual, expected):
        assert_rel_close(a, e, rel=1e-5)


def test_gradcheck(kernel):
    inputs = [t.double().requires_grad_() for t in make_inputs(1, 2, 6, 3)]
    assert torch.autograd.gradcheck(lambda *t: selective_scan(*t, chunk=2, segment=4), inputs)


def test_gradient_only_through_u(kernel):
    """The LRP use: Δ, B, C detached, gradient to u only (no forward states recomputed)."""
    u, delta, A, B, C, D = make_inputs(2, 4, 40, 8)
    u.requires_grad_()
    gy = torch.randn(2, 4, 40)
    (g_fast,) = torch.autograd.grad((selective_scan(u, delta, A, B, C, D, chunk=8) * gy).sum(), [u])
    (g_seq,) = torch.autograd.grad((selective_scan_sequential(u, delta, A, B, C, D) * gy).sum(), [u])
    assert_rel_close(g_fast, g_seq)


def test_shape_errors(kernel):
    u, delta, A, B, C, D = make_inputs(1, 4, 10, 8)
    with pytest.raises(ValueError, match="delta"):
        selective_scan(u, delta[..., :5], A, B, C, D)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(u, delta, A[:2], B, C, D)


def test_cpu_path_does_not_import_mamba_ssm(kernel):
    selective_scan(*make_inputs(1, 2, 5, 4))
    assert "mamba_ssm" not in sys.modules


def test_kernel_switch(monkeypatch):
    """scan.KERNEL overrides CRELENS_SCAN_KERNEL; "auto" falls back to the chunked path when the
    numba kernel is unavailable, "fused" then raises; the fallback gives the same results."""
    inputs = make_inputs(2, 8, 45, 4, seed=2)
    expected = selective_scan_sequential(*inputs)
    monkeypatch.setattr(scan, "KERNEL", None)
    monkeypatch.setenv(scan.KERNEL_ENV, "torch")
    assert scan.cpu_kernel() == "torch"
    calls = []
    original = chunked.discretize
    monkeypatch.setattr(chunked, "discretize", lambda *a: calls.append(1) or original(*a))
    assert_rel_close(selective_scan(*inputs), expected)
    assert calls  # the chunked implementation ran
    monkeypatch.setenv(scan.KERNEL_ENV, "bogus")
    with pytest.raises(ValueError, match=scan.KERNEL_ENV):
        scan.cpu_kernel()
    monkeypatch.setenv(scan.KERNEL_ENV, "auto")
    assert scan.cpu_kernel() == ("fused" if HAS_FUSED else "torch")

    monkeypatch.setattr(fused, "_FUSED", False)  # as if numba were not installed
    monkeypatch.setattr(fused, "_FUSED_ERROR", ImportError("No module named 'numba'"))
    assert scan.cpu_kernel() == "torch"
    calls.clear()
    assert_rel_close(selective_scan(*inputs), expected)
    assert calls
    monkeypatch.setattr(scan, "KERNEL", "fused")
    with pytest.raises(ImportError, match="numba"):
        scan.cpu_kernel()


@needs_fused
def test_fused_kernel_is_used_by_default(monkeypatch):
    monkeypatch.setattr(scan, "KERNEL", None)
    monkeypatch.delenv(scan.KERNEL_ENV, raising=False)
    inputs = [t.requires_grad_() for t in make_inputs(1, 4, 10, 4)]
    y = selective_scan(*inputs)
    assert type(y.grad_fn).__name__.startswith("_FusedSelectiveScan")
