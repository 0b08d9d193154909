"""Chunked selective scan vs its sequential definition: values, gradients, long inputs, stability."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from crelens.models import scan
from crelens.models.scan import selective_scan, selective_scan_sequential


def make_inputs(batch, dim, length, n_state, dtype=torch.float32, seed=0):
    """Realistic magnitudes: Δ = softplus(N(-4, 1)), A = -exp(log(1..N) + noise), as in trained Mamba."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, dim, length, generator=g, dtype=dtype)
    delta = F.softplus(torch.randn(batch, dim, length, generator=g, dtype=dtype) - 4)
    A_log = torch.log(torch.arange(1, n_state + 1, dtype=dtype)).repeat(dim, 1) + 0.3 * torch.randn(dim, n_state, generator=g, dtype=dtype)
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


@pytest.mark.parametrize("length", [1, 2, 3, 63, 64, 65, 600, 1000, 4096])
def test_fast_equals_sequential(length):
    inputs = make_inputs(2, 16, length, 16, seed=length)
    expected = selective_scan_sequential(*inputs)
    assert_rel_close(selective_scan(*inputs), expected)
    assert_rel_close(selective_scan(*inputs, chunk=7), expected)  # remainder chunks


def test_initial_and_last_state():
    inputs = make_inputs(2, 8, 50, 4)
    h0 = torch.randn(2, 8, 4)
    y0, last0 = selective_scan_sequential(*inputs, initial_state=h0, return_last_state=True)
    y1, last1 = selective_scan(*inputs, initial_state=h0, return_last_state=True, chunk=16)
    assert_rel_close(y1, y0)
    assert_rel_close(last1, last0)
    # splitting the sequence and carrying the state gives the same result
    u, delta, A, B, C, D = inputs
    ya, ha = selective_scan(u[..., :20], delta[..., :20], A, B[..., :20], C[..., :20], D, initial_state=h0, return_last_state=True)
    yb = selective_scan(u[..., 20:], delta[..., 20:], A, B[..., 20:], C[..., 20:], D, initial_state=ha)
    assert_rel_close(torch.cat([ya, yb], -1), y0)


@pytest.mark.parametrize("length", [1, 65, 600])
def test_reverse_equals_flipped_definition(length):
    inputs = make_inputs(2, 8, length, 16, seed=length + 1)
    h0 = torch.randn(2, 8, 16)
    y0, last0 = selective_scan_sequential(*inputs, initial_state=h0, return_last_state=True, reverse=True)
    for chunk in (None, 7):
        y1, last1 = selective_scan(*inputs, initial_state=h0, return_last_state=True, reverse=True, chunk=chunk)
        assert_rel_close(y1, y0)
        assert_rel_close(last1, last0)


def test_reverse_gradients_match_sequential():
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 29, 4, seed=11)]
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 29, dtype=torch.float64)
    glast = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = _grads(selective_scan_sequential, inputs, h0, gy, glast, reverse=True)
    actual = _grads(selective_scan, inputs, h0, gy, glast, reverse=True, chunk=4, segment=12)
    for name, a, e in zip(["u", "delta", "A", "B", "C", "D", "h0"], actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10, msg=name)


def test_without_D_and_dtype_round_trip():
    u, delta, A, B, C, _ = make_inputs(1, 4, 30, 8)
    assert_rel_close(selective_scan(u, delta, A, B, C), selective_scan_sequential(u, delta, A, B, C))
    y = selective_scan(u.bfloat16(), delta.bfloat16(), A, B.bfloat16(), C.bfloat16())
    assert y.dtype == torch.bfloat16


def test_extreme_decay_is_stable():
    """Large Δ·|A| (decays far below fp32's range within one chunk) must not give inf/NaN."""
    u, delta, A, B, C, D = make_inputs(1, 8, 300, 16)
    delta = delta * 0 + torch.linspace(0.01, 60.0, 300)
    A = A * 10
    expected = selective_scan_sequential(u, delta, A, B, C, D)
    actual = selective_scan(u, delta, A, B, C, D)
    assert torch.isfinite(actual).all()
    assert_rel_close(actual, expected)


def _grads(fn, inputs, h0, gy, glast, **kw):
    y, last = fn(*inputs, initial_state=h0, return_last_state=True, **kw)
    return torch.autograd.grad((y * gy).sum() + (last * glast).sum(), [*inputs, h0])


def test_gradients_match_sequential():
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 37, 4)]
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 37, dtype=torch.float64)
    glast = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = _grads(selective_scan_sequential, inputs, h0, gy, glast)
    actual = _grads(selective_scan, inputs, h0, gy, glast, chunk=4, segment=12)  # several segments
    for name, a, e in zip(["u", "delta", "A", "B", "C", "D", "h0"], actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10, msg=name)


def test_gradients_float32_default_sizes():
    inputs = [t.requires_grad_() for t in make_inputs(2, 16, 200, 16)]
    y = selective_scan(*inputs)
    y_ref = selective_scan_sequential(*inputs)
    gy = torch.randn_like(y)
    actual = torch.autograd.grad((y * gy).sum(), inputs)
    expected = torch.autograd.grad((y_ref * gy).sum(), inputs)
    for a, e in zip(actual, expected):
        assert_rel_close(a, e, rel=1e-5)


def test_gradcheck():
    inputs = [t.double().requires_grad_() for t in make_inputs(1, 2, 6, 3)]
    assert torch.autograd.gradcheck(lambda *t: selective_scan(*t, chunk=2, segment=4), inputs)


def test_gradient_only_through_u():
    """The LRP use: Δ, B, C detached, gradient to u only (no forward states recomputed)."""
    u, delta, A, B, C, D = make_inputs(2, 4, 40, 8)
    u.requires_grad_()
    gy = torch.randn(2, 4, 40)
    (g_fast,) = torch.autograd.grad((selective_scan(u, delta, A, B, C, D, chunk=8) * gy).sum(), [u])
    (g_seq,) = torch.autograd.grad((selective_scan_sequential(u, delta, A, B, C, D) * gy).sum(), [u])
    assert_rel_close(g_fast, g_seq)


def test_long_input_runs_in_bounded_chunks(monkeypatch):
    """131,072 positions: never a (B, D, L, N) tensor; checked against the definition on a
    prefix and (by carrying the state) on a suffix."""
    length, cut = 131_072, 1024
    u, delta, A, B, C, D = make_inputs(1, 4, length, 16)
    widths = []
    original = scan.discretize

    def recording(delta_c, du_c, A_log2, B_c, a_out, b_out):
        widths.append(a_out.shape[0])
        return original(delta_c, du_c, A_log2, B_c, a_out, b_out)

    monkeypatch.setattr(scan, "discretize", recording)
    y, last = selective_scan(u, delta, A, B, C, D, return_last_state=True)
    monkeypatch.setattr(scan, "discretize", original)
    assert max(widths) <= 256 and sum(widths) == length  # every position, in bounded blocks
    assert torch.isfinite(y).all()

    prefix = selective_scan_sequential(u[..., :cut], delta[..., :cut], A, B[..., :cut], C[..., :cut], D)
    assert_rel_close(y[..., :cut], prefix)

    head = slice(0, length - cut)
    tail = slice(length - cut, length)
    _, state = selective_scan(u[..., head], delta[..., head], A, B[..., head], C[..., head], D, return_last_state=True)
    suffix, suffix_last = selective_scan_sequential(
        u[..., tail], delta[..., tail], A, B[..., tail], C[..., tail], D, initial_state=state, return_last_state=True
    )
    assert_rel_close(y[..., tail], suffix)
    assert_rel_close(last, suffix_last)


def test_shape_errors():
    u, delta, A, B, C, D = make_inputs(1, 4, 10, 8)
    with pytest.raises(ValueError, match="delta"):
        selective_scan(u, delta[..., :5], A, B, C, D)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(u, delta, A[:2], B, C, D)


def test_cpu_path_does_not_import_mamba_ssm():
    selective_scan(*make_inputs(1, 2, 5, 4))
    assert "mamba_ssm" not in sys.modules
