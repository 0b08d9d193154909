"""MambaLRP relevance per nucleotide, with its conservation accounted exactly.

`lrp()` runs the model's forward under `crelens.encoder.lrp_rules.lrp_mode` (the MambaLRP rules) and
takes Gradient×Input at the model's per-nucleotide input (the embedding output for Caduceus,
the one-hot matrix for a CNN). Relevance of nucleotide i is the sum over its input channels.

Conservation: Σ_i R_i + Σ_k absorbed_k = f(x), where the absorbed terms are the relevance taken
up by biases (conv1d, Linear, LayerNorm) and, with ε > 0, by the ε stabiliser; each is logged
by the ledger under the parameter's name. `conservation_frame` reports every term per sequence
and the relative error of the identity, which is ~1e-15 in float64 (the check is ≤ 1e-6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import torch

from crelens.attribution.explained import ExplainedModel, per_nucleotide
from crelens.encoder.lrp_rules import lrp_mode


@dataclass
class LRPResult:
    """Relevance of `outputs` for a batch: relevance (B, k, L), explained f(x) (B, k),
    absorbed {name: (B, k)} — k = number of explained outputs."""

    relevance: torch.Tensor
    explained: torch.Tensor
    absorbed: dict[str, torch.Tensor]
    outputs: list[int]

    def residual(self) -> torch.Tensor:
        """f(x) − Σ R − Σ absorbed, (B, k): zero up to rounding when relevance is conserved."""
        total = self.relevance.sum(-1)
        for value in self.absorbed.values():
            total = total + value
        return self.explained - total


def lrp(model: ExplainedModel, x: torch.Tensor, outputs: list[int] | None = None, epsilon: float = 0.0) -> LRPResult:
    """MambaLRP of `model(x)[:, o]` for each o in `outputs` (default: all), one forward pass."""
    modules = model.lrp_modules()
    if not modules:
        raise ValueError(f"{type(model).__name__} has no LRP rules; use grad_x_input for LRP-0 of a ReLU CNN")
    outputs = list(range(len(model.output_names))) if outputs is None else list(outputs)
    x = x.detach().requires_grad_(True)
    batch = x.shape[0]
    relevance, explained, absorbed = [], [], {}
    with lrp_mode(*modules, epsilon=epsilon) as ledger:
        out = model(x)
    leaves = [leaf for _, leaf in ledger.leaves]
    for k, o in enumerate(outputs):
        grads = torch.autograd.grad(out[:, o].sum(), [x, *leaves], retain_graph=k < len(outputs) - 1, allow_unused=True)
        relevance.append(per_nucleotide(x.detach() * grads[0]))
        explained.append(out[:, o].detach())
        for name, value in ledger.absorbed(list(grads[1:]), batch).items():
            absorbed.setdefault(name, [torch.zeros(batch, dtype=x.dtype, device=x.device)] * len(outputs))
            absorbed[name][k] = value.detach()
    return LRPResult(
        relevance=torch.stack(relevance, 1),
        explained=torch.stack(explained, 1),
        absorbed={name: torch.stack(values, 1) for name, values in absorbed.items()},
        outputs=outputs,
    )


def absorber_group(name: str) -> str:
    """Group a ledger entry for the report: encoder conv bias, head bias, norm bias, epsilon."""
    if name.endswith("(epsilon)"):
        return "epsilon"
    if "conv1d" in name:
        return "encoder_conv_bias"
    if name.startswith("backbone"):
        return "encoder_bias"
    if re.search(r"norm", name):
        return "head_norm_bias"
    return "head_bias"


def conservation_frame(result: LRPResult, seq_ids: list[str], output_names: list[str]) -> pd.DataFrame:
    """One row per (sequence, explained output): f(x), Σ R, absorbed by group, residual, rel_err.

    rel_err = |residual| / (|f(x)| + |Σ R| + Σ|absorbed|): the error relative to the size of the
    terms that are summed, so it stays meaningful when f(x) is near zero.
    """
    rows = []
    groups = sorted({absorber_group(n) for n in result.absorbed})
    residual = result.residual()
    for k, o in enumerate(result.outputs):
        by_group = {g: 0 for g in groups}
        for name, value in result.absorbed.items():
            by_group[absorber_group(name)] = by_group[absorber_group(name)] + value[:, k]
        explained = result.explained[:, k]
        relevance_sum = result.relevance[:, k].sum(-1)
        scale = explained.abs() + relevance_sum.abs()
        for value in by_group.values():
            scale = scale + torch.as_tensor(value).abs()
        frame = pd.DataFrame(
            {
                "seq_id": list(seq_ids),
                "output": output_names[o],
                "explained": explained.cpu().numpy(),
                "relevance_sum": relevance_sum.cpu().numpy(),
            }
        )
        for group, value in by_group.items():
            frame[f"absorbed_{group}"] = torch.as_tensor(value).expand_as(explained).cpu().numpy()
        frame["residual"] = residual[:, k].cpu().numpy()
        frame["rel_err"] = (residual[:, k].abs() / scale.clamp_min(torch.finfo(scale.dtype).tiny)).cpu().numpy()
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def conservation_summary(per_sequence: pd.DataFrame, method: str, dtype: str) -> pd.DataFrame:
    """conservation.tsv row: method, dtype, n, max_rel_err, median_rel_err, and the mean share of
    |f(x)| absorbed by biases/ε (how much of the output the nucleotides do not carry)."""
    absorbed = per_sequence.filter(like="absorbed_").sum(axis=1)
    share = (absorbed.abs() / per_sequence["explained"].abs().clip(lower=1e-12)).median()
    return pd.DataFrame(
        [
            {
                "method": method,
                "dtype": dtype,
                "n": len(per_sequence),
                "max_rel_err": float(per_sequence["rel_err"].max()),
                "median_rel_err": float(per_sequence["rel_err"].median()),
                "median_absorbed_share": float(share),
            }
        ]
    )
