"""mamba-ssm's CUDA scan (crelens.encoder.ops.cuda): never imported on CPU; on a GPU equal to the CPU path."""

from __future__ import annotations

import sys

import pytest
import torch

from crelens.encoder import scan
from crelens.encoder.ops import cuda

from scan_inputs import make_inputs


def test_without_cuda_there_is_no_kernel_and_mamba_ssm_is_not_imported(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.setattr(cuda, "_CUDA_KERNEL", None)
    assert cuda.mamba_selective_scan() is None
    assert cuda._CUDA_KERNEL is False  # remembered: not tried again
    assert "mamba_ssm" not in sys.modules


def test_cpu_tensors_never_ask_for_the_cuda_kernel(monkeypatch):
    def refuse():
        raise AssertionError("the CUDA kernel was requested for CPU tensors")

    monkeypatch.setattr(cuda, "mamba_selective_scan", refuse)
    y = scan.selective_scan(*make_inputs(1, 4, 9, 2))
    assert y.shape == (1, 4, 9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("reverse", [False, True])
def test_cuda_scan_equals_the_cpu_scan(reverse):
    inputs = make_inputs(2, 64, 600, 16, seed=3)
    expected = scan.selective_scan(*inputs, reverse=reverse)
    actual = scan.selective_scan(*(t.cuda() for t in inputs), reverse=reverse).cpu()
    scale = expected.abs().max()
    assert (actual - expected).abs().max() <= 1e-3 * scale
