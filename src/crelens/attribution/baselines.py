"""Attribution baselines the LRP explanations are compared against.

Why: the MambaLRP evaluation ranks an explanation method against Random, Gradient×Input,
SmoothGrad and Integrated Gradients (plus ISM, the genomics reference). Every function here has
the same signature, ``(model, x, output, **options) -> (B, L)``, explaining ``model(x)[:, output]``
with one relevance per nucleotide (channels summed), so the faithfulness code can treat them
interchangeably through `METHODS`.

The gradient methods use captum. Parameters never need gradients, so they are frozen for the
duration of a call (and restored afterwards); the model runs in eval mode (also restored).
Results are detached and have the dtype of ``x``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel

if TYPE_CHECKING:
    from crelens.attribution.explained import ExplainedModel

Attribution = Callable[..., torch.Tensor]


@contextmanager
def explaining(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and frozen parameters for the block: only input gradients are wanted, and
    skipping parameter gradients saves memory. Both states are restored on exit."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def _finish(attributions: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, L, C) input attributions → detached (B, L) per-nucleotide relevance in x's dtype."""
    return attributions.detach().sum(-1).to(x.dtype)


# --------------------------------------------------------------------------- gradient methods


def grad_x_input(model: ExplainedModel, x: torch.Tensor, output: int) -> torch.Tensor:
    """Gradient×Input: the first-order Taylor share of each nucleotide (exact for linear models)."""
    with explaining(model):
        leaf = x.detach().clone().requires_grad_(True)  # a fresh leaf: x itself is left alone
        return _finish(InputXGradient(model).attribute(leaf, target=output), x)


def _ig_baseline(model: ExplainedModel, x: torch.Tensor, baseline: str) -> torch.Tensor:
    """ "zero": the all-zero input (IG's usual choice); "removed": every nucleotide an N."""
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "removed":
        return model.removed_vector.to(x.device, x.dtype).expand_as(x).contiguous()
    raise ValueError(f"unknown IG baseline {baseline!r}; expected 'zero' or 'removed'")


def integrated_gradients_with_delta(
    model: ExplainedModel,
    x: torch.Tensor,
    output: int,
    steps: int = 32,
    baseline: str = "zero",
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients and its completeness error.

    Returns relevance (B, L) and captum's convergence delta (B,) = Σ relevance − (f(x) − f(x₀)),
    which measures how well ``steps`` quadrature points approximate the path integral.
    ``method`` is captum's quadrature: Gauss–Legendre (default; exact for polynomials of degree
    < 2·steps, so it converges fastest on smooth models) or a Riemann rule for piecewise-linear
    models such as ReLU CNNs — prefer "riemann_middle": captum's "riemann_trapezoid" weights sum to
    (steps−1)/steps, so its error only shrinks as 1/steps. ``internal_batch_size`` bounds memory.
    """
    with explaining(model):
        attributions, delta = IntegratedGradients(model).attribute(
            x,
            baselines=_ig_baseline(model, x, baseline),
            target=output,
            n_steps=steps,
            method=method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
    return _finish(attributions, x), delta.detach().to(x.dtype)


def integrated_gradients(
    model: ExplainedModel,
    x: torch.Tensor,
    output: int,
    steps: int = 32,
    baseline: str = "zero",
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
) -> torch.Tensor:
    """Integrated Gradients relevance (B, L); see `integrated_gradients_with_delta`."""
    relevance, _ = integrated_gradients_with_delta(model, x, output, steps, baseline, method, internal_batch_size)
    return relevance


def smoothgrad(
    model: ExplainedModel,
    x: torch.Tensor,
    output: int,
    samples: int = 16,
    noise: float = 0.1,
    seed: int = 0,
    samples_batch_size: int | None = None,
) -> torch.Tensor:
    """SmoothGrad of Gradient×Input: (x+ε)·∇f(x+ε) averaged over ``samples`` noisy copies.

    The noise standard deviation is ``noise`` × the standard deviation of all entries of ``x``
    (one scalar for the batch), so the same ``noise`` means the same relative perturbation for
    one-hot inputs and for embeddings of any scale. Deterministic for a seed: the global RNG that
    captum draws from is forked and seeded, so the caller's random state is untouched.
    """
    stdev = float(noise) * float(x.detach().float().std()) if x.numel() > 1 else 0.0
    devices = [x.device] if x.device.type == "cuda" else []
    with explaining(model), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        attributions = NoiseTunnel(InputXGradient(model)).attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=samples,
            nt_samples_batch_size=samples_batch_size,
            stdevs=stdev,
            target=output,
        )
    return _finish(attributions, x)


# --------------------------------------------------------------------------- perturbation methods


def observed_bases(model: ExplainedModel, x: torch.Tensor) -> torch.Tensor:
    """(B, L) index of the base each row encodes (0..3 = A, C, G, T), 4 for a removed (N) row.

    Nearest row among `base_vectors` and `removed_vector`, so it works for one-hot and embedding
    inputs alike (rows are exact copies of these vectors).
    """
    vocab = torch.cat([model.base_vectors, model.removed_vector[None]]).to(x.device, torch.float32)
    distance = (x.float()[:, :, None, :] - vocab[None, None]).pow(2).sum(-1)  # (B, L, 5)
    return distance.argmin(-1)


@torch.no_grad()
def ism_all_outputs(
    model: ExplainedModel, x: torch.Tensor, batch_size: int = 256, positions: tuple[int, int] | None = None
) -> torch.Tensor:
    """(B, k, L) in-silico mutagenesis of every output from one set of mutant forwards.

    relevance_i = f(x) − mean over alternative bases b of f(x with i := b); alternatives are the
    3 bases other than the observed one (all 4 at an N). Only positions in [start, end) of
    `positions` are mutated (the rest get 0): the constant flanks of MPRA constructs cannot
    explain differences between sequences, and mutating them costs two thirds of the forwards.
    Mutants are run in chunks of ``batch_size``. captum's FeatureAblation replaces by one baseline
    value instead of substituting each base, hence the few lines here.
    """
    with explaining(model):
        bases = model.base_vectors.to(x.device, x.dtype)
        alternative = torch.ones(*x.shape[:2], 5, dtype=torch.bool, device=x.device)
        alternative.scatter_(2, observed_bases(model, x)[..., None], False)
        if positions is not None:
            outside = torch.ones(x.shape[1], dtype=torch.bool, device=x.device)
            outside[positions[0] : positions[1]] = False
            alternative[:, outside] = False
        b_idx, pos, base = alternative[..., :4].nonzero(as_tuple=True)  # one row per mutant
        reference = model(x).double()  # (B, k)
        mutant_out = torch.empty(b_idx.numel(), reference.shape[1], dtype=torch.float64, device=x.device)
        for start in range(0, b_idx.numel(), batch_size):
            chunk = slice(start, start + batch_size)
            batch = x[b_idx[chunk]]  # advanced indexing copies
            batch[torch.arange(batch.shape[0], device=x.device), pos[chunk]] = bases[base[chunk]]
            mutant_out[chunk] = model(batch).double()
        total = torch.zeros(*x.shape[:2], reference.shape[1], dtype=torch.float64, device=x.device)
        total.index_put_((b_idx, pos), mutant_out, accumulate=True)
        count = alternative[..., :4].sum(-1)
        relevance = reference[:, :, None] - (total / count.clamp(min=1)[..., None]).transpose(1, 2)
        relevance = relevance.masked_fill((count == 0)[:, None, :], 0.0)
    return relevance.to(x.dtype)


def ism(model: ExplainedModel, x: torch.Tensor, output: int, batch_size: int = 256) -> torch.Tensor:
    """(B, L) in-silico mutagenesis of one output (see `ism_all_outputs`)."""
    return ism_all_outputs(model, x, batch_size)[:, output]


def random_relevance(model: ExplainedModel, x: torch.Tensor, output: int, seed: int = 0) -> torch.Tensor:
    """Standard-normal relevance from a seeded generator: the chance level of every metric."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape[:2], generator=generator).to(x.device, x.dtype)


METHODS: dict[str, Attribution] = {
    "grad_x_input": grad_x_input,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "ism": ism,
    "random": random_relevance,
}
