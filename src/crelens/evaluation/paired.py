"""Is a model worse than the best one? Paired bootstrap tests on the same test sequences.

Each model is compared with the best model of each test set (highest primary metric; the noise
ceiling is not a model and is left out) by a paired bootstrap of the metric difference;
p-values are Holm-adjusted within each test set (one family per test set). `mode_comparisons`
asks the question of heads.aug_mode: does a head trained with the encoder in the loop (`full`,
`finetune`) beat the same head trained on the cache (`no_shift`)?
"""

from __future__ import annotations

import pandas as pd

from crelens.evaluation.scoring import PRIMARY_FUNCTION, PRIMARY_METRIC, target_arrays
from crelens.metrics import holm, paired_bootstrap
from crelens.names import HEAD_MODELS, HEAD_MODES, IN_LOOP_MODES, NOISE_CEILING, TEST_SETS, head_name


def _test_frames(predictions: dict[str, pd.DataFrame], models, test_set: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for model in models:
        frame = predictions[model]
        frame = frame[frame["test_set"] == test_set].set_index("seq_id")
        if not frame.empty:
            frames[model] = frame
    return frames


def _scored(frames: dict[str, pd.DataFrame], task: str, test_set: str) -> dict:
    """{model: (targets, predictions)} on the sequences every model was scored on (checked equal)."""
    ids = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    if any(len(f) != len(ids) for f in frames.values()):
        raise ValueError(f"{task}/{test_set}: models were scored on different sequences")
    return {m: target_arrays(task, f.loc[ids].reset_index())[1:] for m, f in frames.items()}


MODE_COLUMNS = ["task", "test_set", "metric", "model", "aug_mode", "reference", "value", "reference_value",
                "delta", "ci_low", "ci_high", "pvalue", "pvalue_holm"]  # fmt: skip


def mode_comparisons(
    predictions: dict[str, pd.DataFrame], task: str, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Each head of the `full` / `finetune` modes against the same head kind trained on the cache.

    delta = metric(mode) − metric(no_shift) on the same test sequences, with its paired-bootstrap
    95% CI and p-value, Holm-adjusted within each test set.
    """
    pairs = [
        (model, head_name(HEAD_MODELS[model]))
        for model in sorted(predictions)
        if HEAD_MODES.get(model) in IN_LOOP_MODES and head_name(HEAD_MODELS[model]) in predictions
    ]
    rows = []
    metric = PRIMARY_FUNCTION[task]
    for test_set in TEST_SETS[task]:
        family = []
        for model, reference in pairs:
            frames = _test_frames(predictions, (model, reference), test_set)
            if len(frames) < 2:
                continue
            scored = _scored(frames, task, test_set)
            y, p_model = scored[model]
            p_reference = scored[reference][1]
            result = paired_bootstrap(metric, y, p_model, p_reference, n_boot=n_boot, seed=seed)
            family.append(
                {
                    "task": task,
                    "test_set": test_set,
                    "metric": PRIMARY_METRIC[task],
                    "model": model,
                    "aug_mode": HEAD_MODES[model],
                    "reference": reference,
                    "value": float(metric(y, p_model)),
                    "reference_value": float(metric(y, p_reference)),
                    "delta": result["delta"],
                    "ci_low": result["low"],
                    "ci_high": result["high"],
                    "pvalue": result["pvalue"],
                }
            )
        for r, q in zip(family, holm([r["pvalue"] for r in family])):
            r["pvalue_holm"] = float(q)
        rows += family
    return pd.DataFrame(rows, columns=MODE_COLUMNS)


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
        frames = _test_frames(predictions, models, test_set)
        if len(frames) < 2:
            continue
        metric = PRIMARY_FUNCTION[task]
        scored = _scored(frames, task, test_set)
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
