"""Load and save Caduceus checkpoints in the layout of a Hugging Face snapshot folder.

A folder holds `config.json` (published field names) and `model.safetensors` (preferred) or
`pytorch_model.bin`. The official remote code cannot be imported on CPU (it imports mamba_ssm at
top level), so loading maps the files onto our modules directly: parameter names are identical,
so this is a strict key-set check, not a renaming.

Strictness is the point: a missing key would leave a randomly initialised tensor in a model that
looks loaded, so every non-alias key must be present, nothing unexpected may be there, shapes
must match, and the RC complement maps must be the published one. The 33 tied aliases of the
published models (reverse-direction in_proj/out_proj per layer, LM head = embedding) are not
stored; `save_caduceus` writes the same way, so our checkpoints look like the published ones.
`.bin` files are read with `torch.load(weights_only=True)` only: never plain unpickling.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from crelens.atomic import atomic_open, atomic_path
from crelens.encoder.caduceus import Caduceus, CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.tokenizer import complement_map_tensor
from crelens.errors import InputError
from crelens.parameters import few as _few
from crelens.parameters import key_problems

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
BIN_NAME = "pytorch_model.bin"


def load_caduceus(folder, device="cpu") -> nn.Module:
    """Model from a local snapshot folder, in eval mode on `device`.

    PS vs PH comes from `rcps` in config.json (cross-checked against the key names); masked-LM
    vs backbone from the key prefix (`caduceus.` + `lm_head.` vs `backbone.`). Raises
    `InputError(path, …)` naming missing, unexpected and mis-shaped keys.
    """
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise InputError(config_path, "not found: a Caduceus checkpoint folder needs config.json")
    try:
        data = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(config_path, f"not valid JSON: {exc}") from None
    config = CaduceusConfig.from_hf_dict(data, source=config_path)
    published = complement_map_tensor(config.padded_vocab_size)
    if not torch.equal(config.complement_map_tensor(), published):
        raise InputError(config_path, f"complement_map {config.complement_map} differs from the published Caduceus map")

    weights_path, state = _read_weights(folder)
    model = _model_for_keys(config, state, weights_path)
    _load_strict(model, state, weights_path)
    return model.to(device).eval()


def save_caduceus(model: nn.Module, folder) -> Path:
    """Write config.json + model.safetensors without the tied aliases (as the published files)."""
    if not isinstance(model, (Caduceus, CaduceusForMaskedLM)):
        raise TypeError(f"expected a Caduceus or CaduceusForMaskedLM, got {type(model).__name__}")
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    aliases = model.alias_keys()
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if k not in aliases}
    architecture = type(model).__name__
    with atomic_path(folder / SAFETENSORS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_open(folder / CONFIG_NAME) as handle:
        json.dump(model.config.to_hf_dict(architecture), handle, indent=2)
        handle.write("\n")
    return folder


# ---------------------------------------------------------------------------------------------


def _read_weights(folder: Path) -> tuple[Path, dict]:
    """(path, flat {name: tensor}) from model.safetensors, else pytorch_model.bin (weights_only)."""
    safetensors_path = folder / SAFETENSORS_NAME
    bin_path = folder / BIN_NAME
    if safetensors_path.is_file():
        from safetensors.torch import load_file

        try:
            return safetensors_path, load_file(str(safetensors_path), device="cpu")
        except Exception as exc:  # noqa: BLE001 — SafetensorsError, OSError, header errors
            raise InputError(safetensors_path, f"cannot read safetensors file: {exc}") from None
    if bin_path.is_file():
        try:
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 — UnpicklingError for anything but tensors/containers
            raise InputError(
                bin_path, f"refused: not a plain tensor state dict (weights_only loading failed: {exc})"
            ) from None
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise InputError(bin_path, "refused: expected a flat {name: tensor} state dict")
        return bin_path, state
    if (folder / f"{SAFETENSORS_NAME}.index.json").is_file() or (folder / f"{BIN_NAME}.index.json").is_file():
        raise InputError(folder, "sharded checkpoints are not supported (Caduceus checkpoints are single files)")
    raise InputError(folder, f"no {SAFETENSORS_NAME} or {BIN_NAME} in the checkpoint folder")


def _model_for_keys(config: CaduceusConfig, state: dict, path: Path) -> nn.Module:
    """An uninitialised model of the kind the key names describe (MLM or backbone, PS or PH)."""
    keys = list(state)
    if any(k.startswith("caduceus.") for k in keys):
        model_cls, prefix = CaduceusForMaskedLM, "caduceus.backbone."
    elif any(k.startswith("backbone.") for k in keys):
        model_cls, prefix = Caduceus, "backbone."
    else:
        raise InputError(
            path, f"no Caduceus keys (expected names starting with 'caduceus.' or 'backbone.'), found {_few(keys)}"
        )
    layer_keys = [k for k in keys if k.startswith(prefix + "layers.")]
    has_ps_mixer = any(".mixer.submodule." in k for k in layer_keys)
    has_ph_mixer = any(".mixer.mamba_fwd." in k for k in layer_keys)
    if config.rcps and has_ph_mixer and not has_ps_mixer:
        raise InputError(
            path, "config.json says rcps=true (PS) but the weights are a PH model (keys '.mixer.mamba_fwd.')"
        )
    if not config.rcps and has_ps_mixer and not has_ph_mixer:
        raise InputError(
            path, "config.json says rcps=false (PH) but the weights are a PS model (keys '.mixer.submodule.')"
        )
    return model_cls(config, init=False)


def _load_strict(model: nn.Module, state: dict, path: Path) -> None:
    """Copy `state` into `model` after checking keys, shapes, finiteness and complement maps."""
    expected = model.state_dict()
    aliases = model.alias_keys()
    state = dict(state)
    problems = []
    # Alias keys may be present (e.g. a .bin written by torch.save of a full state_dict): accept
    # them only if they agree with their canonical tensor.
    for alias, canonical in aliases.items():
        if alias in state:
            value = state.pop(alias)
            if canonical not in state:
                state[canonical] = value
            elif value.shape != state[canonical].shape or not torch.equal(value, state[canonical]):
                problems.append(f"tied key {alias} differs from {canonical}")
    required = [k for k in expected if k not in aliases]
    problems += key_problems(state, expected, required)
    if problems:
        raise InputError(path, "; ".join(problems))

    published = complement_map_tensor(model.config.padded_vocab_size)
    for key in required:
        tensor = state[key]
        if key.endswith("complement_map"):
            if tensor.is_floating_point() or not torch.equal(tensor.long(), published):
                raise InputError(
                    path, f"{key} = {tensor.tolist()} is not the published complement map {published.tolist()}"
                )
        elif tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(path, f"{key} contains NaN or infinite values")

    result = model.load_state_dict({k: state[k] for k in required}, strict=False)
    leftover = [k for k in result.missing_keys if k not in aliases]
    if leftover or result.unexpected_keys:  # cannot happen after the checks above; guard anyway
        raise InputError(
            path, f"load_state_dict left {_few(leftover)} missing, {_few(result.unexpected_keys)} unexpected"
        )
    model.tie_weights()


def run_download_encoder(
    repo_id: str, revision: str, out_folder, *, cache_dir=None, local_files_only: bool = False
) -> Path:
    """The `download_encoder` job: config.json + weights of a pinned Hugging Face revision,
    proven to load.

    `cache_dir`/`local_files_only` let a prepared Hugging Face cache stand in for the network.
    """
    from huggingface_hub import snapshot_download

    if not revision:
        raise InputError(None, f"encoder.download.revision: pin a commit of {repo_id}")
    snapshot = snapshot_download(
        repo_id,
        revision=revision,
        allow_patterns=["config.json", "*.safetensors"],
        cache_dir=cache_dir,
        local_files_only=local_files_only,
    )
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        source = Path(snapshot) / name
        if not source.exists():
            raise InputError(snapshot, f"{repo_id}@{revision} has no {name}")
        with atomic_path(out_folder / name) as tmp:
            tmp.write_bytes(source.read_bytes())
    load_caduceus(out_folder)  # fails loudly on a key or shape mismatch
    return out_folder
