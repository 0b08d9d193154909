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
    from crelens.simulate import simulate

    return simulate(
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
