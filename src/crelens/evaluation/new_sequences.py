"""A trained model applied to new inputs: the sequences of a FASTA, or the SNVs of a VCF on a genome.

Why: after training, a user's first question is what the model says about *their* sequences
and variants. Predictions are made exactly as the evaluation makes them (heads: the frozen
encoder's pooled features in float16, both strands averaged; fine-tuned heads and one-hot
models: forward and reverse complement of the sequence averaged), so a sequence of a test set
gets the same number here as in
`results/evaluation/`.

- FASTA: every record is one input. MPRA inputs shorter than the model input are padded with
  the MPRA flanks (as the data sets are); longer ones stop the run with the record named.
- VCF: biallelic SNVs (REF and ALT one of A, C, G, T) become a ref and an alt window of the
  model's input length, the variant at position L // 2 (0-based) of the window; REF must agree
  with the genome. Indels, multi-allelic and symbolic records are skipped and counted in the log.

Output formats: docs/data.md ("Predictions for new inputs").
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.data.formats import iter_fasta, open_text
from crelens.errors import InputError
from crelens.sequences import mpra_construct

log = logging.getLogger(__name__)

_BASES = set("ACGT")


def input_kind(path) -> str:
    """ "vcf" or "fasta", from the file name (optionally .gz)."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(".vcf"):
        return "vcf"
    if name.endswith((".fa", ".fasta", ".fna")):
        return "fasta"
    raise InputError(path, "predict.input must be a FASTA (.fa, .fasta, .fna) or a VCF (.vcf), optionally .gz")


def fasta_inputs(path, task: str, length: int) -> pd.DataFrame:
    """(id, sequence) of every record, at the model's input length."""
    rows = []
    for name, seq in iter_fasta(path):
        seq = seq.upper()
        if len(seq) > length or (task != "mpra" and len(seq) != length):
            need = f"at most {length}" if task == "mpra" else f"exactly {length}"
            raise InputError(path, f"record {name!r} is {len(seq)} nt; the model takes {need} nt")
        rows.append((name, mpra_construct(seq, length) if task == "mpra" else seq))
    return pd.DataFrame(rows, columns=["id", "sequence"])


def read_vcf_snvs(path) -> tuple[pd.DataFrame, dict[str, int]]:
    """(id, chrom, pos, ref, alt, line) of the biallelic SNVs of a VCF, and counts of what was skipped."""
    rows, skipped = [], {"indel": 0, "multiallelic": 0, "symbolic or missing": 0}
    header = False
    for number, raw in enumerate(open_text(path), start=1):
        line = raw.rstrip("\r\n")
        if line.startswith("##"):
            continue
        if line.startswith("#"):
            header = True
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            raise InputError(path, f"a VCF record has at least 5 tab-separated columns, found {len(fields)}", number)
        chrom, pos, vid, ref, alt = fields[:5]
        try:
            position = int(pos)
        except ValueError:
            raise InputError(path, f"POS is not an integer: {pos!r}", number) from None
        if position < 1:
            raise InputError(path, f"POS must be >= 1 (VCF positions are 1-based), got {position}", number)
        ref, alt = ref.upper(), alt.upper()
        if "," in alt:
            skipped["multiallelic"] += 1
        elif not (set(ref) <= _BASES and set(alt) <= _BASES) or not ref or not alt:
            skipped["symbolic or missing"] += 1
        elif len(ref) != 1 or len(alt) != 1:
            skipped["indel"] += 1
        else:
            name = vid if vid not in (".", "") else f"{chrom}:{position}{ref}>{alt}"
            rows.append((name, chrom, position, ref, alt, number))
    if not header and not rows:
        raise InputError(path, "no VCF header line (#CHROM ...) and no records: not a VCF")
    frame = pd.DataFrame(rows, columns=["id", "chrom", "pos", "ref", "alt", "line"])
    duplicated = frame.id.duplicated()
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise InputError(path, f"duplicate variant id {row.id!r}", int(row.line))
    return frame, skipped


def variant_windows(snvs: pd.DataFrame, genome, length: int, vcf_path, genome_path) -> pd.DataFrame:
    """Ref and alt windows of `length` nt with the variant at L // 2; REF checked against the genome."""
    refs, alts, starts = [], [], []
    centre = length // 2
    for row in snvs.itertuples():
        if row.chrom not in genome:
            raise InputError(vcf_path, f"chromosome {row.chrom!r} is not in the genome {genome_path}", row.line)
        start = row.pos - 1 - centre
        chrom_length = len(genome[row.chrom])
        if start < 0 or start + length > chrom_length:
            raise InputError(
                vcf_path,
                f"the {length}-nt window around {row.chrom}:{row.pos} runs past the chromosome ({chrom_length} nt)",
                row.line,
            )
        window = str(genome[row.chrom][start : start + length]).upper()
        if window[centre] != row.ref:
            raise InputError(
                vcf_path,
                f"REF {row.ref} of {row.id} disagrees with the genome {genome_path}, which has "
                f"{window[centre]} at {row.chrom}:{row.pos}",
                row.line,
            )
        refs.append(window)
        alts.append(window[:centre] + row.alt + window[centre + 1 :])
        starts.append(start)
    return snvs.assign(window_start=starts, ref_sequence=refs, alt_sequence=alts)


def predict_sequences(model_path, task: str, seqs: list[str], *, encoder_folder=None, bins=None, n_as="pad"):
    """(n, outputs) predictions of a trained model, made as the evaluation makes them."""
    from crelens.models.registry import load_model, task_view
    from crelens.models.training import predict
    from crelens.names import TASK_KINDS, reads_cache
    from crelens.sequences import one_hot_strands

    model, spec = load_model(model_path)
    view = task_view(model, task)
    kind = TASK_KINDS[task]
    if not reads_cache(spec["model"]):  # one-hot models, and fine-tuned heads with their own encoder
        return predict(view, one_hot_strands(seqs), kind)
    from crelens.encoder.features import Features

    if encoder_folder is None or bins is None:
        raise InputError(model_path, "a head predicts from the encoder's features: the encoder folder is needed")
    encode = Features(encoder_folder, bins, n_as)
    out = []
    for lo in range(0, len(seqs), 64):
        batch = list(seqs[lo : lo + 64])
        features = np.stack([encode(batch), encode.reverse(batch)], 1).astype(np.float16)
        out.append(predict(view, features, kind))
    return np.concatenate(out)


def _relevance(model_path, task, frame, names, method, settings, seed, encoder_folder, n_as):
    """Stored-format arrays (crelens.attribution.store) of `frame` (seq_id, sequence, label_id)."""
    from crelens.attribution.attribute import attribute
    from crelens.attribution.explained import load_explained

    dtype = settings["lrp_dtype"] if method == "lrp" else "float32"
    model = load_explained(model_path, task, names, encoder_folder=encoder_folder, n_as=n_as, dtype=dtype)
    if method == "lrp" and not model.lrp_modules():
        raise InputError(None, "predict.method lrp: LRP rules exist for Caduceus heads only")
    return attribute(model, frame, method, settings, seed)


def write_bedgraphs(windows: pd.DataFrame, relevance: np.ndarray, names: list[str], folder, track: str) -> list[Path]:
    """One bedGraph per output: relevance of each ref window at its genome positions (IGV opens it).

    Windows of nearby variants can overlap; each position is written once, from the first window
    (sorted by chromosome and start) that covers it, since bedGraph intervals must not overlap.
    """
    from crelens.atomic import atomic_open

    paths = []
    order = windows.sort_values(["chrom", "window_start"], kind="stable").index
    for k, name in enumerate(names):
        path = Path(folder) / f"relevance_{name}.bedGraph"
        with atomic_open(path) as out:
            out.write(f'track type=bedGraph name="{track} {name}" description="relevance of the ref window"\n')
            covered: dict[str, int] = {}
            for i in order:
                chrom, start = windows.chrom[i], int(windows.window_start[i])
                values = relevance[windows.index.get_loc(i), k]
                first = max(start, covered.get(chrom, 0))
                for pos in range(first, start + len(values)):
                    value = float(values[pos - start])
                    if math.isfinite(value):
                        out.write(f"{chrom}\t{pos}\t{pos + 1}\t{value:.6g}\n")
                covered[chrom] = start + len(values)
        paths.append(path)
    return paths


def run_predict(
    input_path,
    outputs: dict,
    *,
    model_path,
    model_name: str,
    task: str,
    table_path,
    cells: list[str],
    length: int,
    genome_path=None,
    encoder_folder=None,
    bins: int | None = None,
    n_as: str = "pad",
    relevance_method: str | None = None,
    settings: dict | None = None,
    seed: int = 0,
    threads: int = 1,
) -> pd.DataFrame:
    """The `predict_inputs` job. outputs: predictions (TSV), and with a relevance method,
    relevance (.npz) and, for a VCF, bedgraphs (a folder)."""
    import torch

    from crelens.atomic import atomic_open
    from crelens.attribution.selection import output_names
    from crelens.attribution.store import write_attributions
    from crelens.tables import read_table

    torch.set_num_threads(threads)
    names = output_names(task, read_table(table_path), cells)
    kind = input_kind(input_path)
    common = {"encoder_folder": encoder_folder, "bins": bins, "n_as": n_as}
    if kind == "fasta":
        frame = fasta_inputs(input_path, task, length)
        values = predict_sequences(model_path, task, list(frame.sequence), **common)
        table = frame[["id"]].copy()
        for k, name in enumerate(names):
            table[name] = values[:, k]
        explained = pd.DataFrame({"seq_id": frame.id, "sequence": frame.sequence})
    else:
        if genome_path is None:
            raise InputError(input_path, "a VCF needs a genome FASTA: set predict.genome")
        from pyfaidx import Fasta

        snvs, skipped = read_vcf_snvs(input_path)
        log.info("%s: %d SNVs; skipped %s", input_path, len(snvs), skipped)
        if snvs.empty:
            raise InputError(input_path, f"no biallelic SNV to score (skipped: {skipped})")
        windows = variant_windows(snvs, Fasta(str(genome_path), as_raw=True), length, input_path, genome_path)
        ref = predict_sequences(model_path, task, list(windows.ref_sequence), **common)
        alt = predict_sequences(model_path, task, list(windows.alt_sequence), **common)
        table = windows[["id", "chrom", "pos", "ref", "alt"]].copy()
        for k, name in enumerate(names):
            table[f"{name}_ref"] = ref[:, k]
            table[f"{name}_alt"] = alt[:, k]
            table[f"{name}_delta"] = alt[:, k] - ref[:, k]
        explained = pd.DataFrame({"seq_id": windows.id, "sequence": windows.ref_sequence})
    with atomic_open(outputs["predictions"]) as out:
        table.to_csv(out, sep="\t", index=False, float_format="%.6g")
    log.info("wrote %d predictions of %s (%s) to %s", len(table), model_name, task, outputs["predictions"])
    if relevance_method is not None:
        explained["label_id"] = -1
        arrays = _relevance(model_path, task, explained, names, relevance_method, settings, seed, encoder_folder, n_as)
        meta = {"task": task, "model": model_name, "selection": "predict", "method": relevance_method}
        write_attributions(outputs["relevance"], arrays, meta)
        if kind == "vcf":
            folder = Path(outputs["bedgraphs"])
            folder.mkdir(parents=True, exist_ok=True)
            write_bedgraphs(windows.reset_index(drop=True), arrays["relevance"], names, folder, model_name)
    return table
