"""Chromosome splits and the checks that keep test sequences out of training.

Splits follow Gosai et al. 2024 (validation chr19, chr21, chrX; test chr7, chr13; the rest
train), set in `config.splits`. Identical sequences (either strand) are removed from val/test;
optionally HashFrag removes test sequences homologous to training ones.
"""

from __future__ import annotations

import logging
import tempfile

import pandas as pd

from crelens.names import SPLITS
from crelens.sequences import reverse_complement

log = logging.getLogger(__name__)


def assign_split(chroms: pd.Series, splits: dict) -> pd.Series:
    split = pd.Series("train", index=chroms.index)
    split[chroms.isin(splits["val"])] = "val"
    split[chroms.isin(splits["test"])] = "test"
    return split


def canonical(seq: str) -> str:
    """Strand-independent key: a sequence and its reverse complement are the same molecule."""
    seq = seq.upper()
    return min(seq, reverse_complement(seq))


def drop_cross_split_duplicates(frame: pd.DataFrame, column: str = "sequence", what: str = "") -> pd.DataFrame:
    """Remove val/test rows whose sequence (either strand) also occurs in train; then dedupe.

    Identical sequences across splits would let a model score by memory, not by learning.
    """
    key = frame[column].map(canonical)
    in_train = set(key[frame.split == "train"])
    leak = (frame.split != "train") & key.isin(in_train)
    if leak.any():
        log.info("%s: dropped %d val/test sequences identical to a training sequence", what, int(leak.sum()))
    frame = frame[~leak]
    key = key[~leak]
    dup = key.duplicated(keep="first")
    if dup.any():
        log.info("%s: dropped %d duplicate sequences within a split", what, int(dup.sum()))
    return frame[~dup].reset_index(drop=True)


def drop_homologous(frame: pd.DataFrame, column: str, homology: dict, workdir, what: str) -> pd.DataFrame:
    """Optional HashFrag filter: test sequences homologous to any training sequence are removed."""
    if not homology.get("enabled"):
        return frame
    from crelens.datasets.homology import homologous_test_ids, require_blast

    require_blast("datasets.homology")
    train = dict(zip(frame.seq_id[frame.split == "train"], frame[column][frame.split == "train"]))
    test = dict(zip(frame.seq_id[frame.split == "test"], frame[column][frame.split == "test"]))
    with tempfile.TemporaryDirectory(prefix="crelens-hashfrag-") as scratch:
        flagged = homologous_test_ids(
            train, test, workdir or scratch, score_threshold=homology["score_threshold"], log=log.info
        )
    log.info("%s: HashFrag removed %d of %d test sequences homologous to train", what, len(flagged), len(test))
    return frame[~frame.seq_id.isin(flagged)].reset_index(drop=True)


def split_order(column: pd.Series) -> pd.Series:
    """Sort key that puts train, val, test in that order (other columns sort as they are)."""
    return column.map({s: i for i, s in enumerate(SPLITS)}) if column.name == "split" else column
