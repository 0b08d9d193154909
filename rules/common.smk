# Configuration, names and helpers every stage uses; each stage's own input functions live in
# its rules file. Only dependency-free crelens modules are imported here: building the DAG
# (which every SLURM job does again) must not import torch, captum or matplotlib.
import re

import yaml

from crelens.config import (
    aug_modes,
    check_config,
    epi_available,
    resolve_table_source,
    trained_models,
)
from crelens.errors import InputError
from crelens.names import (
    ATTENTION_MODELS,
    ATTRIBUTION_METHODS,
    CACHE_TABLES,
    DISTILLED_MODELS,
    HEAD_MODELS,
    IN_LOOP_MODES,
    JOINT,
    KMER,
    MODEL_NAMES,
    NOISE_CEILING,
    SCRATCH_MODELS,
    SELECTIONS,
    SYNTHETIC_OUTPUTS,
    TASK_TABLES,
    TEACHER,
    mpra_file,
    reads_cache,
)
from crelens.provenance import code_fingerprint, derive_seed

try:
    # table runs: cells from the table, EPI only with a genome
    resolve_table_source(config)
    check_config(config, base_dir=workflow.basedir)
except InputError as exc:
    raise WorkflowError(
        f"invalid configuration: {exc.problem if exc.path is None else exc}"
    ) from None


def _in_default_order(value, default):
    """`value` with its mappings' keys in the order of `default` (keys it lacks last, as given)."""
    if not (isinstance(value, dict) and isinstance(default, dict)):
        return value
    keys = [k for k in default if k in value] + [k for k in value if k not in default]
    return {k: _in_default_order(value[k], default.get(k)) for k in keys}


# Snakemake puts the keys of a --configfile override first, so equal settings could arrive in
# different orders. Order matters twice: params are compared by their text (a reordered
# override would rerun everything) and the simulator draws over mappings in their order
# (enhancer_programs, mpra.composition). One canonical order, that of config/config.yaml:
with open(os.path.join(workflow.basedir, "config/config.yaml")) as _handle:
    _ordered = _in_default_order(config, yaml.safe_load(_handle))
config.clear()
config.update(_ordered)

SOURCE = config["data"]["source"]
CELLS = config["datasets"]["cells"]
SYNTHETIC = SOURCE == "synthetic"
TABLE = config["data"]["table"] if SOURCE == "table" else None
# EPI needs a genome and element BEDs; a table run without them is MPRA only.
EPI = epi_available(config)
# SNV pairs exist on the synthetic and download paths, and for tables with a variant_of column.
HAS_SNV = TABLE is None or bool(TABLE["variant_of"])
SYN_DIR = "results/data/synthetic"
DOWNLOAD_DIR = "results/data/download"
RESOURCES = {
    name: entry
    for name, entry in config["data"]["download"].items()
    if isinstance(entry, dict)
}
FILE_TO_RESOURCE = {entry["file"]: name for name, entry in RESOURCES.items()}
ENV = "../envs/crelens.yaml"
# GPU rules (they also request a GPU in profiles/slurm): CUDA PyTorch and the Mamba kernels
GPU_ENV = "../envs/crelens-gpu.yaml"
# Both env files install this checkout editable as ${CRELENS_ROOT}, which pip expands (conda
# creates environments from a copy of the file, so a relative path could not name it).
os.environ["CRELENS_ROOT"] = workflow.basedir


envvars:
    "CRELENS_ROOT",


def script_code(script):
    """Fingerprint of a rule's script (under workflow/scripts) and of the logic of every crelens
    module it imports: passed as the rule's `code` param, so a change of that logic reruns the
    rule and a change of comments, docstrings or formatting does not (crelens.provenance).
    """
    return code_fingerprint(os.path.join(workflow.basedir, "workflow/scripts", script))


def repo_path(path):
    """Relative paths in the config name files shipped with the workflow (e.g. resources/)."""
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


def _alternatives(names):
    """A wildcard regex matching exactly these names (never matches when empty)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


# md5-pinned files are also checked by Snakemake's ensure(md5=...); sha256-pinned ones by the job.
PINNED_FILES = _alternatives(
    f for f, n in FILE_TO_RESOURCE.items() if RESOURCES[n]["md5"]
)
UNPINNED_FILES = _alternatives(
    f for f, n in FILE_TO_RESOURCE.items() if not RESOURCES[n]["md5"]
)


wildcard_constraints:
    cell=_alternatives(CELLS),
    table=_alternatives(CACHE_TABLES),
    task=_alternatives(config["heads"]["tasks"]),
    head=_alternatives(
        set(config["heads"]["kinds"]) | set(config["heads"]["in_loop"]["kinds"])
    ),
    aug=_alternatives(m for m in IN_LOOP_MODES if m in aug_modes(config)),
    scratch=_alternatives(SCRATCH_MODELS),
    student=_alternatives(DISTILLED_MODELS),
    model=_alternatives(MODEL_NAMES),
    method=_alternatives(ATTRIBUTION_METHODS),
    selection=_alternatives(SELECTIONS),


def synthetic_path(key):
    """A file the simulator writes (crelens.names.SYNTHETIC_OUTPUTS)."""
    return f"{SYN_DIR}/{SYNTHETIC_OUTPUTS[key]}"


def source_file(resource):
    """Path of one source file (genome, promoters, ccres, mpra_<cell>) for the configured source."""
    if TABLE is not None:  # the user's own files, relative to the working directory
        return TABLE[resource]
    if SYNTHETIC:
        if resource.startswith("mpra_"):
            return f"{SYN_DIR}/{mpra_file(resource[5:])}"
        return synthetic_path(resource)
    return f"{DOWNLOAD_DIR}/{RESOURCES[resource]['file']}"


def encoder_file(name):
    """A file of the frozen encoder's folder: pretrained here, or the pinned download."""
    folder = "pretrained" if config["encoder"]["source"] == "pretrain" else "download"
    return f"results/encoder/{folder}/{name}"


TASKS = config["heads"]["tasks"]


def task_models(task):
    """Every model of the comparison trained for `task`: heads, then baselines."""
    return trained_models(config, task)


def baseline_settings(*keys):
    """The `baselines` settings one training rule uses (a change of others reruns nothing)."""
    return {key: config["baselines"][key] for key in keys}


def model_file(task, model, name):
    """A file of a trained model's folder (the joint model has one folder for both tasks)."""
    if model == JOINT:
        return f"results/models/joint/{name}"
    return f"results/models/{task}/{model}/{name}"


# ---------------------------------------------------------------------------- data (rules/data.smk)


def synthetic_outputs():
    """Every file the simulator writes, by key (the rule's named outputs)."""
    files = {key: synthetic_path(key) for key in SYNTHETIC_OUTPUTS}
    files["genome_index"] = synthetic_path("genome") + ".fai"
    files.update({f"mpra_{c}": f"{SYN_DIR}/{mpra_file(c)}" for c in CELLS})
    return files


def download_md5(wildcards):
    return RESOURCES[FILE_TO_RESOURCE[wildcards.file]]["md5"]


def download_sha256(wildcards):
    return RESOURCES[FILE_TO_RESOURCE[wildcards.file]].get("sha256")


def download_max_bytes(wildcards):
    """Upper bound of one download: the resource's own max_mb, else data.download.max_mb."""
    entry = RESOURCES[FILE_TO_RESOURCE[wildcards.file]]
    mb = entry.get("max_mb", config["data"]["download"].get("max_mb"))
    return None if mb is None else int(mb * 1e6)


def download_url(wildcards):
    return RESOURCES[FILE_TO_RESOURCE[wildcards.file]]["url"]


def jaspar_source():
    """The JASPAR MEME file on the download path; pyjaspar's bundled database otherwise."""
    return [source_file("jaspar")] if SOURCE == "download" else []


# ---------------------------------------------------------------------------- datasets (rules/datasets.smk)


def dataset_targets():
    targets = [
        *(["results/datasets/epi.parquet"] if EPI else []),
        "results/datasets/mpra.parquet",
        "results/datasets/mpra_snv.parquet",
        "results/datasets/mpra_ood.parquet",
        "results/datasets/summary.tsv",
        "results/datasets/overview.png",
        "results/data/jaspar.meme",
    ]
    if SYNTHETIC:
        targets.append("results/datasets/truth_sites.parquet")
    return targets


def mpra_inputs(wildcards):
    if TABLE is not None:
        return {"table": TABLE["path"]}
    inputs = {"contigs": "results/data/genome.contigs.tsv"}
    inputs.update({f"mpra_{cell}": source_file(f"mpra_{cell}") for cell in CELLS})
    if SYNTHETIC:
        inputs["variant_truth"] = synthetic_path("truth_variants")
    return inputs


def summary_inputs(wildcards):
    inputs = {
        **({"epi": "results/datasets/epi.parquet"} if EPI else {}),
        "mpra": "results/datasets/mpra.parquet",
        "snv": "results/datasets/mpra_snv.parquet",
        "ood": "results/datasets/mpra_ood.parquet",
    }
    if SYNTHETIC:
        inputs["sites"] = "results/datasets/truth_sites.parquet"
        inputs["ceiling"] = synthetic_path("noise_ceiling")
    return inputs


# ---------------------------------------------------------------------------- encoder (rules/encoder.smk)


def pretrain_inputs(wildcards):
    """Genome and annotations of the pretraining, and the planted motifs where they are known.

    A table run without a genome pretrains on the training rows of its MPRA set instead.
    """
    if TABLE is not None:
        if not TABLE["genome"]:
            return {"table": "results/datasets/mpra.parquet"}
        inputs = {
            "genome": "results/data/genome.fa",
            "fai": "results/data/genome.fa.fai",
            "contigs": "results/data/genome.contigs.tsv",
        }
        if TABLE["promoters"] and TABLE["ccres"]:
            inputs.update(promoters=TABLE["promoters"], ccres=TABLE["ccres"])
        return inputs
    inputs = {
        "genome": "results/data/genome.fa",
        "fai": "results/data/genome.fa.fai",
        "contigs": "results/data/genome.contigs.tsv",
        "promoters": source_file("promoters"),
        "ccres": source_file("ccres"),
    }
    if SYNTHETIC:
        inputs["planted"] = synthetic_path("truth_motifs")
    return inputs


def cache_table_input(wildcards):
    return f"results/datasets/{CACHE_TABLES[wildcards.table][0]}.parquet"


def cache_column(wildcards):
    return CACHE_TABLES[wildcards.table][1]


def cached_tables():
    """The caches the run's tasks read (no EPI cache in an MPRA-only run)."""
    return list(dict.fromkeys(t for task in TASKS for t in TASK_TABLES[task]))


def encoder_targets():
    targets = [f"results/cache/{table}/manifest.json" for table in cached_tables()]
    if config["encoder"]["source"] == "pretrain":
        targets.append("results/encoder/loss_curve.png")
    return targets


# ---------------------------------------------------------------------------- models (rules/models.smk)


def head_targets():
    """Every head of every training mode (heads.aug_mode) for every task."""
    return [
        model_file(task, model, "metrics.json")
        for task in config["heads"]["tasks"]
        for model in task_models(task)
        if model in HEAD_MODELS
    ]


HEAD_TRAINING_KEYS = (
    "bins",
    "lr",
    "weight_decay",
    "batch_size",
    "max_epochs",
    "patience",
    "dropout",
)


def head_settings(wildcards):
    """Training settings of one head kind: the shared ones, overridden by heads.per_kind[kind].

    Only a head's own settings are its params, so changing one kind's settings (or adding a
    kind) reruns that head and what depends on it, and nothing upstream or beside it.
    """
    own = config["heads"].get("per_kind", {}).get(wildcards.head, {})
    return {key: own.get(key, config["heads"][key]) for key in HEAD_TRAINING_KEYS}


# ---------------------------------------------------------------------------- evaluation (rules/evaluation.smk)


def evaluation_tables(task):
    """{table name: path} of the data set tables that `task`'s test sets come from."""
    names = dict.fromkeys(CACHE_TABLES[key][0] for key in TASK_TABLES[task])
    return {name: f"results/datasets/{name}.parquet" for name in names}


def evaluation_caches(task, model):
    """{cache key: manifest} a head reads its test-set features from (none for other models, nor
    for a fine-tuned head, which runs its own encoder)."""
    if not reads_cache(model):
        return {}
    return {key: f"results/cache/{key}/manifest.json" for key in TASK_TABLES[task]}


def evaluate_inputs(wildcards):
    inputs = {
        "weights": model_file(wildcards.task, wildcards.model, "best.safetensors")
    }
    inputs.update(
        {f"table_{n}": p for n, p in evaluation_tables(wildcards.task).items()}
    )
    inputs.update(
        {
            f"cache_{k}": p
            for k, p in evaluation_caches(wildcards.task, wildcards.model).items()
        }
    )
    if SYNTHETIC and wildcards.model in ATTENTION_MODELS:
        inputs["sites"] = "results/datasets/truth_sites.parquet"
    return inputs


def evaluation_targets(kind):
    """metrics.tsv / predictions.parquet of every evaluated model (+ the noise ceiling)."""
    files = {
        f"{task}/{model}": f"results/evaluation/{task}/{model}/{kind}"
        for task in TASKS
        for model in task_models(task)
    }
    if SYNTHETIC and "mpra" in TASKS:
        files[f"mpra/{NOISE_CEILING}"] = (
            f"results/evaluation/mpra/{NOISE_CEILING}/{kind}"
        )
    return files


def trained_model_files(name):
    """{"task/model": file} of every trained model (joint listed under each of its tasks)."""
    return {
        f"{task}/{model}": model_file(task, model, name)
        for task in TASKS
        for model in task_models(task)
    }


def report_inputs(wildcards):
    files = []
    for kind in ("metrics.tsv", "predictions.parquet"):
        files += evaluation_targets(kind).values()
    for name in ("metrics.json", "curve.tsv"):
        files += trained_model_files(name).values()
    return sorted(set(files))


def left_out_notes():
    """Lines of the comparison report that say which stages this run leaves out, and why."""
    notes = []
    if not SYNTHETIC:
        notes.append(
            f"No known truth (data.source: {SOURCE}): the noise ceiling, the planted-motif "
            "AUROC/AUPRC of the attributions and the motif truth check are left out."
        )
    if not EPI:
        notes.append(
            "No EPI set: data.table has no genome, promoters and ccres, so only MPRA is trained."
        )
    if not HAS_SNV:
        notes.append("No SNV test set: data.table.variant_of is not set.")
    if TABLE is not None and not TABLE["designed"]:
        notes.append("No OOD test set: data.table.designed is not set.")
    return notes


def epi_confusion_output():
    """The EPI confusion-matrix figure of compare_models, in runs that have an EPI task."""
    if "epi" not in TASKS:
        return {}
    return {
        "confusion": report(
            "results/reports/figures/epi_confusion.png",
            category="Models",
            caption="../report/epi_confusion.rst",
        )
    }


def report_targets():
    return ["results/reports/comparison.tsv", "results/reports/comparison.md"]


# ---------------------------------------------------------------------------- predict (rules/evaluation.smk)

# `--config predict="{input: ..., model: ...}"`: score new inputs with a trained model.
PREDICT = config.get("predict")
if PREDICT:
    PREDICT = {
        "task": "mpra",
        "genome": None,
        "relevance": False,
        "method": None,
        "name": None,
        **PREDICT,
    }
    PREDICT["relevance"] = (
        str(PREDICT["relevance"]).lower() == "true"
    )  # --config gives text
    if PREDICT["model"] not in task_models(PREDICT["task"]):
        raise WorkflowError(
            f"predict.model {PREDICT['model']!r} is not a model this run trains for {PREDICT['task']}; "
            f"choose one of {task_models(PREDICT['task'])}"
        )
    if PREDICT["name"] is None:
        stem = re.sub(r"(\.gz)?$", "", os.path.basename(PREDICT["input"]))
        PREDICT["name"] = f"{os.path.splitext(stem)[0]}_{PREDICT['model']}"
    if PREDICT["method"] is None:
        PREDICT["method"] = "lrp" if PREDICT["model"] in HEAD_MODELS else "grad_x_input"


wildcard_constraints:
    name=re.escape(PREDICT["name"]) if PREDICT else "(?!)",


def predict_targets(wildcards):
    if not PREDICT:
        raise WorkflowError(
            'predict needs its settings, e.g. --config predict="{input: my.fa, model: head_conv}" (docs/data.md)'
        )
    return list(predict_outputs(PREDICT["name"]).values())


def predict_outputs(name="{name}"):
    """Files of one predict job: the TSV, and relevance (.npz; bedGraphs for a VCF) on request."""
    folder = f"results/predict/{name}"
    outputs = {"predictions": f"{folder}/predictions.tsv"}
    if PREDICT and PREDICT["relevance"]:
        outputs["relevance"] = f"{folder}/relevance.npz"
        if PREDICT["input"].lower().removesuffix(".gz").endswith(".vcf"):
            outputs["bedgraphs"] = directory(f"{folder}/bedgraph")
    return outputs


def predict_inputs(wildcards):
    task, model = PREDICT["task"], PREDICT["model"]
    inputs = {
        "sequences": PREDICT["input"],
        "weights": model_file(task, model, "best.safetensors"),
        "table": f"results/datasets/{task}.parquet",
    }
    if PREDICT["genome"]:
        inputs["genome"] = PREDICT["genome"]
    if reads_cache(model):  # a fine-tuned head carries its own encoder
        inputs["encoder"] = encoder_file("model.safetensors")
    return inputs


def predict_length():
    if not PREDICT:
        return None
    mpra = PREDICT["task"] == "mpra"
    return (
        config["datasets"]["mpra"]["input_length"]
        if mpra
        else config["datasets"]["epi"]["window_bp"]
    )


# ---------------------------------------------------------------------------- attribution (rules/attribution.smk)

ATTRIBUTION = config["attribution"]


# The settings an attribute / faithfulness job depends on (others, e.g. logos, rerun nothing).
ATTRIBUTE_SETTINGS = {
    k: ATTRIBUTION[k]
    for k in (
        "n_sequences",
        "lrp_dtype",
        "epsilon",
        "batch_size",
        "integrated_gradients",
        "smoothgrad",
        "ism_batch_size",
        "chunk",
    )
}
FAITHFULNESS_SETTINGS = {
    k: ATTRIBUTION[k] for k in ("perturbation_steps", "batch_size")
}


def attribution_methods(model):
    """LRP and the baselines for Caduceus heads; the baselines for one-hot models."""
    return [m for m in ATTRIBUTION_METHODS if m != "lrp" or model in HEAD_MODELS]


def attribution_file(task, model, selection, method):
    return f"results/attribution/{task}/{model}/{selection}/{method}.npz"


def explained_inputs(task, model, selection):
    """Model, table, encoder (heads) and selection inputs of explaining `model` on `task`."""
    inputs = {
        "weights": model_file(task, model, "best.safetensors"),
        "table": f"results/datasets/{task}.parquet",
    }
    if reads_cache(model):  # a fine-tuned head carries its own encoder
        inputs["encoder"] = encoder_file("model.safetensors")
    if selection == "top":
        inputs["predictions"] = f"results/evaluation/{task}/{model}/predictions.parquet"
    if selection == "snv":
        inputs["snv"] = "results/datasets/mpra_snv.parquet"
    return inputs


def attribution_inputs(wildcards):
    return explained_inputs(wildcards.task, wildcards.model, wildcards.selection)


def faithfulness_inputs(wildcards):
    inputs = explained_inputs(wildcards.task, wildcards.model, "test")
    inputs.update(
        {
            f"attr_{m}": attribution_file(wildcards.task, wildcards.model, "test", m)
            for m in attribution_methods(wildcards.model)
        }
    )
    if SYNTHETIC:
        inputs["sites"] = "results/datasets/truth_sites.parquet"
    return inputs


def lrp_files():
    """{"task/model/selection": LRP file}: every head on the test selection, and the primary
    model on the other selections (top predictions; SNV pairs for MPRA)."""
    files = {}
    for task in ATTRIBUTION["tasks"]:
        for model in ATTRIBUTION["models"]:
            if model in HEAD_MODELS:
                files[f"{task}/{model}/test"] = attribution_file(
                    task, model, "test", "lrp"
                )
    primary = ATTRIBUTION["primary"]
    for selection in ATTRIBUTION["selections"]:
        if selection != "snv" or (primary["task"] == "mpra" and HAS_SNV):
            files[f"{primary['task']}/{primary['model']}/{selection}"] = (
                attribution_file(primary["task"], primary["model"], selection, "lrp")
            )
    return files


def faithfulness_files(name):
    return {
        f"{task}/{model}": f"results/attribution/{task}/{model}/{name}"
        for task in ATTRIBUTION["tasks"]
        for model in ATTRIBUTION["models"]
    }


def primary_attribution_files():
    primary = ATTRIBUTION["primary"]
    return {
        m: attribution_file(primary["task"], primary["model"], "test", m)
        for m in attribution_methods(primary["model"])
    }


def attribution_summary_inputs(wildcards):
    files = list(lrp_files().values())
    files += faithfulness_files("faithfulness.tsv").values()
    files += faithfulness_files("curves.tsv").values()
    files += primary_attribution_files().values()
    if SYNTHETIC:
        files.append("results/datasets/truth_sites.parquet")
    return sorted(set(files))


def attribution_targets():
    return [
        "results/attribution/conservation.tsv",
        "results/attribution/faithfulness.tsv",
    ]


# ---------------------------------------------------------------------------- motifs (rules/motifs.smk)

MOTIFS = config["motifs"]
MOTIF_PRIMARY = MOTIFS["sources"][0]


def motif_folder(model, method):
    return f"results/motifs/{model}/{method}"


def motif_attributions(wildcards):
    """{task: attribution file of every test sequence} of one source."""
    return {
        task: attribution_file(task, wildcards.model, "all", wildcards.method)
        for task in MOTIFS["tasks"]
    }


def motif_source_files(name):
    return [
        os.path.join(motif_folder(s["model"], s["method"]), name)
        for s in MOTIFS["sources"]
    ]


def motif_summary_inputs(wildcards):
    folder = motif_folder(MOTIF_PRIMARY["model"], MOTIF_PRIMARY["method"])
    files = {
        "enrichment": f"{folder}/enrichment.tsv",
        "seqlets": f"{folder}/seqlets.tsv",
        "matches": f"{folder}/denovo_matches.tsv",
        "modisco": f"{folder}/modisco.h5",
        "meme": "results/data/jaspar.meme",
    }
    if SYNTHETIC:
        files["truth_check"] = f"{folder}/truth_check.tsv"
    return files


def motif_summary_truth():
    """The headline truth check, where the planted motifs are known (the offline world)."""
    if not SYNTHETIC:
        return {}
    return {
        "truth_check": report(
            "results/motifs/truth_check.tsv",
            category="Motifs",
            caption="../report/motif_truth.rst",
        )
    }


def motif_targets():
    targets = ["results/motifs/enrichment.tsv"]
    targets += motif_source_files("enrichment.tsv") + motif_source_files("modisco.h5")
    if SYNTHETIC:
        targets += ["results/motifs/truth_check.tsv"] + motif_source_files(
            "truth_check.tsv"
        )
    return targets


# ---------------------------------------------------------------------------- figures (rules/figures.smk)


def _figure_tables():
    """{figure: {argument of its crelens.figures function: results table it is drawn from}}."""
    primary = ATTRIBUTION["primary"]
    motifs = {"enrichment": "results/motifs/enrichment.tsv"}
    if SYNTHETIC:  # the truth check exists only where the planted motifs are known
        motifs["truth"] = "results/motifs/truth_check.tsv"
    return {
        "data_overview": {"summary": "results/datasets/summary.tsv"},
        "model_comparison": {"comparison": "results/reports/comparison.tsv"},
        "faithfulness": {
            "scores": "results/attribution/faithfulness_all.tsv",
            "curves": f"results/attribution/{primary['task']}/{primary['model']}/curves.tsv",
        },
        "conservation": {
            "conservation": "results/attribution/conservation_per_sequence.tsv"
        },
        "motif_enrichment": motifs,
    }


FIGURES = _figure_tables()


def figure_inputs(wildcards):
    return FIGURES[wildcards.figure]


def figure_settings(wildcards):
    """The settings one figure is drawn with (a change reruns that figure only)."""
    settings = {
        "faithfulness": {"primary": ATTRIBUTION["primary"]},
        "motif_enrichment": {"qvalue": MOTIFS["qvalue"]},
    }
    return settings.get(wildcards.figure, {})


def figure_targets():
    return [
        f"results/figures/{name}.{kind}"
        for name in FIGURES
        for kind in ("pdf", "png", "tsv")
    ]


# ---------------------------------------------------------------------------- default target


def default_targets():
    """What `snakemake` with no target makes: every stage's headline outputs."""
    return (
        dataset_targets()
        + encoder_targets()
        + head_targets()
        + report_targets()
        + attribution_targets()
        + motif_targets()
        + figure_targets()
    )
