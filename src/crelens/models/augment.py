"""Sequence augmentations for models trained from scratch on one-hot DNA.

Why: a few thousand training sequences are far fewer than a large CNN such as Malinois was
designed for (its published recipe saw ~800,000), and it memorises them (measured: training
Pearson 0.93 against 0.59 on test; docs/world.md). Two of EvoAug's augmentations (Lee et al.
2023, "EvoAug: improving generalization and interpretability of genomic deep neural networks
with evolution-inspired data augmentations", Genome Biology 24:105) regularise it cheaply:

- random substitutions: each position is replaced by a random base with probability
  `mutation_rate` (most positions of a regulatory sequence do not carry its function, so the
  label stays nearly right);
- translocation: each sequence is rolled circularly by a random offset in ±`max_shift`, so
  motifs are seen at slightly different positions.

Both act on a (B, 4, L) one-hot batch during training only, drawing from the loop's generator so
that training stays deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augmentation:
    mutation_rate: float = 0.0
    max_shift: int = 0

    def __post_init__(self):
        if not 0.0 <= self.mutation_rate < 1.0:
            raise ValueError(f"mutation_rate must be in [0, 1), got {self.mutation_rate}")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}")

    @property
    def active(self) -> bool:
        return self.mutation_rate > 0 or self.max_shift > 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """An augmented copy of one-hot `x` (B, 4, L); `x` itself is left unchanged."""
        if x.ndim != 3 or x.shape[1] != 4:
            raise ValueError(f"expected one-hot input (B, 4, L), got {tuple(x.shape)}")
        batch, _, length = x.shape
        if self.max_shift:
            offsets = torch.randint(-self.max_shift, self.max_shift + 1, (batch, 1), generator=generator)
            source = (torch.arange(length)[None] - offsets) % length  # rolled right by each offset
            x = x.gather(2, source.to(x.device)[:, None, :].expand(-1, 4, -1))
        if self.mutation_rate:
            hit = torch.rand(batch, 1, length, generator=generator) < self.mutation_rate
            bases = torch.randint(0, 4, (batch, length), generator=generator)
            new = torch.nn.functional.one_hot(bases, 4).transpose(1, 2).to(x.dtype)
            x = torch.where(hit.to(x.device), new.to(x.device), x)
        return x


def augmentation(settings: dict | None) -> Augmentation | None:
    """The augmentation a model's settings ask for (`augment: {mutation_rate, max_shift}`), or None."""
    if not settings or "augment" not in settings:
        return None
    chosen = Augmentation(**settings["augment"])
    return chosen if chosen.active else None
