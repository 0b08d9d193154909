"""The data stage end to end on the tiny synthetic config: plan, run, reruns, determinism, errors.

One complete tiny run (`tiny_run`, tests/conftest.py) is made once per session; tests that only
plan (`-n`) read it in place, tests that change files work on a copy (snakemake_runner.copy_run).
Bad input and bad settings are probed in tests/faults. Helpers live here, not in a
tests/workflow/conftest.py: a second top-level `conftest` module would shadow tests/conftest.py for
`from conftest import ...` depending on the order pytest loads them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crelens.models.malinois import parameter_count

from conftest import deep_merge, load_config
from snakemake_runner import describe, job_stats, part_files, rule_scripts, snakemake

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
TINY = REPO / "tests/workflow/tiny.yaml"

# What rule all asks for on the synthetic source (rules/common.smk: dataset_targets()).
DATASET_TARGETS = [
    "results/datasets/epi.parquet",
    "results/datasets/mpra.parquet",
    "results/datasets/mpra_snv.parquet",
    "results/datasets/mpra_ood.parquet",
    "results/datasets/summary.tsv",
    "results/datasets/overview.png",
    "results/data/jaspar.meme",
]
TRUTH_TARGET = "results/datasets/truth_sites.parquet"
CACHE_TABLES = ("epi", "mpra", "mpra_ood", "mpra_snv_ref", "mpra_snv_alt")
ENCODER_TARGETS = [f"results/cache/{t}/manifest.json" for t in CACHE_TABLES] + ["results/encoder/loss_curve.png"]
HEAD_KINDS = ("flatten", "sum", "mean", "max", "center", "mlp1024", "conv")
HEAD_TARGETS = [f"results/models/{task}/head_{head}/metrics.json" for task in ("mpra", "epi") for head in HEAD_KINDS]
SCRATCH_MODELS = ("malinois", "attention", "sparse_attention_5", "sparse_attention_10", "sparse_attention_20")
DISTILLED = ("sparse_distilled_5", "sparse_distilled_10", "sparse_distilled_20")
MODELS = [f"head_{kind}" for kind in HEAD_KINDS] + ["kmer_ridge", *SCRATCH_MODELS, *DISTILLED, "joint"]
REPORT_TARGETS = ["results/reports/comparison.tsv", "results/reports/comparison.md"]
ATTRIBUTION_TARGETS = ["results/attribution/conservation.tsv", "results/attribution/faithfulness.tsv"]
ATTRIBUTION_FIGURES = [
    f"results/attribution/figures/{name}.png"
    for name in ("conservation", "perturbation_curves", "faithfulness", "logos")
]
# tiny.yaml explains head_conv (LRP + 5 baselines) and Malinois (5 baselines) on the MPRA task,
# plus LRP of head_conv on the top and SNV selections.
ATTRIBUTE_JOBS = 6 + 5 + 2 + 2  # + every test sequence of the two motif sources
MOTIF_TARGETS = ["results/motifs/enrichment.tsv", "results/motifs/truth_check.tsv"]
MOTIF_SOURCES = ["results/motifs/head_conv/lrp", "results/motifs/malinois/grad_x_input"]
REPORT_FIGURES = [
    f"results/reports/figures/{name}.png"
    for name in ("comparison_bars", "mpra_scatter", "training_curves", "epi_confusion")
]
# Paper figures (rules/figures.smk), each as PDF + PNG + its source data; part of the default target.
PAPER_FIGURES = ("data_overview", "model_comparison", "faithfulness", "conservation", "motif_enrichment")
FIGURE_TARGETS = [f"results/figures/{name}.{kind}" for name in PAPER_FIGURES for kind in ("pdf", "png", "tsv")]
DATA_RULES = {
    "simulate",
    "prepare_genome",
    "epi_dataset",
    "mpra_dataset",
    "jaspar",
    "truth_sites",
    "datasets_summary",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_config(path: Path, overrides: dict | None = None) -> Path:
    """A --configfile holding the tiny overrides plus `overrides`.

    Snakemake keeps only the last --configfile given, so every override travels in one file.
    """
    tiny = yaml.safe_load(TINY.read_text())
    path.write_text(yaml.safe_dump(deep_merge(tiny, overrides or {}), sort_keys=False))
    return path


def rule_inputs(output: str, rule: str) -> list[str]:
    """The input files Snakemake printed for the (first) job of `rule`."""
    match = re.search(rf"^(?:local)?rule {re.escape(rule)}:\n\s+input: (.*)$", output, re.MULTILINE)
    assert match, f"no job of rule {rule} in the output"
    return [p.strip() for p in match.group(1).split(",")]


def test_dry_run_lists_the_data_rules(tmp_path):
    proc = snakemake(tmp_path, "-n")
    assert proc.returncode == 0, describe(proc)
    stats = job_stats(proc.output)
    assert DATA_RULES | {"all", "pretrain_encoder", "cache_embeddings"} <= set(stats), stats
    assert stats.pop("cache_embeddings") == len(CACHE_TABLES)
    assert stats.pop("train_head") == len(HEAD_TARGETS)
    assert stats.pop("train_scratch") == 2 * len(SCRATCH_MODELS)
    assert stats.pop("train_kmer") == 2
    assert stats.pop("train_distilled") == 2 * len(DISTILLED)
    assert stats.pop("evaluate") == 2 * len(MODELS)
    assert stats.pop("attribute") == ATTRIBUTE_JOBS
    assert stats.pop("faithfulness") == 2
    for rule in ("motif_enrichment", "denovo_motifs", "motif_truth_check"):
        assert stats.pop(rule) == len(MOTIF_SOURCES), rule
    assert stats.pop("paper_figure") == len(PAPER_FIGURES)
    assert {
        "train_joint",
        "evaluate_noise_ceiling",
        "compare_models",
        "summarise_attribution",
        "summarise_motifs",
    } <= set(stats)
    assert all(count == 1 for count in stats.values()), stats
    assert not (tmp_path / "results").exists(), "a dry run must not write results"


def test_full_run_produces_every_target(tiny_run):
    workdir, proc = tiny_run
    targets = rule_inputs(proc.output, "all")
    assert set(targets) == set(DATASET_TARGETS) | {TRUTH_TARGET} | set(ENCODER_TARGETS) | set(HEAD_TARGETS) | set(
        REPORT_TARGETS
    ) | set(ATTRIBUTION_TARGETS) | set(MOTIF_TARGETS) | {
        f"{s}/{f}" for s in MOTIF_SOURCES for f in ("enrichment.tsv", "modisco.h5", "truth_check.tsv")
    } | set(FIGURE_TARGETS)
    for target in targets:
        path = workdir / target
        assert path.is_file(), f"{target} missing"
        assert path.stat().st_size > 0, f"{target} is empty"
    assert (workdir / "results/datasets/overview.png").read_bytes()[:8] == PNG_MAGIC
    for name in ("epi", "mpra", "mpra_snv", "mpra_ood", "truth_sites"):
        assert len(pd.read_parquet(workdir / f"results/datasets/{name}.parquet")) > 0, name
    summary = pd.read_csv(workdir / "results/datasets/summary.tsv", sep="\t")
    assert len(summary) > 0
    assert part_files(workdir / "results/datasets") == []
    assert (workdir / "results/encoder/loss_curve.png").read_bytes()[:8] == PNG_MAGIC


def test_encoder_checkpoint_and_caches_are_usable(tiny_run):
    from crelens.encoder.cache import EmbeddingCache
    from crelens.encoder.hub import load_caduceus

    workdir, _ = tiny_run
    model = load_caduceus(workdir / "results/encoder/pretrained")
    curve = pd.read_csv(workdir / "results/encoder/pretrained/loss_curve.tsv", sep="\t")
    assert curve.val_loss.dropna().iloc[-1] < curve.val_loss.dropna().iloc[0]  # it learned something
    tables = {
        "epi": "epi",
        "mpra": "mpra",
        "mpra_ood": "mpra_ood",
        "mpra_snv_ref": "mpra_snv",
        "mpra_snv_alt": "mpra_snv",
    }
    for name, table in tables.items():
        cache = EmbeddingCache(workdir / f"results/cache/{name}/manifest.json", verify=True)
        frame = pd.read_parquet(workdir / f"results/datasets/{table}.parquet")
        ids = frame["pair_id" if "pair_id" in frame else "seq_id"].tolist()
        assert cache.seq_ids == ids
        assert cache.shape[1:] == (2, load_config()["cache"]["bins"], model.config.d_model)
        rows = cache.rows(range(min(5, len(cache))))
        assert rows.dtype.name == "float16" and (rows == rows).all()


def test_comparison_report_has_every_model_and_the_noise_ceiling(tiny_run):
    workdir, _ = tiny_run
    table = pd.read_csv(workdir / "results/reports/comparison.tsv", sep="\t")
    assert list(table.columns) == ["model", "task", "test_set", "metric", "value", "ci_low", "ci_high"]
    assert set(table.model) == set(MODELS) | {"noise_ceiling"}
    assert set(table[table.task == "mpra"].test_set) == {"id", "snv", "ood"}
    assert set(table[table.task == "epi"].test_set) == {"id"}
    for model in MODELS:
        for task, metric in (("mpra", "pearson_mean"), ("epi", "accuracy")):
            rows = table[(table.model == model) & (table.task == task) & (table.metric == metric)]
            assert len(rows) == (3 if task == "mpra" else 1), (model, task)
    ceiling = table[(table.model == "noise_ceiling") & (table.metric == "pearson_mean") & (table.test_set == "id")]
    assert float(ceiling.value.iloc[0]) > 0.8
    defined = table.dropna(subset=["ci_low", "ci_high"])
    assert (defined.ci_low <= defined.value + 1e-9).all() and (defined.value <= defined.ci_high + 1e-9).all()
    hits = table[table.metric == "attention_motif_hit_rate"]
    assert {"attention", "sparse_attention_5", "joint"} <= set(hits.model)
    paired = pd.read_csv(workdir / "results/reports/paired_tests.tsv", sep="\t")
    assert {"best", "model", "delta", "pvalue", "pvalue_holm"} <= set(paired.columns)
    models = pd.read_csv(workdir / "results/reports/models.tsv", sep="\t")
    length = load_config()["datasets"]["mpra"]["input_length"]  # 4,107,183 at the published 600 nt
    assert int(models[models.model == "malinois"].parameters.iloc[0]) == parameter_count(3, length)
    assert "| model |" in (workdir / "results/reports/comparison.md").read_text()
    for figure in REPORT_FIGURES:
        assert (workdir / figure).read_bytes()[:8] == PNG_MAGIC, figure


def test_attribution_conserves_and_scores_every_method(tiny_run):
    from crelens.attribution.store import read_attributions

    workdir, _ = tiny_run
    conservation = pd.read_csv(workdir / "results/attribution/conservation.tsv", sep="\t")
    assert {"method", "n", "max_rel_err"} <= set(conservation.columns)
    assert set(conservation.selection) == {"test", "top", "snv"}
    assert (conservation.dtype == "float64").all() and conservation.max_rel_err.max() < 1e-6
    faithfulness = pd.read_csv(workdir / "results/attribution/faithfulness.tsv", sep="\t")
    assert list(faithfulness.columns[:5]) == ["method", "metric", "value", "ci_low", "ci_high"]
    assert set(faithfulness.method) == {"lrp", "grad_x_input", "integrated_gradients", "smoothgrad", "ism", "random"}
    assert {"delta_af", "motif_auroc", "motif_auprc"} <= set(faithfulness.metric)
    every = pd.read_csv(workdir / "results/attribution/faithfulness_all.tsv", sep="\t")
    assert set(every.model) == {"head_conv", "malinois"}
    assert "lrp" not in set(every[every.model == "malinois"].method)
    for figure in ATTRIBUTION_FIGURES:
        assert (workdir / figure).read_bytes()[:8] == PNG_MAGIC, figure
    stored = read_attributions(workdir / "results/attribution/mpra/head_conv/snv/lrp.npz")
    assert stored["relevance"].shape == (len(stored["seq_id"]), 3, len(stored["sequence"][0]))
    assert stored["seq_id"][0].endswith(":ref") and stored["seq_id"][1].endswith(":alt")


def test_motif_stage_tables_and_figures(tiny_run):
    from crelens.data.jaspar import read_meme

    workdir, _ = tiny_run
    assert len(read_meme(workdir / "results/data/jaspar.meme")) == 879  # JASPAR2024 CORE vertebrates
    table = pd.read_csv(workdir / "results/motifs/enrichment.tsv", sep="\t")
    assert {"group", "level", "motif_id", "family", "odds_ratio", "pvalue", "qvalue"} <= set(table.columns)
    assert set(table.level) <= {"motif", "family"}
    truth = pd.read_csv(workdir / "results/motifs/truth_check.tsv", sep="\t").set_index("metric")
    assert {"recall", "false_share", "denovo_recall", "denovo_false_share"} <= set(truth.index)
    assert truth.value.between(0, 1).all()
    for name in ("enrichment_volcano", "motif_logos", "seqlet_positions"):
        assert (workdir / f"results/motifs/figures/{name}.png").read_bytes()[:8] == PNG_MAGIC, name
    assert (workdir / "results/motifs/head_conv/lrp/modisco_report/motifs.html").is_file()


def test_paper_figures_written(tiny_run):
    workdir, _ = tiny_run
    for target in FIGURE_TARGETS:
        path = workdir / target
        assert path.is_file() and path.stat().st_size > 0, f"{target} missing or empty"
    for name in PAPER_FIGURES:
        assert (workdir / f"results/figures/{name}.pdf").read_bytes().startswith(b"%PDF"), name
        assert (workdir / f"results/figures/{name}.png").read_bytes()[:8] == PNG_MAGIC, name
        assert len(pd.read_csv(workdir / f"results/figures/{name}.tsv", sep="\t")) > 0, name
    truth = pd.read_csv(workdir / "results/figures/motif_enrichment.tsv", sep="\t")
    assert set(truth.panel) == {"a", "b"}  # the truth-check panel: the tiny run is synthetic
    comparison = pd.read_csv(workdir / "results/figures/model_comparison.tsv", sep="\t")
    assert set(comparison.model) == set(MODELS) | {"noise_ceiling"}
    assert part_files(workdir / "results/figures") == []


def test_immediate_rerun_has_nothing_to_do(tiny_run):
    proc = snakemake(tiny_run[0], "-n")
    assert proc.returncode == 0, describe(proc)
    assert "Nothing to be done" in proc.output, describe(proc)
    assert job_stats(proc.output) == {}


def test_forcerun_one_rule_reruns_only_that_job(tiny_run):
    proc = snakemake(tiny_run[0], "-n", "--forcerun", "datasets_summary")
    assert proc.returncode == 0, describe(proc)
    # ... and the paper figure drawn from its summary.tsv (data_overview)
    assert job_stats(proc.output) == {"datasets_summary": 1, "paper_figure": 1, "all": 1}, describe(proc)
    assert "simulate" not in job_stats(proc.output)


def test_same_seed_is_byte_identical_other_seed_differs(tiny_run, tmp_path):
    first = tiny_run[0]
    second = tmp_path / "second"
    proc = snakemake(second, *DATASET_TARGETS, TRUTH_TARGET)
    assert proc.returncode == 0, describe(proc)
    compared = sorted(p.relative_to(first) for p in (first / "results/datasets").glob("*.parquet"))
    compared += [
        (first / "results/data/synthetic" / name).relative_to(first)
        for name in ("genome.fa", "Hs_EPDnew_006_hg38.bed", "GRCh38-cCREs.bed", "Agarwal_K562.tsv")
    ]
    assert len(compared) == 9
    for rel in compared:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), f"{rel} differs between two runs"

    other = tmp_path / "other_seed"
    config = write_config(tmp_path / "seed.yaml", {"seed": 7})
    genome = "results/data/synthetic/genome.fa"
    proc = snakemake(other, genome, configfile=config)
    assert proc.returncode == 0, describe(proc)
    assert job_stats(proc.output) == {"simulate": 1}
    assert (other / genome).read_bytes() != (first / genome).read_bytes()


def test_changed_param_reruns_the_rule_and_downstream_only(tiny_run, tmp_path):
    config = write_config(tmp_path / "window.yaml", {"datasets": {"epi": {"window_bp": 500}}})
    proc = snakemake(tiny_run[0], "-n", "--rerun-triggers", "params", configfile=config)
    assert proc.returncode == 0, describe(proc)
    stats = job_stats(proc.output)
    # the MPRA attributions stay; their faithfulness is rescored against the rebuilt truth sites
    assert set(stats) == {
        "epi_dataset",
        "truth_sites",
        "datasets_summary",
        "cache_embeddings",
        "train_head",
        "train_kmer",
        "train_scratch",
        "train_distilled",
        "train_joint",
        "evaluate",
        "compare_models",
        "faithfulness",
        "summarise_attribution",
        "motif_truth_check",
        "summarise_motifs",
        "paper_figure",
        "all",
    }, describe(proc)
    assert stats["cache_embeddings"] == 1  # only the EPI cache; the MPRA side is untouched
    assert stats["train_head"] == len(HEAD_KINDS)  # the EPI heads only
    assert stats["train_scratch"] == len(SCRATCH_MODELS)  # the EPI baselines only
    # every EPI model; on the MPRA side only the attention models, scored against the (changed)
    # truth sites: attention, three sparse, three distilled, joint
    assert stats["evaluate"] == len(MODELS) + 8
    assert "Params have changed" in proc.output


def _reversed(value):
    """Every mapping in `value` with its keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    return value


def test_reordered_config_is_the_same_config(tiny_run, tmp_path):
    """Key order is not a setting: a reordered override neither reruns jobs nor changes the world.

    Snakemake puts override keys first, params are compared as text, and the simulator draws
    over enhancer_programs and mpra.composition in their order; rules/common.smk reorders the
    config like config/config.yaml so that none of this depends on how an override is written.
    """
    synthetic = load_config()["data"]["synthetic"]
    same_values = {
        "data": {
            "synthetic": {
                "design": {"enhancer_programs": synthetic["design"]["enhancer_programs"]},
                "mpra": {"composition": synthetic["mpra"]["composition"]},
            }
        }
    }
    config = tmp_path / "reordered.yaml"
    config.write_text(
        yaml.safe_dump(_reversed(deep_merge(yaml.safe_load(TINY.read_text()), same_values)), sort_keys=False)
    )
    proc = snakemake(tiny_run[0], "-n", configfile=config)
    assert proc.returncode == 0, describe(proc)
    assert "Nothing to be done" in proc.output, describe(proc)


def edited_library(tmp_path, module: str, old: str, new: str) -> dict:
    """Environment whose PYTHONPATH puts first a copy of crelens with one edit (the checkout stays)."""
    lib = tmp_path / "lib"
    shutil.copytree(REPO / "src/crelens", lib / "crelens", ignore=shutil.ignore_patterns("__pycache__"))
    path = lib / "crelens" / module
    text = path.read_text()
    assert old in text, f"{module} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(lib), os.environ.get("PYTHONPATH")]))}


def rules_with_changed_params(output: str) -> set[str]:
    """Rules of the planned jobs whose reason is a param change (not only updated inputs)."""
    rules = set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        match = re.match(r"(?:local)?rule (\w+):", block)
        if match and re.search(r"reason: .*Params have changed", block):
            rules.add(match.group(1))
    return rules


def test_a_docstring_or_comment_edit_reruns_nothing(tiny_run, tmp_path):
    """Fingerprints hash the code's logic: editing a docstring and a comment of a module every
    training and evaluation job uses changes nothing."""
    env = edited_library(
        tmp_path,
        "metrics.py",
        '    """Pearson r over non-NaN pairs;',
        '    # the docstring below was reworded\n    """The Pearson correlation over the non-NaN pairs;',
    )
    proc = snakemake(tiny_run[0], "-n", "--rerun-triggers", "params", env=env)
    assert proc.returncode == 0, describe(proc)
    assert "Nothing to be done" in proc.output, describe(proc)


def test_an_edit_of_metrics_pearson_reruns_the_training_and_evaluation_jobs(tiny_run, tmp_path):
    """A change of logic in crelens.metrics.pearson (early stopping and scoring use it) reruns the
    training and evaluation jobs and what reads their outputs, and nothing upstream of them.

    Snakemake names a param change as the reason only for jobs whose inputs are not rebuilt
    anyway; the exact per-rule set is checked on the fingerprints in test_fingerprints.py."""
    from crelens.provenance import import_closure

    env = edited_library(
        tmp_path,
        "metrics.py",
        "return _correlation(y, p, stats.pearsonr)",
        "return 1.0 * _correlation(y, p, stats.pearsonr)",
    )
    proc = snakemake(tiny_run[0], "-n", "--rerun-triggers", "params", env=env)
    assert proc.returncode == 0, describe(proc)
    uses_metrics = {
        rule
        for rule, script in rule_scripts().items()
        if "crelens.metrics" in import_closure(REPO / "workflow/scripts" / script)
    }
    changed = rules_with_changed_params(proc.output)
    assert changed <= uses_metrics, describe(proc)
    assert {"train_head", "train_scratch", "train_joint", "evaluate_noise_ceiling"} <= changed, describe(proc)
    upstream = {
        "simulate",
        "prepare_genome",
        "jaspar",
        "epi_dataset",
        "mpra_dataset",
        "truth_sites",
        "datasets_summary",
        "pretrain_encoder",
        "encoder_loss_curve",
        "cache_embeddings",
    }
    assert not set(job_stats(proc.output)) & upstream, describe(proc)


def test_building_the_dag_imports_no_torch_captum_or_matplotlib(tiny_run):
    """Every SLURM job parses the Snakefile again: the DAG must build from dependency-free modules."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "snakemake",
            "--snakefile",
            str(SNAKEFILE),
            "--directory",
            str(tiny_run[0]),
            f"--configfile={TINY}",
            "-n",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "crelens" in imported
    assert not imported & {"torch", "captum", "matplotlib"}, sorted(imported & {"torch", "captum", "matplotlib"})


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--lint"],
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
        [sys.executable, "-m", "ruff", "check", "src", "tests", "workflow", "benchmarks"],
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "workflow", "benchmarks"],
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format"],
)
def test_lint_and_format(command):
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout


def test_changed_head_setting_reruns_that_head_and_its_dependents_only(tiny_run, tmp_path):
    """A setting of one head kind (heads.per_kind) reruns that head and what reads it: no
    re-caching, no other head, nothing upstream."""
    config = write_config(tmp_path / "head.yaml", {"heads": {"per_kind": {"conv": {"dropout": 0.3}}}})
    proc = snakemake(tiny_run[0], "-n", "--rerun-triggers", "params", configfile=config)
    assert proc.returncode == 0, describe(proc)
    stats = job_stats(proc.output)
    tasks = load_config()["heads"]["tasks"]
    heads = re.findall(r"^rule train_head:\n(?:\s+\w+: .*\n)*?\s+wildcards: (.*)$", proc.output, re.MULTILINE)
    assert sorted(heads) == sorted(f"task={task}, head=conv" for task in tasks), describe(proc)
    assert stats["evaluate"] == len(tasks) and stats["compare_models"] == 1
    upstream = {
        "simulate",
        "prepare_genome",
        "epi_dataset",
        "mpra_dataset",
        "truth_sites",
        "pretrain_encoder",
        "cache_embeddings",
        "train_scratch",
        "train_joint",
        "evaluate_noise_ceiling",
    }
    assert not upstream & set(stats), describe(proc)
    # head_conv is the primary attributed model: its attributions and motifs follow it
    assert {"attribute", "faithfulness", "summarise_attribution", "motif_enrichment"} <= set(stats)


def test_forcerun_of_the_head_rule_reruns_every_head_but_not_the_cache(tiny_run):
    proc = snakemake(tiny_run[0], "-n", "--forcerun", "train_head")
    assert proc.returncode == 0, describe(proc)
    stats = job_stats(proc.output)
    assert stats["train_head"] == len(HEAD_TARGETS), describe(proc)
    assert not {"cache_embeddings", "pretrain_encoder", "train_scratch"} & set(stats), describe(proc)


def registered_report_files() -> dict[str, str]:
    """{path: category} of every output the rules wrap in report(...) (rules/*.smk)."""
    found = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for path, category in re.findall(r'report\(\s*"([^"]+)",\s*category="([^"]+)"', smk.read_text()):
            found[path] = category
    return found


def test_report_holds_every_stage_figure_and_table(tiny_run, tmp_path):
    """`snakemake --report` (.zip to look inside, .html as users open it): every registered
    figure and table is in the report, non-empty, under its stage's category."""
    import zipfile

    registered = registered_report_files()
    assert set(registered.values()) == {"Data", "Encoder", "Models", "Attribution", "Motifs"}
    archive = tmp_path / "report.zip"
    proc = snakemake(tiny_run[0], "--report", archive)
    assert proc.returncode == 0, describe(proc)
    with zipfile.ZipFile(archive) as bundle:
        sizes = {info.filename: info.file_size for info in bundle.infolist()}
    # the archive keeps each file as report/data/raw/<hash>/<file name>
    raw = [name for name in sizes if "/data/raw/" in name]
    for base, paths in pd.Series(list(registered)).groupby(lambda i: Path(list(registered)[i]).name):
        entries = [name for name in raw if name.endswith("/" + base)]
        assert len(entries) >= len(paths), f"{list(paths)} not in the report; raw entries: {sorted(raw)[:30]}"
        assert all(sizes[name] > 0 for name in entries), base
    for path in registered:
        if path.endswith(".png"):
            assert (tiny_run[0] / path).read_bytes().startswith(PNG_MAGIC), path
    html = tmp_path / "report.html"
    proc = snakemake(tiny_run[0], "--report", html)
    assert proc.returncode == 0, describe(proc)
    text = html.read_text(errors="replace")
    assert html.stat().st_size > 100_000 and "crelens" in text
