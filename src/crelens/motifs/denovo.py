"""De novo motifs: TF-MoDISco lite on the attributions, its patterns matched to JASPAR.

Contribution = the relevance placed on the observed base; modisco's "hypothetical"
contributions are taken equal to it, as for any attribution that scores only the observed base.
Patterns are matched to JASPAR with memelite's TOMTOM; modisco's own HTML report is written with
`ttl=True` (memelite, no MEME-suite binary needed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.atomic import atomic_path
from crelens.attribution.store import read_attributions
from crelens.data.jaspar import motif_table
from crelens.motifs.attributions import cropped, groups_of
from crelens.sequences import one_hot
from crelens.tables import write_table

log = logging.getLogger(__name__)


def modisco_inputs(stored_by_task: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot (N, L, 4), contributions (N, L, 4)) of every group, channels last as modisco wants."""
    onehots, contribs = [], []
    for task, stored in stored_by_task.items():
        sequences, relevance, _ = cropped(stored)
        for _, k, rows in groups_of(task, stored):
            for i in rows:
                x = one_hot(sequences[i], np.float32)
                onehots.append(x)
                contribs.append(x * relevance[i, k][:, None])
    length = max(len(x) for x in onehots)  # tasks may differ in length: pad with N (all zero)
    pad = lambda a: np.pad(a, ((0, length - len(a)), (0, 0)))  # noqa: E731
    return np.stack([pad(x) for x in onehots]), np.stack([pad(c) for c in contribs]).astype(np.float32)


def run_denovo_motifs(
    attribution_paths: dict[str, str], meme_path, release: str, settings: dict, out_h5, out_matches, report_dir
) -> None:
    """TF-MoDISco lite on one source's attributions, patterns matched to JASPAR, report written."""
    from modiscolite.io import save_hdf5
    from modiscolite.report import report_motifs, tomtomlite_dataframe
    from modiscolite.tfmodisco import TFMoDISco

    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    onehot, contrib = modisco_inputs(stored)
    log.info("TF-MoDISco lite on %d sequences × %d nt", *onehot.shape[:2])
    settings = settings["modisco"]
    try:
        positive, negative = TFMoDISco(
            one_hot=onehot,
            hypothetical_contribs=contrib,
            sliding_window_size=settings["window"],
            flank_size=settings["flank"],
            target_seqlet_fdr=settings["target_seqlet_fdr"],
            max_seqlets_per_metacluster=settings["max_seqlets"],
            n_leiden_runs=settings["leiden_runs"],
        )
    except ValueError as exc:
        # modisco-lite 3.0.0 fits an isotonic threshold on the windows' null distribution and
        # fails inside scikit-learn when no window passes (few or flat attributions): that is
        # "no seqlet to cluster", reported as no pattern; any other error propagates.
        if "Sample weights must contain at least one non-zero number" not in str(exc):
            raise
        log.warning("TF-MoDISco found no windows above its null threshold (%s): no pattern", exc)
        positive, negative = None, None
    with atomic_path(out_h5, suffix=".h5") as tmp:
        save_hdf5(str(tmp), positive, negative, settings["window"])
    n_patterns = sum(len(p or []) for p in (positive, negative))
    log.info("%d patterns (%d positive, %d negative)", n_patterns, len(positive or []), len(negative or []))
    _, meta = motif_table(meme_path, release)
    Path(report_dir).mkdir(parents=True, exist_ok=True)
    if n_patterns:
        groups = [g for g, p in (("pos_patterns", positive), ("neg_patterns", negative)) if p]
        matches = tomtomlite_dataframe(str(out_h5), str(meme_path), pattern_groups=groups, top_n_matches=3)
        report_motifs(
            str(out_h5),
            str(report_dir) + "/",
            img_path_suffix="./",
            meme_motif_db=str(meme_path),
            is_writing_tomtom_matrix=False,
            top_n_matches=3,
            ttl=True,
        )
        matches.insert(
            0,
            "pattern",
            [
                f"{g}.pattern_{i}"
                for g, p in (("pos_patterns", positive), ("neg_patterns", negative))
                if p
                for i in range(len(p))
            ],
        )
        n_seqlets = [len(s.seqlets) for p in (positive, negative) if p for s in p]
        matches.insert(1, "n_seqlets", n_seqlets)
    else:
        matches = pd.DataFrame(columns=["pattern", "n_seqlets", "match0", "pval0"])
        (Path(report_dir) / "motifs.html").write_text("<html><body><p>TF-MoDISco found no pattern.</p></body></html>\n")
    family_of = dict(zip(meta.motif_id, meta.family))
    matches["family0"] = [family_of.get(m.split(" ")[0], "") if isinstance(m, str) else "" for m in matches["match0"]]
    write_table(matches, out_matches)


def read_patterns(h5_path) -> dict[str, np.ndarray]:
    """{"pos_patterns.pattern_0": PPM (w, 4)} of a modisco-lite h5 file (empty if none)."""
    import h5py

    patterns = {}
    with h5py.File(h5_path, "r") as handle:
        for group in ("pos_patterns", "neg_patterns"):
            if group in handle:
                for name in handle[group]:
                    patterns[f"{group}.{name}"] = np.asarray(handle[group][name]["sequence"])
    return patterns
