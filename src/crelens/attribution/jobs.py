"""Attribution jobs of the workflow: which sequences, which model, which method, stored how.

Stored format (one `.npz` per task × model × selection × method, written atomically):

    seq_id      (n,)      str    sequence IDs (SNV selection: "<pair_id>:ref" / "<pair_id>:alt")
    sequence    (n,)      str    the explained sequences (all of one length L)
    output      (k,)      str    explained outputs (cell types, or EPI classes = logits)
    relevance   (n, k, L) float32  relevance per nucleotide, sign kept
    prediction  (n, k)    float32  model output f(x) per explained output
    label_id    (n,)      int64  EPI class of each sequence (-1 for MPRA)
    meta        ()        str    JSON: task, model, selection, method, dtype, options
  LRP only (the conservation accounting of every sequence, in the run's dtype):
    explained   (n, k)    float64  f(x) of the LRP forward pass
    relevance_sum (n, k)  float64  Σ_i R_i before rounding to float32
    absorbed_<group> (n, k) float64  relevance absorbed by biases / ε (see attribution.lrp)
    rel_err     (n, k)    float64  relative error of Σ R + Σ absorbed = f(x)

Relevance on a one-hot view (for logos or TF-MoDISco) is `relevance[:, k, None, :] * onehot`,
the observed base carrying the nucleotide's relevance.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_path
from ..errors import InputError
from ..evaluation import epi_classes
from ..models.hub import load_caduceus
from ..models.registry import is_head, load_model, task_view
from .baselines import METHODS as BASELINES
from .baselines import ism_all_outputs
from .explained import CaduceusHeadModel, ExplainedModel, OneHotModel
from .lrp import conservation_frame, lrp

log = logging.getLogger(__name__)

METHODS = ("lrp", *BASELINES)
SELECTIONS = ("test", "top", "snv", "all")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def output_names(task: str, table: pd.DataFrame, cells: list[str]) -> list[str]:
    return list(cells) if task == "mpra" else epi_classes(table)


def load_explained(model_path, task: str, names: list[str], *, encoder_folder=None, n_as: str = "pad",
                   dtype: str = "float64") -> ExplainedModel:
    """The trained model as the workflow predicts with it, in `dtype`, eval mode."""
    model, spec = load_model(model_path)
    if is_head(spec["model"]):
        if encoder_folder is None:
            raise ValueError(f"{model_path}: a head needs the encoder it was trained on")
        backbone = load_caduceus(encoder_folder).backbone
        explained = CaduceusHeadModel(backbone, model, spec["bins"], names, n_as=n_as)
    else:
        explained = OneHotModel(task_view(model, task), names)
    return explained.to(DTYPES[dtype]).eval()


def select_sequences(task: str, selection: str, table: pd.DataFrame, n: int, seed: int,
                     predictions: pd.DataFrame | None = None, snv: pd.DataFrame | None = None) -> pd.DataFrame:
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
    return pd.DataFrame({"seq_id": chosen["seq_id"].to_numpy(), "sequence": chosen["sequence"].to_numpy(),
                         "label_id": labels})


def _baseline_options(method: str, settings: dict, seed: int) -> dict:
    if method == "integrated_gradients":
        return {"steps": settings["integrated_gradients"]["steps"], "baseline": settings["integrated_gradients"]["baseline"]}
    if method == "smoothgrad":
        return {"samples": settings["smoothgrad"]["samples"], "noise": settings["smoothgrad"]["noise"], "seed": seed}
    if method == "random":
        return {"seed": seed}
    return {}


def attribute(model: ExplainedModel, chosen: pd.DataFrame, method: str, settings: dict, seed: int) -> dict:
    """Arrays of the stored format for `chosen` explained with `method` (all outputs)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    seqs = list(chosen["sequence"])
    k = len(model.output_names)
    batch_size = 1 if method == "ism" else settings["batch_size"]  # ISM: 3·L mutants per sequence already
    relevance, prediction, conservation = [], [], []
    started = time.monotonic()
    for first in range(0, len(seqs), batch_size):
        batch = seqs[first : first + batch_size]
        x = model.inputs(batch)
        if method == "lrp":
            result = lrp(model, x, epsilon=settings["epsilon"])
            relevance.append(result.relevance)
            prediction.append(result.explained)
            conservation.append(conservation_frame(result, list(chosen["seq_id"].iloc[first : first + len(batch)]), model.output_names))
        elif method == "ism":  # one set of mutants scores every output
            relevance.append(ism_all_outputs(model, x, settings["ism_batch_size"]))
            with torch.no_grad():
                prediction.append(model(x))
        else:
            options = _baseline_options(method, settings, seed + first)
            relevance.append(torch.stack([BASELINES[method](model, x, o, **options) for o in range(k)], 1))
            with torch.no_grad():
                prediction.append(model(x))
        done = first + len(batch)
        rate = done / max(time.monotonic() - started, 1e-9)
        log.info("%s: %d/%d sequences, %.2f sequences/s", method, done, len(seqs), rate)
    arrays = {
        "seq_id": np.asarray(chosen["seq_id"], dtype=str),
        "sequence": np.asarray(seqs, dtype=str),
        "output": np.asarray(model.output_names, dtype=str),
        "relevance": torch.cat(relevance).detach().cpu().numpy().astype(np.float32),
        "prediction": torch.cat(prediction).detach().cpu().numpy().astype(np.float32),
        "label_id": chosen["label_id"].to_numpy(np.int64),
    }
    if conservation:
        frame = pd.concat(conservation, ignore_index=True)
        wide = {col: frame.pivot(index="seq_id", columns="output", values=col).loc[arrays["seq_id"], model.output_names]
                for col in ["explained", "relevance_sum", "rel_err", *[c for c in frame.columns if c.startswith("absorbed_")]]}
        arrays.update({col: table.to_numpy(np.float64) for col, table in wide.items()})
    return arrays


def write_attributions(path, arrays: dict, meta: dict) -> None:
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)


def read_attributions(path) -> dict:
    """The stored arrays (+ `meta` parsed), checked for consistent shapes."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable attribution file ({exc})") from None
    missing = {"seq_id", "sequence", "output", "relevance", "prediction", "label_id", "meta"} - set(arrays)
    if missing:
        raise InputError(path, f"attribution file lacks {sorted(missing)}")
    n, k = len(arrays["seq_id"]), len(arrays["output"])
    if arrays["relevance"].shape[:2] != (n, k) or arrays["prediction"].shape != (n, k):
        raise InputError(path, f"relevance {arrays['relevance'].shape} / prediction {arrays['prediction'].shape} "
                               f"do not match {n} sequences × {k} outputs")
    arrays["meta"] = json.loads(str(arrays["meta"]))
    return arrays


def conservation_table(stored: dict) -> pd.DataFrame:
    """Per (sequence, output) conservation terms of an LRP file, long format."""
    if "rel_err" not in stored:
        raise ValueError("only LRP attribution files carry conservation terms")
    n, k = stored["prediction"].shape
    frame = pd.DataFrame({"seq_id": np.repeat(stored["seq_id"], k), "output": np.tile(stored["output"], n)})
    frame["explained"] = stored["explained"].ravel()
    frame["relevance_sum"] = stored["relevance_sum"].ravel()
    for key in sorted(s for s in stored if s.startswith("absorbed_")):
        frame[key] = stored[key].ravel()
    frame["rel_err"] = stored["rel_err"].ravel()
    return frame


def relevant_motifs(task: str, output: str, design_motifs: list[dict]) -> set[str]:
    """Planted motifs that a faithful explanation of `output` should highlight (synthetic truth).

    MPRA: motifs with a non-zero effect in that cell type (an inactive motif is planted but must
    not be relevant); EPI: every class-programme motif, not the inert insulator (CTCF).
    """
    if task == "mpra":
        return {m["name"] for m in design_motifs if m["effect"].get(output, 0) != 0}
    return {m["name"] for m in design_motifs if m.get("program") != "insulator"}


def _explained_outputs(task: str, stored: dict) -> list[tuple[int, np.ndarray]]:
    """(output index, rows) pairs to score: every cell type for MPRA; for EPI each sequence's
    own class logit (the prediction a biologist asks about)."""
    n = len(stored["seq_id"])
    if task == "mpra":
        return [(k, np.arange(n)) for k in range(len(stored["output"]))]
    labels = stored["label_id"]
    return [(int(k), np.flatnonzero(labels == k)) for k in np.unique(labels) if k >= 0]


def faithfulness(model: ExplainedModel, stored: dict[str, dict], task: str, *, steps: int, batch_size: int,
                 sites: pd.DataFrame | None = None, design_motifs: list[dict] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sequence faithfulness rows (method, seq_id, metric, value) and mean MoRF/LeRF curves.

    Metrics per sequence (averaged over the explained outputs): area_morf, area_lerf, delta_af
    (= area_lerf − area_morf, removal = the N nucleotide of the model's input) and on synthetic
    data motif_auroc / motif_auprc of |relevance| against the planted relevant motif positions.
    """
    from .faithfulness import area, motif_mask, motif_scores, perturbation_curve

    reference = next(iter(stored.values()))
    for method, arrays in stored.items():
        if not np.array_equal(arrays["seq_id"], reference["seq_id"]):
            raise ValueError(f"{method}: attributions are of other sequences than {next(iter(stored))}")
    seq_ids = list(reference["seq_id"])
    x = model.inputs(list(reference["sequence"]))
    length = x.shape[1]
    rows, curves = [], []
    for method, arrays in stored.items():
        per_metric: dict[str, np.ndarray] = {}
        counts = np.zeros(len(seq_ids))
        started = time.monotonic()
        for k, idx in _explained_outputs(task, arrays):
            if not len(idx):
                continue
            relevance = torch.as_tensor(arrays["relevance"][idx, k], dtype=x.dtype)
            scores = {}
            for order in ("morf", "lerf"):
                curve = perturbation_curve(model, x[idx], relevance, k, order, steps, batch_size)
                scores[f"area_{order}"] = area(curve).cpu().numpy()
                mean_curve = curve.double().mean(0).cpu().numpy()
                curves += [{"method": method, "output": str(arrays["output"][k]), "order": order,
                            "fraction": j / steps, "value": float(v)} for j, v in enumerate(mean_curve)]
            scores["delta_af"] = scores["area_lerf"] - scores["area_morf"]
            if sites is not None and design_motifs is not None:
                names = relevant_motifs(task, str(arrays["output"][k]), design_motifs)
                mask = motif_mask(sites[sites["motif_name"].isin(names)], [seq_ids[i] for i in idx], length)
                scores["motif_auroc"], scores["motif_auprc"] = motif_scores(relevance.abs().cpu().numpy(), mask)
            for metric, values in scores.items():
                total = per_metric.setdefault(metric, np.zeros(len(seq_ids)))
                total[idx] += np.nan_to_num(values, nan=0.0)
                per_metric.setdefault(f"{metric}__n", np.zeros(len(seq_ids)))[idx] += ~np.isnan(values)
            counts[idx] += 1
        log.info("%s: perturbation curves of %d sequences in %.1f s", method, len(seq_ids), time.monotonic() - started)
        for metric in [m for m in per_metric if not m.endswith("__n")]:
            n = per_metric[f"{metric}__n"]
            mean = np.where(n > 0, per_metric[metric] / np.maximum(n, 1), np.nan)
            rows += [{"method": method, "seq_id": s, "metric": metric, "value": float(v)} for s, v in zip(seq_ids, mean)]
    return pd.DataFrame(rows), pd.DataFrame(curves)


# --------------------------------------------------------------------------- workflow entry points


def run_attribution(task: str, model_name: str, method: str, selection: str, model_path, table_path, out, *,
                    cells: list[str], settings: dict, seed: int, n_as: str = "pad", encoder_folder=None,
                    snv_path=None, predictions_path=None, threads: int = 1) -> None:
    """One `attribute` job: select the sequences, explain them, write the `.npz`."""
    from ..io import read_table

    torch.set_num_threads(threads)
    table = read_table(table_path)
    names = output_names(task, table, cells)
    dtype = settings["lrp_dtype"] if method == "lrp" else "float32"
    model = load_explained(model_path, task, names, encoder_folder=encoder_folder, n_as=n_as, dtype=dtype)
    if method == "lrp" and not model.lrp_modules():
        raise ValueError(f"{model_name} is not a Caduceus head: LRP rules exist for Caduceus heads only")
    chosen = select_sequences(
        task, selection, table, settings["n_sequences"], seed,
        predictions=read_table(predictions_path) if predictions_path else None,
        snv=read_table(snv_path) if snv_path else None,
    )
    log.info("%s %s %s: explaining %d %s sequences, outputs %s, %s", task, model_name, method, len(chosen), selection, names, dtype)
    arrays = attribute(model, chosen, method, settings, seed)
    if "rel_err" in arrays:
        log.info("LRP conservation: max relative error %.2e over %d sequences × %d outputs",
                 float(np.max(arrays["rel_err"])), *arrays["rel_err"].shape)
    meta = {"task": task, "model": model_name, "method": method, "selection": selection, "dtype": dtype,
            "epsilon": settings["epsilon"] if method == "lrp" else None}
    write_attributions(out, arrays, meta)


def run_faithfulness(task: str, model_path, attribution_paths: dict, out_scores, out_curves, *, table_path,
                     cells: list[str], settings: dict, n_as: str = "pad", encoder_folder=None, sites_path=None,
                     design_motifs: list[dict] | None = None, threads: int = 1) -> None:
    """One `faithfulness` job: perturbation curves (and motif recovery) of every method."""
    from ..io import read_table, write_table

    torch.set_num_threads(threads)
    names = output_names(task, read_table(table_path), cells)
    model = load_explained(model_path, task, names, encoder_folder=encoder_folder, n_as=n_as, dtype="float32")
    stored = {method: read_attributions(path) for method, path in attribution_paths.items()}
    sites = None
    if sites_path:
        sites = read_table(sites_path)
        sites = sites[sites["dataset"] == task]
    scores, curves = faithfulness(model, stored, task, steps=settings["perturbation_steps"], batch_size=settings["batch_size"] * 4,
                                  sites=sites, design_motifs=design_motifs)
    write_table(scores, out_scores)
    write_table(curves, out_curves)
