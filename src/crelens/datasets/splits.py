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


def split_from_column(folds: pd.Series, split: dict) -> pd.Series:
    """The user's own folds: values in `split.val` → val, in `split.test` → test, others train."""
    val, test = {str(v) for v in split["val"]}, {str(v) for v in split["test"]}
    out = pd.Series("train", index=folds.index)
    out[folds.isin(val)] = "val"
    out[folds.isin(test)] = "test"
    return out


def _kmers(seq: str, k: int) -> set[str]:
    seq = seq.upper()
    rc = reverse_complement(seq)
    n = len(seq)
    return {min(seq[i : i + k], rc[n - i - k : n - i]) for i in range(n - k + 1)}


def kmer_groups(inserts: list[str], k: int, min_shared: float) -> list[int]:
    """Group label per sequence: near-duplicates (either strand) share one label.

    Two sequences are near-duplicates when they share at least `min_shared` of the distinct
    canonical k-mers of the shorter one; groups are the connected components of that relation.
    k-mers found in more than half of the sequences are constant parts of the constructs (e.g.
    adaptors left in) and are ignored, or every sequence would join one group.
    """
    sets = [_kmers(s, k) for s in inserts]
    index: dict[str, list[int]] = {}
    for i, kmers in enumerate(sets):
        for kmer in kmers:
            index.setdefault(kmer, []).append(i)
    common = len(sets) / 2
    shared: dict[tuple[int, int], int] = {}
    for members in index.values():
        if len(members) < 2 or len(members) > common:
            continue
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                pair = (members[a], members[b])
                shared[pair] = shared.get(pair, 0) + 1
    smaller = [len(k) for k in sets]
    linked = [(a, b) for (a, b), count in shared.items() if count >= min_shared * max(1, min(smaller[a], smaller[b]))]
    return connected_components(len(sets), linked)


def connected_components(n: int, pairs) -> list[int]:
    """Group label per item 0..n-1: items joined by any chain of `pairs` share one label (union-find)."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    return [root(i) for i in range(n)]


def hashfrag_groups(ids: list[str], inserts: list[str], workdir, score_threshold: float) -> list[int]:
    """Group label per sequence from HashFrag's all-against-all homologous pairs (BLAST+)."""
    from crelens.datasets.homology import homologous_test_ids

    records = dict(zip(ids, inserts))
    homologous_test_ids(records, records, workdir, score_threshold=score_threshold, log=log.info)
    position = {seq_id: i for i, seq_id in enumerate(ids)}
    pairs = pd.read_csv(f"{workdir}/homologous_pairs.tsv", sep="\t", dtype=str)
    return connected_components(len(ids), ((position[a], position[b]) for a, b in zip(pairs.test_id, pairs.train_id)))


def group_split(inserts: pd.Series, groups: list[int], shares: dict, seed: int) -> pd.Series:
    """Deterministic split of whole groups: a group goes to val / test / train by a hash of its
    smallest canonical sequence and the seed, so the split depends on the sequences only, not
    on row order, and near-duplicates never cross splits."""
    import hashlib

    keys = pd.Series([canonical(s) for s in inserts], index=inserts.index)
    group_key = keys.groupby(pd.Series(groups, index=inserts.index)).transform("min")
    val, test = float(shares["val"]), float(shares["test"])

    def draw(key: str) -> str:
        u = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16) / 2**64
        return "val" if u < val else "test" if u < val + test else "train"

    return group_key.map(draw)
