"""The `attribute` job: explain one model's predictions with one method and store them.

LRP runs in `attribution.lrp_dtype` (float64 by default, so conservation can be checked to
1e-6); the baselines in float32. The stored format is `crelens.attribution.store`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch

from crelens.attribution.baselines import METHODS as BASELINES
from crelens.attribution.baselines import ism_all_outputs
from crelens.attribution.explained import ExplainedModel, load_explained
from crelens.attribution.lrp import conservation_frame, lrp
from crelens.attribution.selection import output_names, select_sequences
from crelens.attribution.store import write_attributions
from crelens.names import ATTRIBUTION_METHODS
from crelens.sequences import variable_span
from crelens.tables import read_table

log = logging.getLogger(__name__)


def _baseline_options(method: str, settings: dict, seed: int, batch: int) -> dict:
    """Options of a baseline method; `attribution.chunk` bounds the inputs of one forward/backward
    pass (IG path points, SmoothGrad noisy copies), and with it the job's memory."""
    chunk = settings.get("chunk")
    if method == "integrated_gradients":
        return {
            "steps": settings["integrated_gradients"]["steps"],
            "baseline": settings["integrated_gradients"]["baseline"],
            "internal_batch_size": chunk,
        }
    if method == "smoothgrad":
        return {
            "samples": settings["smoothgrad"]["samples"],
            "noise": settings["smoothgrad"]["noise"],
            "seed": seed,
            "samples_batch_size": None if chunk is None else max(1, chunk // batch),
        }
    if method == "random":
        return {"seed": seed}
    return {}


def attribute(
    model: ExplainedModel,
    chosen: pd.DataFrame,
    method: str,
    settings: dict,
    seed: int,
    span: tuple[int, int] | None = None,
) -> dict:
    """Arrays of the stored format for `chosen` explained with `method` (all outputs).

    `span`: the positions that vary in the data set (ISM mutates only those); default: all.
    """
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {ATTRIBUTION_METHODS}")
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
            conservation.append(
                conservation_frame(result, list(chosen["seq_id"].iloc[first : first + len(batch)]), model.output_names)
            )
        elif method == "ism":  # one set of mutants scores every output
            relevance.append(ism_all_outputs(model, x, settings["ism_batch_size"], positions=span))
            with torch.no_grad():
                prediction.append(model(x))
        else:
            options = _baseline_options(method, settings, seed + first, len(batch))
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
        wide = {
            col: frame.pivot(index="seq_id", columns="output", values=col).loc[arrays["seq_id"], model.output_names]
            for col in [
                "explained",
                "relevance_sum",
                "rel_err",
                *[c for c in frame.columns if c.startswith("absorbed_")],
            ]
        }
        arrays.update({col: table.to_numpy(np.float64) for col, table in wide.items()})
    return arrays


def run_attribute(
    task: str,
    model_name: str,
    method: str,
    selection: str,
    model_path,
    table_path,
    out,
    *,
    cells: list[str],
    settings: dict,
    seed: int,
    n_as: str = "pad",
    encoder_folder=None,
    snv_path=None,
    predictions_path=None,
    threads: int = 1,
) -> None:
    """One `attribute` job: select the sequences, explain them, write the `.npz`."""
    torch.set_num_threads(threads)
    table = read_table(table_path)
    names = output_names(task, table, cells)
    dtype = settings["lrp_dtype"] if method == "lrp" else "float32"
    model = load_explained(model_path, task, names, encoder_folder=encoder_folder, n_as=n_as, dtype=dtype)
    if method == "lrp" and not model.lrp_modules():
        raise ValueError(f"{model_name} is not a Caduceus head: LRP rules exist for Caduceus heads only")
    chosen = select_sequences(
        task,
        selection,
        table,
        settings["n_sequences"],
        seed,
        predictions=read_table(predictions_path) if predictions_path else None,
        snv=read_table(snv_path) if snv_path else None,
    )
    log.info(
        "%s %s %s: explaining %d %s sequences, outputs %s, %s",
        task,
        model_name,
        method,
        len(chosen),
        selection,
        names,
        dtype,
    )
    arrays = attribute(model, chosen, method, settings, seed, span=variable_span(list(table["sequence"])))
    if "rel_err" in arrays:
        log.info(
            "LRP conservation: max relative error %.2e over %d sequences × %d outputs",
            float(np.max(arrays["rel_err"])),
            *arrays["rel_err"].shape,
        )
    meta = {
        "task": task,
        "model": model_name,
        "method": method,
        "selection": selection,
        "dtype": dtype,
        "epsilon": settings["epsilon"] if method == "lrp" else None,
    }
    write_attributions(out, arrays, meta)
