"""Caduceus (bidirectional Mamba DNA encoder, with or without RC parameter sharing) in pure PyTorch.

Re-implemented from the semantics of kuleshov-group/caduceus `modeling_caduceus.py`, `modeling_rcps.py`; state-spaces/mamba
`mamba_simple.py`, `selective_scan_interface.py`, `ops/triton/layer_norm.py`) so that:
- parameter and buffer names equal those of the published checkpoints (`hub.py` loads them
  without renaming), tied weights are the same Parameter (aliases, not copies);
- the forward pass is the official non-fast path, including the released PS model's
  fused-add-norm channel-half swap (see `RCPSMambaBlock`);
- it runs on CPU: the selective scan is `scan.selective_scan` (mamba_ssm's CUDA kernel is used
  only for CUDA tensors when it imports).

PS = RCPS, reverse-complement parameter sharing (`rcps=True`): hidden states have 2·d_model
channels, `out(rc(x)) = flipLC(out(x))`. PH = plain (`rcps=False`): d_model channels; RC
invariance only by post-hoc conjoining (`encode_rc_invariant`).

MambaLRP (`crelens.encoder.lrp_rules`): under `lrp_mode(...)` the rules switch at one place each —
SiLU in `silu()` (after conv1d, and inside `gate()`), the LN-rule in `rms_norm()`, the half rule
in `gate()` (and the "ew_multiply" bidirectional product), the SSM rule in `Mamba.mix()` (Δ, B,
C detached), and biases (conv1d, out_proj's second add) go through the ledger. With LRP mode
off every function runs its normal code.

Precision: internal computations run in float32, or float64 for a float64 model (conservation
checks of the explanations need float64 end to end).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from crelens.encoder.lrp_rules import active as lrp_active
from crelens.encoder.lrp_rules import add_bias, product
from crelens.encoder.scan import selective_scan
from crelens.encoder.tokenizer import COMPLEMENT_MAP, reverse_complement_ids
from crelens.errors import InputError

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

_BIDIRECTIONAL_STRATEGIES = ("add", "ew_multiply")  # the two implemented by BiMambaWrapper upstream
_DT_INITS = ("random", "constant")
# Hugging Face bookkeeping fields of config.json that carry no model semantics.
_HF_IGNORED = {
    "_name_or_path",
    "architectures",
    "auto_map",
    "model_type",
    "torch_dtype",
    "dtype",  # transformers 5.x writes dtype instead of torch_dtype
    "transformers_version",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
    "use_return_dict",
    "id2label",
    "label2id",
    "num_labels",
    "problem_type",
    "tie_word_embeddings",
    "_attn_implementation_autoset",
    "is_decoder",
}
# ssm_cfg fields of mamba_ssm's Mamba that only select kernels or bookkeeping.
_SSM_IGNORED = {"use_fast_path", "layer_idx", "device", "dtype"}


@dataclass
class SSMConfig:
    """Mamba mixer hyper-parameters (mamba_ssm `Mamba.__init__` names and defaults)."""

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init: str = "random"
    dt_scale: float = 1.0
    dt_init_floor: float = 1e-4
    conv_bias: bool = True
    bias: bool = False

    def rank(self, d_model: int) -> int:
        """dt_rank, with "auto" = ceil(d_model / 16) as in mamba_ssm."""
        return math.ceil(d_model / 16) if self.dt_rank == "auto" else int(self.dt_rank)


@dataclass
class CaduceusConfig:
    """Caduceus hyper-parameters under the published config.json field names."""

    d_model: int
    n_layer: int
    vocab_size: int = 16
    pad_vocab_size_multiple: int = 8
    rcps: bool = False
    bidirectional: bool = True
    bidirectional_strategy: str = "add"
    bidirectional_weight_tie: bool = True
    fused_add_norm: bool = True
    residual_in_fp32: bool = False
    rms_norm: bool = True
    norm_epsilon: float = 1e-5
    ssm_cfg: SSMConfig = field(default_factory=SSMConfig)
    complement_map: dict = field(default_factory=lambda: dict(COMPLEMENT_MAP))
    # initializer_cfg of the published config
    initializer_range: float = 0.02
    rescale_prenorm_residual: bool = True
    n_residuals_per_layer: int = 1

    def __post_init__(self):
        if isinstance(self.ssm_cfg, dict):
            self.ssm_cfg = SSMConfig(**self.ssm_cfg)
        self.complement_map = {int(k): int(v) for k, v in self.complement_map.items()}
        self.validate()

    @property
    def padded_vocab_size(self) -> int:
        """vocab_size rounded up to pad_vocab_size_multiple (what the embedding really has)."""
        m = self.pad_vocab_size_multiple
        return self.vocab_size if m <= 1 else m * math.ceil(self.vocab_size / m)

    @property
    def hidden_size(self) -> int:
        """Channels of the backbone output: 2·d_model for PS (both strands), d_model for PH."""
        return 2 * self.d_model if self.rcps else self.d_model

    def complement_map_tensor(self) -> torch.Tensor:
        """int64 lookup table over the padded vocabulary; ids missing from the map are their own complement."""
        table = torch.arange(self.padded_vocab_size, dtype=torch.long)
        for src, dst in self.complement_map.items():
            table[src] = dst
        return table

    def validate(self) -> None:
        """Raise ValueError naming the first unsupported or inconsistent value."""
        for name in ("d_model", "n_layer", "vocab_size", "pad_vocab_size_multiple"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in (
            "rcps",
            "bidirectional",
            "bidirectional_weight_tie",
            "fused_add_norm",
            "residual_in_fp32",
            "rms_norm",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.rms_norm:
            raise ValueError(
                "rms_norm=false (LayerNorm) is not supported: every published Caduceus checkpoint uses RMSNorm"
            )
        if self.bidirectional and self.bidirectional_strategy not in _BIDIRECTIONAL_STRATEGIES:
            raise ValueError(
                f"bidirectional_strategy must be one of {_BIDIRECTIONAL_STRATEGIES}, got {self.bidirectional_strategy!r}"
            )
        if not (isinstance(self.norm_epsilon, (int, float)) and self.norm_epsilon > 0):
            raise ValueError(f"norm_epsilon must be a positive number, got {self.norm_epsilon!r}")
        ssm = self.ssm_cfg
        for name in ("d_state", "d_conv", "expand"):
            value = getattr(ssm, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ssm_cfg.{name} must be a positive integer, got {value!r}")
        if ssm.dt_rank != "auto" and (
            isinstance(ssm.dt_rank, bool) or not isinstance(ssm.dt_rank, int) or ssm.dt_rank < 1
        ):
            raise ValueError(f'ssm_cfg.dt_rank must be "auto" or a positive integer, got {ssm.dt_rank!r}')
        if ssm.dt_init not in _DT_INITS:
            raise ValueError(f"ssm_cfg.dt_init must be one of {_DT_INITS}, got {ssm.dt_init!r}")
        if not (0 < ssm.dt_min <= ssm.dt_max):
            raise ValueError(f"ssm_cfg needs 0 < dt_min <= dt_max, got {ssm.dt_min!r}, {ssm.dt_max!r}")
        for name in ("conv_bias", "bias"):
            if not isinstance(getattr(ssm, name), bool):
                raise ValueError(f"ssm_cfg.{name} must be true or false, got {getattr(ssm, name)!r}")
        vocab = self.padded_vocab_size
        cm = self.complement_map
        if any(not 0 <= k < vocab or not 0 <= v < vocab for k, v in cm.items()):
            raise ValueError(f"complement_map has ids outside the vocabulary [0, {vocab})")
        full = {i: cm.get(i, i) for i in range(vocab)}
        if any(full[full[i]] != i for i in range(vocab)):
            raise ValueError("complement_map must be an involution (complementing twice gives the id back)")

    @classmethod
    def from_hf_dict(cls, data: dict, source=None) -> CaduceusConfig:
        """Build from a published config.json dict; unsupported values raise InputError(source, …).

        Hugging Face bookkeeping fields are ignored; unknown fields are ignored with a warning
        (they cannot change the computation of the modules built here).
        """
        if not isinstance(data, dict):
            raise InputError(source, f"config must be a JSON object, got {type(data).__name__}")
        model_type = data.get("model_type", "caduceus")
        if model_type != "caduceus":
            raise InputError(source, f'model_type must be "caduceus", got {model_type!r}')
        names = {f.name for f in dataclasses.fields(cls)} - {
            "initializer_range",
            "rescale_prenorm_residual",
            "n_residuals_per_layer",
        }
        kwargs = {}
        unknown = []
        for key, value in data.items():
            if key in names:
                kwargs[key] = value
            elif key == "initializer_cfg":
                value = value or {}
                for sub in ("initializer_range", "rescale_prenorm_residual", "n_residuals_per_layer"):
                    if sub in value:
                        kwargs[sub] = value[sub]
            elif key not in _HF_IGNORED:
                unknown.append(key)
        for required in ("d_model", "n_layer"):
            if required not in kwargs:
                raise InputError(source, f"config has no {required!r}")
        ssm = dict(kwargs.get("ssm_cfg") or {})
        ssm_names = {f.name for f in dataclasses.fields(SSMConfig)}
        unknown += [f"ssm_cfg.{k}" for k in ssm if k not in ssm_names and k not in _SSM_IGNORED]
        kwargs["ssm_cfg"] = SSMConfig(**{k: v for k, v in ssm.items() if k in ssm_names})
        if "complement_map" in kwargs:
            try:
                kwargs["complement_map"] = {int(k): int(v) for k, v in dict(kwargs["complement_map"]).items()}
            except (TypeError, ValueError) as exc:
                raise InputError(source, f"complement_map must map ids to ids: {exc}") from None
        if unknown:
            warnings.warn(f"{source or 'config'}: ignoring unknown fields {sorted(unknown)}", stacklevel=2)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise InputError(source, str(exc)) from None

    def to_hf_dict(self, architecture: str = "CaduceusForMaskedLM") -> dict:
        """config.json content with the published field names (what `from_hf_dict` reads back)."""
        ssm = dataclasses.asdict(self.ssm_cfg)
        return {
            "architectures": [architecture],
            "model_type": "caduceus",
            "d_model": self.d_model,
            "n_layer": self.n_layer,
            "vocab_size": self.vocab_size,
            "pad_vocab_size_multiple": self.pad_vocab_size_multiple,
            "ssm_cfg": ssm,
            "rms_norm": self.rms_norm,
            "residual_in_fp32": self.residual_in_fp32,
            "fused_add_norm": self.fused_add_norm,
            "norm_epsilon": self.norm_epsilon,
            "initializer_cfg": {
                "initializer_range": self.initializer_range,
                "rescale_prenorm_residual": self.rescale_prenorm_residual,
                "n_residuals_per_layer": self.n_residuals_per_layer,
            },
            "bidirectional": self.bidirectional,
            "bidirectional_strategy": self.bidirectional_strategy,
            "bidirectional_weight_tie": self.bidirectional_weight_tie,
            "rcps": self.rcps,
            "complement_map": {str(k): v for k, v in sorted(self.complement_map.items())},
        }


# ---------------------------------------------------------------------------------------------
# Functional building blocks (the places the LRP rules will replace)
# ---------------------------------------------------------------------------------------------


def wide(x: torch.Tensor) -> torch.Tensor:
    """x in float32, or kept in float64 (half precisions are computed in float32)."""
    return x if x.dtype == torch.float64 else x.float()


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU x·σ(x). (MambaLRP identity rule: x · σ(x).detach().)"""
    ledger = lrp_active()
    return F.silu(x) if ledger is None else ledger.silu(x)


def gate(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mamba's output gate y ⊙ SiLU(z). (MambaLRP half rule: 0.5·s + (0.5·s).detach().)"""
    return product(y, silu(z))


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x · rsqrt(mean(x², -1) + eps) · w, computed in fp32 (mamba_ssm `rms_norm_ref`).

    (MambaLRP LN-rule: detach the rsqrt factor.)
    """
    xf = wide(x)
    scale = torch.rsqrt(xf.square().mean(-1, keepdim=True) + eps)
    ledger = lrp_active()
    if ledger is not None:
        scale = ledger.norm_scale(scale)
    return (xf * scale * weight.to(xf.dtype)).to(x.dtype)


def causal_depthwise_conv1d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, reverse: bool = False
) -> torch.Tensor:
    """Depthwise causal convolution on (B, L, E): out[t] = bias + Σ_k w[:, k] ⊙ x[t - (K-1) + k].

    The same function as `F.conv1d(x.transpose(1, 2), weight, bias, padding=K-1, groups=E)[..., :L]`
    (mamba_ssm's `causal_conv1d_ref`), computed as K shifted multiply-adds in the (B, L, E) layout
    so that neither the convolution nor the scan needs a transposed copy. `reverse=True` is the
    same convolution run from the end (flip_L ∘ conv ∘ flip_L), for the reverse direction.
    """
    length, width = x.shape[1], weight.shape[-1]
    taps = weight[:, 0, :]  # (E, K)
    out = x * taps[:, width - 1]
    if bias is not None:
        out.add_(bias)
    for k in range(width - 1):
        shift = width - 1 - k
        if shift >= length:
            continue
        if reverse:
            out[:, : length - shift].addcmul_(x[:, shift:], taps[:, k])
        else:
            out[:, shift:].addcmul_(x[:, : length - shift], taps[:, k])
    return out


def flip_lc(x: torch.Tensor) -> torch.Tensor:
    """Reverse length and channels: the reverse complement of an RCPS (B, L, C) representation."""
    return x.flip(-2, -1)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """RMSNorm with weight only (key `weight`), as mamba_ssm's RMSNorm."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class Mamba(nn.Module):
    """Mamba (S6) mixer, mamba_ssm's non-fast path; parameter names as in `mamba_simple.Mamba`."""

    def __init__(self, d_model: int, ssm: SSMConfig):
        super().__init__()
        self.d_model = d_model
        self.d_state = ssm.d_state
        self.d_inner = ssm.expand * d_model
        self.dt_rank = ssm.rank(d_model)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=ssm.bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, ssm.d_conv, groups=self.d_inner, padding=ssm.d_conv - 1, bias=ssm.conv_bias
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, self.d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=ssm.bias)
        self.reset_ssm_parameters(ssm)

    @torch.no_grad()
    def reset_ssm_parameters(self, ssm: SSMConfig) -> None:
        """mamba_ssm's S6 initialisation (mamba_simple.Mamba.__init__), so a fresh model trains.

        - dt_proj.weight: U(±std) ("random") or std ("constant"), std = dt_rank^-0.5 · dt_scale;
        - dt_proj.bias: softplus⁻¹ of dt ~ logU(dt_min, dt_max) floored at dt_init_floor, so the
          initial Δ spans the intended time scales; marked `_no_reinit` (kept by `init_weights`);
        - A_log = log(1..N) per channel (S4D-real), D = 1.
        """
        std = self.dt_rank**-0.5 * ssm.dt_scale
        if ssm.dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        else:
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        log_min, log_max = math.log(ssm.dt_min), math.log(ssm.dt_max)
        dt = torch.exp(torch.rand(self.d_inner) * (log_max - log_min) + log_min).clamp(min=ssm.dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.dt_proj.bias._no_reinit = True
        self.A_log.copy_(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D.fill_(1.0)

    def ssm_parameters(self, x: torch.Tensor):
        """Input-dependent SSM parameters from the conv output x (B, L, E).

        Returns Δ (B, E, L) = softplus(dt_proj.weight @ dt + dt_proj.bias) in fp32 — the bias is
        added inside the softplus, not in the matmul, as mamba_ssm passes it as `delta_bias` —
        and B, C (B, N, L) (transposed views). The MambaLRP SSM rule detaches these three.
        """
        x_dbl = self.x_proj(x)  # (B, L, R + 2N)
        dt, B, C = x_dbl.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = wide(F.linear(dt, self.dt_proj.weight))  # (B, L, E), no bias here
        delta = F.softplus(dt.add_(self.dt_proj.bias.to(dt.dtype)))  # in place: linear's backward needs no output
        return delta.transpose(1, 2), wide(B.transpose(1, 2)), wide(C.transpose(1, 2))

    def forward(self, hidden: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """hidden (B, L, d_model) -> (B, L, d_model).

        `reverse=True` computes flip_L(self(flip_L(hidden))) — the reverse direction of
        BiMamba — by running the causal conv and the scan from the end, without flipped copies.
        """
        return self.out_proj(self.mix(self.in_proj(hidden), reverse))

    def mix(self, xz: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """Everything between in_proj and out_proj: (B, L, 2E) -> gated SSM output (B, L, E)."""
        x, z = xz.chunk(2, dim=-1)  # (B, L, E) each
        ledger = lrp_active()
        if ledger is None:
            x = silu(causal_depthwise_conv1d(x, self.conv1d.weight, self.conv1d.bias, reverse))
            delta, B, C = self.ssm_parameters(x)
        else:  # conv bias absorbs relevance; SSM rule: the scan becomes linear in u
            x = silu(ledger.add_bias(causal_depthwise_conv1d(x, self.conv1d.weight, None, reverse), self.conv1d.bias))
            delta, B, C = ledger.ssm(*self.ssm_parameters(x))
        dtype = wide(x).dtype
        A = -torch.exp(self.A_log.to(dtype))
        y = selective_scan(x.transpose(1, 2), delta, A, B, C, self.D.to(dtype), reverse=reverse)  # (B, E, L)
        return gate(y.transpose(1, 2).to(xz.dtype), z)


class BiMambaWrapper(nn.Module):
    """Bidirectional Mamba: mamba_fwd(h) ⊕ flip_L(mamba_rev(flip_L(h))), ⊕ = add or multiply.

    With weight tie the reverse direction shares in_proj/out_proj (most parameters) with the
    forward one, as the same Parameter objects; conv1d, x_proj, dt_proj, A_log, D are its own.
    """

    def __init__(self, d_model: int, ssm: SSMConfig, bidirectional=True, strategy="add", weight_tie=True):
        super().__init__()
        self.bidirectional = bidirectional
        self.strategy = strategy
        self.weight_tie = weight_tie
        self.mamba_fwd = Mamba(d_model, ssm)
        self.mamba_rev = Mamba(d_model, ssm) if bidirectional else None
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.mamba_rev is not None and self.weight_tie:
            self.mamba_rev.in_proj.weight = self.mamba_fwd.in_proj.weight
            self.mamba_rev.in_proj.bias = self.mamba_fwd.in_proj.bias
            self.mamba_rev.out_proj.weight = self.mamba_fwd.out_proj.weight
            self.mamba_rev.out_proj.bias = self.mamba_fwd.out_proj.bias

    def shares_projections(self) -> bool:
        fwd, rev = self.mamba_fwd, self.mamba_rev
        return (
            rev is not None
            and rev.in_proj.weight is fwd.in_proj.weight
            and rev.in_proj.bias is fwd.in_proj.bias
            and rev.out_proj.weight is fwd.out_proj.weight
            and rev.out_proj.bias is fwd.out_proj.bias
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.mamba_rev is None:
            return self.mamba_fwd(hidden)
        # mamba_rev(h.flip(1)).flip(1) is computed as mamba_rev(h, reverse=True): same function.
        if not self.shares_projections():
            out = self.mamba_fwd(hidden)
            out_rev = self.mamba_rev(hidden, reverse=True)
            return out + out_rev if self.strategy == "add" else product(out, out_rev)
        # Tied projections are per-position linear maps, so the same function costs half the
        # matmuls: in_proj(flip_L(h)) = flip_L(in_proj(h)), and for "add"
        # out_proj(a) + out_proj(b) = out_proj(a + b) (+ the bias once more).
        xz = self.mamba_fwd.in_proj(hidden)
        y_fwd = self.mamba_fwd.mix(xz)
        y_rev = self.mamba_rev.mix(xz, reverse=True)
        proj = self.mamba_fwd.out_proj
        if self.strategy == "add":
            out = proj(y_fwd + y_rev)
            return out if proj.bias is None else add_bias(out, proj.bias)
        return product(proj(y_fwd), proj(y_rev))


class RCPSWrapper(nn.Module):
    """RC-equivariant wrapper: cat([M(x[..., :D]), flipLC(M(flipLC(x[..., D:])))]).

    Both halves go through the submodule in one call (stacked along the batch), which is the
    same function and halves the number of scans.
    """

    def __init__(self, submodule: nn.Module):
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        batch = x.shape[0]
        both = self.submodule(torch.cat([x[..., :half], flip_lc(x[..., half:])], dim=0))
        return torch.cat([both[:batch], flip_lc(both[batch:])], dim=-1)


def rcps_add_norm(x: torch.Tensor, residual: torch.Tensor | None, norm: nn.Module, residual_in_fp32: bool = False):
    """Add + norm on an RCPS pair of halves: first half forward, second half through flipLC.

    Returns (cat([norm(r[:D]), flipLC(norm(flipLC(r[D:])))]), r) with r = x + residual.
    This is the unfused `RCPSAddNormWrapper` and the fused final norm of the PS model.
    """
    res = x if residual is None else x + residual
    if residual_in_fp32:
        res = wide(res)
    half = res.shape[-1] // 2
    normed = torch.cat([norm(res[..., :half]), flip_lc(norm(flip_lc(res[..., half:])))], dim=-1)
    return normed.to(x.dtype), res


def swap_halves(x: torch.Tensor | None) -> torch.Tensor | None:
    """[a | b] -> [b | a] on the channel axis."""
    if x is None:
        return None
    half = x.shape[-1] // 2
    return torch.cat([x[..., half:], x[..., :half]], dim=-1)


class RCPSAddNormWrapper(nn.Module):
    """Unfused RCPS add-norm (key `norm.submodule.weight`, as upstream when fused_add_norm=false)."""

    def __init__(self, submodule: RMSNorm, residual_in_fp32: bool = False):
        super().__init__()
        self.submodule = submodule
        self.residual_in_fp32 = residual_in_fp32

    def forward(self, x, residual=None):
        return rcps_add_norm(x, residual, self.submodule, self.residual_in_fp32)


class MambaBlock(nn.Module):
    """PH block (mamba_ssm `Block`): residual = h + residual; h = mixer(norm(residual)).

    fused_add_norm only selected a kernel upstream: fused and unfused are the same function.
    """

    def __init__(self, d_model: int, mixer: nn.Module, eps: float, fused_add_norm=True, residual_in_fp32=False):
        super().__init__()
        self.fused_add_norm = fused_add_norm
        self.residual_in_fp32 = residual_in_fp32
        self.mixer = mixer
        self.norm = RMSNorm(d_model, eps)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None = None):
        residual = hidden if residual is None else hidden + residual
        if self.residual_in_fp32:
            residual = wide(residual)
        hidden = self.mixer(self.norm(residual.to(self.norm.weight.dtype)))
        return hidden, residual


class RCPSMambaBlock(nn.Module):
    """PS block. Two add-norm semantics, both RC-equivariant, different functions:

    - fused (`fused_add_norm=True`, how the released PS checkpoints were trained): upstream's
      fused code path feeds the *second* channel half to the forward norm and the flipped first
      half to the rc norm and concatenates them in that order, i.e.
      fused_block(h, r) == unfused_block(swap(h), swap(r)) with swap([a|b]) = [b|a]; the
      returned residual is swapped too. Reproduced literally: a faithful re-implementation must
      keep it, trained weights depend on it.
    - unfused (`fused_add_norm=False`): `RCPSAddNormWrapper`, first half forward; the norm's key
      becomes `norm.submodule.weight`, as upstream.
    """

    def __init__(self, d_model: int, mixer: nn.Module, eps: float, fused_add_norm=True, residual_in_fp32=False):
        super().__init__()
        self.fused_add_norm = fused_add_norm
        self.residual_in_fp32 = residual_in_fp32
        self.mixer = RCPSWrapper(mixer)
        norm = RMSNorm(d_model, eps)
        self.norm = norm if fused_add_norm else RCPSAddNormWrapper(norm, residual_in_fp32)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None = None):
        if self.fused_add_norm:
            hidden, residual = rcps_add_norm(
                swap_halves(hidden), swap_halves(residual), self.norm, self.residual_in_fp32
            )
        else:
            hidden, residual = self.norm(hidden, residual)
        return self.mixer(hidden), residual


class RCPSEmbedding(nn.Module):
    """PS embedding: cat([E(ids), flipLC(E(rc(ids)))]) -> (B, L, 2·d_model).

    At position i both halves describe nucleotide i: the second is the channel-reversed
    embedding of its complement.
    """

    def __init__(self, vocab_size: int, d_model: int, complement_map: torch.Tensor):
        super().__init__()
        self.register_buffer("complement_map", complement_map.clone())
        self.embedding = nn.Embedding(vocab_size, d_model)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rc_ids = reverse_complement_ids(input_ids, self.complement_map)
        return torch.cat([self.embedding(input_ids), flip_lc(self.embedding(rc_ids))], dim=-1)


class CaduceusEmbeddings(nn.Module):
    """Holds `word_embeddings` (RCPSEmbedding for PS, nn.Embedding for PH) for upstream key names."""

    def __init__(self, config: CaduceusConfig):
        super().__init__()
        if config.rcps:
            self.word_embeddings = RCPSEmbedding(
                config.padded_vocab_size, config.d_model, config.complement_map_tensor()
            )
        else:
            self.word_embeddings = nn.Embedding(config.padded_vocab_size, config.d_model)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(input_ids)


class CaduceusMixerModel(nn.Module):
    """The backbone: embeddings, n_layer blocks, final norm (keys `embeddings.…`, `layers.{i}.…`, `norm_f.…`)."""

    def __init__(self, config: CaduceusConfig):
        super().__init__()
        self.config = config
        self.embeddings = CaduceusEmbeddings(config)
        block_cls = RCPSMambaBlock if config.rcps else MambaBlock
        self.layers = nn.ModuleList(
            block_cls(
                config.d_model,
                BiMambaWrapper(
                    config.d_model,
                    config.ssm_cfg,
                    config.bidirectional,
                    config.bidirectional_strategy,
                    config.bidirectional_weight_tie,
                ),
                config.norm_epsilon,
                fused_add_norm=config.fused_add_norm,
                residual_in_fp32=config.residual_in_fp32,
            )
            for _ in range(config.n_layer)
        )
        norm_f = RMSNorm(config.d_model, config.norm_epsilon)
        # Upstream wraps the final norm only for unfused PS (key `norm_f.submodule.weight`).
        self.norm_f = (
            RCPSAddNormWrapper(norm_f, config.residual_in_fp32)
            if (config.rcps and not config.fused_add_norm)
            else norm_f
        )

    def forward(self, input_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Final normed hidden states (B, L, hidden_size); `inputs_embeds` replaces the embedding
        lookup (explanations take gradients at the embedding output)."""
        hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        residual = None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        if self.config.rcps:
            norm = self.norm_f.submodule if isinstance(self.norm_f, RCPSAddNormWrapper) else self.norm_f
            # final norm: no half swap, in the fused and the unfused model alike
            return rcps_add_norm(hidden, residual, norm, self.config.residual_in_fp32)[0]
        residual = hidden + residual
        return self.norm_f(residual.to(self.norm_f.weight.dtype))


class _CaduceusBase(nn.Module):
    """Shared helpers: initialisation, tying, alias discovery."""

    config: CaduceusConfig

    @torch.no_grad()
    def init_weights(self) -> None:
        """Caduceus/mamba_ssm `_init_weights` (mixer_seq_simple.py): zero Linear biases except
        dt_proj's, N(0, initializer_range) embeddings, and out_proj re-drawn Kaiming-uniform then
        scaled by 1/sqrt(n_residuals_per_layer · n_layer) (GPT-2 residual scaling)."""
        cfg = self.config
        for module in self.modules():
            if (
                isinstance(module, nn.Linear)
                and module.bias is not None
                and not getattr(module.bias, "_no_reinit", False)
            ):
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=cfg.initializer_range)
        if cfg.rescale_prenorm_residual:
            done = set()
            for module in self.modules():
                if isinstance(module, Mamba) and id(module.out_proj.weight) not in done:
                    done.add(id(module.out_proj.weight))
                    nn.init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
                    module.out_proj.weight /= math.sqrt(cfg.n_residuals_per_layer * cfg.n_layer)

    def tie_weights(self) -> None:
        """Re-establish every alias (reverse-direction projections; LM head = embedding)."""
        for module in self.modules():
            if isinstance(module, BiMambaWrapper):
                module.tie_weights()

    def alias_keys(self) -> dict[str, str]:
        """{alias state_dict key: canonical key} for parameters shared under several names.

        The canonical name is the first in state_dict order (mamba_fwd before mamba_rev, the
        embedding before the LM head) — the published checkpoints store only those.
        """
        first: dict[int, str] = {}
        aliases = {}
        for name, param in self.named_parameters(remove_duplicate=False):
            if id(param) in first:
                aliases[name] = first[id(param)]
            else:
                first[id(param)] = name
        return aliases


class Caduceus(_CaduceusBase):
    """Caduceus backbone (keys `backbone.…`): input ids (B, L) -> hidden (B, L, D or 2D)."""

    def __init__(self, config: CaduceusConfig, init: bool = True):
        super().__init__()
        self.config = config
        self.backbone = CaduceusMixerModel(config)
        if init:
            self.init_weights()

    def forward(self, input_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        return self.backbone(input_ids, inputs_embeds)


class RCPSLMHead(nn.Module):
    """PS LM head: x[..., :D] @ Wᵀ + flip_C(x[..., D:]) @ W[cm]ᵀ, W tied to the embedding.

    Keys `lm_head.weight` (inside the model: `lm_head.lm_head.weight`, an alias) and `complement_map`.
    """

    def __init__(self, d_model: int, vocab_size: int, complement_map: torch.Tensor):
        super().__init__()
        self.register_buffer("complement_map", complement_map.clone())
        self.true_dim = d_model
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)

    @property
    def weight(self) -> nn.Parameter:
        return self.lm_head.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.true_dim
        if x.shape[-1] != 2 * d:
            raise ValueError(f"RCPS LM head expects {2 * d} channels, got {x.shape[-1]}")
        weight = self.lm_head.weight
        return F.linear(x[..., :d], weight) + F.linear(x[..., d:].flip(-1), weight[self.complement_map])


class CaduceusForMaskedLM(_CaduceusBase):
    """Caduceus with its masked-LM head (keys `caduceus.backbone.…`, `lm_head.…`): ids -> logits (B, L, V)."""

    def __init__(self, config: CaduceusConfig, init: bool = True):
        super().__init__()
        self.config = config
        self.caduceus = Caduceus(config, init=False)
        if config.rcps:
            self.lm_head = RCPSLMHead(config.d_model, config.padded_vocab_size, config.complement_map_tensor())
        else:
            self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.tie_weights()
        if init:
            self.init_weights()

    def tie_weights(self) -> None:
        super().tie_weights()
        embedding = self.caduceus.backbone.embeddings.word_embeddings
        if self.config.rcps:
            self.lm_head.lm_head.weight = embedding.embedding.weight
        else:
            self.lm_head.weight = embedding.weight

    @property
    def backbone(self) -> CaduceusMixerModel:
        """The backbone, as `model.backbone(input_ids)` in the published code (no new state_dict key)."""
        return self.caduceus.backbone

    def forward(self, input_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        return masked_lm_logits(self.caduceus, self.lm_head, input_ids, inputs_embeds)


def masked_lm_logits(caduceus: Caduceus, lm_head: nn.Module, input_ids=None, inputs_embeds=None) -> torch.Tensor:
    """Float32 logits (B, L, V): the one forward of the masked-LM model, shared by the crelens class
    and the transformers class (crelens.encoder.transformers_models)."""
    return lm_head(caduceus(input_ids, inputs_embeds)).float()


def load_pretrained(folder, device="cpu") -> CaduceusForMaskedLM:
    """The masked-LM model of a checkpoint folder, in eval mode.

    A backbone-only checkpoint gets its LM head for free: the head is tied to the embedding.
    """
    from crelens.encoder.hub import load_caduceus

    model = load_caduceus(folder, device=device)
    if isinstance(model, CaduceusForMaskedLM):
        return model
    wrapped = CaduceusForMaskedLM(model.config, init=False)
    wrapped.caduceus.load_state_dict(model.state_dict())
    wrapped.tie_weights()
    return wrapped.to(device).eval()


# ---------------------------------------------------------------------------------------------
# Utilities
# ---------------------------------------------------------------------------------------------


def rc_invariant_features(hidden: torch.Tensor, d_model: int, hidden_rc: torch.Tensor | None = None) -> torch.Tensor:
    """Per-nucleotide features that do not depend on which strand was read: f(rc x)[L-1-i] = f(x)[i].

    - PS (hidden has 2·d_model channels, `hidden_rc` None): f_i = (out[i, :D] + out[i, D:].flip(-1)) / 2.
      Both halves at position i describe nucleotide i. (The official "collapse", flip(dims=[1, 2]),
      pairs position i with L-1-i: fine after pooling, wrong per position.)
    - PH (d_model channels): post-hoc conjoining, `hidden_rc` = the model's output on rc(x):
      f_i = (out(x)[i] + out(rc x)[L-1-i]) / 2.
    """
    channels = hidden.shape[-1]
    if hidden_rc is None:
        if channels != 2 * d_model:
            raise ValueError(
                f"without hidden_rc the input must be a PS output with {2 * d_model} channels, got {channels}; "
                "for a PH model pass its output on the reverse complement as hidden_rc"
            )
        return (hidden[..., :d_model] + hidden[..., d_model:].flip(-1)) / 2
    if channels != d_model or hidden_rc.shape != hidden.shape:
        raise ValueError(
            f"conjoining expects two PH outputs of {d_model} channels and equal shapes, got "
            f"{tuple(hidden.shape)} and {tuple(hidden_rc.shape)}"
        )
    return (hidden + hidden_rc.flip(-2)) / 2


def encode_rc_invariant(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """RC-invariant per-nucleotide features (B, L, d_model) from a Caduceus backbone or MLM model.

    PS: one pass (the model is equivariant by construction). PH: two passes (x and rc(x)),
    conjoined with position reversal.
    """
    backbone = model.caduceus if isinstance(model, CaduceusForMaskedLM) else model
    cfg = backbone.config
    hidden = backbone(input_ids)
    if cfg.rcps:
        return rc_invariant_features(hidden, cfg.d_model)
    rc_ids = reverse_complement_ids(input_ids, cfg.complement_map_tensor().to(input_ids.device))
    return rc_invariant_features(hidden, cfg.d_model, backbone(rc_ids))
