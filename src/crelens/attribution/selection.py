"""Which sequences an attribution job explains, and which outputs of the model.

Selections (`crelens.names.SELECTIONS`): a seeded sample of test sequences (`test`), every test
sequence (`all`, the input of motif discovery), the best-predicted ones (`top`) and SNV pairs
(`snv`, ref and alt side by side).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crelens.errors import InputError
from crelens.evaluation.predictions import epi_classes
from crelens.names import SELECTIONS


def output_names(task: str, table: pd.DataFrame, cells: list[str]) -> list[str]:
    return list(cells) if task == "mpra" else epi_classes(table)


def select_sequences(
    task: str,
    selection: str,
    table: pd.DataFrame,
    n: int,
    seed: int,
    predictions: pd.DataFrame | None = None,
    snv: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """(seq_id, sequence, label_id) of the sequences to explain.

    test: a seeded random sample of test sequences (stratified by class for EPI);
    all:  every test sequence (the input of motif discovery; n is ignored);
    top:  the test sequences with the highest prediction (MPRA: mean over cells; EPI: the
          probability of the true class), from the evaluation's predictions;
    snv:  the first n SNV pairs, ref and alt rows next to each other (MPRA only).
    """
    rng = np.random.default_rng(seed)
    if selection == "snv":
        if task != "mpra" or snv is None:
            raise ValueError("the snv selection exists for the MPRA task only")
        pairs = snv.iloc[:n]
        rows = []
        for pair in pairs.itertuples():
            rows.append({"seq_id": f"{pair.pair_id}:ref", "sequence": pair.ref_sequence, "label_id": -1})
            rows.append({"seq_id": f"{pair.pair_id}:alt", "sequence": pair.alt_sequence, "label_id": -1})
        return pd.DataFrame(rows)
    test = table[table["split"] == "test"]
    if test.empty:
        raise InputError(None, f"{task}: no test sequences to explain")
    if selection == "all":
        chosen = test
    elif selection == "test":
        if task == "epi":
            per_class = max(1, n // test["label_id"].nunique())
            picked = [g.iloc[rng.permutation(len(g))[:per_class]] for _, g in test.groupby("label_id")]
            chosen = pd.concat(picked).sort_index()
        else:
            chosen = test.iloc[np.sort(rng.permutation(len(test))[:n])]
    elif selection == "top":
        if predictions is None:
            raise ValueError("the top selection needs the model's test predictions")
        ranked = predictions[predictions["test_set"] == "id"].set_index("seq_id")
        if task == "mpra":
            score = ranked.filter(like="pred_").mean(axis=1)
        else:
            probs = ranked.filter(like="prob_").to_numpy()
            score = pd.Series(probs[np.arange(len(ranked)), ranked["label_id"].to_numpy()], index=ranked.index)
        top = score.sort_values(ascending=False, kind="stable").index[:n]
        chosen = test.set_index("seq_id").loc[list(top)].reset_index()
    else:
        raise ValueError(f"unknown selection {selection!r}; expected one of {SELECTIONS}")
    labels = chosen["label_id"].to_numpy() if "label_id" in chosen else np.full(len(chosen), -1)
    return pd.DataFrame(
        {"seq_id": chosen["seq_id"].to_numpy(), "sequence": chosen["sequence"].to_numpy(), "label_id": labels}
    )
