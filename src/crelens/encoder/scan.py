"""Mamba's selective scan (S6 recurrence) on CPU — a fused numba kernel and a pure-PyTorch
fallback — with bounded memory at any length.

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t          (per batch b, channel d, state n)
    y_t = C_t · h_t + D ⊙ u_t

Shapes follow mamba_ssm's `selective_scan_ref` (state-spaces/mamba,
`mamba_ssm/ops/selective_scan_interface.py`): u, delta (B, D, L); A (D, N); B, C (B, N, L);
D (D,). Δ is passed already positive (the mixer applies softplus with the dt bias), and the
z-gate is applied by the mixer, not here, so each nonlinearity lives in one place.

Implementations (this module is the interface; the kernels are in `crelens.encoder.ops`):
- `selective_scan_sequential`: the definition, one Python step per position (reference only).
- `selective_scan`: the same arithmetic organised for speed and memory. CUDA tensors go to
  mamba_ssm's `selective_scan_fn` kernel when it imports (same semantics; nothing here imports
  it unless a CUDA tensor arrives). On CPU, `cpu_kernel()` chooses, by `scan.KERNEL` or the
  environment variable CRELENS_SCAN_KERNEL = auto (default) | fused | torch:
  * "fused" (the default when numba imports; `ops.fused`): `_fused_forward_kernel` /
    `_fused_backward_kernel`, compiled by numba (`nogil`, cached on disk next to that file, or in numba's user cache
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
  * "torch" (`ops.chunked`; the fallback: no numba, or CRELENS_SCAN_KERNEL=torch; also other
    devices, and CUDA without mamba_ssm): positions in chunks; within a chunk the position-independent work
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

import os

import torch

from crelens.encoder.ops import chunked, cuda, fused
from crelens.encoder.ops.layout import compute_dtype

KERNEL_ENV = "CRELENS_SCAN_KERNEL"
KERNEL: str | None = None  # "auto" | "fused" | "torch"; None: the environment variable, else "auto"


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
    if fused.kernels() is not None:
        return "fused"
    if choice == "fused":
        raise ImportError(f"{KERNEL_ENV}=fused but the numba kernel is unavailable: {fused.build_error()!r}")
    return "torch"


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
    check_shapes(u, delta, A, B, C, D, initial_state)
    if reverse:
        out = selective_scan_sequential(
            u.flip(-1),
            delta.flip(-1),
            A,
            B.flip(-1),
            C.flip(-1),
            D,
            initial_state=initial_state,
            return_last_state=return_last_state,
        )
        return (out[0].flip(-1), out[1]) if return_last_state else out.flip(-1)
    dtype_in = u.dtype
    cd = compute_dtype(u)
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
    check_shapes(u, delta, A, B, C, D, initial_state)
    if u.is_cuda and initial_state is None and u.dtype != torch.float64:  # mamba_ssm has no float64 kernel
        kernel = cuda.mamba_selective_scan()
        if kernel is not None:
            if not reverse:
                return kernel(u, delta, A, B, C, D, None, None, False, return_last_state)
            out = kernel(u.flip(-1), delta.flip(-1), A, B.flip(-1), C.flip(-1), D, None, None, False, return_last_state)
            return (out[0].flip(-1), out[1]) if return_last_state else out.flip(-1)
    if u.device.type == "cpu" and cpu_kernel() == "fused":
        y, last = fused.fused_selective_scan(u, delta, A, B, C, D, initial_state, reverse, segment)
    else:
        y, last = chunked.chunked_selective_scan(u, delta, A, B, C, D, initial_state, reverse, chunk, segment)
    y = y.to(u.dtype)
    return (y, last.to(u.dtype)) if return_last_state else y


def check_shapes(u, delta, A, B, C, D, initial_state) -> None:
    """Raise ValueError naming the first input whose shape does not fit u (batch, channels, length)."""
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
