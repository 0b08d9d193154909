"""The chunked PyTorch scan (crelens.encoder.ops.chunked): 131,072 positions in bounded blocks, equal to the definition."""

from __future__ import annotations

import torch

from crelens.encoder import scan
from crelens.encoder.ops import chunked
from crelens.encoder.scan import selective_scan, selective_scan_sequential

from scan_inputs import assert_rel_close, make_inputs


def test_long_input_runs_in_bounded_chunks(monkeypatch):
    """Chunked fallback, 131,072 positions: never a (B, D, L, N) tensor; checked against the
    definition on a prefix and (by carrying the state) on a suffix."""
    monkeypatch.setattr(scan, "KERNEL", "torch")
    length, cut = 131_072, 1024
    u, delta, A, B, C, D = make_inputs(1, 4, length, 16)
    widths = []
    original = chunked.discretize

    def recording(delta_c, du_c, A_log2, B_c, a_out, b_out):
        widths.append(a_out.shape[0])
        return original(delta_c, du_c, A_log2, B_c, a_out, b_out)

    monkeypatch.setattr(chunked, "discretize", recording)
    y, last = selective_scan(u, delta, A, B, C, D, return_last_state=True)
    monkeypatch.setattr(chunked, "discretize", original)
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
