"""Small inputs and assertions several test modules share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from crelens.errors import InputError

ORACLE_CELLS = ["K562", "HepG2"]


def random_sequences(n: int, length: int = 40, seed: int = 0) -> list[str]:
    """`n` uniform random ACGT sequences of one length, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def expect_input_error(call, path, problem: str, line: int | None = None) -> InputError:
    """Run `call`; it must raise InputError naming `path`, `line` (if given) and `problem` (regex)."""
    with pytest.raises(InputError) as info:
        call()
    err = info.value
    message = str(err)
    assert str(path) in message, message
    assert err.path == str(path)
    if line is not None:
        assert err.line == line, message
        assert f"line {line}:" in message, message
    else:
        assert err.line is None, message
    assert re.search(problem, message), message
    return err


def mpra_test_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(MPRA, SNV pairs, OOD) tables of random activities for two cell types (K562, HepG2)."""
    rng = np.random.default_rng(0)
    n = 60
    mpra = pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(n)],
            "split": ["test"] * 40 + ["train"] * 20,
            "K562": rng.normal(size=n),
            "HepG2": rng.normal(size=n),
        }
    )
    snv = pd.DataFrame(
        {
            "pair_id": [f"s{i}__5A>G" for i in range(12)],
            "ref_id": [f"s{i}" for i in range(12)],
            "K562_delta": rng.normal(size=12),
            "HepG2_delta": rng.normal(size=12),
        }
    )
    ood = pd.DataFrame(
        {"seq_id": [f"D{i}" for i in range(15)], "K562": rng.normal(size=15), "HepG2": rng.normal(size=15)}
    )
    return mpra, snv, ood


def oracle(mpra, snv, ood, noise=0.3, seed=1):
    """predict_rows that returns the measured values plus noise (alt carries the measured delta)."""
    rng = np.random.default_rng(seed)

    def predict_rows(key, rows):
        if key == "mpra":
            values = mpra[ORACLE_CELLS].to_numpy()[rows]
        elif key == "mpra_ood":
            values = ood[ORACLE_CELLS].to_numpy()[rows]
        elif key == "mpra_snv_ref":
            values = np.ones((len(rows), 2))
        else:
            values = 1 + snv[[f"{c}_delta" for c in ORACLE_CELLS]].to_numpy()[rows]
        return values + noise * rng.normal(size=values.shape)

    return predict_rows


def selection_table() -> pd.DataFrame:
    """Twelve random sequences, eight of them in the test split, labels alternating 0 / 1."""
    s = random_sequences(12)
    return pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(12)],
            "sequence": s,
            "split": ["test"] * 8 + ["train"] * 4,
            "label_id": [0, 1] * 6,
        }
    )


# Settings of the attribute job (config attribution.*) small enough for unit tests.
ATTRIBUTE_SETTINGS = {
    "batch_size": 2,
    "epsilon": 0.0,
    "integrated_gradients": {"steps": 4, "baseline": "zero"},
    "smoothgrad": {"samples": 2, "noise": 0.1},
    "ism_batch_size": 64,
}


def tiny_head_model():
    """A float64 Caduceus PS backbone (d_model 8, one layer) + mean head over 4 bins, two outputs,
    in eval mode: the explained model of the attribute-job tests."""
    from crelens.attribution.explained import CaduceusHeadModel
    from crelens.encoder.caduceus import Caduceus, CaduceusConfig
    from crelens.models.heads import build_head

    torch.manual_seed(0)
    backbone = Caduceus(CaduceusConfig(d_model=8, n_layer=1, rcps=True, ssm_cfg={"d_state": 4})).backbone
    return CaduceusHeadModel(backbone, build_head("mean", 4, 8, 2), 4, ["K562", "HepG2"]).double().eval()


def vcf_spec_genome(path) -> Path:
    """A FASTA of chromosome 20 (20 kb, seeded) carrying the REF bases of the two SNVs of the VCF
    4.2 specification's example (tests/fixtures/vcf42_spec_example.vcf): G at 14370, T at 17330."""
    rng = np.random.default_rng(1)
    seq = list(rng.choice(list("ACGT"), 20000))
    seq[14370 - 1], seq[17330 - 1] = "G", "T"
    path = Path(path)
    path.write_text(">20\n" + "".join(seq) + "\n")
    return path


# ------------------------------------------------------------- Caduceus checkpoint folders


def published_config_json(d_model=256, n_layer=16, rcps=True) -> dict:
    """config.json as published for kuleshov-group/caduceus-ps_seqlen-131k_d_model-256_n_layer-16
    (field names and values from the reference sheet), written here by hand on purpose."""
    return {
        "_name_or_path": "kuleshov-group/caduceus-ps_seqlen-131k_d_model-256_n_layer-16",
        "architectures": ["CaduceusForMaskedLM"],
        "auto_map": {
            "AutoConfig": "configuration_caduceus.CaduceusConfig",
            "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM",
        },
        "bidirectional": True,
        "bidirectional_strategy": "add",
        "bidirectional_weight_tie": True,
        "complement_map": {
            "0": 0,
            "1": 1,
            "2": 2,
            "3": 3,
            "4": 4,
            "5": 5,
            "6": 6,
            "7": 10,
            "8": 9,
            "9": 8,
            "10": 7,
            "11": 11,
            "12": 12,
            "13": 13,
            "14": 14,
            "15": 15,
        },
        "d_model": d_model,
        "fused_add_norm": True,
        "initializer_cfg": {"initializer_range": 0.02, "n_residuals_per_layer": 1, "rescale_prenorm_residual": True},
        "model_type": "caduceus",
        "n_layer": n_layer,
        "norm_epsilon": 1e-05,
        "pad_vocab_size_multiple": 8,
        "rcps": rcps,
        "residual_in_fp32": False,
        "rms_norm": True,
        "ssm_cfg": {
            "bias": False,
            "conv_bias": True,
            "d_conv": 4,
            "d_state": 16,
            "dt_init": "random",
            "dt_init_floor": 0.0001,
            "dt_max": 0.1,
            "dt_min": 0.001,
            "dt_rank": "auto",
            "dt_scale": 1.0,
        },
        "torch_dtype": "float32",
        "transformers_version": "4.38.1",
        "vocab_size": 16,
    }


def random_checkpoint_state(model) -> dict:
    """The model's stored keys (aliases dropped) filled with random values, complement maps kept."""
    g = torch.Generator().manual_seed(0)
    aliases = model.alias_keys()
    state = {}
    for key, value in model.state_dict().items():
        if key in aliases:
            continue
        state[key] = value.clone() if key.endswith("complement_map") else torch.randn(value.shape, generator=g)
    return state


def write_folder(folder: Path, config: dict, state: dict, fmt="safetensors") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if fmt == "safetensors":
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder
