"""The attribution stage's tables and figures: conservation, faithfulness with CIs, logos.

Why a separate step: the per-model jobs run in parallel (and on GPU nodes); this one gathers
them into the files a reader opens — `conservation.tsv` (is relevance conserved on every
sequence?), `faithfulness.tsv` (is LRP more faithful than the baselines?) and the figures.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crelens.attribution.faithfulness import summarise
from crelens.attribution.lrp import conservation_summary
from crelens.attribution.store import conservation_table, read_attributions
from crelens.figures.attribution import attribution_logos, conservation_scatter, faithfulness_bars, perturbation_curves
from crelens.metrics import paired_bootstrap
from crelens.planted import relevant_motifs
from crelens.sequences import variable_span
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)

LOGO_WINDOW = 100  # nucleotides shown per logo row


def conservation_tables(lrp_files: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, per-sequence rows) of every LRP file; keys are "task/model/selection"."""
    per_sequence = []
    for key, path in lrp_files.items():
        task, model, selection = key.split("/")
        stored = read_attributions(path)
        frame = conservation_table(stored)
        frame.insert(0, "selection", selection)
        frame.insert(0, "model", model)
        frame.insert(0, "task", task)
        frame["dtype"] = stored["meta"]["dtype"]
        per_sequence.append(frame)
    per_sequence = pd.concat(per_sequence, ignore_index=True)
    absorbed_cols = [c for c in per_sequence.columns if c.startswith("absorbed_")]
    per_sequence[absorbed_cols] = per_sequence[absorbed_cols].fillna(0.0)
    rows = []
    for (task, model, selection, dtype), group in per_sequence.groupby(
        ["task", "model", "selection", "dtype"], sort=False
    ):
        row = conservation_summary(group, "lrp", dtype)
        row.insert(1, "task", task)
        row.insert(2, "model", model)
        row.insert(3, "selection", selection)
        rows.append(row)
    return pd.concat(rows, ignore_index=True), per_sequence


def _mean_score(_targets, values) -> float:
    """A per-sequence score's mean: the scores are the measurements, there are no targets."""
    return float(np.mean(values))


def paired_differences(
    scores: pd.DataFrame, reference: str = "lrp", n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """reference − method per metric on the same sequences: mean difference with the paired
    bootstrap CI and two-sided p-value of `crelens.metrics.paired_bootstrap`, as the model
    comparison uses."""
    rows = []
    wide = scores.pivot_table(index=["seq_id", "metric"], columns="method", values="value").reset_index()
    if reference not in wide:
        return pd.DataFrame(columns=["method", "metric", "difference", "ci_low", "ci_high", "pvalue", "n"])
    for metric, group in wide.groupby("metric", sort=False):
        for method in [m for m in pd.unique(scores["method"]) if m != reference]:
            both = group[[reference, method]].dropna().to_numpy()
            if len(both) < 2:
                continue
            test = paired_bootstrap(
                _mean_score, np.zeros(len(both)), both[:, 0], both[:, 1], n_boot=n_boot, level=level, seed=seed
            )
            rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "difference": test["delta"],
                    "ci_low": test["low"],
                    "ci_high": test["high"],
                    "pvalue": test["pvalue"],
                    "n": len(both),
                }
            )
    return pd.DataFrame(rows)


def _logo_examples(stored: dict[str, dict], n: int, sites: pd.DataFrame | None, task: str, design_motifs) -> list[dict]:
    """LRP and ISM rows of `n` example sequences, each shown in a window of the part that varies
    (never an MPRA construct's constant flanks).

    Where the planted motifs are known, the examples are the best-predicted sequences holding a
    planted motif that acts on the output, and the window is centred on the one carrying the most
    |relevance|; otherwise the best-predicted sequences, centred on their strongest signal.
    """
    lrp = stored["lrp"]
    output = str(lrp["output"][0])
    lo, hi = variable_span([str(s) for s in lrp["sequence"]])
    relevant = relevant_motifs(task, output, design_motifs) if sites is not None and design_motifs is not None else None
    by_seq = {}
    if relevant is not None:
        inside = sites[sites.motif_name.isin(relevant) & (sites.start >= lo) & (sites.end <= hi)]
        by_seq = {seq_id: group for seq_id, group in inside.groupby("seq_id")}
    order = np.argsort(-lrp["prediction"][:, 0], kind="stable")
    if relevant is not None and by_seq:
        order = [i for i in order if str(lrp["seq_id"][i]) in by_seq]
    examples = []
    for i in order[:n]:
        relevance = lrp["relevance"][i, 0]
        seq_id = str(lrp["seq_id"][i])
        if seq_id in by_seq:
            mass = [np.abs(relevance[s.start : s.end]).sum() for s in by_seq[seq_id].itertuples()]
            site = by_seq[seq_id].iloc[int(np.argmax(mass))]
            centre = (int(site.start) + int(site.end)) // 2
        else:
            smooth = np.convolve(np.abs(relevance[lo:hi]), np.ones(15), mode="same")
            centre = lo + int(np.argmax(smooth))
        width = min(LOGO_WINDOW, hi - lo)
        start = int(np.clip(centre - width // 2, lo, hi - width))
        end = start + width
        motifs = []
        for site in by_seq.get(seq_id, pd.DataFrame(columns=["start", "end", "motif_name"])).itertuples():
            if site.end > start and site.start < end:
                motifs.append((max(site.start, start) - start, min(site.end, end) - start, site.motif_name))
        for method in [m for m in ("lrp", "ism") if m in stored]:
            examples.append(
                {
                    "seq_id": seq_id,
                    "method": method,
                    "sequence": str(lrp["sequence"][i])[start:end],
                    "relevance": stored[method]["relevance"][i, 0, start:end],
                    "start": start,
                    "motifs": motifs,
                    "output": output,
                    "prediction": float(lrp["prediction"][i, 0]),
                }
            )
    return examples


def run_summarise_attribution(
    lrp_files: dict[str, str],
    score_files: dict[str, str],
    curve_files: dict[str, str],
    primary_methods: dict[str, str],
    primary: dict,
    outputs: dict,
    *,
    n_boot: int,
    level: float,
    seed: int,
    logos: int,
    sites_path=None,
    design_motifs=None,
) -> None:
    """The `summarise_attribution` job: conservation/faithfulness tables and figures.

    lrp_files: "task/model/selection" → LRP .npz; score_files / curve_files: "task/model" →
    faithfulness rows / mean curves; primary_methods: method → .npz of the primary model's test
    selection (for the logos). outputs: paths by name (see the `summarise_attribution` rule).
    """
    conservation, per_sequence = conservation_tables(lrp_files)
    write_table(conservation, outputs["conservation"])
    write_table(per_sequence, outputs["conservation_per_sequence"])
    log.info(
        "conservation: max relative error %.2e over %d explained outputs",
        conservation.max_rel_err.max(),
        len(per_sequence),
    )

    tables, paired, curves = [], [], []
    for key, path in score_files.items():
        task, model = key.split("/")
        scores = read_table(path)
        table = summarise(scores, n_boot=n_boot, level=level, seed=seed)
        table.insert(0, "model", model)
        table.insert(0, "task", task)
        tables.append(table)
        diff = paired_differences(scores, n_boot=n_boot, level=level, seed=seed)
        diff.insert(0, "model", model)
        diff.insert(0, "task", task)
        paired.append(diff)
        curve = read_table(curve_files[key])
        curves.append(curve.assign(task=task, model=model))
    every = pd.concat(tables, ignore_index=True)
    write_table(every, outputs["faithfulness_all"])
    write_table(pd.concat(paired, ignore_index=True), outputs["paired"])
    main = every[(every.task == primary["task"]) & (every.model == primary["model"])]
    write_table(main[["method", "metric", "value", "ci_low", "ci_high", "n"]], outputs["faithfulness"])
    for row in main[main.metric.isin(["delta_af", "motif_auroc"])].itertuples():
        log.info("%s %s: %.4f [%.4f, %.4f]", row.method, row.metric, row.value, row.ci_low, row.ci_high)

    conservation_scatter(per_sequence, outputs["conservation_figure"])
    all_curves = pd.concat(curves, ignore_index=True)
    perturbation_curves(
        all_curves[(all_curves.task == primary["task"]) & (all_curves.model == primary["model"])],
        outputs["curves_figure"],
    )
    faithfulness_bars(every, outputs["faithfulness_figure"])
    sites = None
    if sites_path:
        sites = read_table(sites_path)
        sites = sites[sites.dataset == primary["task"]]
    stored = {method: read_attributions(path) for method, path in primary_methods.items()}
    attribution_logos(_logo_examples(stored, logos, sites, primary["task"], design_motifs), outputs["logos_figure"])
