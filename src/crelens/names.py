"""The workflow's vocabulary: tasks, tables, models, methods and selections, by name.

Why a module of its own: the rules need these names to build the DAG (wildcard constraints,
targets), and building the DAG must not import torch, captum or matplotlib (every SLURM job
parses the Snakefile again). So this module imports nothing, and the library modules that
implement a name import the name from here: one definition for the DAG and the code.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------- tasks
# Task -> kind of learning problem: MPRA activity per cell type, EPI element class.
TASK_KINDS = {"mpra": "regression", "epi": "classification"}
TASKS = tuple(TASK_KINDS)
EPI_CLASSES = ("enhancer", "promoter", "intergenic")
SPLITS = ("train", "val", "test")

# ------------------------------------------------------------------------------------- sources
# Files the simulator writes, relative to its output folder (the rule lists the same names).
SYNTHETIC_OUTPUTS = {
    "genome": "genome.fa",
    "promoters": "Hs_EPDnew_006_hg38.bed",
    "ccres": "GRCh38-cCREs.bed",
    "truth_motifs": "truth/planted_motifs.bed",
    "truth_designed": "truth/designed_motifs.bed",
    "truth_activity": "truth/mpra_activity.tsv",
    "truth_variants": "truth/variants.tsv",
    "noise_ceiling": "truth/noise_ceiling.tsv",
    "motif_table": "truth/motifs.tsv",
}


def mpra_file(cell: str) -> str:
    """File name of one cell type's lentiMPRA activity table (as on Zenodo 17453603)."""
    return f"Agarwal_{cell}.tsv"


# ------------------------------------------------------------------------------------- cache
# Cache name -> (data set table, sequence column) whose frozen-encoder features it holds.
CACHE_TABLES = {
    "epi": ("epi", "sequence"),
    "mpra": ("mpra", "sequence"),
    "mpra_ood": ("mpra_ood", "sequence"),
    "mpra_snv_ref": ("mpra_snv", "ref_sequence"),
    "mpra_snv_alt": ("mpra_snv", "alt_sequence"),
}
# The caches (and so the tables) each task's test sets are predicted from.
TASK_TABLES = {"mpra": ("mpra", "mpra_snv_ref", "mpra_snv_alt", "mpra_ood"), "epi": ("epi",)}

# ------------------------------------------------------------------------------------- models
POOLINGS = ("flatten", "sum", "mean", "max", "center")
HEAD_KINDS = (*POOLINGS, "mlp1024", "conv")
# How a head is trained (heads.aug_mode): `no_shift` on the frozen-encoder cache; `full` with the
# frozen encoder run on every step on inputs shifted by up to ±max_shift nt and strand-flipped;
# `finetune` the same with the encoder trained too (crelens.models.in_loop). Each mode is a model
# of its own: `head_<kind>`, `head_<kind>_full`, `head_<kind>_finetune`.
AUG_MODES = ("no_shift", "full", "finetune")
IN_LOOP_MODES = AUG_MODES[1:]


def head_name(kind: str, mode: str = "no_shift") -> str:
    return f"head_{kind}" if mode == "no_shift" else f"head_{kind}_{mode}"


HEAD_MODELS = {head_name(kind, mode): kind for mode in AUG_MODES for kind in HEAD_KINDS}
HEAD_MODES = {head_name(kind, mode): mode for mode in AUG_MODES for kind in HEAD_KINDS}
# Sparse attention baselines: name -> share of positions attended.
SPARSE_SHARES = {"sparse_attention_5": 0.05, "sparse_attention_10": 0.10, "sparse_attention_20": 0.20}
SCRATCH_MODELS = ("malinois", "attention", *SPARSE_SHARES)
JOINT = "joint"
# The k-mer reference: a linear model of k-mer counts, the bar every neural model must clear.
KMER = "kmer_ridge"
# Sparse attention students distilled from the trained full-attention model (the teacher).
TEACHER = "attention"
DISTILLED_MODELS = {f"sparse_distilled_{name.rsplit('_', 1)[1]}": name for name in SPARSE_SHARES}
MODEL_NAMES = (*HEAD_MODELS, *SCRATCH_MODELS, JOINT, KMER, *DISTILLED_MODELS)
# Models whose attention can be checked against planted motifs (they have `position_importance`).
ATTENTION_MODELS = ("attention", *SPARSE_SHARES, *DISTILLED_MODELS, JOINT)
# The simulator's noise-free activity, scored like a model on synthetic data.
NOISE_CEILING = "noise_ceiling"

# ------------------------------------------------------------------------------------- evaluation
TEST_SETS = {"mpra": ("id", "snv", "ood"), "epi": ("id",)}

# Paper figures (rule paper_figure), drawn by crelens.figures.paper.
PAPER_FIGURES = ("data_overview", "model_comparison", "faithfulness", "conservation", "motif_enrichment")

# ------------------------------------------------------------------------------------- attribution
BASELINE_METHODS = ("grad_x_input", "integrated_gradients", "smoothgrad", "ism", "random")
ATTRIBUTION_METHODS = ("lrp", *BASELINE_METHODS)
SELECTIONS = ("test", "top", "snv", "all")


def is_head(model: str) -> bool:
    """True for the Caduceus + adapter head models, in every training mode (the only models LRP
    rules exist for)."""
    return model in HEAD_MODELS


def reads_cache(model: str) -> bool:
    """True for heads that predict from the frozen-encoder cache: every mode but `finetune`, whose
    encoder is its own (it runs on the sequences)."""
    return HEAD_MODES.get(model) in ("no_shift", "full")
