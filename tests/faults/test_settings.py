"""Bad and contradictory settings, probed through the real workflow.

Each probe runs Snakemake with the bad setting on a copy of the shared clean tiny run (or on the
tiny table run) and checks that it stops before any job runs, names the config key and the
problem, and leaves results/ exactly as it was; with the setting repaired, Snakemake finds
nothing to do. Numbers in the names are the defects of issue 16 that the probe keeps fixed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import deep_merge
from fault_probe import assert_same_results
from snakemake_runner import TABLE, TINY, copy_run, describe, snakemake

pytestmark = pytest.mark.workflow


def config_file(path: Path, base: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(base.read_text()), overrides), sort_keys=False))
    return path


def refused(clean: Path, tmp_path: Path, overrides: dict, expect: list[str], base: Path = TINY):
    """Run the clean run's copy with `overrides`; check the refusal, then the repaired setting."""
    run = copy_run(clean, tmp_path / "run")
    proc = snakemake(run, configfile=config_file(tmp_path / "config.yaml", base, overrides))
    assert proc.returncode != 0, describe(proc)
    missing = [text for text in expect if text not in proc.output]
    assert not missing, f"the message lacks {missing}; {describe(proc)}"
    assert not re.search(r"^(local)?rule \w+:$", proc.output, re.MULTILINE), "no job may start"
    assert_same_results(clean, run)
    again = snakemake(run, "-n", configfile=base)
    assert again.returncode == 0 and "Nothing to be done" in again.output, describe(again)
    return proc


@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        pytest.param(
            {"motifs": {"sources": [{"model": "sparse_attention_5", "method": "lrp"}]}},
            ["motifs.sources[0] (sparse_attention_5, lrp): LRP rules exist for Caduceus heads (head_*) only"],
            id="3-lrp-of-a-non-caduceus-model",
        ),
        pytest.param(
            {"heads": {"kinds": ["sum"]}},
            ["attribution.models: ['head_conv'] are not trained for mpra"],
            id="3-explained-model-not-trained",
        ),
        pytest.param(
            {"chromosomes": ["chr1", "chr2", "chrZZ", "chr19", "chr21", "chrX", "chr7", "chr13"]},
            ["config chromosomes ['chrZZ'] are not in this sizes file (data.synthetic.chrom_sizes)"],
            id="3-chromosome-not-in-sizes-file",
        ),
        pytest.param({"data": {"download": {"ccres": {"file": "."}}}}, ["data", "ccres", "file"], id="6-file-dot"),
        pytest.param({"data": {"download": {"ccres": {"file": ".."}}}}, ["data", "ccres", "file"], id="6-file-dotdot"),
        pytest.param({"datasets": {"epi": {"windw_bp": 500}}}, ["windw_bp"], id="unknown-key"),
        pytest.param(
            {"splits": {"val": ["chr19", "chr7"], "test": ["chr7", "chr13"]}},
            ["invalid configuration", "chr7", "both val and test"],
            id="overlapping-splits",
        ),
        pytest.param({"seed": "seven"}, ["seed", "'seven'"], id="wrong-type"),
    ],
)
def test_a_bad_setting_stops_before_any_job_naming_the_key(tiny_run, tmp_path, overrides, expect):
    refused(tiny_run[0], tmp_path, overrides, expect)


@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        pytest.param(
            {"data": {"table": {"sequence": "sequence"}}},
            ["library.tsv, line 1: no column 'sequence' (data.table.sequence)"],
            id="unknown-column",
        ),
        pytest.param(
            {"data": {"table": {"chromosome": "chrom"}}},
            ["data.table", "split", "chromosome"],
            id="split-and-chromosome",
        ),
    ],
)
def test_a_bad_table_setting_stops_naming_the_key(table_run, tmp_path, overrides, expect):
    refused(table_run, tmp_path, overrides, expect, base=TABLE)


def test_4_the_sha256_that_the_unpinned_download_advises_is_accepted(tmp_path):
    config = config_file(tmp_path / "config.yaml", TINY, {"data": {"download": {"ccres": {"sha256": "0" * 64}}}})
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode == 0, describe(proc)
