"""Forward FLOPs and trainable-parameter counts, to compare models by cost as well as accuracy.

`count_flops` uses `torch.utils.flop_counter.FlopCounterMode`, which intercepts aten ops and
counts a multiply-add as 2 FLOPs. Counted: matrix products (`mm`, `addmm` — i.e. `nn.Linear` —,
`bmm`, `baddbmm`, so `@`/`matmul` too), convolutions (`nn.Conv1d/2d`) and the fused attention
kernels. Not counted, by design of the counter: everything elementwise or reducing — bias
additions (an `addmm`'s bias and a convolution's bias are free), activations, softmax, LayerNorm,
dropout, residual additions, pooling, sort/top-k, gather. For the models here the counted
products dominate, so the count is a lower bound that ranks models correctly.

One gap of the stock counter is filled here: on CPU, `F.scaled_dot_product_attention` runs
`aten._scaled_dot_product_flash_attention_for_cpu`, which torch's registry does not list (it would
count 0); we count it like the explicit QKᵀ and AV products (`sdpa_flop_count`), so a model's
FLOPs do not depend on whether its attention ran fused or explicitly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


def _cpu_sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def _custom_mapping() -> dict:
    aten = torch.ops.aten
    mapping = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_sdpa
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _cpu_sdpa_backward
    return mapping


def count_flops(model: nn.Module, example_input: torch.Tensor, **forward_kwargs) -> int:
    """Forward FLOPs per example: FLOPs of `model(example_input, **forward_kwargs)` / batch size.

    Runs one forward pass without gradients (the model's train/eval mode is left as it is; it
    does not change what is counted). Per-example FLOPs are exact because every counted op
    scales linearly with the batch.
    """
    if example_input.ndim < 1 or example_input.shape[0] < 1:
        raise ValueError(f"example_input needs a leading batch dimension ≥ 1, got {tuple(example_input.shape)}")
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
    with torch.no_grad(), counter:
        model(example_input, **forward_kwargs)
    return counter.get_total_flops() // example_input.shape[0]
