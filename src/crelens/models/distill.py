"""Distilling the full-attention model into sparse top-k students.

Why: the sparse-attention plan asks whether a model that attends to only 5–20 % of the positions
can stand in for full attention. Trained from scratch on a few thousand labelled sequences, a
sparse model must learn at once what to look at and what it means; a student learns from a
trained teacher instead, which both supplies dense targets (its outputs on every sequence) and
says which positions matter.

Recipe:
1. *Warm start* — the student has the teacher's architecture plus a position scorer, so every
   shared weight (embedding, attention block, pooling, output) is copied from the teacher, as
   DistilBERT initialises its student from the teacher's layers (Sanh et al. 2019,
   arXiv:1910.01108).
2. *Scorer from the teacher's saliency* — the scorer (a linear function of each embedded token)
   is fitted in closed form (ridge) to the teacher's per-position saliency |token · ∂f/∂token|,
   standardised per sequence, so that top-k keeps the positions the teacher's output depends on.
   Its bias is raised by `GATE_OFFSET` so kept tokens pass their gate (sigmoid of the score)
   almost unchanged, as the copied block expects.
3. *Fine-tuning on the teacher's outputs* (`teacher_outputs`, strand-averaged), by mean squared
   error, with early stopping on the Pearson correlation with the teacher on validation rows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from crelens.models.attention import AttentionModel, SparseAttentionModel

GATE_OFFSET = 3.0  # sigmoid(3 + z) ≥ 0.95 for tokens scored at least average
RIDGE = 1e-3  # relative ridge penalty of the scorer fit (times the mean diagonal of XᵀX)


def teacher_outputs(teacher: nn.Module, x, batch_size: int = 256) -> np.ndarray:
    """(n, outputs) float32: the teacher's raw outputs on (n, 2, 4, L) one-hot, averaged over strands."""
    teacher.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, x.shape[0], batch_size):
            batch = torch.from_numpy(np.asarray(x[lo : lo + batch_size], dtype=np.float32))
            out.append(((teacher(batch[:, 0]) + teacher(batch[:, 1])) / 2).numpy())
    return np.concatenate(out).astype(np.float32)


def warm_start(student: SparseAttentionModel, teacher: AttentionModel) -> None:
    """Copy every weight the two share; only the student's scorer is left as it was."""
    result = student.load_state_dict(teacher.state_dict(), strict=False)
    if result.unexpected_keys or any(not key.startswith("scorer.") for key in result.missing_keys):
        raise ValueError(
            f"student and teacher differ beyond the scorer: missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys}"
        )


def saliency(teacher: AttentionModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Embedded tokens (B, L, d) and |token · ∂f/∂token| summed over outputs (B, L) for one strand."""
    teacher.eval()
    tokens = teacher.embed(x).detach().requires_grad_(True)
    hidden, _ = teacher.block(tokens, need_weights=False)
    outputs = teacher.out(teacher.drop(teacher.pool(teacher.norm(hidden))))
    total = torch.zeros(tokens.shape[:2], dtype=tokens.dtype)
    for j in range(outputs.shape[1]):
        (grad,) = torch.autograd.grad(outputs[:, j].sum(), tokens, retain_graph=j + 1 < outputs.shape[1])
        total += (grad * tokens).sum(-1).abs().detach()
    return tokens.detach(), total


def fit_scorer(student: SparseAttentionModel, teacher: AttentionModel, x, batch_size: int = 128) -> float:
    """Fit the student's scorer to the teacher's standardised saliency on (n, 2, 4, L) one-hot `x`
    (both strands); returns the fit's R² over positions."""
    gram, moment, total, sq, count = None, None, 0.0, 0.0, 0
    for lo in range(0, x.shape[0], batch_size):
        batch = torch.from_numpy(np.asarray(x[lo : lo + batch_size], dtype=np.float32))
        for strand in (0, 1):
            tokens, target = saliency(teacher, batch[:, strand])
            target = (target - target.mean(1, keepdim=True)) / (target.std(1, keepdim=True) + 1e-6)
            design = torch.cat(
                [tokens.reshape(-1, tokens.shape[-1]), torch.ones(tokens.shape[0] * tokens.shape[1], 1)], 1
            )
            design, y = design.double(), target.reshape(-1, 1).double()
            gram = design.T @ design if gram is None else gram + design.T @ design
            moment = design.T @ y if moment is None else moment + design.T @ y
            total, sq, count = total + float(y.sum()), sq + float((y**2).sum()), count + len(y)
    penalty = RIDGE * torch.diagonal(gram).mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    penalty[-1, -1] = 0  # the intercept is not penalised
    coef = torch.linalg.solve(gram + penalty, moment)
    residual = sq - 2 * float(coef.T @ moment) + float(coef.T @ gram @ coef)
    r2 = 1 - residual / max(sq - total**2 / count, 1e-12)
    with torch.no_grad():
        student.scorer.weight.copy_(coef[:-1, 0].to(student.scorer.weight.dtype)[None])
        student.scorer.bias.fill_(float(coef[-1, 0]) + GATE_OFFSET)
    return float(r2)
