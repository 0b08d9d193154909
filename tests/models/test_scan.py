"""Selective scan vs its sequential definition: values, gradients, long inputs, stability.

Both CPU implementations are checked: the numba kernel ("fused", the default when numba imports)
and the pure-PyTorch chunked fallback ("torch"); the `kernel` fixture runs a test with each.
"""

from __future__ import annotations

import math
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


HAS_FUSED = scan._fused_kernels() is not None
KERNELS = ["torch", pytest.param("fused", marks=pytest.mark.skipif(not HAS_FUSED, reason="numba unavailable"))]


@pytest.fixture(params=KERNELS)
def kernel(request, monkeypatch):
    """Run the test with scan.KERNEL set to each CPU implementation."""
    monkeypatch.setattr(scan, "KERNEL", request.param)
    assert scan.cpu_kernel() == request.param
    return request.param


needs_fused = pytest.mark.skipif(not HAS_FUSED, reason="numba unavailable")


def assert_rel_close(actual, expected, rel=1e-5):
    """Within `rel` of the output's scale (elementwise relative error is meaningless near zeros)."""
    scale = expected.abs().max().clamp_min(1e-30)
    err = (actual - expected).abs().max()
    assert err <= rel * scale, f"max error {err:.3e} > {rel} × scale {scale:.3e}"


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
    ya, ha = selective_scan(u[..., :20], delta[..., :20], A, B[..., :20], C[..., :20], D, initial_state=h0, return_last_state=True)
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
    expected = _grads(selective_scan_sequential, inputs, h0, gy, glast, reverse=True)
    actual = _grads(selective_scan, inputs, h0, gy, glast, reverse=True, chunk=4, segment=12)
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


def _grads(fn, inputs, h0, gy, glast, **kw):
    y, last = fn(*inputs, initial_state=h0, return_last_state=True, **kw)
    return torch.autograd.grad((y * gy).sum() + (last * glast).sum(), [*inputs, h0])


def test_gradients_match_sequential(kernel):
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 37, 4)]
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 37, dtype=torch.float64)
    glast = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = _grads(selective_scan_sequential, inputs, h0, gy, glast)
    actual = _grads(selective_scan, inputs, h0, gy, glast, chunk=4, segment=12)  # several segments
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


def test_long_input_runs_in_bounded_chunks(monkeypatch):
    """Chunked fallback, 131,072 positions: never a (B, D, L, N) tensor; checked against the
    definition on a prefix and (by carrying the state) on a suffix."""
    monkeypatch.setattr(scan, "KERNEL", "torch")
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


def test_shape_errors(kernel):
    u, delta, A, B, C, D = make_inputs(1, 4, 10, 8)
    with pytest.raises(ValueError, match="delta"):
        selective_scan(u, delta[..., :5], A, B, C, D)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(u, delta, A[:2], B, C, D)


def test_cpu_path_does_not_import_mamba_ssm(kernel):
    selective_scan(*make_inputs(1, 2, 5, 4))
    assert "mamba_ssm" not in sys.modules


# ---------------------------------------------------------------------------------------------
# The fused (numba) kernel specifically, and the switch between the two CPU implementations
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fused(monkeypatch):
    if not HAS_FUSED:
        pytest.skip("numba unavailable")
    monkeypatch.setattr(scan, "KERNEL", "fused")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length", [1, 7, 600, 4096])
def test_fused_forward_and_gradients_equal_definition(fused, monkeypatch, length, reverse, dtype):
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


def test_fused_gradcheck_reverse_with_state(fused):
    inputs = [t.double().requires_grad_() for t in make_inputs(2, 3, 9, 2, seed=3)]
    h0 = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)

    def fn(*t):
        y, last = selective_scan(*t[:6], initial_state=t[6], return_last_state=True, reverse=True, segment=4)
        return y, last

    assert torch.autograd.gradcheck(fn, [*inputs, h0])


@pytest.mark.parametrize("wanted", [("u",), ("u", "B"), ("C",), ("delta",), ("A",), ("D",)])
def test_fused_partial_gradients(fused, wanted):
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


def test_fused_saves_bounded_state_and_handles_131kbp(fused):
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
    assert saved == math.ceil(length / scan._FUSED_SEGMENT) * n_state * 4
    assert saved <= math.ceil(u.numel() * n_state / scan._FUSED_SEGMENT) + n_state * 4

    gy = torch.zeros(1, 4, length)
    gy[..., -cut:] = torch.randn(1, 4, cut)
    (g_u,) = torch.autograd.grad((y * gy).sum(), [u])
    assert torch.isfinite(g_u).all()

    start = length - cut - 100
    head, tail = slice(0, start), slice(start, length)
    with torch.no_grad():
        _, state = selective_scan(u[..., head], delta[..., head], A, B[..., head], C[..., head], D, return_last_state=True)
    u_tail = u[..., tail].detach().requires_grad_()
    y_tail = selective_scan_sequential(u_tail, delta[..., tail].detach(), A, B[..., tail], C[..., tail], D, initial_state=state)
    assert_rel_close(y[..., tail].detach(), y_tail.detach())
    (g_tail,) = torch.autograd.grad((y_tail * gy[..., tail]).sum(), [u_tail])
    assert_rel_close(g_u[..., tail], g_tail)
    assert g_u[..., start : length - cut].abs().max() > 0  # reached positions before the loss window


def test_fused_thread_count_does_not_change_the_output(fused):
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


def test_parallel_backends(fused, monkeypatch):
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
                monkeypatch.setattr(scan, "_GOMP", False)
            y = selective_scan(*inputs)
            results.append((y, *torch.autograd.grad(y.sum(), inputs)))
            with pytest.raises(RuntimeError, match="unit 5"):
                scan._parallel(failing, 8)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_fused_channels_last_views_and_bfloat16(fused):
    """The mixer passes transposed (B, L, ·) views; half precision is computed in float32."""
    u, delta, A, B, C, D = make_inputs(2, 24, 33, 4)
    views = [t.transpose(1, 2).contiguous().transpose(1, 2) for t in (u, delta, B, C)]
    assert_rel_close(selective_scan(views[0], views[1], A, views[2], views[3], D), selective_scan_sequential(u, delta, A, B, C, D))
    y = selective_scan(*(t.bfloat16() for t in (u, delta)), A, *(t.bfloat16() for t in (B, C)), D)
    assert y.dtype == torch.bfloat16


def test_kernel_switch(monkeypatch):
    """scan.KERNEL overrides CRELENS_SCAN_KERNEL; "auto" falls back to the chunked path when the
    numba kernel is unavailable, "fused" then raises; the fallback gives the same results."""
    inputs = make_inputs(2, 8, 45, 4, seed=2)
    expected = selective_scan_sequential(*inputs)
    monkeypatch.setattr(scan, "KERNEL", None)
    monkeypatch.setenv(scan.KERNEL_ENV, "torch")
    assert scan.cpu_kernel() == "torch"
    calls = []
    original = scan.discretize
    monkeypatch.setattr(scan, "discretize", lambda *a: calls.append(1) or original(*a))
    assert_rel_close(selective_scan(*inputs), expected)
    assert calls  # the chunked implementation ran
    monkeypatch.setenv(scan.KERNEL_ENV, "bogus")
    with pytest.raises(ValueError, match=scan.KERNEL_ENV):
        scan.cpu_kernel()
    monkeypatch.setenv(scan.KERNEL_ENV, "auto")
    assert scan.cpu_kernel() == ("fused" if HAS_FUSED else "torch")

    monkeypatch.setattr(scan, "_FUSED", False)  # as if numba were not installed
    monkeypatch.setattr(scan, "_FUSED_ERROR", ImportError("No module named 'numba'"))
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
