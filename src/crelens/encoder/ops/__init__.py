"""Implementations of the selective scan behind `crelens.encoder.scan` (as mamba_ssm keeps its
kernels in `mamba_ssm/ops/`): `chunked` (pure PyTorch), `fused` (numba CPU kernel), `cuda`
(mamba-ssm's CUDA kernel, when it imports)."""
