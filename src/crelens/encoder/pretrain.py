"""Pretraining of a small Caduceus on the training chromosomes only: masked LM, plus element classes.

Why: offline there are no published weights, and an encoder pretrained on the whole genome
would have seen the test chromosomes. Windows are drawn from training chromosomes (N-free);
`element_share` of them have an annotated element in their central half (an EPDnew promoter
or a SCREEN cCRE of those chromosomes), where the motifs are; the rest lie anywhere.

Objectives (weights in the config):
- masked LM: 15 % of positions masked BERT-style (80 % [MASK], 10 % random base, 10 % kept),
  cross-entropy on the masked positions;
- element class (`annotation_weight` > 0): the class of the element a window is centred on
  (promoter, enhancer-like pELS/dELS, CTCF-only CA-CTCF, other cCRE, or none), predicted from the
  window's RC-invariant features pooled by mean and max. The annotations are the run's own source
  BEDs of the training chromosomes, as for real data. Why: on this simulated genome, a masked LM
  of this size learns base composition within a CPU budget but not the motifs (measured:
  docs/world.md), while telling a promoter from an enhancer or background needs exactly the motif
  detectors the heads depend on. The class head is discarded; the saved model is the masked LM.

Visibility: a fixed set of validation-chromosome windows gives the held-out loss, the
composition-only baseline (each masked base predicted from its window's base frequencies) and,
when the planted motifs are known, the masked-token accuracy inside planted motifs against
background positions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from crelens.data.formats import Contigs, read_ccres, read_planted_motifs, read_promoters
from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM, rc_invariant_features
from crelens.encoder.hub import save_caduceus
from crelens.encoder.tokenizer import MASK, A, C, CaduceusTokenizer, G, T
from crelens.errors import InputError
from crelens.parameters import count_parameters
from crelens.sequences import reverse_complement
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)

# Element classes of the annotation objective (index = label); 0 = no element at the window centre.
ELEMENT_CLASSES = ("none", "promoter", "enhancer", "ctcf", "other_ccre")
_CCRE_CLASS = {"pELS": "enhancer", "dELS": "enhancer", "CA-CTCF": "ctcf"}


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
    element_share: float = 0.0
    mlm_weight: float = 1.0
    annotation_weight: float = 0.0


def element_centres(promoters: pd.DataFrame, ccres: pd.DataFrame) -> pd.DataFrame:
    """(chrom, centre, label) of every annotated element; promoters centred 55 nt upstream of the
    TSS (the middle of the TSS−150 … +40 core where promoter motifs sit)."""
    upstream = np.where(promoters.strand == "+", -55, 55)
    rows = [pd.DataFrame({"chrom": promoters.chrom, "centre": promoters.tss + upstream, "label": 1})]
    kinds = ccres.ccre_class.map(_CCRE_CLASS).fillna("other_ccre")
    kinds = kinds.where(ccres.ccre_class != "PLS", None)  # promoter-like cCREs: the promoter rows cover them
    keep = kinds.notna()
    rows.append(
        pd.DataFrame(
            {
                "chrom": ccres.chrom[keep],
                "centre": (ccres.start[keep] + ccres.end[keep]) // 2,
                "label": kinds[keep].map(ELEMENT_CLASSES.index),
            }
        )
    )
    return pd.concat(rows, ignore_index=True).sort_values(["chrom", "centre"], kind="stable").reset_index(drop=True)


class WindowSampler:
    """N-free windows of a set of chromosomes (random strand), with the class of the element at
    their centre; `element_share` of them centred on an annotated element."""

    def __init__(
        self,
        fasta,
        chromosomes: list[str],
        seq_len: int,
        rng: np.random.Generator,
        elements: pd.DataFrame | None = None,
        element_share: float = 0.0,
    ):
        self.seqs = {c: str(fasta[c][:]).upper() for c in chromosomes}
        self.chromosomes = [c for c in chromosomes if len(self.seqs[c]) > seq_len]
        if not self.chromosomes:
            raise InputError(None, f"no chromosome is longer than the pretraining window ({seq_len} bp)")
        lengths = np.array([len(self.seqs[c]) - seq_len for c in self.chromosomes], dtype=float)
        self.weights = lengths / lengths.sum()
        self.seq_len = seq_len
        self.rng = rng
        elements = elements if elements is not None else pd.DataFrame(columns=["chrom", "centre", "label"])
        self.elements = elements[elements.chrom.isin(self.chromosomes)].reset_index(drop=True)
        self.element_share = element_share if len(self.elements) else 0.0
        self.by_chrom = {c: (g.centre.to_numpy(), g.label.to_numpy()) for c, g in self.elements.groupby("chrom")}

    def _label(self, chrom: str, start: int) -> int:
        """Class of an element whose centre lies in the central half of the window, else 0."""
        centres, labels = self.by_chrom.get(chrom, (np.zeros(0), np.zeros(0)))
        lo, hi = np.searchsorted(centres, [start + self.seq_len // 4, start + 3 * self.seq_len // 4])
        return int(labels[lo]) if hi > lo else 0

    def sample_labelled(self, n: int) -> tuple[list[str], np.ndarray]:
        windows, labels = [], []
        while len(windows) < n:
            if self.element_share and self.rng.random() < self.element_share:
                row = self.elements.iloc[int(self.rng.integers(len(self.elements)))]
                chrom = row.chrom
                reach = max(0, self.seq_len // 4 - 1)  # the centre stays in the window's central half
                jitter = int(self.rng.integers(-reach, reach + 1))
                start = int(row.centre) - self.seq_len // 2 + jitter
            else:
                chrom = self.chromosomes[self.rng.choice(len(self.chromosomes), p=self.weights)]
                start = int(self.rng.integers(0, len(self.seqs[chrom]) - self.seq_len))
            if start < 0 or start + self.seq_len > len(self.seqs[chrom]):
                continue
            window = self.seqs[chrom][start : start + self.seq_len]
            if "N" in window:
                continue
            windows.append(window if self.rng.random() < 0.5 else reverse_complement(window))
            labels.append(self._label(chrom, start))
        return windows, np.array(labels, dtype=np.int64)

    def sample(self, n: int) -> list[str]:
        return self.sample_labelled(n)[0]


class TableSampler:
    """Windows from the training rows of an MPRA set (random strand, random crop to seq_len).

    Why: a user's table of designed sequences may come without a genome; the encoder then learns
    the sequence space the heads will read (the model inputs, flanks included).
    """

    def __init__(self, sequences: list[str], seq_len: int, rng: np.random.Generator, what: str = "MPRA set"):
        short = min(len(s) for s in sequences)
        if short < seq_len:
            raise InputError(
                None,
                f"encoder.pretrain.seq_len ({seq_len}) is longer than the shortest input of the {what} ({short} nt)",
            )
        self.sequences = sequences
        self.seq_len = seq_len
        self.rng = rng

    def sample_labelled(self, n: int) -> tuple[list[str], np.ndarray]:
        windows = []
        for i in self.rng.integers(len(self.sequences), size=n):
            seq = self.sequences[int(i)]
            start = int(self.rng.integers(len(seq) - self.seq_len + 1))
            window = seq[start : start + self.seq_len]
            windows.append(window if self.rng.random() < 0.5 else reverse_complement(window))
        return windows, np.zeros(n, dtype=np.int64)

    def sample(self, n: int) -> list[str]:
        return self.sample_labelled(n)[0]


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


class ElementClassifier(torch.nn.Module):
    """The annotation objective's head: RC-invariant features pooled by mean and max → classes."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.linear = torch.nn.Linear(2 * d_model, len(ELEMENT_CLASSES))

    def forward(self, hidden: torch.Tensor, rcps: bool) -> torch.Tensor:
        features = rc_invariant_features(hidden, self.d_model) if rcps else hidden
        return self.linear(torch.cat([features.mean(1), features.amax(1)], dim=-1))


def composition_baseline(windows: list[str]) -> float:
    """Cross-entropy (nats) of predicting each base from its own window's base frequencies."""
    losses = []
    for window in windows:
        counts = np.array([window.count(b) for b in "ACGT"], dtype=float)
        freqs = counts / counts.sum()
        losses.append(-(counts * np.log(np.where(freqs > 0, freqs, 1.0))).sum() / counts.sum())
    return float(np.mean(losses))


def pretrain(
    model,
    tokenizer,
    train_sampler: WindowSampler,
    val_windows: list[str],
    settings: PretrainSettings,
    seed: int,
    progress=None,
    val_motif_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Train `model` (a Caduceus masked-LM) in place; return the loss curve.

    `val_motif_mask` (windows, seq_len) marks planted-motif positions of the validation windows;
    with it the curve also reports masked-token accuracy inside planted motifs and elsewhere.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = ElementClassifier(model.config.d_model) if settings.annotation_weight else None
    parameters = list(model.parameters()) + (list(classifier.parameters()) if classifier else [])
    optimiser = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    val_ids = tokenizer.encode(val_windows)
    val_inputs, val_labels = mask_tokens(val_ids, settings.mask_share, torch.Generator().manual_seed(seed + 1))
    rows = []
    started = time.monotonic()
    for step in range(settings.steps):
        model.train()
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, settings)
        windows, classes = train_sampler.sample_labelled(settings.batch_size)
        inputs, labels = mask_tokens(tokenizer.encode(windows), settings.mask_share, generator)
        hidden = model.caduceus(inputs)
        logits = model.lm_head(hidden).float()
        mlm_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )
        loss = settings.mlm_weight * mlm_loss
        row = {"step": step + 1, "train_loss": mlm_loss.item()}
        if classifier is not None:
            class_loss = torch.nn.functional.cross_entropy(
                classifier(hidden, model.config.rcps).float(), torch.from_numpy(classes)
            )
            loss = loss + settings.annotation_weight * class_loss
            row["train_class_loss"] = class_loss.item()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite pretraining loss ({float(loss.detach())}) at step {step + 1}")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
        optimiser.step()
        row.update({"val_loss": np.nan, "val_accuracy": np.nan, "lr": lr_at(step, settings)})
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            scores = evaluate(model, val_inputs, val_labels, val_motif_mask)
            row.update(scores)
            elapsed = time.monotonic() - started
            motifs = (
                f" (planted motifs {row['val_accuracy_motif']:.3f}, background {row['val_accuracy_background']:.3f})"
                if "val_accuracy_motif" in row
                else ""
            )
            log.info(
                "step %d/%d: train loss %.4f, val loss %.4f, val masked accuracy %.3f%s, %.1f sequences/s",
                step + 1,
                settings.steps,
                row["train_loss"],
                row["val_loss"],
                row["val_accuracy"],
                motifs,
                (step + 1) * settings.batch_size / elapsed,
            )
        rows.append(row)
        if progress:
            progress(step + 1, settings.steps)
    curve = pd.DataFrame(rows)
    curve["composition_loss"] = composition_baseline(val_windows)
    return curve


@torch.no_grad()
def evaluate(
    model, inputs: torch.Tensor, labels: torch.Tensor, motif_mask: np.ndarray | None = None, batch_size: int = 32
) -> dict[str, float]:
    """Masked-LM loss and accuracy on held-out windows (and accuracy inside / outside motifs)."""
    model.eval()
    total, correct, count = 0.0, 0, 0
    hits = {True: [0, 0], False: [0, 0]}  # inside a planted motif: [correct, count]
    for i in range(0, len(inputs), batch_size):
        logits = model(inputs[i : i + batch_size])
        target = labels[i : i + batch_size]
        keep = target != -100
        total += float(torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum"))
        right = logits.argmax(-1) == target
        correct += int(right[keep].sum())
        count += int(keep.sum())
        if motif_mask is not None:
            inside = torch.from_numpy(motif_mask[i : i + batch_size])
            for where in (True, False):
                chosen = keep & (inside == where)
                hits[where][0] += int(right[chosen].sum())
                hits[where][1] += int(chosen.sum())
    scores = {"val_loss": total / max(count, 1), "val_accuracy": correct / max(count, 1)}
    if motif_mask is not None:
        scores["val_accuracy_motif"] = hits[True][0] / max(hits[True][1], 1)
        scores["val_accuracy_background"] = hits[False][0] / max(hits[False][1], 1)
    return scores


def planted_mask(windows_at: list[tuple[str, int, bool]], seq_len: int, planted: pd.DataFrame) -> np.ndarray:
    """(windows, seq_len) bool: positions of the windows inside planted motifs (strand-aware)."""
    by_chrom = {c: g for c, g in planted.groupby("chrom")}
    mask = np.zeros((len(windows_at), seq_len), dtype=bool)
    for i, (chrom, start, reverse) in enumerate(windows_at):
        sites = by_chrom.get(chrom)
        if sites is None:
            continue
        inside = sites[(sites.end > start) & (sites.start < start + seq_len)]
        for lo, hi in zip(inside.start - start, inside.end - start):
            mask[i, max(0, lo) : min(seq_len, hi)] = True
        if reverse:
            mask[i] = mask[i, ::-1]
    return mask


def validation_windows(fasta, chromosomes, settings: PretrainSettings, elements, seed: int, planted=None):
    """The fixed held-out windows (and their planted-motif mask when `planted` is given)."""
    sampler = WindowSampler(
        fasta, chromosomes, settings.seq_len, np.random.default_rng(seed), elements, settings.element_share
    )
    windows, positions = [], []
    rng = sampler.rng
    while len(windows) < settings.eval_windows:
        if sampler.element_share and rng.random() < sampler.element_share:
            row = sampler.elements.iloc[int(rng.integers(len(sampler.elements)))]
            chrom, start = row.chrom, int(row.centre) - settings.seq_len // 2
        else:
            chrom = sampler.chromosomes[rng.choice(len(sampler.chromosomes), p=sampler.weights)]
            start = int(rng.integers(0, len(sampler.seqs[chrom]) - settings.seq_len))
        if start < 0 or start + settings.seq_len > len(sampler.seqs[chrom]):
            continue
        window = sampler.seqs[chrom][start : start + settings.seq_len]
        if "N" in window:
            continue
        reverse = bool(rng.random() < 0.5)
        windows.append(reverse_complement(window) if reverse else window)
        positions.append((chrom, start, reverse))
    mask = planted_mask(positions, settings.seq_len, planted) if planted is not None else None
    return windows, mask


def run_pretrain_encoder(
    genome_fa,
    contigs_tsv,
    splits: dict,
    cfg: dict,
    seed: int,
    n_as: str,
    out_folder,
    curve_out,
    *,
    promoters_bed=None,
    ccres_bed=None,
    planted_bed=None,
    threads: int = 1,
    table=None,
) -> pd.DataFrame:
    """The `pretrain_encoder` job: pretrain on training chromosomes, save like a published checkpoint.

    `promoters_bed` / `ccres_bed` (the run's sources) place element-centred windows and give the
    element classes; `planted_bed` (synthetic truth, optional) only measures motif accuracy.
    Without a genome (`genome_fa` None), `table` is an MPRA set whose train rows are the windows
    and whose val rows are the held-out ones.
    """
    torch.set_num_threads(threads)
    settings = PretrainSettings(**{k: cfg[k] for k in PretrainSettings.__dataclass_fields__ if k in cfg})
    if genome_fa is None:
        if settings.element_share or settings.annotation_weight:
            raise InputError(None, "encoder.pretrain: element_share / annotation_weight need a genome and element BEDs")
        mpra = read_table(table)
        sampler = TableSampler(
            list(mpra.sequence[mpra.split == "train"]), settings.seq_len, np.random.default_rng(seed)
        )
        held_out = TableSampler(
            list(mpra.sequence[mpra.split == "val"]), settings.seq_len, np.random.default_rng(seed + 1)
        )
        val_windows = held_out.sample(settings.eval_windows)
        return _pretrain_and_save(
            cfg,
            settings,
            sampler,
            val_windows,
            None,
            seed,
            n_as,
            out_folder,
            curve_out,
            "training rows of the MPRA set",
        )
    from pyfaidx import Fasta

    contigs = Contigs.from_table(contigs_tsv)
    held_out = set(splits["val"]) | set(splits["test"])
    train = [c for c in contigs.kept if c not in held_out]
    fasta = Fasta(str(genome_fa), as_raw=True, rebuild=False)
    elements = None
    if promoters_bed is not None and ccres_bed is not None:
        elements = element_centres(read_promoters(promoters_bed, contigs), read_ccres(ccres_bed, contigs))
    elif settings.element_share or settings.annotation_weight:
        raise InputError(None, "encoder.pretrain: element_share / annotation_weight need the promoter and cCRE BEDs")
    sampler = WindowSampler(
        fasta, train, settings.seq_len, np.random.default_rng(seed), elements, settings.element_share
    )
    planted = read_planted_motifs(planted_bed) if planted_bed is not None else None
    val_windows, val_mask = validation_windows(fasta, list(splits["val"]), settings, elements, seed + 1, planted)
    where = (
        f"{len(train)} training chromosomes, {100 * sampler.element_share:.0f}% of windows centred on "
        f"{len(sampler.elements)} annotated elements"
    )
    return _pretrain_and_save(cfg, settings, sampler, val_windows, val_mask, seed, n_as, out_folder, curve_out, where)


def _pretrain_and_save(cfg, settings, sampler, val_windows, val_mask, seed, n_as, out_folder, curve_out, where):
    torch.manual_seed(seed)
    config = CaduceusConfig(d_model=cfg["d_model"], n_layer=cfg["n_layer"], rcps=cfg["rcps"])
    model = CaduceusForMaskedLM(config)
    log.info(
        "pretraining Caduceus (%s, %d parameters) on %s: %d steps of %d windows of %d bp, "
        "masked-LM weight %g, element-class weight %g",
        "PS" if cfg["rcps"] else "PH",
        count_parameters(model, trainable=False),
        where,
        settings.steps,
        settings.batch_size,
        settings.seq_len,
        settings.mlm_weight,
        settings.annotation_weight,
    )
    curve = pretrain(model, CaduceusTokenizer(n_as=n_as), sampler, val_windows, settings, seed, val_motif_mask=val_mask)
    save_caduceus(model, out_folder)
    write_table(curve, curve_out)
    return curve
