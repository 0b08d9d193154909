"""Bad input files of the synthetic source, probed through the real workflow (tests/fault_probe.py).

Each probe breaks one file of a copy of the shared clean tiny run: the lentiMPRA tables, the genome
FASTA, the promoter BED, the embedding cache and the encoder checkpoint. Numbers in the names are
the defects of issue 16 that the probe keeps fixed.
"""

from __future__ import annotations

import pytest
from safetensors.torch import load, save

from fault_probe import assert_same_results, probe, replace_line, set_field
from snakemake_runner import copy_run, describe, job_stats, snakemake

pytestmark = pytest.mark.workflow

SYNTHETIC = "results/data/synthetic"
K562 = f"{SYNTHETIC}/Agarwal_K562.tsv"  # seq_id chromosome start end strand seq expression ...
PROMOTERS = f"{SYNTHETIC}/Hs_EPDnew_006_hg38.bed"
GENOME = f"{SYNTHETIC}/genome.fa"
MPRA_SETS = [f"results/datasets/{name}.parquet" for name in ("mpra", "mpra_snv", "mpra_ood")]
EPI_SET = ["results/datasets/epi.parquet"]
PREPARED_GENOME = [f"results/data/{name}" for name in ("genome.fa", "genome.fa.fai", "genome.contigs.tsv", "gaps.bed")]
HEAD = [f"results/models/mpra/head_conv/{name}" for name in ("best.safetensors", "metrics.json", "curve.tsv")]


def swap_start_end(fields: list[str]) -> list[str]:
    fields[2], fields[3] = fields[3], fields[2]
    return fields


@pytest.mark.parametrize(
    ("corrupt", "expect"),
    [
        pytest.param(set_field(2, 6, "inf"), ["Agarwal_K562.tsv, line 2", "not a finite number: 'inf'"], id="1-inf"),
        pytest.param(
            replace_line(3, swap_start_end),
            ["Agarwal_K562.tsv, line 3: invalid interval start="],
            id="2-start-after-end",
        ),
        pytest.param(
            replace_line(7, lambda f: f[:5]),
            ["Agarwal_K562.tsv, line 7: row has 5 tab-separated fields, the header has 9"],
            id="malformed-row",
        ),
    ],
)
def test_a_bad_lentimpra_table_stops_the_mpra_sets(tiny_run, tmp_path, corrupt, expect):
    probe(tiny_run[0], tmp_path / "run", path=K562, corrupt=corrupt, targets=MPRA_SETS, expect=expect)


def put_at_line(number: int, text: bytes):
    """Replace the first bytes of line `number` (1-based) with `text`."""

    def corrupt(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[number - 1] = text + lines[number - 1][len(text) :]
        return b"\n".join(lines)

    return corrupt


def test_5_a_binary_byte_in_the_genome_is_reported_at_its_true_line_and_offset(tiny_run, tmp_path):
    genome = (tiny_run[0] / GENOME).read_bytes()
    line = 3332
    offset = sum(len(chunk) + 1 for chunk in genome.split(b"\n")[: line - 1])
    expect = [f"genome.fa, line {line}", f"non-ASCII byte 0xff at byte offset {offset}"]
    probe(
        tiny_run[0],
        tmp_path / "run",
        path=GENOME,
        corrupt=put_at_line(line, b"\xff"),
        targets=PREPARED_GENOME,
        expect=expect,
    )


@pytest.mark.parametrize(
    ("corrupt", "expect"),
    [
        pytest.param(put_at_line(100, b"X"), ["genome.fa, line 100", "invalid character 'X'"], id="non-ACGTN"),
        pytest.param(lambda data: data + b">chr1\nACGT\n", ["duplicate record name 'chr1'"], id="duplicate-id"),
    ],
)
def test_a_malformed_genome_fasta_stops_genome_preparation(tiny_run, tmp_path, corrupt, expect):
    probe(tiny_run[0], tmp_path / "run", path=GENOME, corrupt=corrupt, targets=PREPARED_GENOME, expect=expect)


@pytest.mark.parametrize(
    ("corrupt", "expect"),
    [
        pytest.param(lambda data: b"", ["Hs_EPDnew_006_hg38.bed", "empty promoter BED"], id="5-empty-class"),
        pytest.param(
            lambda data: data + b"chrZZ\t100\t160\tNOPE_1\t900\t+\n",
            ["Hs_EPDnew_006_hg38.bed, line 220", "unknown chromosome 'chrZZ'"],
            id="unknown-chromosome",
        ),
        pytest.param(set_field(2, 2, "199510"), ["Hs_EPDnew_006_hg38.bed, line 2", "199510"], id="end-past-chromosome"),
        pytest.param(
            replace_line(4, lambda f: f[:2]),
            ["Hs_EPDnew_006_hg38.bed, line 4: EPDnew BED6 line has 2 tab-separated columns, expected 6"],
            id="too-few-fields",
        ),
    ],
)
def test_a_bad_promoter_bed_stops_the_epi_set(tiny_run, tmp_path, corrupt, expect):
    probe(tiny_run[0], tmp_path / "run", path=PROMOTERS, corrupt=corrupt, targets=EPI_SET, expect=expect)


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize(
    ("corrupt", "expect"),
    [
        pytest.param(flip_last_byte, ["shard_00000.npy", "checksum differs from the manifest"], id="8-altered-shard"),
        pytest.param(lambda data: None, ["shard_00000.npy", "missing"], id="8-deleted-shard"),
    ],
)
def test_a_damaged_cache_shard_is_named_before_a_head_trains_on_it(tiny_run, tmp_path, corrupt, expect):
    probe(
        tiny_run[0],
        tmp_path / "run",
        path="results/cache/mpra/shard_00000.npy",
        corrupt=corrupt,
        targets=[HEAD[1]],
        outputs=HEAD,
        args=["--forcerun", "train_head"],
        expect=[*expect, "rerun the cache_embeddings job"],
    )


def test_a_mismatched_encoder_checkpoint_is_named_with_its_key(tiny_run, tmp_path):
    def shrink_first_tensor(data: bytes) -> bytes:
        tensors = load(data)
        name = sorted(tensors)[0]
        tensors[name] = tensors[name][..., :-1].contiguous()
        return save(tensors)

    name = sorted(load((tiny_run[0] / "results/encoder/pretrained/model.safetensors").read_bytes()))[0]
    probe(
        tiny_run[0],
        tmp_path / "run",
        path="results/encoder/pretrained/model.safetensors",
        corrupt=shrink_first_tensor,
        targets=["results/cache/mpra/manifest.json"],
        expect=["model.safetensors", name, "shape"],
    )


def test_11_a_retrained_model_and_its_reports_are_byte_identical(tiny_run, tmp_path):
    """Training, evaluation and the comparison tables (models.tsv: the model-cost table) carry no
    wall-clock time: retraining one head reproduces every file (defect 11)."""
    run = copy_run(tiny_run[0], tmp_path / "run")
    forced = HEAD[1]
    proc = snakemake(run, "results/reports/models.tsv", "--forcerun", forced, "--rerun-triggers", "mtime")
    assert proc.returncode == 0, describe(proc)
    assert {"train_head", "evaluate", "compare_models"} <= set(job_stats(proc.output)), describe(proc)
    assert_same_results(tiny_run[0], run)
