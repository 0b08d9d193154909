"""A user's own table (data.source: table) and the inputs of `predict`, probed through the real
workflow on copies of the shared tiny table run (tests/fault_probe.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fault_probe import assert_same_results, probe, set_field
from helpers import vcf_spec_genome
from snakemake_runner import TABLE, copy_run, describe, snakemake

pytestmark = pytest.mark.workflow

SPEC_VCF = Path(__file__).resolve().parents[1] / "fixtures/vcf42_spec_example.vcf"
MPRA_SETS = [f"results/datasets/{name}.parquet" for name in ("mpra", "mpra_snv", "mpra_ood")]
# library.tsv (tests/library_table.py): name k562_log2fc hepg2_log2fc fold ref_name is_designed seq
NAME, K562, SEQ = 0, 1, 6


def duplicate_name(data: bytes) -> bytes:
    lines = data.decode().split("\n")
    fields = lines[4].split("\t")
    fields[NAME] = lines[3].split("\t")[NAME]
    lines[4] = "\t".join(fields)
    return "\n".join(lines).encode()


def no_test_rows(data: bytes) -> bytes:
    return data.replace(b"\ttest\t", b"\ttrain\t")


@pytest.mark.parametrize(
    ("corrupt", "expect"),
    [
        pytest.param(
            set_field(8, K562, "inf"),
            ["library.tsv, line 8: activity 'k562_log2fc' (cell K562) is not a finite number: 'inf'"],
            id="1-inf",
        ),
        pytest.param(set_field(9, SEQ, "ACGTXACGT"), ["library.tsv, line 9", "'X'"], id="non-ACGTN"),
        pytest.param(set_field(10, SEQ, ""), ["library.tsv, line 10", "empty"], id="empty-sequence"),
        pytest.param(duplicate_name, ["library.tsv, line 5", "duplicate", "line 4"], id="duplicate-id"),
        pytest.param(no_test_rows, ["library.tsv: the test split is empty"], id="empty-split"),
    ],
)
def test_a_bad_table_stops_the_mpra_sets(table_run, tmp_path, corrupt, expect):
    probe(
        table_run,
        tmp_path / "run",
        path="library.tsv",
        corrupt=corrupt,
        targets=MPRA_SETS,
        expect=expect,
        configfile=TABLE,
    )


def predict(run, vcf: str):
    setting = f"predict={{input: {vcf}, genome: genome20.fa, model: malinois}}"
    return snakemake(run, "predict", "--config", setting, configfile=TABLE)


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        pytest.param(("rs6054257\tG\tA", "rs6054257\tC\tA"), ["line 14", "REF C of rs6054257 disagrees"], id="ref"),
        pytest.param(("20\t14370\t", "20\t14x70\t"), ["line 14", "14x70"], id="malformed-pos"),
    ],
)
def test_a_bad_vcf_stops_predict_and_the_repaired_vcf_predicts_as_before(table_run, tmp_path, edit, expect):
    run = copy_run(table_run, tmp_path / "run")
    vcf_spec_genome(run / "genome20.fa")
    good = SPEC_VCF.read_text()
    (run / "new.vcf").write_text(good)
    proc = predict(run, "new.vcf")
    assert proc.returncode == 0, describe(proc)
    folder = run / "results/predict/new_malinois"
    clean = (folder / "predictions.tsv").read_bytes()

    assert good.count(edit[0]) == 1
    (run / "new.vcf").write_text(good.replace(*edit))
    proc = predict(run, "new.vcf")
    assert proc.returncode != 0, describe(proc)
    missing = [text for text in ["new.vcf", *expect] if text not in proc.output]
    assert not missing, f"the message lacks {missing}; {describe(proc)}"
    assert not (folder / "predictions.tsv").exists()

    (run / "new.vcf").write_text(good)
    proc = predict(run, "new.vcf")
    assert proc.returncode == 0, describe(proc)
    assert (folder / "predictions.tsv").read_bytes() == clean
    assert_same_results(table_run, run)
