"""Trained models applied to new inputs (crelens.evaluation.new_sequences): FASTA, VCF, relevance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from crelens.attribution.store import read_attributions
from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.features import Features
from crelens.encoder.hub import save_caduceus
from crelens.errors import InputError
from crelens.evaluation.new_sequences import predict_sequences, read_vcf_snvs, run_predict
from crelens.models.registry import build_model, save_model
from crelens.models.training import predict
from crelens.sequences import mpra_construct, one_hot_strands
from crelens.tables import write_table

from helpers import vcf_spec_genome

CELLS = ["K562", "HepG2"]
LENGTH = 40
SPEC_VCF = Path(__file__).resolve().parents[1] / "fixtures/vcf42_spec_example.vcf"
SETTINGS = {
    "lrp_dtype": "float64",
    "epsilon": 0.0,
    "batch_size": 4,
    "integrated_gradients": {"steps": 4, "baseline": "zero"},
    "smoothgrad": {"samples": 2, "noise": 0.1},
    "ism_batch_size": 64,
}


ATTENTION = {
    "model": "attention",
    "task": "mpra",
    "outputs": 2,
    "length": LENGTH,
    "options": {"d_model": 8, "n_heads": 2},
}
HEAD = {"model": "head_conv", "task": "mpra", "outputs": 2, "bins": LENGTH, "dim": 8, "dropout": 0.1}


def predict_with(trained: Path, model: str, source, outputs: dict, **extra):
    """run_predict with one of the `trained` models on the MPRA task (head: its encoder and bins)."""
    if model == "head_conv":
        extra = {"encoder_folder": trained / "encoder", "bins": LENGTH, **extra}
    weights = "head.safetensors" if model == "head_conv" else f"{model}.safetensors"
    return run_predict(
        source,
        outputs,
        model_path=trained / weights,
        model_name=model,
        task="mpra",
        table_path=trained / "mpra.parquet",
        cells=CELLS,
        length=LENGTH,
        **extra,
    )


@pytest.fixture
def trained(tmp_path):
    """A one-hot model, a head on a tiny encoder, and the MPRA table they were trained for."""
    torch.manual_seed(0)
    save_model(build_model(ATTENTION), ATTENTION, tmp_path / "attention.safetensors")
    encoder = CaduceusForMaskedLM(CaduceusConfig(d_model=8, n_layer=1, rcps=True))
    save_caduceus(encoder, tmp_path / "encoder")
    save_model(build_model(HEAD), HEAD, tmp_path / "head.safetensors")
    write_table(
        pd.DataFrame({"seq_id": ["x"], "sequence": ["A" * LENGTH], "K562": [0.0], "HepG2": [0.0]}),
        tmp_path / "mpra.parquet",
    )
    return tmp_path


def fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


def test_fasta_predictions_equal_the_model_applied_directly(trained, tmp_path):
    rng = np.random.default_rng(0)
    records = {f"r{i}": "".join(rng.choice(list("ACGT"), LENGTH - 6 * i)) for i in range(3)}
    path = fasta(tmp_path / "new.fa", records)
    inputs = [mpra_construct(s, LENGTH) for s in records.values()]
    # one-hot model: forward and reverse complement averaged, as the evaluation predicts
    table = predict_with(trained, "attention", path, {"predictions": tmp_path / "a.tsv"})
    model = build_model(ATTENTION)
    model.load_state_dict(load_file(str(trained / "attention.safetensors")))
    expected = predict(model, one_hot_strands(inputs), "regression")
    np.testing.assert_allclose(table[CELLS].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    written = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    assert list(written.columns) == ["id", *CELLS] and list(written.id) == list(records)
    np.testing.assert_allclose(written[CELLS].to_numpy(), expected, rtol=1e-4, atol=1e-5)
    # head: the encoder's features in float16, both strands, exactly as the cache holds them
    head = predict_with(trained, "head_conv", path, {"predictions": tmp_path / "h.tsv"})
    encode = Features(trained / "encoder", LENGTH, "pad")
    features = np.stack([encode(inputs), encode.reverse(inputs)], 1).astype(np.float16)
    head_model = build_model(HEAD)
    head_model.load_state_dict(load_file(str(trained / "head.safetensors")))
    np.testing.assert_allclose(
        head[CELLS].to_numpy(), predict(head_model, features, "regression"), rtol=1e-5, atol=1e-6
    )


def test_fasta_record_longer_than_the_input_is_named(trained, tmp_path):
    path = fasta(tmp_path / "long.fa", {"ok": "ACGT", "too_long": "A" * (LENGTH + 1)})
    with pytest.raises(InputError, match="'too_long' is 41 nt"):
        predict_with(trained, "attention", path, {"predictions": tmp_path / "p.tsv"})
    assert not (tmp_path / "p.tsv").exists()


def spec_genome(tmp_path: Path) -> Path:
    return vcf_spec_genome(tmp_path / "genome.fa")


def test_the_vcf_specification_example_gives_two_snvs_and_counts_the_rest():
    snvs, skipped = read_vcf_snvs(SPEC_VCF)
    assert list(snvs.id) == ["rs6054257", "20:17330T>A"] and list(snvs.pos) == [14370, 17330]
    assert skipped == {"indel": 0, "multiallelic": 2, "symbolic or missing": 1}


def test_vcf_windows_centre_the_variant_and_score_alt_minus_ref(trained, tmp_path):
    genome = spec_genome(tmp_path)
    outputs = {"predictions": tmp_path / "v.tsv", "relevance": tmp_path / "r.npz", "bedgraphs": tmp_path / "bg"}
    table = predict_with(
        trained, "attention", SPEC_VCF, outputs, genome_path=genome, relevance_method="grad_x_input", settings=SETTINGS
    )
    chrom = genome.read_text().split("\n")[1]
    ref = chrom[14370 - 1 - LENGTH // 2 : 14370 - 1 + LENGTH // 2]
    alt = ref[: LENGTH // 2] + "A" + ref[LENGTH // 2 + 1 :]
    values = predict_sequences(trained / "attention.safetensors", "mpra", [ref, alt])
    np.testing.assert_allclose(table.loc[0, ["K562_ref", "HepG2_ref"]].to_numpy(float), values[0], rtol=1e-5)
    np.testing.assert_allclose(table.loc[0, ["K562_alt", "HepG2_alt"]].to_numpy(float), values[1], rtol=1e-5)
    np.testing.assert_allclose(table.K562_delta, table.K562_alt - table.K562_ref, atol=1e-7)
    stored = read_attributions(outputs["relevance"])
    assert stored["relevance"].shape == (2, 2, LENGTH) and stored["sequence"][0] == ref
    lines = (tmp_path / "bg" / "relevance_K562.bedGraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph") and len(lines) == 1 + 2 * LENGTH
    first = lines[1].split("\t")
    assert first[:3] == ["20", str(14370 - 1 - LENGTH // 2), str(14370 - LENGTH // 2)]


def test_vcf_ref_that_disagrees_with_the_genome_stops_the_run(trained, tmp_path):
    genome = spec_genome(tmp_path)
    text = SPEC_VCF.read_text().replace("20\t14370\trs6054257\tG\tA", "20\t14370\trs6054257\tC\tA")
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(text)
    with pytest.raises(InputError, match="REF C of rs6054257 disagrees with the genome") as caught:
        predict_with(trained, "attention", vcf, {"predictions": tmp_path / "p.tsv"}, genome_path=genome)
    assert caught.value.line == 14 and not (tmp_path / "p.tsv").exists()


def test_a_finetuned_head_predicts_with_its_own_encoder(tmp_path):
    """No encoder folder: the checkpoint holds the fine-tuned encoder, run on the sequences."""
    import torch

    from crelens.encoder.caduceus import Caduceus, CaduceusConfig
    from crelens.models.heads import build_head
    from crelens.models.in_loop import EncoderHead

    torch.manual_seed(0)
    encoder = Caduceus(CaduceusConfig(d_model=8, n_layer=1, rcps=True, ssm_cfg={"d_state": 4}))
    model = EncoderHead(encoder, build_head("mean", 8, 8, 2), 8).eval()
    spec = {
        "model": "head_mean_finetune",
        "task": "mpra",
        "outputs": 2,
        "bins": 8,
        "dim": 8,
        "dropout": 0.1,
        "encoder_config": encoder.config.to_hf_dict("Caduceus"),
    }
    save_model(model, spec, tmp_path / "tuned.safetensors")
    seqs = [mpra_construct("ACGTTGCA" * 3, LENGTH), mpra_construct("GGGTTTAA" * 4, LENGTH)]
    values = predict_sequences(tmp_path / "tuned.safetensors", "mpra", seqs)
    np.testing.assert_allclose(values, predict(model, one_hot_strands(seqs), "regression"), rtol=1e-6)
