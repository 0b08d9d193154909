"""Every trainable model of the comparison by name, and one self-describing checkpoint format.

Why: training, evaluation and attribution must rebuild exactly the model that was trained from
its checkpoint alone. A checkpoint is a safetensors file whose metadata holds the model's *spec*
(name, output counts, constructor options) as JSON, so `load_model(path)` needs nothing else
and a checkpoint of another architecture fails with a message naming the keys that differ.

Names (as in the comparison table): `head_<kind>` for adapter heads on the frozen-encoder
cache (kinds in `crelens.names.HEAD_KINDS`), `head_<kind>_full` (the same head trained with the
frozen encoder in the loop: its checkpoint is the head's) and `head_<kind>_finetune` (encoder +
head, `crelens.models.in_loop.EncoderHead`, the encoder's config.json in the spec), `malinois`, `attention`, `sparse_attention_<pct>`
(keep the top <pct>% positions), and `joint` (one model for both tasks).
"""

from __future__ import annotations

import json

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from crelens.atomic import atomic_path
from crelens.errors import InputError
from crelens.models.attention import AttentionModel, JointModel, SparseAttentionModel
from crelens.models.heads import build_head
from crelens.models.kmer import KmerModel
from crelens.models.malinois import Malinois
from crelens.names import DISTILLED_MODELS, HEAD_MODELS, HEAD_MODES, JOINT, KMER, MODEL_NAMES, SPARSE_SHARES
from crelens.parameters import key_problems

SPEC_KEY = "crelens_model"


def build_model(spec: dict) -> nn.Module:
    """A freshly initialised model from its spec.

    spec: {"model": name, "outputs": int (or {task: int} for joint), plus for heads "bins",
    "dim", "dropout"; for one-hot models "length" and "options" (constructor keywords)}.
    """
    name = spec.get("model")
    options = dict(spec.get("options", {}))
    if name in HEAD_MODELS:
        head = build_head(
            HEAD_MODELS[name],
            spec["bins"],
            spec["dim"],
            spec["outputs"],
            dropout=spec.get("dropout", 0.1),
            pool_bins=spec.get("pool_bins"),
        )
        if HEAD_MODES[name] == "finetune":
            from crelens.models.in_loop import build_encoder_head  # torch-heavy encoder code, heads only

            return build_encoder_head(spec, head)
        return head
    if name == "malinois":
        return Malinois(n_outputs=spec["outputs"], input_length=spec["length"])
    if name == KMER:
        return KmerModel(spec["outputs"], spec["k"], tuple(spec["span"]), spec["length"])
    if name == "attention":
        return AttentionModel(spec["outputs"], length=spec["length"], **options)
    if name in SPARSE_SHARES:
        return SparseAttentionModel(spec["outputs"], SPARSE_SHARES[name], length=spec["length"], **options)
    if name in DISTILLED_MODELS:
        share = SPARSE_SHARES[DISTILLED_MODELS[name]]
        return SparseAttentionModel(spec["outputs"], share, length=spec["length"], **options)
    if name == JOINT:
        return JointModel(dict(spec["outputs"]), length=spec["length"], **options)
    raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")


def _aliases(model: nn.Module) -> dict:
    """State-dict keys of tied parameters stored under their first name only (a fine-tuned encoder's)."""
    return model.alias_keys() if hasattr(model, "alias_keys") else {}


def save_model(model: nn.Module, spec: dict, path) -> None:
    """Weights + spec in one safetensors file, written atomically."""
    aliases = _aliases(model)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in aliases}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={SPEC_KEY: json.dumps(spec, sort_keys=True)})


def read_spec(path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except FileNotFoundError:
        raise InputError(path, "checkpoint not found") from None
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise InputError(path, f"not a readable safetensors checkpoint ({exc})") from None
    if SPEC_KEY not in metadata:
        raise InputError(path, f"no '{SPEC_KEY}' entry in the safetensors metadata: not a crelens model checkpoint")
    return json.loads(metadata[SPEC_KEY])


def load_model(path) -> tuple[nn.Module, dict]:
    """(model in eval mode, spec) from a checkpoint written by `save_model`; strict key check."""
    spec = read_spec(path)
    model = build_model(spec)
    state = load_file(str(path))
    aliases = _aliases(model)
    expected = {k: v for k, v in model.state_dict().items() if k not in aliases}
    problems = key_problems(state, expected, expected)
    if problems:
        raise InputError(path, f"checkpoint does not match model {spec['model']!r}: " + "; ".join(problems))
    model.load_state_dict(state, strict=not aliases)  # a tied alias shares its parameter with the stored key
    return model.eval(), spec


def task_view(model: nn.Module, task: str) -> nn.Module:
    """The single-task face of a model (a joint model's task view; any other model itself)."""
    return model.for_task(task) if isinstance(model, JointModel) else model
