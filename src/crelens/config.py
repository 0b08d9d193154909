"""Checks of the configuration that a JSON schema cannot express (cross-field consistency).

The schema (config/schema.yaml) catches unknown keys and wrong types; these catch settings
that are each valid but contradict one another, before any job starts.
"""

from __future__ import annotations

import csv
import gzip
import os
import re

from crelens.errors import InputError
from crelens.names import HEAD_MODELS, IN_LOOP_MODES, JOINT, head_name


def check_splits(splits: dict, chromosomes: list[str]) -> None:
    """Validation and test chromosomes must be kept chromosomes and must not overlap."""
    val, test = list(splits["val"]), list(splits["test"])
    both = sorted(set(val) & set(test))
    if both:
        raise InputError(None, f"config splits: {both} are in both val and test")
    unknown = sorted(set(val + test) - set(chromosomes))
    if unknown:
        raise InputError(None, f"config splits name chromosomes {unknown} that are not in config chromosomes")
    if not set(chromosomes) - set(val) - set(test):
        raise InputError(None, "config splits leave no chromosome for training")


# Defaults of the optional settings of `data.table` (the user's own MPRA table).
TABLE_DEFAULTS = {
    "id": None,
    "adaptors": "auto",
    "split": None,
    "chromosome": None,
    "variant_of": None,
    "designed": None,
    # used when neither a split column nor a chromosome column is given
    "holdout": {"val": 0.1, "test": 0.1},
    "similarity": {"method": "auto", "k": 12, "min_shared": 0.3, "score_threshold": 60},
    "genome": None,
    "promoters": None,
    "ccres": None,
}


def epi_available(config: dict) -> bool:
    """EPI needs a genome and element BEDs: always there, except for a table without them."""
    if config["data"]["source"] != "table":
        return True
    table = config["data"]["table"] or {}
    return all(table.get(key) for key in ("genome", "promoters", "ccres"))


def resolve_table_source(config: dict) -> None:
    """For `data.source: table`, in place: fill the table defaults, take the cell types from
    `data.table.activity`, and leave EPI out of every task list when it cannot run.

    Why in place: the rules then see one effective configuration, and their params (which decide
    what reruns) hold what is actually used.
    """
    if config["data"]["source"] != "table":
        return
    table = config["data"].get("table")
    if not table:
        raise InputError(None, "data.source is table, but data.table (path, sequence, activity) is not set")
    merged = {**TABLE_DEFAULTS, **table}
    for key in ("holdout", "similarity"):
        merged[key] = {**TABLE_DEFAULTS[key], **(table.get(key) or {})}
    config["data"]["table"] = merged
    config["datasets"]["cells"] = list(merged["activity"])
    if epi_available(config):
        return
    for owner, key in (
        (config["heads"], "tasks"),
        (config["attribution"], "tasks"),
        (config["motifs"], "tasks"),
        (config["baselines"]["distillation"], "tasks"),
    ):
        if key in owner:
            owner[key] = [task for task in owner[key] if task != "epi"]
    if "mpra" not in config["heads"]["tasks"]:
        raise InputError(None, "heads.tasks: a table run without genome and element BEDs has only the mpra task")
    if config["attribution"]["primary"]["task"] == "epi":
        raise InputError(None, "attribution.primary.task is epi, but EPI needs data.table.genome, promoters and ccres")
    if not config["attribution"]["tasks"] or not config["motifs"]["tasks"]:
        raise InputError(None, "attribution.tasks / motifs.tasks: a table run without EPI needs mpra there")


def _check_table(config: dict) -> None:
    table = config["data"]["table"]
    if table["split"] and table["chromosome"]:
        raise InputError(None, "data.table: give split (a fold column) or chromosome, not both")
    holdout = table["holdout"]
    if holdout["val"] <= 0 or holdout["test"] <= 0 or holdout["val"] + holdout["test"] >= 1:
        raise InputError(None, "data.table.holdout: val and test shares must be > 0 and leave a training share")
    if table["split"]:
        both = {str(v) for v in table["split"]["val"]} & {str(v) for v in table["split"]["test"]}
        if both:
            raise InputError(None, f"data.table.split: {sorted(both)} are in both val and test")
    pretrain = config["encoder"]["pretrain"]
    beds = table["promoters"] and table["ccres"]
    if config["encoder"]["source"] == "pretrain" and not beds:
        for key in ("element_share", "annotation_weight"):
            if pretrain.get(key, 0):
                raise InputError(
                    None,
                    f"encoder.pretrain.{key} is {pretrain[key]}, but element classes need data.table.promoters "
                    "and ccres; set it to 0 for a table without element BEDs",
                )
    if (table["promoters"] or table["ccres"]) and not table["genome"]:
        raise InputError(None, "data.table: promoters / ccres need data.table.genome (the FASTA they refer to)")
    _check_table_columns(table)


def table_separator(path) -> str | None:
    """The field separator of a user's table, from its name: "," for .csv, a tab otherwise (.tsv,
    .txt), also when gzipped; None for Parquet, which has no text lines."""
    name = os.fspath(path).lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return None
    return "," if name.endswith(".csv") else "\t"


def _table_header(path: str) -> list[str] | None:
    """The column names of a TSV/CSV table (gzipped or not), from its first line; None for Parquet,
    a missing file or an unreadable one (the mpra_dataset job then names the problem)."""
    sep = table_separator(path)
    if sep is None or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle, delimiter=sep), None)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error):
        return None


def _check_table_columns(table: dict) -> None:
    """Every configured column is in the table's header: a misspelt column name stops the run
    before any job (the reader checks again, for Parquet too)."""
    header = _table_header(table["path"])
    if header is None:
        return
    wanted = {"sequence": table["sequence"], "id": table.get("id")}
    wanted.update({f"activity.{cell}": column for cell, column in table["activity"].items()})
    for key in ("chromosome", "variant_of", "designed"):
        wanted[key] = table.get(key)
    wanted["split.column"] = (table.get("split") or {}).get("column")
    for key, column in wanted.items():
        if column is not None and column not in header:
            raise InputError(table["path"], f"no column {column!r} (data.table.{key}); the table has {header}", 1)


def aug_modes(config: dict) -> list[str]:
    """heads.aug_mode as a list (one mode may be given alone)."""
    modes = config["heads"]["aug_mode"]
    return [modes] if isinstance(modes, str) else list(modes)


def in_loop_models(config: dict, task: str) -> list[str]:
    """The heads trained with the encoder in the loop for `task` (MPRA only): head_<kind>_<mode>."""
    if task != "mpra" or task not in config["heads"]["tasks"]:
        return []
    modes = [m for m in IN_LOOP_MODES if m in aug_modes(config)]
    return [head_name(kind, mode) for mode in modes for kind in config["heads"]["in_loop"]["kinds"]]


def trained_models(config: dict, task: str) -> list[str]:
    """Every model the run trains for `task`: the heads (each aug_mode), then the baselines (the
    joint model only when both tasks run; distilled students only for `baselines.distillation.tasks`)."""
    tasks = config["heads"]["tasks"]
    if task not in tasks:
        return []
    models = [head_name(kind) for kind in config["heads"]["kinds"]] if "no_shift" in aug_modes(config) else []
    models += in_loop_models(config, task)
    distilled = config["baselines"]["distillation"].get("tasks", tasks)
    for name in config["baselines"]["models"]:
        if name == JOINT and not {"mpra", "epi"} <= set(tasks):
            continue
        if name.startswith("sparse_distilled_") and task not in distilled:
            continue
        models.append(name)
    return models


def _check_explained_models(config: dict) -> None:
    """Attribution and motif sources must be models the run trains; LRP needs a Caduceus head."""
    attribution = config["attribution"]
    for task in attribution["tasks"]:
        missing = [m for m in attribution["models"] if m not in trained_models(config, task)]
        if missing:
            raise InputError(
                None, f"attribution.models: {missing} are not trained for {task} (heads.kinds / baselines.models)"
            )
    primary = attribution["primary"]
    if primary["model"] not in trained_models(config, primary["task"]):
        raise InputError(
            None,
            f"attribution.primary.model {primary['model']!r} is not a model the run trains for {primary['task']} "
            "(heads.kinds / baselines.models)",
        )
    for i, source in enumerate(config["motifs"]["sources"]):
        where = f"motifs.sources[{i}] ({source['model']}, {source['method']})"
        for task in config["motifs"]["tasks"]:
            if source["model"] not in trained_models(config, task):
                raise InputError(None, f"{where}: {source['model']} is not a model the run trains for {task}")
        if source["method"] == "lrp" and source["model"] not in HEAD_MODELS:
            raise InputError(None, f"{where}: LRP rules exist for Caduceus heads (head_*) only")


def _sizes_names(path) -> set[str]:
    """Chromosome names of a sizes file (first column), read without pandas (DAG parse stays light)."""
    names = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                names.add(line.split()[0])
    return names


def check_config(config: dict, base_dir=None) -> None:
    """Raise InputError naming the first pair of settings that contradict each other.

    `base_dir`: where relative paths shipped with the workflow (the synthetic sizes file) live.
    """
    chromosomes = config["chromosomes"]
    check_splits(config["splits"], chromosomes)
    if config["data"]["source"] == "table":
        _check_table(config)
    else:
        _check_synthetic(config)
    if config["data"]["source"] == "synthetic" and base_dir is not None:
        sizes = config["data"]["synthetic"]["chrom_sizes"]
        path = sizes if sizes.startswith("/") else f"{base_dir}/{sizes}"
        try:
            known = _sizes_names(path)
        except OSError as exc:
            raise InputError(path, f"data.synthetic.chrom_sizes cannot be read ({exc.strerror})") from None
        missing = [c for c in chromosomes if c not in known]
        if missing:
            raise InputError(
                path, f"config chromosomes {missing} are not in this sizes file (data.synthetic.chrom_sizes)"
            )
    _check_rest(config)
    _check_explained_models(config)


def _check_synthetic(config: dict) -> None:
    cells = config["datasets"]["cells"]
    syn = config["data"]["synthetic"]
    design = syn["design"]
    for where, table in (
        ("data.synthetic.mpra.missing_share", syn["mpra"]["missing_share"]),
        ("data.synthetic.design.baseline", design["baseline"]),
        ("data.synthetic.design.noise_sd", design["noise_sd"]),
        *((f"data.synthetic.design.motifs[{m['name']}].effect", m["effect"]) for m in design["motifs"]),
        *((f"data.synthetic.design.interactions{p['motifs']}.effect", p["effect"]) for p in design["interactions"]),
    ):
        missing = [c for c in cells if c not in table]
        if missing:
            raise InputError(None, f"config {where} has no value for cells {missing} (datasets.cells)")
    shares = syn["slot_shares"]
    if sum(shares.values()) + syn["repeat_share"] > 1:
        raise InputError(None, "config data.synthetic: slot_shares plus repeat_share exceed 1")
    composition = syn["mpra"]["composition"]
    if abs(sum(composition.values()) - 1) > 1e-6:
        raise InputError(
            None, f"config data.synthetic.mpra.composition must sum to 1, sums to {sum(composition.values()):g}"
        )
    names = [m["name"] for m in design["motifs"]]
    if len(set(names)) != len(names):
        raise InputError(None, "config data.synthetic.design.motifs: motif names must be unique")
    for pair in design["interactions"]:
        unknown = [m for m in pair["motifs"] if m not in names]
        if unknown:
            raise InputError(None, f"config data.synthetic.design.interactions: unknown motifs {unknown}")
    for key in ("motifs_per_promoter", "motifs_per_enhancer"):
        low, high = design[key]
        if low > high:
            raise InputError(None, f"config data.synthetic.design.{key}: {low} > {high}")


def _check_rest(config: dict) -> None:
    cells = config["datasets"]["cells"]
    try:
        pattern = re.compile(config["datasets"]["mpra"]["variant_pattern"])
    except re.error as exc:
        raise InputError(None, f"config datasets.mpra.variant_pattern is not a regular expression: {exc}") from exc
    groups = {"ref_id", "offset", "ref", "alt"} - set(pattern.groupindex)
    if groups:
        raise InputError(None, f"config datasets.mpra.variant_pattern lacks named groups {sorted(groups)}")
    download = config["data"]["download"]
    if config["data"]["source"] == "download":
        missing = [c for c in cells if f"mpra_{c}" not in download]
        if missing:
            raise InputError(None, f"config data.download has no mpra_<cell> entry for {missing}")
    encoder = config["encoder"]
    if encoder["source"] == "download" and not encoder["download"]["revision"]:
        raise InputError(
            None,
            "config encoder.download.revision must be a commit hash (40 hex digits) of "
            f"{encoder['download']['repo_id']} when encoder.source is download, so reruns get the same weights",
        )
    in_loop = [m for m in IN_LOOP_MODES if m in aug_modes(config)]
    if in_loop and "mpra" not in config["heads"]["tasks"]:
        raise InputError(
            None, f"config heads.aug_mode {in_loop} shifts MPRA inserts inside their construct: heads.tasks needs mpra"
        )
    if config["cache"]["shard_size"] % config["cache"]["batch_size"]:
        raise InputError(None, "config cache.shard_size must be a multiple of cache.batch_size")
    shortest = min(config["datasets"]["mpra"]["input_length"], config["datasets"]["epi"]["window_bp"])
    if config["cache"]["bins"] > shortest:
        raise InputError(
            None, f"config cache.bins ({config['cache']['bins']}) exceeds the shortest model input ({shortest} nt)"
        )
    heads = config["heads"]
    for kind in heads["kinds"]:
        bins = heads.get("per_kind", {}).get(kind, {}).get("bins", heads["bins"])
        if kind != "conv" and bins > config["cache"]["bins"]:
            raise InputError(
                None, f"config heads.bins ({bins}, for {kind}) exceeds cache.bins ({config['cache']['bins']})"
            )
    files = [v["file"] for v in download.values() if isinstance(v, dict)]
    if len(set(files)) != len(files):
        raise InputError(None, "config data.download: two resources share one file name")
