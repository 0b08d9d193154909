"""Dtypes and memory layouts shared by the scan kernels.

The kernels compute in float32 for half, bfloat16 and float32 inputs and in float64 for
float64 (the gradient and conservation checks need float64 end to end); the chunked kernel
works time-major (L, B, ·), the fused one channels-last (B, L, ·).
"""

from __future__ import annotations

import torch

LOG2_E = 1.4426950408889634  # 1 / ln 2: exp(x) = exp2(x * LOG2_E)


def time_major(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, C, L) -> (L, B, C) view; copied only if the channel axis is not contiguous."""
    x = x.to(dtype).permute(2, 0, 1)
    return x if x.stride(-1) == 1 else x.contiguous()


def compute_dtype(u: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs, float64 for float64 (used by gradient checks)."""
    return torch.promote_types(u.dtype, torch.float32)
