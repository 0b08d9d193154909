"""MambaLRP rules as a modified forward pass, switched on by a context manager.

Why this shape: LRP through a network equals Gradient×Input of a forward pass in which the
non-conserving parts are made locally linear by detaching (Jafari et al., "MambaLRP", NeurIPS
2024; Ali et al. 2022 for the LN-rule; the pattern of AttnLRP/lxt). So no custom backward is
needed: the model code asks `active()` at the few places a rule applies and, when LRP mode is
off, runs exactly its normal code (outputs bit-identical).

Rules (each at one place in `crelens.encoder.caduceus` or here for standard layers):
- SiLU → identity rule: x·σ(x).detach()                          (`silu`)
- RMSNorm / LayerNorm → LN-rule: the normaliser 1/σ detached      (`norm_scale`, LayerNorm hook)
- selective SSM → Δ, B, C detached, so Ā = exp(ΔA), B̄ = ΔB and C are constants and the scan is
  linear in u (D·u kept)                                         (`ssm`)
- gate y ⊙ SiLU(z), and any product of two relevance paths → half rule:
  s = a·b is replaced by 0.5·s + (0.5·s).detach()                 (`product`)
- linear / conv layers → LRP-0 (the gradient) or, with ε > 0, LRP-ε:
  z·c.detach() + (z·(1-c)).detach(), c = z / (z + ε·sign z)         (Linear hook)

Accounting. Every place that adds relevance-absorbing terms — biases (conv1d, Linear,
LayerNorm) and the ε-stabiliser's share — adds them through a *leaf tensor* registered in the
`Ledger`. After one backward pass, value × gradient of each leaf is exactly the relevance it
absorbed, per sample. Because every modified layer satisfies Σ inputs·∂̃out/∂inputs = out with
the leaves counted as inputs, Σ_i R_i + Σ_leaves absorbed = f(x) exactly (to rounding).

Batch convention: a module may stack whole copies of the batch along dim 0 (the RCPS wrapper
runs both strands as one batch of 2B); leaf rows r then belong to sample r mod B. Modules never
interleave rows.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVE: ContextVar[Ledger | None] = ContextVar("crelens_lrp", default=None)


def active() -> Ledger | None:
    """The ledger of the LRP pass in progress, or None in a normal forward."""
    return _ACTIVE.get()


class Ledger:
    """The settings of one LRP pass and the leaf tensors that absorb relevance."""

    def __init__(self, epsilon: float = 0.0, names: dict[int, str] | None = None):
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)
        self.names = names or {}
        self.leaves: list[tuple[str, torch.Tensor]] = []

    # -- rules ---------------------------------------------------------------------------------

    @staticmethod
    def silu(x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x).detach()

    @staticmethod
    def product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        s = a * b
        return 0.5 * s + (0.5 * s).detach()

    @staticmethod
    def norm_scale(scale: torch.Tensor) -> torch.Tensor:
        return scale.detach()

    @staticmethod
    def ssm(delta: torch.Tensor, B: torch.Tensor, C: torch.Tensor):
        return delta.detach(), B.detach(), C.detach()

    # -- absorbers -----------------------------------------------------------------------------

    def absorber(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """A leaf equal to `value` (rows = batch rows) whose value × gradient is logged under `name`."""
        leaf = value.detach().clone().requires_grad_(True)
        self.leaves.append((name, leaf))
        return leaf

    def add_bias(self, out: torch.Tensor, bias: torch.Tensor | None, name: str | None = None) -> torch.Tensor:
        """out + bias, the bias as a per-row leaf broadcast over every axis but the last."""
        if bias is None:
            return out
        shape = (out.shape[0],) + (1,) * (out.ndim - 2) + (bias.shape[-1],)
        name = name or self.names.get(id(bias), "bias")
        return out + self.absorber(name, bias.detach().to(out.dtype).expand(shape))

    def stabilise(self, z: torch.Tensor, name: str) -> torch.Tensor:
        """LRP-ε on a pre-activation z (bias included); identity for ε = 0."""
        if self.epsilon == 0:
            return z
        denominator = z + self.epsilon * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        keep = (z / denominator).detach()
        return z * keep + self.absorber(f"{name} (epsilon)", z * (1 - keep))

    def absorbed(self, gradients: list[torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
        """{name: (batch,) relevance absorbed}, from the gradients of `self.leaves` (same order)."""
        totals: dict[str, torch.Tensor] = defaultdict(lambda: 0)
        for (name, leaf), grad in zip(self.leaves, gradients):
            if grad is None:
                continue
            per_row = (leaf.detach() * grad).reshape(leaf.shape[0], -1).sum(1)
            if per_row.shape[0] % batch:
                raise ValueError(f"{name}: {per_row.shape[0]} rows is not a whole number of batches of {batch}")
            totals[name] = totals[name] + per_row.reshape(-1, batch).sum(0)
        return dict(totals)


def product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a · b, under the half rule in LRP mode (for products of two relevance paths)."""
    ledger = active()
    return a * b if ledger is None else ledger.product(a, b)


def add_bias(out: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """out + bias, the bias logged as an absorber in LRP mode."""
    ledger = active()
    return out + bias if ledger is None else ledger.add_bias(out, bias)


def _linear_hook(module: nn.Linear, args, output):
    ledger = active()
    if ledger is None or (module.bias is None and ledger.epsilon == 0):
        return None
    z = ledger.add_bias(F.linear(args[0], module.weight), module.bias)
    return ledger.stabilise(z, ledger.names.get(id(module.weight), "linear").removesuffix(".weight"))


def _conv_hook(module: nn.Conv1d, args, output):
    """LRP-0/ε on a Conv1d (a head's motif detectors): the bias enters as a logged absorber."""
    ledger = active()
    if ledger is None or (module.bias is None and ledger.epsilon == 0):
        return None
    z = module._conv_forward(args[0], module.weight, None).transpose(1, 2)  # channels last for the ledger
    z = ledger.add_bias(z, module.bias)
    name = ledger.names.get(id(module.weight), "conv").removesuffix(".weight")
    return ledger.stabilise(z, name).transpose(1, 2)


def _layer_norm_hook(module: nn.LayerNorm, args, output):
    ledger = active()
    if ledger is None:
        return None
    x = args[0]
    dims = tuple(range(-len(module.normalized_shape), 0))
    centred = x - x.mean(dims, keepdim=True)  # linear in x: conserves
    scale = torch.rsqrt(centred.square().mean(dims, keepdim=True) + module.eps)
    out = centred * ledger.norm_scale(scale)
    if module.weight is not None:
        out = out * module.weight
    return ledger.add_bias(out, module.bias)


@contextlib.contextmanager
def lrp_mode(*modules: nn.Module, epsilon: float = 0.0):
    """Run the forward of `modules` under the MambaLRP rules; yields the `Ledger`.

    Parameters stop requiring gradients for the duration (the explanation needs gradients of
    the input and the absorbers only, and the scan skips its state checkpoints then); hooks
    on nn.Linear, nn.Conv1d and nn.LayerNorm apply LRP-0/ε and the LN-rule and route biases
    through the ledger. Everything is restored on exit.
    """
    names = {}
    for module in modules:
        for name, param in module.named_parameters(remove_duplicate=False):
            names.setdefault(id(param), name)
    ledger = Ledger(epsilon, names)
    handles, flags = [], []
    for module in modules:
        for param in module.parameters():
            flags.append((param, param.requires_grad))
            param.requires_grad_(False)
        for sub in module.modules():
            if isinstance(sub, nn.Linear):
                handles.append(sub.register_forward_hook(_linear_hook))
            elif isinstance(sub, nn.Conv1d):  # Caduceus' own conv1d is never called as a module
                handles.append(sub.register_forward_hook(_conv_hook))
            elif isinstance(sub, nn.LayerNorm):
                handles.append(sub.register_forward_hook(_layer_norm_hook))
    token = _ACTIVE.set(ledger)
    try:
        yield ledger
    finally:
        _ACTIVE.reset(token)
        for handle in handles:
            handle.remove()
        for param, flag in flags:
            param.requires_grad_(flag)
