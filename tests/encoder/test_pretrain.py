"""Masked-LM pretraining (crelens.encoder.pretrain): a loadable checkpoint, determinism, training chromosomes only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.encoder.hub import load_caduceus
from crelens.encoder.pretrain import run_pretrain_encoder
from crelens.errors import InputError
from crelens.sequences import reverse_complement

TINY = {
    "d_model": 8,
    "n_layer": 1,
    "rcps": True,
    "seq_len": 48,
    "batch_size": 4,
    "steps": 6,
    "lr": 0.003,
    "weight_decay": 0.0,
    "warmup_steps": 1,
    "mask_share": 0.15,
    "eval_every": 3,
    "eval_windows": 4,
}


@pytest.fixture(scope="module")
def genome(built):
    """(config, folder of the tiny world's genome.fa and contigs.tsv)."""
    config, _, paths, *_ = built
    return config, paths["genome"].parent


@pytest.fixture(scope="module")
def pretrained(genome, tmp_path_factory):
    config, out = genome
    folder = tmp_path_factory.mktemp("encoder")
    curve = run_pretrain_encoder(
        out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", folder, folder / "curve.tsv"
    )
    return folder, curve


def test_pretraining_writes_a_loadable_checkpoint_and_curve(pretrained):
    folder, curve = pretrained
    model = load_caduceus(folder)
    assert model.config.d_model == 8 and model.config.rcps
    assert list(curve.step) == list(range(1, 7)) and curve.val_loss.notna().sum() == 2
    assert np.isfinite(curve.train_loss).all()


def test_pretraining_is_deterministic(genome, pretrained, tmp_path):
    config, out = genome
    run_pretrain_encoder(
        out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", tmp_path, tmp_path / "curve.tsv"
    )
    assert (tmp_path / "model.safetensors").read_bytes() == (pretrained[0] / "model.safetensors").read_bytes()


def test_pretraining_samples_training_chromosomes_only(genome, monkeypatch):
    import crelens.encoder.pretrain as encoder

    config, out = genome
    seen = []
    original = encoder.WindowSampler.__init__

    def spy(self, fasta, chromosomes, *args, **kwargs):
        seen.append(list(chromosomes))
        original(self, fasta, chromosomes, *args, **kwargs)

    monkeypatch.setattr(encoder.WindowSampler, "__init__", spy)
    monkeypatch.setattr(encoder, "pretrain", lambda *a, **k: pd.DataFrame({"step": [1]}))
    monkeypatch.setattr(encoder, "save_caduceus", lambda *a, **k: None)
    monkeypatch.setattr(encoder, "write_table", lambda *a, **k: None)
    run_pretrain_encoder(out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", out, out / "c.tsv")
    train, val = seen
    assert not set(train) & (set(config["splits"]["val"]) | set(config["splits"]["test"]))
    assert set(val) == set(config["splits"]["val"])


def test_element_centres_sit_in_the_motif_cores_and_skip_promoter_like_ccres():
    from crelens.encoder.pretrain import ELEMENT_CLASSES, element_centres

    promoters = pd.DataFrame({"chrom": ["chr1", "chr1"], "tss": [1000, 5000], "strand": ["+", "-"]})
    ccres = pd.DataFrame(
        {
            "chrom": "chr2",
            "start": [100, 400, 900, 1500],
            "end": [300, 600, 1100, 1700],
            "ccre_class": ["dELS", "CA-CTCF", "PLS", "TF"],
        }
    )
    centres = element_centres(promoters, ccres)
    assert list(centres.centre) == [945, 5055, 200, 500, 1600]
    assert [ELEMENT_CLASSES[i] for i in centres.label] == ["promoter", "promoter", "enhancer", "ctcf", "other_ccre"]


def test_element_windows_are_centred_on_elements_and_labelled_with_their_class():
    from crelens.encoder.pretrain import WindowSampler

    genome = {"chr1": "ACGT" * 500}
    elements = pd.DataFrame({"chrom": ["chr1"], "centre": [1000], "label": [2]})
    sampler = WindowSampler(genome, ["chr1"], 100, np.random.default_rng(0), elements, element_share=1.0)
    windows, labels = sampler.sample_labelled(20)
    assert len(windows) == 20 and set(labels) == {2}  # the element lies in every window's central half
    background = WindowSampler(genome, ["chr1"], 100, np.random.default_rng(0), elements, element_share=0.0)
    _, labels = background.sample_labelled(200)
    assert 0 < (labels == 2).mean() < 0.2  # random windows hit the element only by chance


def test_composition_baseline_and_planted_mask():
    from crelens.encoder.pretrain import composition_baseline, planted_mask

    assert composition_baseline(["AAAA"]) == 0.0
    assert composition_baseline(["ACGT"]) == pytest.approx(np.log(4))
    planted = pd.DataFrame({"chrom": ["chr1"], "start": [12], "end": [15]})
    mask = planted_mask([("chr1", 10, False), ("chr1", 10, True), ("chr2", 0, False)], 8, planted)
    assert mask[0].tolist() == [False, False, True, True, True, False, False, False]
    assert mask[1].tolist() == mask[0].tolist()[::-1] and not mask[2].any()


def test_pretraining_with_the_element_objective_reports_what_the_encoder_learned(built, tmp_path):
    from crelens.names import SYNTHETIC_OUTPUTS

    config, src, paths, *_ = built
    settings = {**TINY, "element_share": 0.8, "mlm_weight": 0.5, "annotation_weight": 1.0}
    curve = run_pretrain_encoder(
        paths["genome"],
        paths["contigs"],
        config["splits"],
        settings,
        3,
        "pad",
        tmp_path,
        tmp_path / "curve.tsv",
        promoters_bed=paths["promoters"],
        ccres_bed=paths["ccres"],
        planted_bed=src / SYNTHETIC_OUTPUTS["truth_motifs"],
    )
    assert {"train_class_loss", "composition_loss", "val_accuracy_motif", "val_accuracy_background"} <= set(curve)
    evaluated = curve.dropna(subset=["val_accuracy_motif"])
    assert len(evaluated) == 2 and evaluated.val_accuracy_motif.between(0, 1).all()
    assert curve.composition_loss.nunique() == 1 and 1.0 < curve.composition_loss.iloc[0] < np.log(4)
    assert load_caduceus(tmp_path).config.d_model == 8


def test_element_windows_need_the_annotations(genome, tmp_path):
    config, out = genome
    with pytest.raises(InputError, match="need the promoter and cCRE BEDs"):
        run_pretrain_encoder(
            out / "genome.fa",
            out / "contigs.tsv",
            config["splits"],
            {**TINY, "element_share": 0.5},
            3,
            "pad",
            tmp_path,
            tmp_path / "curve.tsv",
        )


def test_a_table_run_without_a_genome_pretrains_on_the_training_rows(tmp_path, monkeypatch):
    from crelens.encoder import pretrain as module
    from crelens.tables import write_table

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(30)]
    split = ["train"] * 20 + ["val"] * 5 + ["test"] * 5
    write_table(pd.DataFrame({"seq_id": range(30), "split": split, "sequence": seqs}), tmp_path / "mpra.parquet")
    drawn = []
    original = module.TableSampler.sample_labelled

    def spy(self, n):
        windows, labels = original(self, n)
        if self.sequences == seqs[:20]:  # the training sampler (the other one holds the val rows)
            drawn.extend(windows)
        return windows, labels

    monkeypatch.setattr(module.TableSampler, "sample_labelled", spy)
    curve = run_pretrain_encoder(
        None, None, {}, TINY, 3, "pad", tmp_path / "enc", tmp_path / "curve.tsv", table=tmp_path / "mpra.parquet"
    )
    assert load_caduceus(tmp_path / "enc").config.d_model == 8 and np.isfinite(curve.train_loss).all()
    train_text = "|".join(seqs[:20] + [reverse_complement(s) for s in seqs[:20]])
    assert len(drawn) == TINY["steps"] * TINY["batch_size"]
    assert all(len(w) == TINY["seq_len"] and w in train_text for w in drawn)
    with pytest.raises(InputError, match="seq_len \\(80\\) is longer than the shortest input"):
        run_pretrain_encoder(
            None,
            None,
            {},
            {**TINY, "seq_len": 80},
            3,
            "pad",
            tmp_path / "x",
            tmp_path / "x.tsv",
            table=tmp_path / "mpra.parquet",
        )
    with pytest.raises(InputError, match="need a genome and element BEDs"):
        run_pretrain_encoder(
            None,
            None,
            {},
            {**TINY, "annotation_weight": 1.0},
            3,
            "pad",
            tmp_path / "y",
            tmp_path / "y.tsv",
            table=tmp_path / "mpra.parquet",
        )
