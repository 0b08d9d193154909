"""Is a model worse than the best one? Paired bootstrap tests on the same test sequences.

Each model is compared with the best model of each test set (highest primary metric; the noise
ceiling is not a model and is left out) by a paired bootstrap of the metric difference;
p-values are Holm-adjusted within each test set (one family per test set).
"""

from __future__ import annotations

import pandas as pd

from crelens.evaluation.scoring import PRIMARY_FUNCTION, PRIMARY_METRIC, target_arrays
from crelens.metrics import holm, paired_bootstrap
from crelens.names import NOISE_CEILING, TEST_SETS


def paired_comparisons(
    predictions: dict[str, pd.DataFrame], task: str, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Each model against the best model of each test set, on the same sequences.

    The best model is the one with the highest primary metric (the noise ceiling is not a model
    and is left out). p-values come from a paired bootstrap of the metric difference and are
    Holm-adjusted within each test set (one family per test set).
    """
    models = [m for m in predictions if m != NOISE_CEILING]
    rows = []
    for test_set in TEST_SETS[task]:
        frames = {}
        for model in models:
            frame = predictions[model]
            frame = frame[frame["test_set"] == test_set].set_index("seq_id")
            if not frame.empty:
                frames[model] = frame
        if len(frames) < 2:
            continue
        ids = sorted(set.intersection(*(set(f.index) for f in frames.values())))
        if any(len(f) != len(ids) for f in frames.values()):
            raise ValueError(f"{task}/{test_set}: models were scored on different sequences")
        metric = PRIMARY_FUNCTION[task]
        scored = {m: target_arrays(task, f.loc[ids].reset_index())[1:] for m, f in frames.items()}
        best = max(scored, key=lambda m: (metric(*scored[m]), m))
        y, p_best = scored[best]
        family = []
        for model in sorted(scored):
            if model == best:
                continue
            result = paired_bootstrap(metric, y, p_best, scored[model][1], n_boot=n_boot, seed=seed)
            family.append(
                {
                    "task": task,
                    "test_set": test_set,
                    "metric": PRIMARY_METRIC[task],
                    "best": best,
                    "model": model,
                    "delta": result["delta"],
                    "ci_low": result["low"],
                    "ci_high": result["high"],
                    "pvalue": result["pvalue"],
                }
            )
        adjusted = holm([r["pvalue"] for r in family])
        for r, q in zip(family, adjusted):
            r["pvalue_holm"] = float(q)
        rows += family
    columns = ["task", "test_set", "metric", "best", "model", "delta", "ci_low", "ci_high", "pvalue", "pvalue_holm"]
    return pd.DataFrame(rows, columns=columns)
