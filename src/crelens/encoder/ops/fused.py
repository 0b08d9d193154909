"""The selective scan as a fused numba CPU kernel (forward and adjoint backward).

Work units are (batch row, block of up to 512 channels); per position one SIMD loop over the
block's channels computes Ā, the state and y together, with no intermediate tensor. The units
run on torch's own OpenMP threads. Details and measured speed in `crelens.encoder.scan`.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from crelens.encoder.ops.layout import LOG2_E, compute_dtype

_FUSED_SEGMENT = 64  # positions between saved states (forward) = backward recomputation window
# Channels per work unit (a multiple of the 16-lane SIMD width): every inner loop runs over them,
# and each loop entry costs ~25 cycles (alias checks, remainder), so wider is faster; measured on
# the development machine, forward at W = 16 / 128 / 512: 11.3 / 5.2 / 3.7 ms (B=4, L=600, D=512).
_FUSED_MAX_WIDTH = 512
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # not nnan/ninf: NaN and inf propagate

_FUSED: object = None  # None: not built yet; False: numba unavailable; else (forward, backward)
_FUSED_ERROR: BaseException | None = None


def _exp2(x):
    """2**x inside the kernels; numba compiles it by `_build_fused`'s overload (float32: a
    vectorisable polynomial; float64: libm's exp2)."""
    return 2.0**x


def _fused_forward_kernel(u, dt, A2, Bm, Cm, Dv, h0, y, h_last, ckpt, seg, reverse, width, unit_lo, unit_hi):
    """Forward scan for work units [unit_lo, unit_hi) = (batch b, block of `width` channels).

    u, dt, y: (batch, L, D); A2 = A·log2(e): (N, D); Bm, Cm: (batch, L, N); Dv: (D,) or empty;
    h0, h_last: (batch, N, D). ckpt (batch, ceil(L/seg), N, D), unless empty, receives the state
    before each `seg` positions (processing order). One pass per position computes Ā, the state
    and y for `width` channels × N states held in an (N, width) buffer; every inner loop runs
    over contiguous channels, so it compiles to SIMD code (one loop per position and state).
    """
    _, length, dim = u.shape
    n_state = A2.shape[0]
    n_blocks = (dim + width - 1) // width
    save = ckpt.shape[1] > 0
    has_d = Dv.shape[0] > 0
    h = np.empty((n_state, width), dtype=u.dtype)
    y_acc = np.empty(width, dtype=u.dtype)
    dtu = np.empty(width, dtype=u.dtype)
    for unit in range(unit_lo, unit_hi):
        b = unit // n_blocks
        d0 = (unit % n_blocks) * width
        w = min(width, dim - d0)
        for n in range(n_state):
            h[n, :w] = h0[b, n, d0 : d0 + w]
        for s in range(length):
            t = length - 1 - s if reverse else s
            if save and s % seg == 0:
                for n in range(n_state):
                    ckpt[b, s // seg, n, d0 : d0 + w] = h[n, :w]
            dt_row = dt[b, t, d0 : d0 + w]
            u_row = u[b, t, d0 : d0 + w]
            for j in range(w):
                dtu[j] = dt_row[j] * u_row[j]
                y_acc[j] = 0
            for n in range(n_state):
                bn = Bm[b, t, n]
                cn = Cm[b, t, n]
                a2 = A2[n, d0 : d0 + w]
                h_n = h[n]
                for j in range(w):
                    hv = _exp2(dt_row[j] * a2[j]) * h_n[j] + dtu[j] * bn
                    h_n[j] = hv
                    y_acc[j] += cn * hv
            y_row = y[b, t, d0 : d0 + w]
            if has_d:
                d_row = Dv[d0 : d0 + w]
                for j in range(w):
                    y_row[j] = y_acc[j] + d_row[j] * u_row[j]
            else:
                for j in range(w):
                    y_row[j] = y_acc[j]
        for n in range(n_state):
            h_last[b, n, d0 : d0 + w] = h[n, :w]


def _fused_backward_kernel(
    u,
    dt,
    A,
    A2,
    Bm,
    Cm,
    Dv,
    gy,
    ckpt,
    g_last,
    seg,
    reverse,
    width,
    g_u,
    g_dt,
    g_A,
    g_B,
    g_C,
    g_D,
    g_h0,
    unit_lo,
    unit_hi,
):
    """Adjoint of `_fused_forward_kernel` for work units [unit_lo, unit_hi).

    Segment by segment against processing order: Ā of the segment (and, when the gradients of
    Δ, A or C need them — ckpt not empty — its states, from the checkpoint) are recomputed into
    (seg, N, width) buffers, then the adjoint state g = ∂/∂h runs backwards:
        g += gy_t C_t;  ∂B̄u = g;  ∂(ΔA) = g ⊙ h_{t-1} ⊙ Ā_t;  g ← Ā_t ⊙ g
    in one loop over channels per position and state. Outputs (an empty array where that
    gradient is not wanted): g_u, g_dt (batch, L, D); g_A (batch, N, D) and g_D (batch, D), per
    batch row (summed by the caller); g_B, g_C (n_blocks, batch, L, N), per channel block (summed
    by the caller); g_h0 (batch, N, D), the gradient of h0.
    """
    _, length, dim = u.shape
    n_state = A2.shape[0]
    n_blocks = (dim + width - 1) // width
    need_u = g_u.shape[0] > 0
    need_dt = g_dt.shape[0] > 0
    need_A = g_A.shape[0] > 0
    need_B = g_B.shape[0] > 0
    need_C = g_C.shape[0] > 0
    need_D = g_D.shape[0] > 0
    need_states = ckpt.shape[1] > 0
    has_d = Dv.shape[0] > 0
    zero = u.dtype.type(0)
    hs = np.empty((seg + 1 if need_states else 1, n_state, width), dtype=u.dtype)  # h_{s0-1} .. h_{s0+m-1}
    a_s = np.empty((seg, n_state, width), dtype=u.dtype)  # Ā of the segment
    gh = np.empty((n_state, width), dtype=u.dtype)
    g_a_acc = np.empty((n_state, width), dtype=u.dtype)
    g_d_acc = np.zeros(width, dtype=u.dtype)
    dtu = np.empty(width, dtype=u.dtype)
    g_dot_b = np.empty(width, dtype=u.dtype)
    g_del = np.empty(width, dtype=u.dtype)
    n_seg = (length + seg - 1) // seg
    for unit in range(unit_lo, unit_hi):
        b = unit // n_blocks
        blk = unit % n_blocks
        d0 = blk * width
        w = min(width, dim - d0)
        for n in range(n_state):
            gh[n, :w] = g_last[b, n, d0 : d0 + w]
            g_a_acc[n, :w] = 0
        g_d_acc[:] = 0
        for k in range(n_seg - 1, -1, -1):
            s0 = k * seg
            m = min(seg, length - s0)
            if need_states:
                for n in range(n_state):
                    hs[0, n, :w] = ckpt[b, k, n, d0 : d0 + w]
            for i in range(m):
                t = length - 1 - (s0 + i) if reverse else s0 + i
                dt_row = dt[b, t, d0 : d0 + w]
                u_row = u[b, t, d0 : d0 + w]
                for j in range(w):
                    dtu[j] = dt_row[j] * u_row[j]
                for n in range(n_state):
                    a2 = A2[n, d0 : d0 + w]
                    a_i = a_s[i, n]
                    if need_states:
                        bn = Bm[b, t, n]
                        h_prev = hs[i, n]
                        h_cur = hs[i + 1, n]
                        for j in range(w):
                            a = _exp2(dt_row[j] * a2[j])
                            a_i[j] = a
                            h_cur[j] = a * h_prev[j] + dtu[j] * bn
                    else:
                        for j in range(w):
                            a_i[j] = _exp2(dt_row[j] * a2[j])
            for i in range(m - 1, -1, -1):
                t = length - 1 - (s0 + i) if reverse else s0 + i
                dt_row = dt[b, t, d0 : d0 + w]
                u_row = u[b, t, d0 : d0 + w]
                gy_row = gy[b, t, d0 : d0 + w]
                for j in range(w):
                    dtu[j] = dt_row[j] * u_row[j]
                    g_dot_b[j] = 0
                    g_del[j] = 0
                for n in range(n_state):
                    bn = Bm[b, t, n]
                    cn = Cm[b, t, n]
                    g_n = gh[n]
                    a_i = a_s[i, n]
                    acc_b = zero
                    if need_states:
                        h_prev = hs[i, n]
                        h_cur = hs[i + 1, n]
                        a_row = A[n, d0 : d0 + w]
                        g_a_row = g_a_acc[n]
                        acc_c = zero
                        for j in range(w):
                            g = g_n[j] + gy_row[j] * cn
                            acc_c += gy_row[j] * h_cur[j]
                            acc_b += g * dtu[j]
                            g_dot_b[j] += g * bn
                            g_w = g * h_prev[j] * a_i[j]  # ∂/∂(Δ A) at this position
                            g_del[j] += g_w * a_row[j]
                            g_a_row[j] += g_w * dt_row[j]
                            g_n[j] = g * a_i[j]
                        if need_C:
                            g_C[blk, b, t, n] = acc_c
                    else:
                        for j in range(w):
                            g = g_n[j] + gy_row[j] * cn
                            acc_b += g * dtu[j]
                            g_dot_b[j] += g * bn
                            g_n[j] = g * a_i[j]
                    if need_B:
                        g_B[blk, b, t, n] = acc_b
                if need_u:
                    gu_row = g_u[b, t, d0 : d0 + w]
                    if has_d:
                        d_row = Dv[d0 : d0 + w]
                        for j in range(w):
                            gu_row[j] = dt_row[j] * g_dot_b[j] + d_row[j] * gy_row[j]
                    else:
                        for j in range(w):
                            gu_row[j] = dt_row[j] * g_dot_b[j]
                if need_dt:
                    gdt_row = g_dt[b, t, d0 : d0 + w]
                    for j in range(w):
                        gdt_row[j] = u_row[j] * g_dot_b[j] + g_del[j]
                if need_D:
                    for j in range(w):
                        g_d_acc[j] += gy_row[j] * u_row[j]
        if need_D:
            g_D[b, d0 : d0 + w] = g_d_acc[:w]
        for n in range(n_state):
            g_h0[b, n, d0 : d0 + w] = gh[n, :w]
            if need_A:
                g_A[b, n, d0 : d0 + w] = g_a_acc[n, :w]


def _build_fused():
    """Compile (or load from numba's on-disk cache) the two kernels; None if numba is unusable."""
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def pow2_of_integral_f32(typingctx, k):
        """2**k for an integral float32 k in [-126, 127]: k + 127 written into the exponent bits."""
        sig = types.float32(types.float32)

        def codegen(context, builder, signature, args):
            bits = builder.fptosi(args[0], ir.IntType(32))
            bits = builder.add(bits, ir.Constant(ir.IntType(32), 127))
            bits = builder.shl(bits, ir.Constant(ir.IntType(32), 23))
            return builder.bitcast(bits, ir.FloatType())

        return sig, codegen

    f32 = np.float32

    @numba.njit(inline="always", fastmath=_FASTMATH)
    def exp2_f32(x):
        # 2^x = 2^k · 2^f, k = round(x), f ∈ [-1/2, 1/2]: Cephes' exp2f minimax polynomial
        # (relative error ~1e-7, about one fp32 ulp), vectorisable unlike a libm call.
        x = min(max(x, f32(-126.0)), f32(127.0))  # into the normal range (numba's max/min keep a NaN x)
        k = np.rint(x)
        f = x - k
        p = f32(1.535336188319500e-4)
        p = p * f + f32(1.339887440266574e-3)
        p = p * f + f32(9.618437357674640e-3)
        p = p * f + f32(5.550332471162809e-2)
        p = p * f + f32(2.402264791363012e-1)
        p = p * f + f32(6.931472028550421e-1)
        p = p * f + f32(1.0)
        return p * pow2_of_integral_f32(k)

    @overload(_exp2, inline="always", fastmath=_FASTMATH)
    def _exp2_overload(x):
        if x == types.float32:
            return lambda x: exp2_f32(x)
        return lambda x: np.exp2(x)

    kernels = []
    for py_func in (_fused_forward_kernel, _fused_backward_kernel):
        options = {"nogil": True, "fastmath": _FASTMATH, "boundscheck": False}
        try:
            kernels.append(numba.njit(cache=True, **options)(py_func))
        except RuntimeError:  # no writable cache directory (read-only install): compile per process
            kernels.append(numba.njit(**options)(py_func))
    # Compile (or load) the float32 pair now, on a tiny problem, so that a numba that cannot
    # compile them makes `cpu_kernel()` fall back instead of failing in the middle of a model.
    forward, backward = kernels

    def z(*shape):
        return np.zeros(shape, dtype=np.float32)

    forward(
        z(1, 2, 16),
        z(1, 2, 16),
        z(2, 16),
        z(1, 2, 2),
        z(1, 2, 2),
        z(16),
        z(1, 2, 16),
        z(1, 2, 16),
        z(1, 2, 16),
        z(1, 1, 2, 16),
        2,
        False,
        16,
        0,
        1,
    )
    backward(
        z(1, 2, 16),
        z(1, 2, 16),
        z(2, 16),
        z(2, 16),
        z(1, 2, 2),
        z(1, 2, 2),
        z(16),
        z(1, 2, 16),
        z(1, 1, 2, 16),
        z(1, 2, 16),
        2,
        False,
        16,
        z(1, 2, 16),
        z(1, 2, 16),
        z(1, 2, 16),
        z(1, 1, 2, 2),
        z(1, 1, 2, 2),
        z(1, 16),
        z(1, 2, 16),
        0,
        1,
    )
    return forward, backward


def kernels():
    """(forward, backward) numba dispatchers, or None when numba cannot be imported or cannot
    compile them (the reason is kept in _FUSED_ERROR)."""
    global _FUSED, _FUSED_ERROR
    if _FUSED is None:
        try:
            _FUSED = _build_fused()
        except Exception as error:  # noqa: BLE001 — ImportError, or an incompatible numba/numpy pair
            _FUSED, _FUSED_ERROR = False, error
    return _FUSED or None


_POOL: ThreadPoolExecutor | None = None
_POOL_WORKERS = 0
_GOMP: object = None  # None: not looked up yet; False: unavailable; else (GOMP_parallel, callback type)


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: no pool, and (as torch does) no OpenMP team."""
    global _POOL, _POOL_WORKERS, _GOMP
    _POOL, _POOL_WORKERS, _GOMP = None, 0, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _torch_gomp():
    """GOMP_parallel of the GNU OpenMP runtime torch itself runs on, or None.

    Running the kernels on torch's own OpenMP threads matters: after each parallel torch op those
    threads busy-wait for a few milliseconds (libgomp's default spin), so extra threads of our own
    would share the cores with them. Measured at B=4, L=600, D=512 right after a torch op: median
    5.0 ms with a separate thread pool, 2.5 ms on torch's team (2.5 ms either way in isolation).
    Only a libgomp that torch has already loaded is used (found in /proc/self/maps, Linux), never
    a second OpenMP runtime.
    """
    global _GOMP
    if _GOMP is None:
        _GOMP = False
        try:
            import ctypes
            import re

            with open("/proc/self/maps") as maps:
                loaded = sorted(set(re.findall(r"(/\S*/libgomp[^/\s]*\.so[^/\s]*)", maps.read())))
            torch_dir = os.path.dirname(torch.__file__)
            loaded = [path for path in loaded if path.startswith(os.path.dirname(torch_dir))] or loaded
            if loaded:
                library = ctypes.CDLL(loaded[0])  # already loaded: the same handle, no new runtime
                callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
                parallel = library.GOMP_parallel
                parallel.argtypes = [callback, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                parallel.restype = None
                _GOMP = (parallel, callback)
        except (OSError, AttributeError):  # no /proc (not Linux), no libgomp (other OpenMP runtimes)
            _GOMP = False
    return _GOMP or None


def _parallel(kernel, n_units: int, *args) -> None:
    """Run kernel(*args, lo, hi) over the work units [0, n_units) on torch.get_num_threads() threads.

    The kernels release the GIL (nogil). The threads are torch's own OpenMP team when torch runs
    on GNU OpenMP (`_torch_gomp`: each team member calls the kernel through a ctypes callback),
    else a small Python thread pool. Units are handed out one block at a time (≥ 4 blocks per
    thread where possible), so a thread slowed by other processes on a shared machine does less of
    the work; each unit writes only its own outputs, so results do not depend on the schedule.
    """
    global _POOL, _POOL_WORKERS
    threads = max(1, min(torch.get_num_threads(), n_units))
    if threads == 1:
        kernel(*args, 0, n_units)
        return
    block = max(1, n_units // (4 * threads))
    starts = iter(range(0, n_units, block))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(_data=None):
        try:
            while True:
                with lock:
                    lo = next(starts, None)
                if lo is None:
                    return
                kernel(*args, lo, min(lo + block, n_units))
        except BaseException as error:  # noqa: BLE001 — re-raised by the caller (a ctypes callback cannot)
            errors.append(error)

    gomp = _torch_gomp()
    if gomp is not None:
        parallel, callback = gomp
        body = callback(work)  # kept alive until GOMP_parallel returns
        parallel(body, None, threads, 0)  # the calling thread is member 0; ctypes releases the GIL
    else:
        if _POOL is None or _POOL_WORKERS < threads - 1:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL_WORKERS = threads - 1
            _POOL = ThreadPoolExecutor(max_workers=_POOL_WORKERS, thread_name_prefix="crelens-scan")
        futures = [_POOL.submit(work) for _ in range(threads - 1)]
        work()
        for future in futures:
            future.result()
    if errors:
        raise errors[0]


def _width(batch: int, dim: int) -> int:
    """Channels per work unit: the widest (≤ _FUSED_MAX_WIDTH, halving from it) whose
    batch × ⌈dim / width⌉ units keep the threads at least 80% busy."""
    threads = torch.get_num_threads()
    width = _FUSED_MAX_WIDTH
    while width > 16 and dim <= width // 2:
        width //= 2
    while width > 16:
        units = batch * math.ceil(dim / width)
        if units / (math.ceil(units / threads) * threads) >= 0.8:
            break
        width //= 2
    return width


def _channels_last(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, C, L) -> contiguous (B, L, C) (no copy for the transposed (B, L, C) views the mixer passes)."""
    return x.detach().to(dtype).transpose(1, 2).contiguous()


def _sum0(x: torch.Tensor) -> torch.Tensor:
    """Sum of the per-block / per-batch partial results over the first axis: none when there is
    one, else numpy's single-threaded sum (these arrays are small; no thread start-up)."""
    return x[0] if x.shape[0] == 1 else torch.from_numpy(x.numpy().sum(0))


def _numpy(*tensors: torch.Tensor) -> list[np.ndarray]:
    """numpy views (no copies) of contiguous CPU tensors, for the kernels."""
    return [t.numpy() for t in tensors]


_EMPTY3 = (0, 0, 0)


class _FusedSelectiveScan(torch.autograd.Function):
    """The numba kernels as an autograd Function (gradients for every input, h0 included)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, initial_state, reverse, segment):
        forward_kernel, _ = kernels()
        cd = compute_dtype(u)
        batch, dim, length = u.shape
        n_state = A.shape[1]
        u_c, delta_c = _channels_last(u, cd), _channels_last(delta, cd)  # (B, L, D)
        B_c, C_c = _channels_last(B, cd), _channels_last(C, cd)  # (B, L, N)
        A_t = A.detach().to(cd).t().contiguous()  # (N, D)
        A2 = A_t * LOG2_E
        D_c = D.detach().to(cd).contiguous() if D is not None else torch.empty(0, dtype=cd)
        h0 = torch.zeros(batch, n_state, dim, dtype=cd)
        if initial_state is not None:
            h0.copy_(initial_state.detach().transpose(1, 2))
        y = torch.empty(batch, length, dim, dtype=cd)
        h_last = torch.empty(batch, n_state, dim, dtype=cd)
        needs = ctx.needs_input_grad
        need_states = needs[1] or needs[2] or needs[4]  # the gradients of Δ, A or C use the states
        n_seg = math.ceil(length / segment) if need_states else 0
        ckpt = torch.empty(batch, n_seg, n_state, dim, dtype=cd)
        width = _width(batch, dim)
        _parallel(
            forward_kernel,
            batch * math.ceil(dim / width),
            *_numpy(u_c, delta_c, A2, B_c, C_c, D_c, h0, y, h_last, ckpt),
            segment,
            reverse,
            width,
        )
        if any(ctx.needs_input_grad[:7]):
            ctx.save_for_backward(u_c, delta_c, A_t, A2, B_c, C_c, D_c, ckpt)
            ctx.reverse, ctx.segment = reverse, segment
            ctx.has_initial_state = initial_state is not None
            ctx.dtypes = (u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype, None if D is None else D.dtype)
        return y.transpose(1, 2), h_last.transpose(1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        _, backward_kernel = kernels()
        u_c, delta_c, A_t, A2, B_c, C_c, D_c, ckpt = ctx.saved_tensors
        need_u, need_delta, need_A, need_B, need_C, need_D, need_h0 = ctx.needs_input_grad[:7]
        batch, length, dim = u_c.shape
        n_state = A_t.shape[0]
        cd = u_c.dtype
        width = _width(batch, dim)
        n_blocks = math.ceil(dim / width)
        gy = torch.zeros(batch, length, dim, dtype=cd) if grad_y is None else grad_y.to(cd).transpose(1, 2).contiguous()
        g_last = torch.zeros(batch, n_state, dim, dtype=cd)
        if grad_last is not None:
            g_last.copy_(grad_last.transpose(1, 2))

        def out(wanted, *shape):  # every element is written by the kernel
            return torch.empty(*shape if wanted else (0,) * len(shape), dtype=cd)

        g_u, g_delta = out(need_u, batch, length, dim), out(need_delta, batch, length, dim)
        g_A = out(need_A, batch, n_state, dim)
        g_B, g_C = out(need_B, n_blocks, batch, length, n_state), out(need_C, n_blocks, batch, length, n_state)
        g_D = out(need_D and D_c.shape[0] > 0, batch, dim)
        g_h0 = torch.empty(batch, n_state, dim, dtype=cd)
        _parallel(
            backward_kernel,
            batch * n_blocks,
            *_numpy(u_c, delta_c, A_t, A2, B_c, C_c, D_c, gy, ckpt, g_last),
            ctx.segment,
            ctx.reverse,
            width,
            *_numpy(g_u, g_delta, g_A, g_B, g_C, g_D, g_h0),
        )
        dtypes = ctx.dtypes
        out_u = g_u.transpose(1, 2).to(dtypes[0]) if need_u else None
        out_delta = g_delta.transpose(1, 2).to(dtypes[1]) if need_delta else None
        out_A = _sum0(g_A).t().to(dtypes[2]) if need_A else None
        out_B = _sum0(g_B).transpose(1, 2).to(dtypes[3]) if need_B else None
        out_C = _sum0(g_C).transpose(1, 2).to(dtypes[4]) if need_C else None
        out_D = _sum0(g_D).to(dtypes[5]) if g_D.numel() else None
        out_h0 = g_h0.transpose(1, 2) if (need_h0 and ctx.has_initial_state) else None
        return out_u, out_delta, out_A, out_B, out_C, out_D, out_h0, None, None


def build_error() -> BaseException | None:
    """Why the kernels are unavailable (after `kernels()` returned None), else None."""
    return _FUSED_ERROR


def fused_selective_scan(u, delta, A, B, C, D, initial_state, reverse: bool, segment: int | None):
    """(y, last state) of the fused numba scan (`segment`: positions between saved states)."""
    if segment is not None and segment < 1:
        raise ValueError(f"segment must be positive, got {segment}")
    return _FusedSelectiveScan.apply(u, delta, A, B, C, D, initial_state, bool(reverse), int(segment or _FUSED_SEGMENT))
