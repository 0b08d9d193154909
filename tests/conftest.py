"""Shared fixtures: the default configuration with the tiny test overrides merged in."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def deep_merge(base: dict, override: dict) -> dict:
    """Snakemake's --configfile semantics: nested dicts merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(overrides: dict | None = None) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    tiny = yaml.safe_load((REPO / "tests/workflow/tiny.yaml").read_text())
    return deep_merge(deep_merge(config, tiny), overrides or {})


@pytest.fixture
def tiny_config() -> dict:
    return load_config()


def run_simulation(config: dict, outdir: Path, seed: int | None = None) -> dict:
    from crelens.data.simulate import run_simulate

    return run_simulate(
        config["data"]["synthetic"],
        chrom_sizes=REPO / config["data"]["synthetic"]["chrom_sizes"],
        jaspar_release=config["data"]["jaspar_release"],
        cells=config["datasets"]["cells"],
        chromosomes=config["chromosomes"],
        variant_chromosomes=config["splits"]["test"],
        seed=config["seed"] if seed is None else seed,
        outdir=outdir,
    )


@pytest.fixture(scope="session")
def simulated(tmp_path_factory) -> tuple[dict, Path]:
    """One tiny simulated world shared by the tests that only read it."""
    config = load_config()
    outdir = tmp_path_factory.mktemp("simulated")
    run_simulation(config, outdir)
    return config, outdir


@pytest.fixture(scope="session")
def built(simulated, tmp_path_factory):
    """The tiny world's genome and data sets: (config, source dir, paths, epi, mpra, snv, ood)."""
    from crelens.data.genome import run_prepare_genome
    from crelens.datasets.epi import build_epi
    from crelens.datasets.mpra import build_mpra
    from crelens.names import SYNTHETIC_OUTPUTS as OUTPUTS
    from crelens.names import mpra_file

    config, src = simulated
    out = tmp_path_factory.mktemp("datasets")
    run_prepare_genome(
        src / OUTPUTS["genome"], out / "genome.fa", out / "contigs.tsv", out / "gaps.bed", config["chromosomes"]
    )
    paths = {
        "genome": out / "genome.fa",
        "contigs": out / "contigs.tsv",
        "gaps": out / "gaps.bed",
        "promoters": src / OUTPUTS["promoters"],
        "ccres": src / OUTPUTS["ccres"],
        "tables": {c: src / mpra_file(c) for c in config["datasets"]["cells"]},
    }
    epi = build_epi(
        paths["genome"],
        paths["contigs"],
        paths["promoters"],
        paths["ccres"],
        paths["gaps"],
        config["datasets"]["epi"],
        config["splits"],
        7,
    )
    mpra, snv, ood = build_mpra(
        paths["tables"],
        paths["contigs"],
        config["datasets"]["mpra"],
        config["splits"],
        config["datasets"]["cells"],
        variant_truth=src / OUTPUTS["truth_variants"],
    )
    return config, src, paths, epi, mpra, snv, ood


@pytest.fixture
def captured_figures(monkeypatch):
    """capture(module) -> list that receives every figure `module.save` would have written.

    Figure tests inspect what a figure shows (panels, titles, drawn values) instead of its pixels.
    """

    def capture(module):
        figures = []
        monkeypatch.setattr(module, "save", lambda fig, path, dpi=150: figures.append(fig))
        return figures

    yield capture
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------------------------------------------------------
# Clean runs of the real workflow, made once per session (per pytest-xdist worker: every test that
# uses one is put in that run's xdist group, so with `-n 2 --dist loadgroup` one worker makes it)


@pytest.hookimpl(tryfirst=True)  # pytest-xdist reads the marker in this same hook
def pytest_collection_modifyitems(config, items):
    for item in items:
        for run in ("tiny_run", "table_run"):
            if run in item.fixturenames:
                item.add_marker(pytest.mark.xdist_group(run))
                break


# The workflow tests read the clean runs, and the fault suite (tests/faults) uses them as the
# reference that a repaired rerun must reproduce.


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One complete run of the tiny synthetic config: (workdir, process). Never change it: copy it
    (snakemake_runner.copy_run) and work on the copy."""
    from snakemake_runner import describe, snakemake

    workdir = tmp_path_factory.mktemp("tiny_run")
    proc = snakemake(workdir)
    assert proc.returncode == 0, describe(proc)
    return workdir, proc


@pytest.fixture(scope="session")
def table_run(tmp_path_factory):
    """The whole default target on the tiny library table (tests/workflow/tiny_table.yaml; its own
    fold column, SNVs, designed rows), with the table as library.tsv in the working directory."""
    from library_table import library
    from snakemake_runner import TABLE, describe, snakemake

    workdir = tmp_path_factory.mktemp("table_run")
    library().to_csv(workdir / "library.tsv", sep="\t", index=False)
    proc = snakemake(workdir, configfile=TABLE)
    assert proc.returncode == 0, describe(proc)
    return workdir


@pytest.fixture(scope="session")
def served(simulated, tmp_path_factory):
    """The tiny world as the download source would serve it: (folder, {file name: md5})."""
    from download_world import serve_folder

    return serve_folder(simulated[1], tmp_path_factory.mktemp("served"))
