"""Mamba's selective scan (S6 recurrence) on CPU — a fused numba kernel and a pure-PyTorch
fallback — with bounded memory at any length.

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t          (per batch b, channel d, state n)
    y_t = C_t · h_t + D ⊙ u_t

Shapes follow mamba_ssm's `selective_scan_ref` (state-spaces/mamba,
`mamba_ssm/ops/selective_scan_interface.py`): u, delta (B, D, L); A (D, N); B, C (B, N, L);
D (D,). Δ is passed already positive (the mixer applies softplus with the dt bias), and the
z-gate is applied by the mixer, not here, so each nonlinearity lives in one place.

Implementations:
- `selective_scan_sequential`: the definition, one Python step per position (reference only).
- `selective_scan`: the same arithmetic organised for speed and memory. CUDA tensors go to
  mamba_ssm's `selective_scan_fn` kernel when it imports (same semantics; nothing here imports
  it unless a CUDA tensor arrives). On CPU, `cpu_kernel()` chooses, by `scan.KERNEL` or the
  environment variable CRELENS_SCAN_KERNEL = auto (default) | fused | torch:
  * "fused" (the default when numba imports): `_fused_forward_kernel` / `_fused_backward_kernel`,
    compiled by numba (`nogil`, cached on disk next to this file, or in numba's user cache
    directory; compiled per process if neither is writable). Work units are (batch row, block
    of up to 512 channels); per position one loop over the block's channels per state computes
    Ā, the state and y together, with the (N, block) state in a small buffer: no intermediate
    tensor, every loop SIMD (the layout is (B, L, D), channels contiguous — what the mixer passes,
    so the inputs need no copy). exp is 2^x by range reduction and Cephes' degree-6 exp2f
    polynomial (~1 ulp; libm's exp does not vectorise). The units run on torch's own OpenMP
    threads (see `_parallel`), float32 and float64 alike (bfloat16/float16 are computed in
    float32). Autograd: gradients of u, Δ, A, B, C, D and initial_state; the forward keeps one
    (N, D) state per `segment` (64) positions — N/segment = 1/4 of u's size — and only when the
    gradients of Δ, A or C need states (none for the MambaLRP case, gradient to u with Δ, B, C
    detached); the backward recomputes each segment's Ā and states into (segment, N, block)
    buffers and runs the adjoint recurrence g = gy C + Ā_{t+1} g_{t+1} over them, in reverse.
  * "torch" (the fallback: no numba, or CRELENS_SCAN_KERNEL=torch; also other devices, and
    CUDA without mamba_ssm): positions in chunks; within a chunk the position-independent work
    — Ā = exp(Δ A), B̄u = Δ B u and the output contraction C·h (one batched matmul) — is done
    for all positions at once in an (L, B, N, D) layout, and only the recurrence h = Ā h + B̄u
    runs position by position (one fused multiply-add on the (B, N, D) state), so it is the
    exact recurrence. exp is computed as exp2(Δ · (A·log2 e)) (torch's exp2 is ~3.7× faster
    than exp on this CPU). Memory O(chunk · B · N · D) for work buffers; autograd by a custom
    Function whose backward recomputes segments from saved boundary states. A log-space variant
    (cumulative sums of ΔA per chunk) was prototyped and was no faster: the eager cost is memory
    bandwidth and exp, which is why the fused kernel exists.
  Both: `reverse=True` processes positions from the end (the reverse direction of BiMamba)
  without flipped copies; (B, D, L, N) is never materialised, so 131 kbp inputs run in memory
  linear in L (measured, fused, B=1, D=512, L=131,072: forward +140 MB over the inputs,
  forward+backward of all gradients 2.6 GB peak process memory, u itself being 256 MB).

Speed, 2-core AVX-512 CPU (AMD EPYC, torch 2.13 with 2 threads), L=600, D=512 (d_inner of the
published d_model=256 model), N=16, minimum of 3 interleaved runs, speed-up over the per-step
definition:
    B=4  forward:  loop 32.7 ms, torch 11.1 ms (2.9×), fused 2.5 ms (12.8×)
         fwd+bwd:  loop 504 ms,  torch 79.7 ms (6.3×), fused 10.1 ms (50×)
    B=8  forward:  loop 48.8 ms, torch 17.3 ms (2.8×), fused 4.4 ms (11.0×)
         fwd+bwd:  loop 1218 ms, torch 147 ms (8.3×),  fused 18.2 ms (67×)
  Over three runs of the benchmark on this shared machine the fused speed-ups ranged 10.5–14.2×
  (forward) and 50–85× (fwd+bwd), mostly with the loop's time (49–63 ms at B=8 forward).
  Inputs in (B, D, L) memory order rather than the mixer's (B, L, D) cost a transposed copy of
  u and Δ (1.5–3 ms each at B=8). Max relative difference from the definition 2.3e-7 (outputs),
  1.4e-6 (gradients; float64: ~1e-16); the whole encoder (PS d256 L16, batch 8 × 600 bp)
  2.2 → 3.4 sequences/s. numba compiles the
  kernels once (float32 forward and backward, at the first CPU scan: ~6 s with numba's import;
  float64, at its first use: ~3 s); later processes load them from the cache (~0.4–0.6 s).
  Reproduce: `python benchmarks/bench_caduceus.py --sections scan` (about 20 s; without
  --sections it also times the encoder and cache writing).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.autograd.function import once_differentiable

LOG2_E = 1.4426950408889634  # 1 / ln 2: exp(x) = exp2(x * LOG2_E)

# Chunk sizes (chunked path) measured on the 2-core AVX-512 CPU of the development machine:
# the forward work buffers (3 × chunk·B·N·D floats) should stay in L2/L3 cache.
_CHUNK_TARGET_ELEMENTS = 1 << 19  # ~2 MB of fp32 per work buffer
_SEGMENT_TARGET_ELEMENTS = 1 << 22  # backward recomputation window, ~16 MB per buffer


# ---------------------------------------------------------------------------------------------
# Reference definition
# ---------------------------------------------------------------------------------------------


def selective_scan_sequential(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    initial_state: torch.Tensor | None = None,
    return_last_state: bool = False,
    reverse: bool = False,
):
    """The selective scan by its definition, one position at a time (slow; reference only).

    Computes in at least float32 and returns `u.dtype`. `initial_state` is h_{-1} (B, D, N).
    `reverse=True` is, by definition, flip_L(scan(flip_L(inputs))).
    """
    _check_shapes(u, delta, A, B, C, D, initial_state)
    if reverse:
        out = selective_scan_sequential(
            u.flip(-1), delta.flip(-1), A, B.flip(-1), C.flip(-1), D,
            initial_state=initial_state, return_last_state=return_last_state,
        )
        return (out[0].flip(-1), out[1]) if return_last_state else out.flip(-1)
    dtype_in = u.dtype
    cd = _compute_dtype(u)
    u, delta, A, B, C = (t.to(cd) for t in (u, delta, A, B, C))
    batch, dim, length = u.shape
    h = u.new_zeros(batch, dim, A.shape[1]) if initial_state is None else initial_state.to(cd)
    ys = []
    for t in range(length):
        dt = delta[:, :, t, None]  # (B, D, 1)
        a_bar = torch.exp(dt * A)  # Ā_t = exp(Δ_t A)      (B, D, N)
        bu_bar = (dt * u[:, :, t, None]) * B[:, None, :, t]  # B̄_t u_t = Δ_t B_t u_t
        h = a_bar * h + bu_bar
        ys.append((h * C[:, None, :, t]).sum(-1))  # C_t · h_t
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, dim, 0)
    if D is not None:
        y = y + D.to(cd)[:, None] * u
    y = y.to(dtype_in)
    return (y, h) if return_last_state else y


# ---------------------------------------------------------------------------------------------
# Fast chunked implementation
# ---------------------------------------------------------------------------------------------


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    initial_state: torch.Tensor | None = None,
    return_last_state: bool = False,
    reverse: bool = False,
    chunk: int | None = None,
    segment: int | None = None,
):
    """Selective scan, equal to `selective_scan_sequential` (fp32 rounding aside), fast and bounded.

    `reverse=True` runs the recurrence from the last position to the first, i.e. equals
    flip_L(scan(flip_L(inputs))) without materialising any flipped copy (the reverse direction
    of a bidirectional Mamba). Returns y (B, D, L) in `u.dtype` (a view of a (B, L, D) or
    time-major buffer), and the last state (B, D, N) if `return_last_state`.

    Implementation: mamba_ssm's kernel for CUDA tensors (when it imports, no initial_state is
    given and the dtype is not float64); on CPU the fused numba kernel, or the chunked PyTorch path (see `cpu_kernel()`; also
    the path for other devices). `segment` is the backward recomputation window in positions
    (the forward keeps one state per segment when gradients are needed); `chunk` (positions per
    vectorised block, chunked path only; `segment` is rounded up to a multiple of it there)
    — both default to measured sizes and change speed and memory, never results beyond rounding.
    """
    _check_shapes(u, delta, A, B, C, D, initial_state)
    if u.is_cuda and initial_state is None and u.dtype != torch.float64:  # mamba_ssm has no float64 kernel
        kernel = _cuda_selective_scan()
        if kernel is not None:
            if not reverse:
                return kernel(u, delta, A, B, C, D, None, None, False, return_last_state)
            out = kernel(u.flip(-1), delta.flip(-1), A, B.flip(-1), C.flip(-1), D, None, None, False, return_last_state)
            return (out[0].flip(-1), out[1]) if return_last_state else out.flip(-1)
    if u.device.type == "cpu" and cpu_kernel() == "fused":
        if segment is not None and segment < 1:
            raise ValueError(f"segment must be positive, got {segment}")
        y, last = _FusedSelectiveScan.apply(
            u, delta, A, B, C, D, initial_state, bool(reverse), int(segment or _FUSED_SEGMENT)
        )
        y = y.to(u.dtype)
        return (y, last.to(u.dtype)) if return_last_state else y
    batch, dim, length = u.shape
    n_state = A.shape[1]
    per_position = max(1, batch * dim * n_state)
    if chunk is None:
        chunk = int(min(256, max(4, _CHUNK_TARGET_ELEMENTS // per_position)))
    if segment is None:
        segment = int(min(4096, max(chunk, _SEGMENT_TARGET_ELEMENTS // per_position)))
    if chunk < 1 or segment < 1:
        raise ValueError(f"chunk and segment must be positive, got {chunk}, {segment}")
    segment = chunk * math.ceil(segment / chunk)
    y, last = _ChunkedSelectiveScan.apply(u, delta, A, B, C, D, initial_state, bool(reverse), chunk, segment)
    y = y.to(u.dtype)
    return (y, last.to(u.dtype)) if return_last_state else y


def discretize(
    delta: torch.Tensor, u: torch.Tensor, A_log2: torch.Tensor, B: torch.Tensor, a_out: torch.Tensor, b_out: torch.Tensor
) -> None:
    """Ā = exp(Δ A) and B̄u = Δ u B for a block of positions, written into (T, B, N, D) buffers.

    delta, u: (T, B, D); A_log2 = A·log2(e) transposed to (N, D); B: (T, B, N).
    This is the one place the scan forms Ā and B̄ (the MambaLRP SSM rule detaches Δ, B, C
    before they reach the scan, which makes this linear in u).
    """
    torch.mul(delta[:, :, None, :], A_log2, out=a_out)
    a_out.exp2_()
    torch.mul((delta * u)[:, :, None, :], B[:, :, :, None], out=b_out)


def _recurrence(a: torch.Tensor, b: torch.Tensor, h_prev: torch.Tensor, states: torch.Tensor) -> None:
    """states[t] = a[t] ⊙ states[t-1] + b[t], starting from h_prev; all (…, B, N, D)."""
    for t in range(a.shape[0]):
        torch.addcmul(b[t], a[t], h_prev, out=states[t])
        h_prev = states[t]


def _blocks(lo: int, hi: int, size: int, reverse: bool) -> list[tuple[int, int]]:
    """[lo, hi) cut at multiples of `size`, in processing order (descending if `reverse`)."""
    cuts = [(s, min(s + size, hi)) for s in range(lo, hi, size)]
    return cuts[::-1] if reverse else cuts


def _take(x: torch.Tensor, lo: int, hi: int, reverse: bool) -> torch.Tensor:
    """Positions [lo, hi) of a time-major tensor in processing order (a small copy if reversed)."""
    return x[lo:hi].flip(0) if reverse else x[lo:hi]


def _put(dest: torch.Tensor, lo: int, hi: int, value: torch.Tensor, reverse: bool, accumulate=False) -> None:
    """Write (or add) a processing-order block back at positions [lo, hi)."""
    value = value.flip(0) if reverse else value
    if accumulate:
        dest[lo:hi] += value
    else:
        dest[lo:hi] = value


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Chunked forward and segment-recomputing backward of the selective scan."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, initial_state, reverse, chunk, segment):
        cd = _compute_dtype(u)
        batch, dim, length = u.shape
        n_state = A.shape[1]
        # Time-major working layout: (L, B, D) and (L, B, N) views with the last axis contiguous
        # (no copy when the caller's tensors are transposed views of (B, L, ·) buffers).
        u_t = _time_major(u, cd)
        delta_t = _time_major(delta, cd)
        B_t = _time_major(B, cd)
        C_t = _time_major(C, cd)
        A_log2 = (A.to(cd) * LOG2_E).t().contiguous()  # (N, D)

        h = u.new_zeros((batch, n_state, dim), dtype=cd)
        if initial_state is not None:
            h.copy_(initial_state.to(cd).transpose(1, 2))
        y_t = u.new_empty((length, batch, dim), dtype=cd)
        width = min(chunk, max(length, 1))
        a = u.new_empty((width, batch, n_state, dim), dtype=cd)
        b = torch.empty_like(a)
        states = torch.empty_like(a)

        needs_grad = any(ctx.needs_input_grad[:7])
        boundaries = []
        for seg_lo, seg_hi in _blocks(0, length, segment, reverse):
            if needs_grad:
                boundaries.append(h.clone())
            for lo, hi in _blocks(seg_lo, seg_hi, chunk, reverse):
                n = hi - lo
                discretize(
                    _take(delta_t, lo, hi, reverse), _take(u_t, lo, hi, reverse), A_log2, _take(B_t, lo, hi, reverse), a[:n], b[:n]
                )
                _recurrence(a[:n], b[:n], h, states[:n])
                h.copy_(states[n - 1])
                # y_t = C_t · h_t for the whole chunk: (n, B, 1, N) @ (n, B, N, D) -> (n, B, 1, D)
                if reverse:
                    y_t[lo:hi] = torch.matmul(_take(C_t, lo, hi, True)[:, :, None, :], states[:n]).squeeze(2).flip(0)
                else:
                    torch.matmul(C_t[lo:hi, :, None, :], states[:n], out=y_t[lo:hi, :, None, :])
        if D is not None:
            y_t.addcmul_(u_t, D.to(cd))

        if needs_grad:
            ctx.save_for_backward(u_t, delta_t, A_log2, B_t, C_t, D, *boundaries)
            ctx.reverse, ctx.segment = reverse, segment
            ctx.has_initial_state = initial_state is not None
            ctx.dtypes = (u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype, None if D is None else D.dtype)
        return y_t.permute(1, 2, 0), h.transpose(1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        u_t, delta_t, A_log2, B_t, C_t, D, *boundaries = ctx.saved_tensors
        need_u, need_delta, need_A, need_B, need_C, need_D, need_h0 = ctx.needs_input_grad[:7]
        reverse = ctx.reverse
        length, batch, dim = u_t.shape
        n_state = A_log2.shape[0]
        cd = u_t.dtype
        A_t = A_log2 / LOG2_E  # (N, D)

        gy_t = u_t.new_zeros(length, batch, dim) if grad_y is None else _time_major(grad_y, cd)
        if need_u:
            g_u = gy_t * D.to(cd) if D is not None else u_t.new_zeros(u_t.shape)
        g_delta = u_t.new_zeros(u_t.shape) if need_delta else None
        g_A = u_t.new_zeros(n_state, dim) if need_A else None
        g_B = u_t.new_zeros(B_t.shape) if need_B else None
        g_C = u_t.new_zeros(C_t.shape) if need_C else None
        g_D = (gy_t * u_t).sum((0, 1)) if (need_D and D is not None) else None
        need_states = need_delta or need_A or need_C  # the adjoints of u and B need no forward states

        # carry = gradient reaching the last processed state of the current segment from later ones
        carry = u_t.new_zeros(batch, n_state, dim)
        if grad_last is not None:
            carry += grad_last.to(cd).transpose(1, 2)
        segments = _blocks(0, length, ctx.segment, reverse)
        for index in reversed(range(len(segments))):
            lo, hi = segments[index]
            n = hi - lo
            delta_s, u_s = _take(delta_t, lo, hi, reverse), _take(u_t, lo, hi, reverse)
            B_s, C_s, gy_s = _take(B_t, lo, hi, reverse), _take(C_t, lo, hi, reverse), _take(gy_t, lo, hi, reverse)
            a = u_t.new_empty(n, batch, n_state, dim)
            b = torch.empty_like(a)
            discretize(delta_s, u_s, A_log2, B_s, a, b)
            if need_states:
                states = u_t.new_empty(n + 1, batch, n_state, dim)
                states[0] = boundaries[index]
                _recurrence(a, b, states[0], states[1:])
            # Adjoint recurrence, against processing order: g_t = gy_t ⊗ C_t + Ā_{t+1} ⊙ g_{t+1}.
            g = b  # reuse the buffer: B̄u is not needed once the states exist
            torch.mul(gy_s[:, :, None, :], C_s[:, :, :, None], out=g)
            g[n - 1] += carry
            for t in range(n - 2, -1, -1):
                g[t].addcmul_(a[t + 1], g[t + 1])
            carry = a[0] * g[0]
            # ∂/∂(B̄u) is g; B̄u = Δ u B: Σ_n g B feeds u and Δ, Σ_d g Δu feeds B.
            g_dot_B = torch.matmul(B_s[:, :, None, :], g).squeeze(2)  # (n, B, D)
            if need_u:
                _put(g_u, lo, hi, delta_s * g_dot_B, reverse, accumulate=True)
            if need_delta:
                _put(g_delta, lo, hi, u_s * g_dot_B, reverse, accumulate=True)
            if need_B:
                _put(g_B, lo, hi, torch.matmul(g, (delta_s * u_s)[:, :, :, None]).squeeze(-1), reverse)
            if need_C:
                _put(g_C, lo, hi, torch.matmul(states[1:], gy_s[:, :, :, None]).squeeze(-1), reverse)
            if need_delta or need_A:
                w = g.mul_(states[:-1]).mul_(a)  # ∂/∂(ΔA): Ā = exp(ΔA) has derivative Ā
                if need_delta:
                    _put(g_delta, lo, hi, (w * A_t).sum(2), reverse, accumulate=True)
                if need_A:
                    g_A += (w * delta_s[:, :, None, :]).sum((0, 1))

        dtypes = ctx.dtypes
        out_u = g_u.permute(1, 2, 0).to(dtypes[0]) if need_u else None
        out_delta = g_delta.permute(1, 2, 0).to(dtypes[1]) if need_delta else None
        out_A = g_A.t().to(dtypes[2]) if need_A else None
        out_B = g_B.permute(1, 2, 0).to(dtypes[3]) if need_B else None
        out_C = g_C.permute(1, 2, 0).to(dtypes[4]) if need_C else None
        out_D = g_D.to(dtypes[5]) if (need_D and D is not None) else None
        out_h0 = carry.transpose(1, 2) if (need_h0 and ctx.has_initial_state) else None
        return out_u, out_delta, out_A, out_B, out_C, out_D, out_h0, None, None, None


# ---------------------------------------------------------------------------------------------
# Fused CPU kernel (numba)
# ---------------------------------------------------------------------------------------------

KERNEL_ENV = "CRELENS_SCAN_KERNEL"
KERNEL: str | None = None  # "auto" | "fused" | "torch"; None: the environment variable, else "auto"

_FUSED_SEGMENT = 64  # positions between saved states (forward) = backward recomputation window
# Channels per work unit (a multiple of the 16-lane SIMD width): every inner loop runs over them,
# and each loop entry costs ~25 cycles (alias checks, remainder), so wider is faster; measured on
# the development machine, forward at W = 16 / 128 / 512: 11.3 / 5.2 / 3.7 ms (B=4, L=600, D=512).
_FUSED_MAX_WIDTH = 512
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # not nnan/ninf: NaN and inf propagate

_FUSED: object = None  # None: not built yet; False: numba unavailable; else (forward, backward)
_FUSED_ERROR: BaseException | None = None


def cpu_kernel() -> str:
    """The CPU implementation `selective_scan` uses now: "fused" (numba) or "torch" (chunked).

    Chosen by `scan.KERNEL` if set, else the environment variable CRELENS_SCAN_KERNEL:
    "auto" (default: "fused" when numba imports, else "torch"), "fused" (numba required: an
    ImportError if it is missing) or "torch" (the pure-PyTorch chunked implementation).
    """
    choice = (KERNEL or os.environ.get(KERNEL_ENV) or "auto").strip().lower()
    if choice not in ("auto", "fused", "torch"):
        raise ValueError(f"{KERNEL_ENV} must be auto, fused or torch, got {choice!r}")
    if choice == "torch":
        return "torch"
    if _fused_kernels() is not None:
        return "fused"
    if choice == "fused":
        raise ImportError(f"{KERNEL_ENV}=fused but the numba kernel is unavailable: {_FUSED_ERROR!r}")
    return "torch"


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
    u, dt, A, A2, Bm, Cm, Dv, gy, ckpt, g_last, seg, reverse, width, g_u, g_dt, g_A, g_B, g_C, g_D, g_h0, unit_lo, unit_hi
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
    z = lambda *shape: np.zeros(shape, dtype=np.float32)
    forward(z(1, 2, 16), z(1, 2, 16), z(2, 16), z(1, 2, 2), z(1, 2, 2), z(16), z(1, 2, 16), z(1, 2, 16),
            z(1, 2, 16), z(1, 1, 2, 16), 2, False, 16, 0, 1)
    backward(z(1, 2, 16), z(1, 2, 16), z(2, 16), z(2, 16), z(1, 2, 2), z(1, 2, 2), z(16), z(1, 2, 16),
             z(1, 1, 2, 16), z(1, 2, 16), 2, False, 16, z(1, 2, 16), z(1, 2, 16), z(1, 2, 16), z(1, 1, 2, 2),
             z(1, 1, 2, 2), z(1, 16), z(1, 2, 16), 0, 1)
    return forward, backward


def _fused_kernels():
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
        forward_kernel, _ = _fused_kernels()
        cd = _compute_dtype(u)
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
            forward_kernel, batch * math.ceil(dim / width),
            *_numpy(u_c, delta_c, A2, B_c, C_c, D_c, h0, y, h_last, ckpt), segment, reverse, width,
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
        _, backward_kernel = _fused_kernels()
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
            backward_kernel, batch * n_blocks,
            *_numpy(u_c, delta_c, A_t, A2, B_c, C_c, D_c, gy, ckpt, g_last), ctx.segment, ctx.reverse, width,
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


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _time_major(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, C, L) -> (L, B, C) view; copied only if the channel axis is not contiguous."""
    x = x.to(dtype).permute(2, 0, 1)
    return x if x.stride(-1) == 1 else x.contiguous()


def _compute_dtype(u: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs, float64 for float64 (used by gradient checks)."""
    return torch.promote_types(u.dtype, torch.float32)


def _check_shapes(u, delta, A, B, C, D, initial_state) -> None:
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, channels, length), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (channels={dim}, d_state), got {tuple(A.shape)}")
    n_state = A.shape[1]
    expected = {
        "delta": (delta, (batch, dim, length)),
        "B": (B, (batch, n_state, length)),
        "C": (C, (batch, n_state, length)),
    }
    if D is not None:
        expected["D"] = (D, (dim,))
    if initial_state is not None:
        expected["initial_state"] = (initial_state, (batch, dim, n_state))
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")


_CUDA_KERNEL: object = None  # None: not tried yet; False: unavailable; else the function


def _cuda_selective_scan():
    """mamba_ssm's CUDA `selective_scan_fn`, or None; imported only when a CUDA tensor arrives."""
    global _CUDA_KERNEL
    if _CUDA_KERNEL is None:
        _CUDA_KERNEL = False
        if torch.cuda.is_available():
            try:  # mamba_ssm's import fails without its compiled extension; any failure -> pure path
                from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

                _CUDA_KERNEL = selective_scan_fn
            except Exception:  # noqa: BLE001 — ImportError, missing .so, triton errors alike
                _CUDA_KERNEL = False
    return _CUDA_KERNEL or None
