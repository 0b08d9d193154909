"""The fused numba scan (crelens.encoder.ops.fused): values and every gradient equal the definition; bounded state; threads."""

from __future__ import annotations

import math

import pytest
import torch

from crelens.encoder import scan
from crelens.encoder.ops import fused
from crelens.encoder.scan import selective_scan, selective_scan_sequential

from scan_inputs import HAS_FUSED, assert_rel_close, make_inputs

# ---------------------------------------------------------------------------------------------
# The fused (numba) kernel specifically, and the switch between the two CPU implementations
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fused_kernel(monkeypatch):
    if not HAS_FUSED:
        pytest.skip("numba unavailable")
    monkeypatch.setattr(scan, "KERNEL", "fused")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length", [1, 7, 600, 4096])
def test_fused_forward_and_gradients_equal_definition(fused_kernel, monkeypatch, length, reverse, dtype):
    """Tiny B/D/N (D=5: a partial SIMD block) so that L=4096 stays fast; several backward segments.

    At L=4096 the reference gradients come from the chunked implementation (checked against the
    definition by the tests above): autograd through 4096 Python steps would take seconds."""
    inputs = [t.requires_grad_() for t in make_inputs(2, 5, length, 3, dtype=dtype, seed=length)]
    h0 = torch.randn(2, 5, 3, dtype=dtype, requires_grad=True)
    gy = torch.randn(2, 5, length, dtype=dtype)
    glast = torch.randn(2, 5, 3, dtype=dtype)
    y, last = selective_scan(*inputs, initial_state=h0, return_last_state=True, reverse=reverse, segment=16)
    with torch.no_grad():
        assert_rel_close(y, selective_scan_sequential(*inputs, initial_state=h0, reverse=reverse))
    if length > 1000:
        monkeypatch.setattr(scan, "KERNEL", "torch")
        y0, last0 = selective_scan(*inputs, initial_state=h0, return_last_state=True, reverse=reverse, segment=500)
    else:
        y0, last0 = selective_scan_sequential(*inputs, initial_state=h0, return_last_state=True, reverse=reverse)
    assert y.dtype == dtype and last.dtype == dtype
    assert_rel_close(y, y0)
    assert_rel_close(last, last0)
    actual = torch.autograd.grad((y * gy).sum() + (last * glast).sum(), [*inputs, h0])
    expected = torch.autograd.grad((y0 * gy).sum() + (last0 * glast).sum(), [*inputs, h0])
    rel = 1e-5 if dtype == torch.float32 else 1e-10
    for name, a, e in zip(["u", "delta", "A", "B", "C", "D", "h0"], actual, expected):
        assert a.dtype == dtype, name
        assert_rel_close(a, e, rel=rel)


def test_fused_gradcheck_reverse_with_state(fused_kernel):
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 9, 2, seed=3)]
    h0 = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)

    def fn(*t):
        y, last = selective_scan(*t[:6], initial_state=t[6], return_last_state=True, reverse=True, segment=4)
        return y, last

    assert torch.autograd.gradcheck(fn, [*inputs, h0])


@pytest.mark.parametrize("wanted", [("u",), ("u", "B"), ("C",), ("delta",), ("A",), ("D",)])
def test_fused_partial_gradients(fused_kernel, wanted):
    """Only some inputs require grad (the MambaLRP rule detaches Δ, B, C): each gradient alone."""
    names = ["u", "delta", "A", "B", "C", "D"]
    inputs = list(make_inputs(2, 20, 70, 4, seed=5))
    for name in wanted:
        inputs[names.index(name)].requires_grad_()
    gy = torch.randn(2, 20, 70)
    chosen = [inputs[names.index(name)] for name in wanted]
    actual = torch.autograd.grad((selective_scan(*inputs, segment=8) * gy).sum(), chosen)
    expected = torch.autograd.grad((selective_scan_sequential(*inputs) * gy).sum(), chosen)
    for a, e in zip(actual, expected):
        assert_rel_close(a, e)


def test_fused_saves_bounded_state_and_handles_131kbp(fused_kernel):
    """131,072 positions: the backward keeps one (N, D) state per segment (N/segment of u's size),
    none at all when only u needs a gradient; the output and the gradient of u are checked
    against the definition on the last positions, started from the state carried over the rest
    (the loss covers the last 1024 outputs, so the gradient also reaches positions before them)."""
    length, cut, n_state = 131_072, 1024, 16
    u, delta, A, B, C, D = make_inputs(1, 4, length, n_state)
    u.requires_grad_()
    y = selective_scan(u, delta, A, B, C, D)
    assert sum(t.numel() for t in y.grad_fn.saved_tensors if t.dim() == 4) == 0  # gradient of u only: no states
    delta.requires_grad_()
    y = selective_scan(u, delta, A, B, C, D)
    saved = sum(t.numel() for t in y.grad_fn.saved_tensors if t.dim() == 4)
    assert saved == math.ceil(length / fused._FUSED_SEGMENT) * n_state * 4
    assert saved <= math.ceil(u.numel() * n_state / fused._FUSED_SEGMENT) + n_state * 4

    gy = torch.zeros(1, 4, length)
    gy[..., -cut:] = torch.randn(1, 4, cut)
    (g_u,) = torch.autograd.grad((y * gy).sum(), [u])
    assert torch.isfinite(g_u).all()

    start = length - cut - 100
    head, tail = slice(0, start), slice(start, length)
    with torch.no_grad():
        _, state = selective_scan(
            u[..., head], delta[..., head], A, B[..., head], C[..., head], D, return_last_state=True
        )
    u_tail = u[..., tail].detach().requires_grad_()
    y_tail = selective_scan_sequential(
        u_tail, delta[..., tail].detach(), A, B[..., tail], C[..., tail], D, initial_state=state
    )
    assert_rel_close(y[..., tail].detach(), y_tail.detach())
    (g_tail,) = torch.autograd.grad((y_tail * gy[..., tail]).sum(), [u_tail])
    assert_rel_close(g_u[..., tail], g_tail)
    assert g_u[..., start : length - cut].abs().max() > 0  # reached positions before the loss window


def test_fused_thread_count_does_not_change_the_output(fused_kernel):
    """Bitwise the same output with 1 or 3 threads. (Not so the gradients of B and C in the last
    bits: their sums over channels are split into blocks whose width follows the thread count.)"""
    inputs = make_inputs(3, 40, 50, 8, seed=9)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = selective_scan(*inputs)
        torch.set_num_threads(3)
        three = selective_scan(*inputs)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three)


def test_parallel_backends(fused_kernel, monkeypatch):
    """Work units run on torch's OpenMP threads (when torch uses libgomp) or on a thread pool:
    bitwise the same results, and an error in a unit reaches the caller either way."""
    inputs = [t.requires_grad_() for t in make_inputs(3, 40, 50, 8, seed=4)]

    def failing(lo, hi):
        if lo <= 5 < hi:
            raise RuntimeError("unit 5")

    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for backend in ("default", "thread pool"):
            if backend == "thread pool":
                monkeypatch.setattr(fused, "_GOMP", False)
            y = selective_scan(*inputs)
            results.append((y, *torch.autograd.grad(y.sum(), inputs)))
            with pytest.raises(RuntimeError, match="unit 5"):
                fused._parallel(failing, 8)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_fused_channels_last_views_and_bfloat16(fused_kernel):
    """The mixer passes transposed (B, L, ·) views; half precision is computed in float32."""
    u, delta, A, B, C, D = make_inputs(2, 24, 33, 4)
    views = [t.transpose(1, 2).contiguous().transpose(1, 2) for t in (u, delta, B, C)]
    assert_rel_close(
        selective_scan(views[0], views[1], A, views[2], views[3], D), selective_scan_sequential(u, delta, A, B, C, D)
    )
    y = selective_scan(*(t.bfloat16() for t in (u, delta)), A, *(t.bfloat16() for t in (B, C)), D)
    assert y.dtype == torch.bfloat16
