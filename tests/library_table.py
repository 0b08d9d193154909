"""A small MPRA library table as a user would bring it: designed sequences, no coordinates.

Activity is made from two JASPAR consensus-like sites (GATA and an AP-1 site) plus noise, so the
models have something to learn; a few rows are near-copies of others (for the grouped split),
some are SNVs of a reference row, some are designed (OOD), and every oligo carries the lentiMPRA
adaptors, which the reader strips.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crelens.sequences import LENTIMPRA_ADAPTOR_3, LENTIMPRA_ADAPTOR_5

SITES = {"GATA": "AGATAAGG", "AP1": "TGACTCAT"}


def library(n: int = 400, length: int = 150, seed: int = 0, folds: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        gata = int(rng.integers(0, 3))
        ap1 = int(rng.integers(0, 2))
        for name, count in (("GATA", gata), ("AP1", ap1)):
            for _ in range(count):
                at = int(rng.integers(0, length - 8))
                seq[at : at + 8] = SITES[name]
        insert = "".join(seq)
        rows.append((f"seq{i:04d}", insert, 0.8 * gata + rng.normal(0, 0.3), 0.9 * ap1 + rng.normal(0, 0.3)))
    frame = pd.DataFrame(rows, columns=["name", "insert", "k562_log2fc", "hepg2_log2fc"])
    for i in range(0, 40, 4):  # near-copies: one substitution away from another row
        insert = frame["insert"][i]
        copy = insert[:10] + ("A" if insert[10] != "A" else "C") + insert[11:]
        frame.loc[len(frame)] = (f"near{i:04d}", copy, frame["k562_log2fc"][i], frame["hepg2_log2fc"][i])
    frame["fold"] = np.where(
        np.arange(len(frame)) % 10 == 0, "val", np.where(np.arange(len(frame)) % 10 == 1, "test", "train")
    )
    frame["ref_name"] = ""
    frame["is_designed"] = "false"
    test_rows = frame.index[frame.fold == "test"][:12]
    extra = []
    for j, i in enumerate(test_rows):  # SNVs of test rows
        insert = frame["insert"][i]
        pos = 70 + j
        alt = "G" if insert[pos] != "G" else "T"
        extra.append(
            {
                "name": f"{frame['name'][i]}_snv",
                "insert": insert[:pos] + alt + insert[pos + 1 :],
                "k562_log2fc": frame["k562_log2fc"][i] + rng.normal(0, 0.2),
                "hepg2_log2fc": frame["hepg2_log2fc"][i],
                "fold": "test",
                "ref_name": frame["name"][i],
                "is_designed": "false",
            }
        )
    for j in range(20):  # designed sequences: three GATA sites each (out of distribution)
        seq = "".join(rng.choice(list("ACGT"), length))
        seq = seq[:30] + SITES["GATA"] * 3 + seq[54:]
        extra.append(
            {
                "name": f"designed{j:02d}",
                "insert": seq,
                "k562_log2fc": 2.4 + rng.normal(0, 0.3),
                "hepg2_log2fc": rng.normal(0, 0.3),
                "fold": "",
                "ref_name": "",
                "is_designed": "true",
            }
        )
    frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)
    frame["seq"] = LENTIMPRA_ADAPTOR_5 + frame["insert"] + LENTIMPRA_ADAPTOR_3
    frame = frame.drop(columns="insert")
    if not folds:
        frame = frame.drop(columns="fold")
    return frame
