"""The k-mer reference model (`kmer_ridge`): log k-mer counts of the variable part, linear on top.

Why: it is the first thing a practitioner tries, and the bar every neural model must clear. If a
model cannot beat a linear function of k-mer counts, it has not learned motifs, their positions
or their interactions, which is what crelens is for.

Features: for every k-mer s, log(1 + n(s) + n(rc s)), counted over the positions that vary
between the training sequences (the insert of an MPRA construct; the whole window for genomic
sequences), k-mers holding an N skipped. Merging each k-mer with its reverse complement makes the
model strand-invariant, like every other model's strand-averaged prediction. Fitting: scikit-learn
`Ridge` for MPRA activity (one output per cell type) and multinomial `LogisticRegression` for EPI
classes, with k and the penalty chosen on the validation split. The fit is stored as a torch
module, so it is saved, loaded, evaluated and compared exactly like every other model.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from crelens.metrics import macro_auroc, pearson

log = logging.getLogger(__name__)


def reverse_complement_index(k: int) -> torch.Tensor:
    """(4^k,) index of each k-mer's reverse complement (k-mers in base-4 order, A=0 … T=3)."""
    index = torch.empty(4**k, dtype=torch.long)
    for code, bases in enumerate(itertools.product(range(4), repeat=k)):
        rc = [3 - b for b in reversed(bases)]
        index[code] = sum(b * 4 ** (k - 1 - i) for i, b in enumerate(rc))
    return index


class KmerModel(nn.Module):
    """(B, 4, L) one-hot → (B, n_outputs): a linear function of strand-merged log k-mer counts.

    `span` = (start, end): the positions whose k-mers are counted (the variable part).
    """

    def __init__(self, n_outputs: int, k: int, span: tuple[int, int], length: int):
        super().__init__()
        start, end = span
        if not 1 <= k <= 8:
            raise ValueError(f"k must be in 1..8, got {k}")
        if not 0 <= start < end <= length or end - start < k:
            raise ValueError(f"span {span} must hold at least one {k}-mer inside a length-{length} input")
        self.n_outputs, self.k, self.span, self.length = n_outputs, k, (int(start), int(end)), length
        self.linear = nn.Linear(4**k, n_outputs)
        self.register_buffer("rc_index", reverse_complement_index(k), persistent=False)
        self.register_buffer("powers", 4 ** torch.arange(k - 1, -1, -1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4^k) log(1 + count of each k-mer and of its reverse complement) over the span."""
        if x.ndim != 3 or x.shape[1] != 4 or x.shape[2] != self.length:
            raise ValueError(f"expected one-hot input (B, 4, {self.length}), got {tuple(x.shape)}")
        x = x[:, :, self.span[0] : self.span[1]]
        base = x.argmax(1)  # (B, L')
        known = x.sum(1) > 0.5  # N columns are all zero
        index = (base.unfold(1, self.k, 1) * self.powers).sum(-1)  # (B, L' - k + 1)
        valid = known.unfold(1, self.k, 1).all(-1)
        counts = torch.zeros(x.shape[0], 4**self.k, dtype=torch.float64, device=x.device)
        counts.scatter_add_(1, index, valid.to(counts.dtype))
        return torch.log1p(counts + counts[:, self.rc_index]).to(self.linear.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))


def kmer_features(model: KmerModel, inputs, batch_size: int = 512) -> np.ndarray:
    """Features of one-hot inputs (n, 2, 4, L) (canonical strand; the features are strand-invariant)."""
    out = []
    with torch.no_grad():
        for lo in range(0, inputs.shape[0], batch_size):
            x = torch.from_numpy(np.asarray(inputs[lo : lo + batch_size, 0], dtype=np.float32))
            out.append(model.features(x).numpy())
    return np.concatenate(out) if out else np.zeros((0, 4**model.k), dtype=np.float32)


def fit_kmer_model(
    x_train,
    y_train,
    x_val,
    y_val,
    kind: str,
    *,
    ks: list[int],
    penalties: list[float],
    span: tuple[int, int],
    seed: int,
) -> tuple[KmerModel, pd.DataFrame]:
    """Fit every (k, penalty), keep the best on validation; returns the model and one row per fit.

    kind: "regression" (Ridge, `penalties` are its alpha) or "classification" (multinomial
    logistic regression, C = 1 / penalty). Validation metric: mean Pearson over outputs, or
    macro-AUROC, as for every other model.
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    length = int(x_train.shape[-1])
    n_outputs = int(y_train.shape[1]) if kind == "regression" else int(max(y_train.max(), y_val.max())) + 1
    rows, best = [], None
    for k in ks:
        model = KmerModel(n_outputs, k, span, length)
        train, val = kmer_features(model, x_train), kmer_features(model, x_val)
        for penalty in penalties:
            if kind == "regression":
                fit = Ridge(alpha=penalty).fit(train, y_train)
                pred = fit.predict(val).reshape(len(val), -1)
                metric = float(np.nanmean([pearson(y_val[:, j], pred[:, j]) for j in range(n_outputs)]))
                weight, bias = fit.coef_.reshape(n_outputs, -1), np.ravel(fit.intercept_)
            else:
                fit = LogisticRegression(C=1.0 / penalty, max_iter=2000, random_state=seed).fit(train, y_train)
                metric = float(macro_auroc(y_val, fit.predict_proba(val)))
                weight, bias = fit.coef_, fit.intercept_
                if weight.shape[0] == 1:  # two classes: sklearn keeps one logit, of class 1
                    weight, bias = np.vstack([-weight / 2, weight / 2]), np.array([-bias[0] / 2, bias[0] / 2])
            rows.append({"k": k, "penalty": penalty, "val_metric": metric})
            log.info("kmer_ridge k=%d penalty=%g: validation %.4f", k, penalty, metric)
            if best is None or metric > best[0]:
                best = (metric, k, weight, bias)
    _, k, weight, bias = best
    model = KmerModel(n_outputs, k, span, length)
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
        model.linear.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
    return model.eval(), pd.DataFrame(rows)
