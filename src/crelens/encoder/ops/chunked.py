"""The selective scan in pure PyTorch: positions in vectorised chunks, exact recurrence.

Within a chunk the position-independent work (Ā = exp(ΔA), B̄u = ΔBu and the output
contraction C·h) is done for all positions at once in an (L, B, N, D) layout; only the
recurrence h = Ā h + B̄u runs position by position. The backward recomputes segments from
saved boundary states, so memory stays O(chunk · B · N · D). See `crelens.encoder.scan`.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from crelens.encoder.ops.layout import LOG2_E, compute_dtype, time_major

# Chunk sizes (chunked path) measured on the 2-core AVX-512 CPU of the development machine:
# the forward work buffers (3 × chunk·B·N·D floats) should stay in L2/L3 cache.
_CHUNK_TARGET_ELEMENTS = 1 << 19  # ~2 MB of fp32 per work buffer
_SEGMENT_TARGET_ELEMENTS = 1 << 22  # backward recomputation window, ~16 MB per buffer


def discretize(
    delta: torch.Tensor,
    u: torch.Tensor,
    A_log2: torch.Tensor,
    B: torch.Tensor,
    a_out: torch.Tensor,
    b_out: torch.Tensor,
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
        cd = compute_dtype(u)
        batch, dim, length = u.shape
        n_state = A.shape[1]
        # Time-major working layout: (L, B, D) and (L, B, N) views with the last axis contiguous
        # (no copy when the caller's tensors are transposed views of (B, L, ·) buffers).
        u_t = time_major(u, cd)
        delta_t = time_major(delta, cd)
        B_t = time_major(B, cd)
        C_t = time_major(C, cd)
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
                    _take(delta_t, lo, hi, reverse),
                    _take(u_t, lo, hi, reverse),
                    A_log2,
                    _take(B_t, lo, hi, reverse),
                    a[:n],
                    b[:n],
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

        gy_t = u_t.new_zeros(length, batch, dim) if grad_y is None else time_major(grad_y, cd)
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


def chunked_selective_scan(u, delta, A, B, C, D, initial_state, reverse: bool, chunk: int | None, segment: int | None):
    """(y, last state) of the chunked PyTorch scan; `chunk` and `segment` default to sizes that
    keep the work buffers in cache (they change speed and memory, never results)."""
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
    return _ChunkedSelectiveScan.apply(u, delta, A, B, C, D, initial_state, bool(reverse), chunk, segment)
