"""mamba-ssm's CUDA selective scan, used for CUDA tensors when it imports.

Nothing imports mamba_ssm until a CUDA tensor arrives; any failure to import it (no GPU, no
compiled extension) leaves the PyTorch kernels in charge.
"""

from __future__ import annotations

import torch

_CUDA_KERNEL: object = None  # None: not tried yet; False: unavailable; else the function


def mamba_selective_scan():
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
