"""The encoder in the training loop: shifted windows, the Caduceus + head model, its checkpoints and LRP."""

import numpy as np
import pytest
import torch

from crelens.attribution.explained import CaduceusHeadModel, load_explained
from crelens.attribution.lrp import conservation_frame, lrp
from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.encoder.features import Features
from crelens.encoder.hub import save_caduceus
from crelens.encoder.tokenizer import CaduceusTokenizer
from crelens.models.heads import build_head
from crelens.models.in_loop import (
    EncoderHead,
    FlankShift,
    encoder_change,
    flanked_sequences,
    one_hot_ids,
    shifted_training_inputs,
    window_text,
)
from crelens.models.registry import build_model, load_model, save_model
from crelens.models.training import train_model
from crelens.sequences import MPRA_DOWNSTREAM, MPRA_UPSTREAM, mpra_construct, one_hot_strands, reverse_complement

LENGTH, BINS, DIM, SHIFT = 40, 10, 8, 5


def encoder(rcps=True, seed=0):
    torch.manual_seed(seed)
    return Caduceus(CaduceusConfig(d_model=DIM, n_layer=2, rcps=rcps, ssm_cfg={"d_state": 4}))


def copy_of(model):
    twin = Caduceus(model.config, init=False)
    twin.load_state_dict(model.state_dict())
    return twin


def random_inserts(n, length=LENGTH, seed=1):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_one_hot_ids_are_the_tokenizers_ids_for_both_n_policies():
    seqs = ["ACGTNNAC", "TTGCANGA"]
    x = torch.from_numpy(one_hot_strands(seqs)[:, 0]).float()
    for n_as in ("pad", "n"):
        assert torch.equal(one_hot_ids(x, n_as), CaduceusTokenizer(n_as=n_as).encode(seqs))


def test_flank_shift_crops_each_row_at_its_own_offset_within_the_range():
    x = torch.arange(3 * 4 * 30, dtype=torch.float32).reshape(3, 4, 30)
    shift = FlankShift(max_shift=5, length=20)
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        out = shift(x, generator)
        assert out.shape == (3, 4, 20)
        for row, offset in enumerate(shift.last_offsets.tolist()):
            assert 0 <= offset <= 10
            torch.testing.assert_close(out[row], x[row, :, offset : offset + 20])
            seen.add(offset)
    assert seen == set(range(11))  # every shift in [-5, 5] is drawn
    with pytest.raises(ValueError, match="flanked inputs"):
        shift(x[..., :29], generator)


def test_flanked_sequences_hold_the_sequence_inside_real_plasmid_flanks():
    inserts = random_inserts(3, 30)
    sequences = [mpra_construct(s, LENGTH) for s in inserts]  # 5 nt of flank on each side
    wide = flanked_sequences(inserts, sequences, SHIFT)
    for sequence, flanked in zip(sequences, wide):
        assert len(flanked) == LENGTH + 2 * SHIFT and flanked[SHIFT : SHIFT + LENGTH] == sequence
        assert flanked[:10] == MPRA_UPSTREAM[-10:] and flanked[-10:] == MPRA_DOWNSTREAM[:10]
        assert "N" not in flanked
    with pytest.raises(ValueError, match="not its insert"):
        flanked_sequences(inserts[:1], ["A" * LENGTH], SHIFT)
    inputs = shifted_training_inputs(inserts, sequences, SHIFT)
    assert inputs.shape == (3, 2, 4, LENGTH + 2 * SHIFT)
    assert window_text(torch.from_numpy(inputs[0, 1]).float()) == reverse_complement(wide[0])


def test_a_shifted_window_reads_plasmid_sequence_never_padding():
    insert = random_inserts(1)[0]
    flanked = torch.from_numpy(shifted_training_inputs([insert], [insert], SHIFT)[:, 0]).float()
    shift, generator = FlankShift(SHIFT, LENGTH), torch.Generator().manual_seed(3)
    for _ in range(20):
        window = window_text(shift(flanked, generator)[0])
        moved = int(shift.last_offsets[0]) - SHIFT
        if moved < 0:
            assert window == MPRA_UPSTREAM[moved:] + insert[:moved]
        elif moved > 0:
            assert window == insert[moved:] + MPRA_DOWNSTREAM[:moved]
        else:
            assert window == insert


@pytest.mark.parametrize("rcps", [True, False], ids=["PS", "PH"])
def test_encoder_head_features_are_the_cache_features(tmp_path, rcps):
    """The head sees in the loop exactly what the cache stores for an unshifted window."""
    model = encoder(rcps)
    save_caduceus(model, tmp_path / "encoder")
    seqs = random_inserts(4)
    cached = Features(tmp_path / "encoder", BINS, "pad")(seqs)
    in_loop = EncoderHead(copy_of(model), build_head("mean", BINS, DIM, 2), BINS).eval()
    x = torch.from_numpy(one_hot_strands(seqs)).float()
    with torch.no_grad():
        np.testing.assert_allclose(in_loop.features(x[:, 0]).numpy(), cached, atol=1e-6)
        # the reverse complement's features are the bins reversed (RC-invariant encoder)
        torch.testing.assert_close(in_loop.features(x[:, 1]), in_loop.features(x[:, 0]).flip(1), atol=1e-5, rtol=0)


def train(mode, inserts, y, max_epochs=2):
    reference = encoder()
    model = EncoderHead(copy_of(reference), build_head("conv", BINS, DIM, 2), BINS, train_encoder=mode == "finetune")
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    train_model(
        model,
        shifted_training_inputs(inserts, inserts, SHIFT),
        y,
        one_hot_strands(inserts),
        y,
        task="regression",
        strands="random",
        optimizer=lambda m: torch.optim.AdamW(m.parameter_groups(1e-2, 0.1), lr=1e-2),
        batch_size=8,
        max_epochs=max_epochs,
        patience=max_epochs,
        augment=FlankShift(SHIFT, LENGTH),
        log=lambda line: None,
    )
    head_moved = max(float((v - head_before[k]).abs().max()) for k, v in model.head.state_dict().items())
    return model, reference, head_moved


def test_full_leaves_the_encoder_unchanged_and_finetune_changes_it():
    inserts = random_inserts(24)
    y = np.random.default_rng(0).normal(size=(24, 2)).astype(np.float32)
    full, reference, head_moved = train("full", inserts, y)
    assert encoder_change(full, reference) == 0.0 and head_moved > 0
    assert not any(p.requires_grad for p in full.encoder.parameters())
    tuned, reference, head_moved = train("finetune", inserts, y)
    assert encoder_change(tuned, reference) > 1e-4 and head_moved > 0
    groups = tuned.parameter_groups(1e-3, 0.1)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-4)]


def finetune_spec(model):
    return {
        "model": "head_conv_finetune",
        "task": "mpra",
        "outputs": 2,
        "bins": BINS,
        "dim": DIM,
        "dropout": 0.1,
        "aug_mode": "finetune",
        "max_shift": SHIFT,
        "encoder_config": model.encoder.config.to_hf_dict("Caduceus"),
        "n_as": "pad",
    }


def test_a_finetuned_checkpoint_stores_tied_weights_once_and_loads_back_identical(tmp_path):
    inserts = random_inserts(16)
    y = np.random.default_rng(1).normal(size=(16, 2)).astype(np.float32)
    tuned, _, _ = train("finetune", inserts, y, max_epochs=1)
    save_model(tuned, finetune_spec(tuned), tmp_path / "tuned.safetensors")
    loaded, spec = load_model(tmp_path / "tuned.safetensors")
    assert isinstance(loaded, EncoderHead) and spec["aug_mode"] == "finetune"
    x = torch.from_numpy(one_hot_strands(inserts)[:, 0]).float()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), tuned.eval()(x), atol=0, rtol=0)
    stored = _stored_keys(tmp_path / "tuned.safetensors")
    assert tuned.alias_keys() and not set(tuned.alias_keys()) & set(stored)


def _stored_keys(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


def test_a_full_checkpoint_is_the_head_alone():
    spec = {"model": "head_conv_full", "task": "mpra", "outputs": 2, "bins": BINS, "dim": DIM, "dropout": 0.1}
    model = build_model(spec)
    assert type(model) is type(build_head("conv", BINS, DIM, 2))


def test_lrp_explains_a_finetuned_model_with_conservation(tmp_path):
    inserts = random_inserts(16)
    y = np.random.default_rng(2).normal(size=(16, 2)).astype(np.float32)
    tuned, _, _ = train("finetune", inserts, y, max_epochs=1)
    save_model(tuned, finetune_spec(tuned), tmp_path / "tuned.safetensors")
    explained = load_explained(tmp_path / "tuned.safetensors", "mpra", ["K562", "HepG2"])  # no encoder folder
    assert isinstance(explained, CaduceusHeadModel) and explained.dtype == torch.float64
    x = explained.inputs(inserts[:3])
    with torch.no_grad():  # the explained model is the fine-tuned one, strand-averaged
        tuned.double().eval()
        one_hot = torch.from_numpy(one_hot_strands(inserts[:3])).double()
        expected = (tuned(one_hot[:, 0]) + tuned(one_hot[:, 1])) / 2
        torch.testing.assert_close(explained(x), expected, atol=1e-10, rtol=1e-10)
    result = lrp(explained, x)
    frame = conservation_frame(result, ["a", "b", "c"], explained.output_names)
    assert frame["rel_err"].max() < 1e-10
