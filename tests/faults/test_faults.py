"""The fault suite: probes of bad input and contradictory settings through the real workflow.

Each probe asserts the exit code, that the message names the file (or the config key) and the
problem, and that no output is left half-written. Probes that only plan (`-n`) need no run; the
table probes run the data stage of the tiny table config, which takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import deep_merge
from library_table import library
from snakemake_runner import describe, part_files, snakemake

pytestmark = pytest.mark.workflow

HERE = Path(__file__).resolve().parent
TINY = HERE.parent / "workflow/tiny.yaml"
TABLE = HERE.parent / "workflow/tiny_table.yaml"


def config_file(path: Path, base: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(base.read_text()), overrides), sort_keys=False))
    return path


def test_inf_activity_stops_the_dataset_job_naming_file_and_line(tmp_path):
    table = library()
    table["k562_log2fc"] = table["k562_log2fc"].astype(object)
    table.loc[6, "k562_log2fc"] = "inf"
    table.to_csv(tmp_path / "library.tsv", sep="\t", index=False)
    proc = snakemake(tmp_path, "results/datasets/mpra.parquet", configfile=TABLE)
    assert proc.returncode != 0
    assert "library.tsv, line 8: activity 'k562_log2fc' (cell K562) is not a finite number: 'inf'" in proc.output, (
        describe(proc)
    )
    assert not (tmp_path / "results/datasets/mpra.parquet").exists() and not part_files(tmp_path / "results")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"motifs": {"sources": [{"model": "sparse_attention_5", "method": "lrp"}]}},
            "motifs.sources[0] (sparse_attention_5, lrp): LRP rules exist for Caduceus heads (head_*) only",
        ),
        ({"heads": {"kinds": ["sum"]}}, "attribution.models: ['head_conv'] are not trained for mpra"),
        (
            {"chromosomes": ["chr1", "chr2", "chrZZ", "chr19", "chr21", "chrX", "chr7", "chr13"]},
            "config chromosomes ['chrZZ'] are not in this sizes file (data.synthetic.chrom_sizes)",
        ),
    ],
)
def test_contradictory_settings_fail_before_any_job_naming_the_key(tmp_path, overrides, message):
    config = config_file(tmp_path / "config.yaml", TINY, overrides)
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode != 0 and message in proc.output, describe(proc)
    assert "rule simulate" not in proc.output and not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", [".", ".."])
def test_a_download_file_name_that_is_a_folder_is_refused_by_the_schema(tmp_path, name):
    config = config_file(tmp_path / "config.yaml", TINY, {"data": {"download": {"ccres": {"file": name}}}})
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode != 0 and "data" in proc.output and "ccres" in proc.output, describe(proc)


def test_the_sha256_that_the_unpinned_download_advises_is_accepted(tmp_path):
    config = config_file(tmp_path / "config.yaml", TINY, {"data": {"download": {"ccres": {"sha256": "0" * 64}}}})
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode == 0, describe(proc)
