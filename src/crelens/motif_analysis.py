"""From per-nucleotide attributions to motifs: seqlets → JASPAR enrichment, and de novo motifs.

Constant flanks: MPRA constructs share their flanks (400 of 600 nt), so those positions
cannot explain differences between sequences and would show up as a "motif" in every
sequence; the analysis keeps the span of positions that vary between the explained sequences
(`variable_span`: the insert for MPRA, the whole window for genomic EPI sequences).

Redundancy: with `motifs.best_hit_only`, each region counts only for its best-matching JASPAR
profile (lowest FIMO p), the usual way of annotating a seqlet with one motif; otherwise every
profile that matches counts (JASPAR's near-duplicates then all light up together).

Groups: MPRA attributions are analysed per cell type (the relevance of that cell's output),
EPI attributions per class (the sequences of that class, relevance of that class's logit), so
the table answers "which motifs drive activity in K562?" and "which motifs make a promoter?".

De novo motifs: TF-MoDISco lite (modisco-lite) on the same attributions (contribution = the
relevance placed on the observed base; modisco's "hypothetical" contributions are taken equal to
it, as for any attribution that scores only the observed base), its patterns matched to JASPAR
with memelite's TOMTOM; modisco's own HTML report is written with `ttl=True` (memelite, no
MEME-suite binary needed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .attribution.jobs import read_attributions, relevant_motifs
from .enrichment import COLUMNS, enrichment, shares_component, truth_check
from .io import read_table, write_table
from .motifs_db import jaspar_motifs, read_meme
from .seqlets import SEQLET_COLUMNS, call_seqlets, low_attribution_background, region_sequences, scan, shuffled_background
from .sequences import one_hot

log = logging.getLogger(__name__)


def motif_table(meme_path, release: str | None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """({"<id> <name>": (4, w)}, motif_id/motif_name/family/key) for every motif of the MEME file.

    Families come from the pinned JASPAR release (pyjaspar's bundled database), which both the
    offline and the downloaded MEME file belong to; a motif missing there is its own family.
    """
    families = {m.id: m.family for m in jaspar_motifs(release)} if release else {}
    motifs = read_meme(meme_path)
    matrices = {f"{m.id} {m.name}": m.probs.T.copy() for m in motifs}
    meta = pd.DataFrame({
        "motif_id": [m.id for m in motifs], "motif_name": [m.name for m in motifs],
        "family": [families.get(m.id) or m.name for m in motifs], "key": list(matrices),
    })
    return matrices, meta


def variable_span(sequences: list[str]) -> tuple[int, int]:
    """[start, end) of the positions where the sequences do not all carry the same base."""
    array = np.frombuffer("".join(s.upper() for s in sequences).encode("ascii"), dtype=np.uint8)
    array = array.reshape(len(sequences), -1)
    varies = np.flatnonzero((array != array[0]).any(axis=0))
    if not len(varies):
        return 0, array.shape[1]
    return int(varies[0]), int(varies[-1]) + 1


def cropped(stored: dict) -> tuple[list[str], np.ndarray, int]:
    """(sequences, relevance (n, k, L'), offset) restricted to the variable span."""
    sequences = [str(s) for s in stored["sequence"]]
    start, end = variable_span(sequences) if len(sequences) > 1 else (0, len(sequences[0]))
    return [s[start:end] for s in sequences], stored["relevance"][:, :, start:end], start


def groups_of(task: str, stored: dict) -> list[tuple[str, int, np.ndarray]]:
    """(group name, output index, sequence rows) of one attribution file."""
    n = len(stored["seq_id"])
    if task == "mpra":
        return [(f"mpra:{o}", k, np.arange(n)) for k, o in enumerate(stored["output"])]
    return [(f"epi:{o}", k, np.flatnonzero(stored["label_id"] == k)) for k, o in enumerate(stored["output"])]


def _hits_by_region(hits: pd.DataFrame, key_to_id: dict[str, str], prefix: str, best_only: bool) -> pd.DataFrame:
    if best_only and len(hits):
        hits = hits.sort_values(["region_idx", "pvalue", "motif_key"], kind="stable").drop_duplicates("region_idx")
    return pd.DataFrame({"region_id": [f"{prefix}{i}" for i in hits.region_idx],
                         "motif_id": hits.motif_key.map(key_to_id).to_numpy()})


def enrichment_for(stored_by_task: dict[str, dict], matrices: dict, meta: pd.DataFrame, settings: dict,
                   seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(enrichment rows of every group, seqlets table) for one attribution source."""
    key_to_id = dict(zip(meta.key, meta.motif_id))
    tables, seqlet_rows = [], []
    for task, stored in stored_by_task.items():
        sequences, all_relevance, offset = cropped(stored)
        log.info("%s: motif analysis on positions %d–%d (the span that varies between sequences)",
                 task, offset, offset + len(sequences[0]))
        for group, k, rows in groups_of(task, stored):
            if not len(rows):
                continue
            relevance = all_relevance[rows, k].astype(np.float64)
            seqlets = call_seqlets(relevance, threshold=settings["seqlet_pvalue"], min_len=settings["min_seqlet_len"],
                                   max_len=settings["max_seqlet_len"], flank=settings["seqlet_flank"])
            group_seqs = [sequences[i] for i in rows]
            fg_seqs = region_sequences(seqlets, group_seqs)
            if settings["background"] == "shuffled":
                bg_seqs = shuffled_background(fg_seqs, seed)
            else:
                bg_seqs = region_sequences(low_attribution_background(seqlets, relevance, seed), group_seqs)
            log.info("%s: %d sequences, %d seqlets, %d background regions", group, len(rows), len(fg_seqs), len(bg_seqs))
            if not fg_seqs or not bg_seqs:
                log.warning("%s: no seqlets or no background: group skipped", group)
                continue
            best = settings["best_hit_only"]
            fg = _hits_by_region(scan(fg_seqs, matrices, settings["fimo_pvalue"]), key_to_id, "s", best)
            bg = _hits_by_region(scan(bg_seqs, matrices, settings["fimo_pvalue"]), key_to_id, "b", best)
            tables.append(enrichment(fg, len(fg_seqs), bg, len(bg_seqs), meta, group=group))
            seqlet_rows.append(seqlets.assign(group=group, seq_id=[str(stored["seq_id"][rows[i]]) for i in seqlets.example_idx],
                                              start=seqlets.start + offset, end=seqlets.end + offset,
                                              length=len(stored["sequence"][0]), span_start=offset,
                                              span_end=offset + len(group_seqs[0])))
    if not tables:  # a legitimate result (e.g. a model that relies on nothing), reported as empty tables
        log.warning("no group had seqlets and background: the enrichment table is empty")
        return pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=[*SEQLET_COLUMNS, "group", "seq_id", "length"])
    return pd.concat(tables, ignore_index=True), pd.concat(seqlet_rows, ignore_index=True)


def planted_families(stored_by_task: dict[str, dict], sites: pd.DataFrame, design_motifs: list[dict]) -> set[str]:
    """Families of the planted motifs that act on the explained outputs (the answer key)."""
    families = set()
    for task, stored in stored_by_task.items():
        for output in stored["output"]:
            names = relevant_motifs(task, str(output), design_motifs)
            families |= set(sites.loc[sites.motif_name.isin(names), "tf_family"])
    return families


def run_enrichment(attribution_paths: dict[str, str], meme_path, release: str, settings: dict, seed: int,
                   out_enrichment, out_seqlets) -> None:
    """The `motif_enrichment` job of one attribution source (task → attribution file)."""
    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    matrices, meta = motif_table(meme_path, release)
    table, seqlets = enrichment_for(stored, matrices, meta, settings, seed)
    write_table(table, out_enrichment)
    write_table(seqlets, out_seqlets)
    significant = table[(table.level == "family") & (table.qvalue < settings["qvalue"])]
    log.info("%d significant families (q < %g) over %d groups", significant.family.nunique(), settings["qvalue"], table.group.nunique())


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


def run_denovo(attribution_paths: dict[str, str], meme_path, release: str, settings: dict, out_h5, out_matches,
               report_dir) -> None:
    """TF-MoDISco lite on one source's attributions, patterns matched to JASPAR, report written."""
    from modiscolite.io import save_hdf5
    from modiscolite.report import report_motifs, tomtomlite_dataframe
    from modiscolite.tfmodisco import TFMoDISco

    from .atomic import atomic_path

    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    onehot, contrib = modisco_inputs(stored)
    log.info("TF-MoDISco lite on %d sequences × %d nt", *onehot.shape[:2])
    settings = settings["modisco"]
    try:
        positive, negative = TFMoDISco(
            one_hot=onehot, hypothetical_contribs=contrib, sliding_window_size=settings["window"],
            flank_size=settings["flank"], target_seqlet_fdr=settings["target_seqlet_fdr"],
            max_seqlets_per_metacluster=settings["max_seqlets"], n_leiden_runs=settings["leiden_runs"])
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
        report_motifs(str(out_h5), str(report_dir) + "/", img_path_suffix="./", meme_motif_db=str(meme_path),
                      is_writing_tomtom_matrix=False, top_n_matches=3, ttl=True)
        matches.insert(0, "pattern", [f"{g}.pattern_{i}" for g, p in (("pos_patterns", positive), ("neg_patterns", negative))
                                      if p for i in range(len(p))])
        n_seqlets = [len(s.seqlets) for p in (positive, negative) if p for s in p]
        matches.insert(1, "n_seqlets", n_seqlets)
    else:
        matches = pd.DataFrame(columns=["pattern", "n_seqlets", "match0", "pval0"])
        (Path(report_dir) / "motifs.html").write_text("<html><body><p>TF-MoDISco found no pattern.</p></body></html>\n")
    family_of = dict(zip(meta.motif_id, meta.family))
    matches["family0"] = [family_of.get(m.split(" ")[0], "") if isinstance(m, str) else "" for m in matches["match0"]]
    write_table(matches, out_matches)


def denovo_truth(matches: pd.DataFrame, planted: set[str], match_pvalue: float) -> pd.DataFrame:
    """Recall / false share of the JASPAR families that de novo patterns match (TOMTOM p < match_pvalue)."""
    pvalues = pd.to_numeric(matches["pval0"], errors="coerce") if "pval0" in matches else pd.Series(dtype=float)
    found = set(matches.loc[pvalues < match_pvalue, "family0"]) - {""}
    recalled = {p for p in planted if shares_component(p, found)}
    false = {f for f in found if not shares_component(f, planted)}
    return pd.DataFrame([
        {"metric": "denovo_recall", "value": len(recalled) / len(planted) if planted else float("nan"),
         "n": len(planted), "detail": ",".join(sorted(recalled))},
        {"metric": "denovo_false_share", "value": len(false) / len(found) if found else 0.0,
         "n": len(found), "detail": ",".join(sorted(false))},
    ])


def run_truth_check(enrichment_path, matches_path, attribution_paths: dict[str, str], sites_path, design_motifs,
                    settings: dict, out) -> None:
    """Synthetic truth: are the planted families recovered (seqlet enrichment and de novo)?"""
    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    planted = planted_families(stored, read_table(sites_path), design_motifs)
    check = pd.concat([truth_check(read_table(enrichment_path), planted, alpha=settings["qvalue"]),
                       denovo_truth(read_table(matches_path), planted, settings["modisco"]["match_pvalue"])],
                      ignore_index=True)
    write_table(check, out)
    for row in check.itertuples():
        log.info("truth check %s = %.3f over %d (%s)", row.metric, row.value, row.n, row.detail)


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


def run_summary(inputs: dict, outputs: dict, *, qvalue: float) -> None:
    """Headline enrichment table and the figures of the primary source."""
    from . import plots

    table = read_table(inputs["enrichment"])
    write_table(table, outputs["enrichment"])
    plots.enrichment_volcano(table[table.level == "family"], qvalue, outputs["volcano"])
    plots.seqlet_positions(read_table(inputs["seqlets"]), outputs["positions"])
    matrices, meta = motif_table(inputs["meme"], None)
    plots.motif_logos(table, matrices, meta, read_table(inputs["matches"]), read_patterns(inputs["modisco"]),
                      qvalue, outputs["logos"])
