"""Do attention models attend to the planted motifs? (Offline world only.)

For each test sequence with planted motifs, the share of its most-attended positions that fall
on a motif, against the share of positions motifs cover (what attending at random scores).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from crelens.evaluation.scoring import metric_row
from crelens.metrics import bootstrap_ci
from crelens.planted import site_mask


def motif_hit_shares(importance: np.ndarray, seq_ids, sites: pd.DataFrame, top_share: float = 0.05) -> pd.DataFrame:
    """Per sequence: the share of its most-attended positions that fall on planted motifs.

    For each sequence with at least one planted motif (`sites`: seq_id, start, end in sequence
    coordinates), the top `top_share` of positions by `importance` (B, L) are compared with the
    union of its motif intervals. `chance` is the motif-covered share of positions: what a
    model attending at random would score. Returns columns seq_id, hit_share, chance.
    """
    importance = np.asarray(importance)
    n, length = importance.shape
    k = max(1, int(round(top_share * length)))
    seq_ids = list(seq_ids)
    masks = site_mask(sites, seq_ids, length)
    with_sites = set(sites["seq_id"])
    rows = []
    for i, seq_id in enumerate(seq_ids):
        if seq_id not in with_sites:
            continue
        top = np.argsort(-importance[i], kind="stable")[:k]
        rows.append({"seq_id": seq_id, "hit_share": float(masks[i, top].mean()), "chance": float(masks[i].mean())})
    return pd.DataFrame(rows, columns=["seq_id", "hit_share", "chance"])


def motif_hit_rows(
    shares: pd.DataFrame, task: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Metric rows: mean hit share of top-attended positions, the chance level, their ratio, and the
    one-sided p-value of a Wilcoxon signed-rank test that hit shares exceed chance (paired per
    sequence; `value` holds the p, the CI columns are empty)."""
    rows = []
    if len(shares):
        hit, chance = shares["hit_share"].to_numpy(), shares["chance"].to_numpy()
        boot = {"n_boot": n_boot, "level": level, "seed": seed}
        rows.append(metric_row("attention_motif_hit_rate", bootstrap_ci(np.mean, hit, **boot)))
        rows.append(metric_row("attention_motif_chance_rate", bootstrap_ci(np.mean, chance, **boot)))
        rows.append(
            metric_row(
                "attention_motif_enrichment", bootstrap_ci(lambda h, c: np.mean(h) / np.mean(c), hit, chance, **boot)
            )
        )
        rows.append(metric_row("attention_motif_pvalue", (overlap_pvalue(hit, chance), np.nan, np.nan)))
    out = pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])
    out.insert(0, "test_set", "id")
    out.insert(0, "task", task)
    return out


def attention_importance(model, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(n, L) attention received per position, averaged over both strands (RC mapped back)."""
    out = []
    with torch.no_grad():
        for lo in range(0, len(inputs), batch_size):
            x = torch.from_numpy(np.asarray(inputs[lo : lo + batch_size], dtype=np.float32))
            forward = model.position_importance(x[:, 0])
            reverse = model.position_importance(x[:, 1]).flip(-1)
            out.append(((forward + reverse) / 2).numpy())
    return np.concatenate(out) if out else np.zeros((0, inputs.shape[-1]))


def overlap_pvalue(hit: np.ndarray, chance: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p that per-sequence hit shares exceed their chance shares
    (1.0 when every difference is zero: nothing to rank)."""
    from scipy.stats import wilcoxon

    difference = np.asarray(hit, dtype=float) - np.asarray(chance, dtype=float)
    if not np.any(difference != 0):
        return 1.0
    return float(wilcoxon(difference, alternative="greater", zero_method="wilcox").pvalue)
