"""The encoder in the training loop: shifted MPRA windows and the fine-tunable Caduceus + head.

Why: a head trained on the frozen-encoder cache (`heads.aug_mode: no_shift`) only ever sees each
sequence at one position, because the cache holds one window per sequence. Shift augmentation
(the insert moved by up to ±`max_shift` nt inside its construct) needs the encoder's features of
windows the cache does not hold, so the encoder runs on every step:

* `full`: the encoder is frozen (its weights are those the cache was built with), only the head
  learns; at test time the window is unshifted, so the head predicts from the cache as usual;
* `finetune`: the encoder learns too, at `encoder_lr_scale` × the head's learning rate (the
  comparison a frozen-encoder head is judged against); it predicts by running its own encoder.

Shifting brings plasmid sequence into the window, never padding: each training sequence is the
insert inside `max_shift` more nt of the real MPRA constant on each side (`mpra_construct` with
boda2's 300-nt plasmid constants), and every step crops a window of the model's input length
from it at a random offset (`FlankShift`). Features are exactly the cache's (RC-invariant
per-nucleotide Caduceus outputs mean-pooled into the cache's bins), so the head is the same
module in all three modes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crelens.encoder.caduceus import Caduceus, CaduceusConfig, CaduceusForMaskedLM, encode_rc_invariant
from crelens.encoder.tokenizer import PAD, A, N
from crelens.sequences import mpra_construct, one_hot_strands


def one_hot_ids(x: torch.Tensor, n_as: str = "pad") -> torch.Tensor:
    """Caduceus token ids (B, L) of one-hot DNA (B, 4, L) in A, C, G, T order; an all-zero column
    (N) becomes [PAD] or the N token, as the tokenizer's `n_as` policy does for the letter N."""
    if x.ndim != 3 or x.shape[1] != 4:
        raise ValueError(f"expected one-hot DNA (B, 4, L), got {tuple(x.shape)}")
    ids = x.argmax(1) + A  # A, C, G, T are consecutive ids
    unknown = PAD if n_as == "pad" else N
    return torch.where(x.sum(1) > 0, ids, torch.full_like(ids, unknown))


class FlankShift:
    """Training-batch augmentation: a window of `length` nt cropped from (B, 4, length + 2·max_shift)
    flanked inputs at offset max_shift + shift, shift drawn per row in [−max_shift, max_shift].

    Offset max_shift is the unshifted window (the insert where the cache has it). `last_offsets`
    keeps the offsets of the latest batch (for the record of shifted inputs).
    """

    def __init__(self, max_shift: int, length: int):
        if max_shift < 0 or length < 1:
            raise ValueError(f"need max_shift >= 0 and length >= 1, got {max_shift} and {length}")
        self.max_shift, self.length = int(max_shift), int(length)
        self.last_offsets: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] != self.length + 2 * self.max_shift:
            raise ValueError(
                f"expected flanked inputs (B, 4, {self.length + 2 * self.max_shift}), got {tuple(x.shape)}"
            )
        offsets = torch.randint(0, 2 * self.max_shift + 1, (x.shape[0],), generator=generator)
        self.last_offsets = offsets
        positions = offsets[:, None] + torch.arange(self.length)[None]  # (B, length)
        return x.gather(2, positions.to(x.device)[:, None, :].expand(-1, x.shape[1], -1))


def window_text(x: torch.Tensor) -> str:
    """One one-hot window (4, L) as a DNA string (an all-zero column is N)."""
    letters = np.array(list("ACGT"))[x.argmax(0).cpu().numpy()]
    letters[(x.sum(0) == 0).cpu().numpy()] = "N"
    return "".join(letters)


def flanked_sequences(inserts, sequences, max_shift: int) -> list[str]:
    """Each MPRA sequence widened by `max_shift` nt of its construct on each side.

    The data set's `sequence` is `mpra_construct(insert, length)` (upper case); the widened one is
    the same construct at length + 2·max_shift, which holds it at offset max_shift (checked).
    """
    out = []
    for insert, sequence in zip(inserts, sequences):
        wide = mpra_construct(insert.upper(), len(sequence) + 2 * max_shift)  # as the data set builds it
        if wide[max_shift : max_shift + len(sequence)] != sequence:
            raise ValueError(
                f"sequence {sequence[:20]}... is not its insert {insert[:20]}... inside the MPRA flanks, "
                "so it cannot be shifted inside its construct"
            )
        out.append(wide)
    return out


def shifted_training_inputs(inserts, sequences, max_shift: int) -> np.ndarray:
    """(n, 2, 4, length + 2·max_shift) one-hot flanked constructs, [canonical, reverse complement]."""
    return one_hot_strands(flanked_sequences(inserts, sequences, max_shift))


def backbone_of(encoder: nn.Module) -> Caduceus:
    """The bare Caduceus (keys `backbone.…`) of a backbone or masked-LM model."""
    if isinstance(encoder, CaduceusForMaskedLM):
        return encoder.caduceus
    if isinstance(encoder, Caduceus):
        return encoder
    raise TypeError(f"expected a Caduceus model, got {type(encoder).__name__}")


class EncoderHead(nn.Module):
    """Caduceus encoder + adapter head on one-hot DNA (B, 4, L) → (B, outputs).

    The head reads what the cache stores: the encoder's RC-invariant per-nucleotide features
    mean-pooled into `bins` bins. With `train_encoder` False the encoder runs without gradients
    (a frozen feature extractor, as in `full`).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, bins: int, n_as: str = "pad", train_encoder: bool = True):
        super().__init__()
        self.encoder = backbone_of(encoder)
        self.head = head
        self.bins = int(bins)
        self.n_as = n_as
        self.train_encoder = bool(train_encoder)
        self.encoder.requires_grad_(self.train_encoder)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        ids = one_hot_ids(x, self.n_as)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_encoder):
            per_base = encode_rc_invariant(self.encoder, ids)  # (B, L, d_model)
        return F.adaptive_avg_pool1d(per_base.transpose(1, 2), self.bins).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def alias_keys(self) -> dict[str, str]:
        """Tied encoder parameters stored once, as the published checkpoints store them."""
        return {f"encoder.{k}": f"encoder.{v}" for k, v in self.encoder.alias_keys().items()}

    def parameter_groups(self, lr: float, encoder_lr_scale: float) -> list[dict]:
        """The head at `lr`, the encoder (when trained) at lr · encoder_lr_scale."""
        groups = [{"params": list(self.head.parameters()), "lr": lr}]
        if self.train_encoder:
            groups.append({"params": list(self.encoder.parameters()), "lr": lr * encoder_lr_scale})
        return groups


def encoder_change(model: EncoderHead, reference: nn.Module) -> float:
    """Largest absolute difference between the model's encoder weights and `reference`'s."""
    theirs = backbone_of(reference).state_dict()
    return max(float((v.float() - theirs[k].float()).abs().max()) for k, v in model.encoder.state_dict().items())


def build_encoder_head(spec: dict, head: nn.Module) -> EncoderHead:
    """An EncoderHead shaped by a checkpoint spec (`encoder_config`: the encoder's config.json)."""
    config = CaduceusConfig.from_hf_dict(spec["encoder_config"])
    return EncoderHead(Caduceus(config, init=False), head, spec["bins"], spec.get("n_as", "pad"))
