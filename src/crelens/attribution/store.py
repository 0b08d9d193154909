"""The stored attribution format, readable without torch (the motif stage reads only this).

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

import numpy as np
import pandas as pd

from crelens.atomic import atomic_path
from crelens.errors import InputError


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
        raise InputError(
            path,
            f"relevance {arrays['relevance'].shape} / prediction {arrays['prediction'].shape} "
            f"do not match {n} sequences × {k} outputs",
        )
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
