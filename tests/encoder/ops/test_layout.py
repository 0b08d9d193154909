"""Dtypes and layouts shared by the scan kernels (crelens.encoder.ops.layout)."""

from __future__ import annotations

import math

import pytest
import torch

from crelens.encoder.ops.layout import LOG2_E, compute_dtype, time_major


def test_log2_e_turns_exp_into_exp2():
    assert LOG2_E == pytest.approx(1 / math.log(2), rel=1e-15)
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(torch.exp2(x * LOG2_E), torch.exp(x))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (torch.float16, torch.float32),
        (torch.bfloat16, torch.float32),
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
    ],
)
def test_compute_dtype_is_at_least_float32(dtype, expected):
    assert compute_dtype(torch.zeros(1, dtype=dtype)) == expected


def test_time_major_is_a_view_when_channels_are_contiguous():
    blc = torch.randn(2, 5, 3)  # (B, L, C) as the mixer stores it
    bcl = blc.transpose(1, 2)  # the (B, C, L) view the scan receives
    out = time_major(bcl, torch.float32)
    assert out.shape == (5, 2, 3) and out.data_ptr() == blc.data_ptr()
    torch.testing.assert_close(out, bcl.permute(2, 0, 1))
    copied = time_major(torch.randn(2, 3, 5), torch.float32)  # channels not contiguous: one copy
    assert copied.is_contiguous()
