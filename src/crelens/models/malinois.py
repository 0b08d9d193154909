"""Malinois (Gosai et al. 2024): boda2's `BassetBranched` with the published hyperparameters.

Why our own module: boda2 itself is AGPL and pulls in Lightning; the model code and weights are
MIT. This is written from sjgosai/boda2 (`boda/model/basset.py`, `boda/model/custom_layers.py`) and
its tutorial `tutorials/load_malinois_model.ipynb` (checkpoint key names), not copied. Module names follow the published checkpoint's state-dict keys
(`conv1.conv.weight`, `linear1.bn_layer.running_mean`, `branched.branched_layer_1.weight`, …)
so published weights load by name, with a strict key-set and shape check.

Grouped biases are stored as (groups, 1, out), the shape in the published checkpoint (boda2
`boda/model/custom_layers.py` GroupedLinear, read to confirm the shape; the sheet gives only the
weight shapes). It is also the shape that broadcasts over a (groups, batch, out) matmul result.

Checkpoint safety: the published `torch_checkpoint.pt` is a pickle. It is only ever read with
`torch.load(weights_only=True)`, allowing exactly one extra class, `argparse.Namespace` (the
`model_hparams`/`data_hparams` entries); anything else in the pickle is refused before it can
run. `convert_checkpoint` turns it into a safetensors file once, after which no pickle is needed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import pickle
from pathlib import Path

import torch
from torch import nn

from crelens.atomic import atomic_path
from crelens.errors import InputError
from crelens.parameters import check_finite, key_problems
from crelens.parameters import few as _few

# Hyperparameters of the published Malinois checkpoint (its `model_hparams`; these are not the
# BassetBranched class defaults), as in sjgosai/boda2 `tutorials/load_malinois_model.ipynb`.
INPUT_LENGTH = 600  # one-hot (4, 600): 200-bp insert + 200-nt MPRA flanks each side
CONV = ((4, 300, 19), (300, 200, 11), (200, 200, 7))  # (in, out, kernel) of conv1..conv3
POOLS = (3, 4, 4)  # MaxPool1d after conv1..conv3 (conv3's after a ConstantPad1d(1, 1))
LINEAR_CHANNELS = 1000
LINEAR_DROPOUT = 0.11625456877954289
BRANCHED_CHANNELS = 140
N_BRANCHED_LAYERS = 3
BRANCHED_DROPOUT = 0.5757068086404574
BN_EPS, BN_MOMENTUM = 1e-5, 0.1
CELLS = ("K562", "HepG2", "SK-N-SH")  # output order of the published model
N_PARAMETERS = 4_107_183  # trainable parameters with 3 outputs (the sheet's figure)


def same_padding(kernel_size: int) -> tuple[int, int]:
    """(left, right) zero padding that keeps the length for an odd or even kernel."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def flat_length(input_length: int) -> int:
    """Positions left after the three pools (conv3's after padding 1 + 1): 13 for 600 nt."""
    return (input_length // POOLS[0] // POOLS[1] + 2) // POOLS[2]


def parameter_count(n_outputs: int = 3, input_length: int = INPUT_LENGTH) -> int:
    """Trainable parameters of `Malinois(n_outputs)`: a shared trunk plus the same per branch.

    Trunk 3,567,900 (convs with BN affine, 2600→1000 linear with BN affine); per branch 179,761
    (1000→140, 140→140, 140→140, 140→1, each with bias). 3,567,900 + 3 × 179,761 = 4,107,183.
    Other input lengths change only the 2600 (200 channels × `flat_length`).
    """
    trunk = sum(cin * cout * k + cout + 2 * cout for cin, cout, k in CONV)
    trunk += CONV[-1][1] * flat_length(input_length) * LINEAR_CHANNELS + LINEAR_CHANNELS + 2 * LINEAR_CHANNELS
    sizes = [LINEAR_CHANNELS] + [BRANCHED_CHANNELS] * N_BRANCHED_LAYERS + [1]
    branch = sum(i * o + o for i, o in itertools.pairwise(sizes))
    return trunk + n_outputs * branch


class ConvNorm(nn.Module):
    """Unpadded Conv1d then BatchNorm (names `conv`, `bn_layer` as in the checkpoint)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size)
        self.bn_layer = nn.BatchNorm1d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_layer(self.conv(x))


class LinearNorm(nn.Module):
    """Linear then BatchNorm1d (names `linear`, `bn_layer` as in the checkpoint)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.bn_layer = nn.BatchNorm1d(out_features, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_layer(self.linear(x))


class GroupedLinear(nn.Module):
    """`groups` independent linear maps in one batched matmul: (B, groups, in) → (B, groups, out).

    Weight (groups, in, out), bias (groups, 1, out) as published. Initialised like one nn.Linear
    per group (uniform ±1/√in for weight and bias, i.e. kaiming-uniform with a=√5), so every
    branch starts as an ordinary linear layer would.
    """

    def __init__(self, in_features: int, out_features: int, groups: int):
        super().__init__()
        self.in_features, self.out_features, self.groups = in_features, out_features, groups
        self.weight = nn.Parameter(torch.empty(groups, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(groups, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_group = torch.bmm(x.transpose(0, 1), self.weight) + self.bias  # (groups, B, out)
        return per_group.transpose(0, 1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, groups={self.groups}"


class BranchedLinear(nn.Module):
    """One copy of the shared 1000-vector per output, then per-branch 1000→140→140→140.

    ReLU and dropout between layers, none after the last (its output feeds the per-branch
    140→1 output layer). Separate branches let each cell type keep its own features.
    """

    def __init__(self, in_features: int, channels: int, n_layers: int, n_branches: int, dropout: float):
        super().__init__()
        self.n_layers, self.n_branches = n_layers, n_branches
        for i in range(n_layers):
            size_in = in_features if i == 0 else channels
            setattr(self, f"branched_layer_{i + 1}", GroupedLinear(size_in, channels, n_branches))
        self.nonlin = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hook = x.unsqueeze(1).expand(-1, self.n_branches, -1)  # (B, branches, in)
        for i in range(1, self.n_layers + 1):
            hook = getattr(self, f"branched_layer_{i}")(hook)
            if i < self.n_layers:
                hook = self.dropout(self.nonlin(hook))
        return hook


class Malinois(nn.Module):
    """One-hot DNA (B, 4, 600), channels A, C, G, T → activity (B, n_outputs).

    conv1 19bp×300 → pool 3; conv2 11bp×200 → pool 4; conv3 7bp×200 → pad 1+1 → pool 4 (200×13);
    flatten 2600 → 1000 (BN, ReLU, dropout) → per-output branches of 140 → 1 value each.
    `n_outputs=3` is the published model (K562, HepG2, SK-N-SH); other counts give the same
    architecture with one branch per output. `input_length` 600 is the published input (insert +
    MPRA flanks); another length (the bare 200-nt insert, whose flanks carry no information)
    gives the same layers with a shorter flatten.
    """

    def __init__(self, n_outputs: int = 3, input_length: int = INPUT_LENGTH):
        super().__init__()
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be positive, got {n_outputs}")
        if flat_length(input_length) < 1:
            raise ValueError(f"Malinois needs inputs of at least {POOLS[0] * POOLS[1] * 2} nt, got {input_length}")
        self.n_outputs, self.input_length = n_outputs, input_length
        for i, (cin, cout, k) in enumerate(CONV, start=1):
            setattr(self, f"pad{i}", nn.ConstantPad1d(same_padding(k), 0.0))
            setattr(self, f"conv{i}", ConvNorm(cin, cout, k))
        self.pad4 = nn.ConstantPad1d((1, 1), 0.0)
        self.maxpool_3 = nn.MaxPool1d(3)
        self.maxpool_4 = nn.MaxPool1d(4)
        self.nonlin = nn.ReLU()
        self.linear1 = LinearNorm(CONV[-1][1] * flat_length(input_length), LINEAR_CHANNELS)
        self.dropout = nn.Dropout(LINEAR_DROPOUT)
        self.branched = BranchedLinear(
            LINEAR_CHANNELS, BRANCHED_CHANNELS, N_BRANCHED_LAYERS, n_outputs, BRANCHED_DROPOUT
        )
        self.output = GroupedLinear(BRANCHED_CHANNELS, 1, n_outputs)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, L) → (B, 200 · flat_length(L)) convolutional features (2600 at 600 nt)."""
        hook = self.maxpool_3(self.nonlin(self.conv1(self.pad1(x))))  # (B, 300, 200)
        hook = self.maxpool_4(self.nonlin(self.conv2(self.pad2(hook))))  # (B, 200, 50)
        hook = self.maxpool_4(self.pad4(self.nonlin(self.conv3(self.pad3(hook)))))  # (B, 200, 13)
        return hook.flatten(1)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2600) → (B, n_outputs, 140) per-branch features."""
        return self.branched(self.dropout(self.nonlin(self.linear1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or tuple(x.shape[1:]) != (4, self.input_length):
            raise ValueError(
                f"Malinois expects one-hot input of shape (batch, 4, {self.input_length}), got {tuple(x.shape)}"
            )
        return self.output(self.decode(self.encode(x))).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def read_malinois_checkpoint(path) -> dict[str, torch.Tensor]:
    """The `model_state_dict` of a published Malinois `torch_checkpoint.pt` (or a bare state dict).

    Read with `weights_only=True` plus `argparse.Namespace` (the hparams entries) and nothing
    else: a pickle that needs any other class or callable raises `InputError` without running it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "not found: expected a Malinois checkpoint (.pt)")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(
            path,
            "refused: not a plain checkpoint (it pickles objects other than tensors, containers "
            f"and argparse.Namespace; weights-only loading said: {_unpickle_reason(exc)})",
        ) from None
    except Exception as exc:  # noqa: BLE001 — not a zip/legacy torch file, truncated, …
        raise InputError(path, f"cannot read as a torch checkpoint: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a checkpoint dict, got {type(data).__name__}")
    if "model_state_dict" in data:
        state = data["model_state_dict"]
    elif data and all(isinstance(v, torch.Tensor) for v in data.values()):
        state = data  # a bare state dict
    else:
        raise InputError(path, f"no 'model_state_dict' in the checkpoint (keys: {_few(map(str, data))})")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise InputError(path, "model_state_dict is not a flat {name: tensor} dict")
    return dict(state)


def load_malinois(path, n_outputs: int | None = 3) -> Malinois:
    """Malinois in eval mode from a `.safetensors` file or a published `.pt` checkpoint.

    Every key must be present (`num_batches_tracked` may be absent), nothing unexpected may be
    there and shapes must match; `n_outputs=None` takes the count from the file. Raises
    `InputError(path, …)` naming missing, unexpected and mis-shaped keys.
    """
    path = Path(path)
    state = _read_state(path)
    if n_outputs is None:
        n_outputs = _n_outputs_of(state, path)
    model = Malinois(n_outputs)
    _load_strict(model, state, path)
    return model.eval()


def convert_checkpoint(pt_path, safetensors_out) -> Path:
    """Convert a published `.pt` checkpoint once to safetensors (checked by loading it first).

    Written through `atomic_path`, so an interrupted conversion leaves no file behind.
    Metadata: {"source": "malinois", "n_outputs": "<count>"}.
    """
    from safetensors.torch import save_file

    pt_path = Path(pt_path)
    model = load_malinois(pt_path, n_outputs=None)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(safetensors_out) as tmp:
        save_file(state, str(tmp), metadata={"source": "malinois", "n_outputs": str(model.n_outputs)})
    return Path(safetensors_out)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix != ".safetensors":
        return read_malinois_checkpoint(path)
    if not path.is_file():
        raise InputError(path, "not found: expected a Malinois safetensors file")
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 — SafetensorsError, OSError, header errors
        raise InputError(path, f"cannot read safetensors file: {exc}") from None


def _n_outputs_of(state: dict, path: Path) -> int:
    weight = state.get("output.weight")
    if weight is None or weight.ndim != 3:
        raise InputError(path, "cannot tell the number of outputs: no (outputs, 140, 1) 'output.weight'")
    return int(weight.shape[0])


def _load_strict(model: Malinois, state: dict, path: Path) -> None:
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    problems = key_problems(state, expected, [k for k in expected if k not in optional])
    if problems:
        raise InputError(path, "; ".join(problems))
    check_finite(state, path)
    result = model.load_state_dict(state, strict=False)
    if set(result.missing_keys) - optional or result.unexpected_keys:  # guarded above; keep it honest
        raise InputError(
            path, f"load_state_dict left {_few(result.missing_keys)} missing, {_few(result.unexpected_keys)} unexpected"
        )


def _unpickle_reason(exc: Exception) -> str:
    """The informative line of torch's long weights-only error (e.g. 'unsupported GLOBAL posix.system')."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else "unsupported content")
        if "unsupported" in line.lower():
            return line
    return lines[0] if lines else type(exc).__name__
