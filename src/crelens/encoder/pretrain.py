"""Masked-language-model pretraining of a small Caduceus on the training chromosomes only.

Why: offline there are no published weights, and an encoder pretrained on the whole genome
would have seen the test chromosomes. Windows are drawn from training chromosomes (N-free),
15 % of positions are masked BERT-style (80 % [MASK], 10 % random base, 10 % kept), and the
loss is cross-entropy on the masked positions. A fixed set of validation-chromosome windows
gives the held-out loss for the curve.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from crelens.data.formats import Contigs
from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.hub import save_caduceus
from crelens.encoder.tokenizer import MASK, A, C, CaduceusTokenizer, G, T
from crelens.errors import InputError
from crelens.parameters import count_parameters
from crelens.sequences import reverse_complement
from crelens.tables import write_table

log = logging.getLogger(__name__)


@dataclass
class PretrainSettings:
    seq_len: int = 512
    batch_size: int = 16
    steps: int = 300
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 30
    mask_share: float = 0.15
    eval_every: int = 50
    eval_windows: int = 64
    grad_clip: float = 1.0


class WindowSampler:
    """Uniform random N-free windows from a set of chromosomes (random strand)."""

    def __init__(self, fasta, chromosomes: list[str], seq_len: int, rng: np.random.Generator):
        self.seqs = {c: str(fasta[c][:]).upper() for c in chromosomes}
        self.chromosomes = [c for c in chromosomes if len(self.seqs[c]) > seq_len]
        if not self.chromosomes:
            raise InputError(None, f"no chromosome is longer than the pretraining window ({seq_len} bp)")
        lengths = np.array([len(self.seqs[c]) - seq_len for c in self.chromosomes], dtype=float)
        self.weights = lengths / lengths.sum()
        self.seq_len = seq_len
        self.rng = rng

    def sample(self, n: int) -> list[str]:
        out = []
        while len(out) < n:
            chrom = self.chromosomes[self.rng.choice(len(self.chromosomes), p=self.weights)]
            start = int(self.rng.integers(0, len(self.seqs[chrom]) - self.seq_len))
            window = self.seqs[chrom][start : start + self.seq_len]
            if "N" in window:
                continue
            out.append(window if self.rng.random() < 0.5 else reverse_complement(window))
        return out


def mask_tokens(ids: torch.Tensor, share: float, generator: torch.Generator):
    """BERT masking: returns (inputs, labels) with labels = -100 where nothing is predicted."""
    labels = ids.clone()
    chosen = torch.rand(ids.shape, generator=generator) < share
    labels[~chosen] = -100
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = MASK
    random_base = chosen & (roll >= 0.8) & (roll < 0.9)
    bases = torch.tensor([A, C, G, T])
    inputs[random_base] = bases[torch.randint(4, (int(random_base.sum()),), generator=generator)]
    return inputs, labels


def lr_at(step: int, settings: PretrainSettings) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(
    model,
    tokenizer,
    train_sampler: WindowSampler,
    val_windows: list[str],
    settings: PretrainSettings,
    seed: int,
    progress=None,
) -> pd.DataFrame:
    """Train `model` (a Caduceus masked-LM) in place; return the loss curve."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    val_ids = tokenizer.encode(val_windows)
    val_inputs, val_labels = mask_tokens(val_ids, settings.mask_share, torch.Generator().manual_seed(seed + 1))
    rows = []
    started = time.monotonic()
    for step in range(settings.steps):
        model.train()
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, settings)
        ids = tokenizer.encode(train_sampler.sample(settings.batch_size))
        inputs, labels = mask_tokens(ids, settings.mask_share, generator)
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimiser.step()
        row = {
            "step": step + 1,
            "train_loss": loss.item(),
            "val_loss": np.nan,
            "val_accuracy": np.nan,
            "lr": lr_at(step, settings),
        }
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            row["val_loss"], row["val_accuracy"] = evaluate(model, val_inputs, val_labels)
            elapsed = time.monotonic() - started
            log.info(
                "step %d/%d: train loss %.4f, val loss %.4f, val masked accuracy %.3f, %.1f sequences/s",
                step + 1,
                settings.steps,
                row["train_loss"],
                row["val_loss"],
                row["val_accuracy"],
                (step + 1) * settings.batch_size / elapsed,
            )
        rows.append(row)
        if progress:
            progress(step + 1, settings.steps)
    return pd.DataFrame(rows)


@torch.no_grad()
def evaluate(model, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 32) -> tuple[float, float]:
    model.eval()
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(inputs), batch_size):
        logits = model(inputs[i : i + batch_size])
        target = labels[i : i + batch_size]
        keep = target != -100
        total += float(torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum"))
        correct += int((logits[keep].argmax(-1) == target[keep]).sum())
        count += int(keep.sum())
    return total / max(count, 1), correct / max(count, 1)


def run_pretrain_encoder(
    genome_fa, contigs_tsv, splits: dict, cfg: dict, seed: int, n_as: str, out_folder, curve_out, threads: int = 1
) -> pd.DataFrame:
    """Train a small Caduceus masked-LM on training chromosomes and save it like a published checkpoint."""
    from pyfaidx import Fasta

    torch.set_num_threads(threads)
    contigs = Contigs.from_table(contigs_tsv)
    held_out = set(splits["val"]) | set(splits["test"])
    train = [c for c in contigs.kept if c not in held_out]
    fasta = Fasta(str(genome_fa), as_raw=True, rebuild=False)
    rng = np.random.default_rng(seed)
    sampler = WindowSampler(fasta, train, cfg["seq_len"], rng)
    val_windows = WindowSampler(fasta, list(splits["val"]), cfg["seq_len"], np.random.default_rng(seed + 1)).sample(
        cfg["eval_windows"]
    )
    torch.manual_seed(seed)
    config = CaduceusConfig(d_model=cfg["d_model"], n_layer=cfg["n_layer"], rcps=cfg["rcps"])
    model = CaduceusForMaskedLM(config)
    log.info(
        "pretraining Caduceus (%s, %d parameters) on %d training chromosomes",
        "PS" if cfg["rcps"] else "PH",
        count_parameters(model, trainable=False),
        len(train),
    )
    settings = PretrainSettings(**{k: cfg[k] for k in PretrainSettings.__dataclass_fields__ if k in cfg})
    curve = pretrain(model, CaduceusTokenizer(n_as=n_as), sampler, val_windows, settings, seed)
    save_caduceus(model, out_folder)
    write_table(curve, curve_out)
    return curve
