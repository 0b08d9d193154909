"""Attribution files as the motif stage reads them: the span that varies, and one group per output.

Constant flanks: MPRA constructs share their flanks (400 of 600 nt), so those positions
cannot explain differences between sequences and would show up as a "motif" in every
sequence; the analysis keeps the span of positions that vary between the explained sequences
(`variable_span`: the insert for MPRA, the whole window for genomic EPI sequences).

Groups: MPRA attributions are analysed per cell type (the relevance of that cell's output),
EPI attributions per class (the sequences of that class, relevance of that class's logit), so
the tables answer "which motifs drive activity in K562?" and "which motifs make a promoter?".
"""

from __future__ import annotations

import numpy as np

from crelens.sequences import variable_span


def cropped(stored: dict) -> tuple[list[str], np.ndarray, int]:
    """(sequences, relevance (n, k, L'), offset) restricted to the variable span."""
    sequences = [str(s) for s in stored["sequence"]]
    start, end = variable_span(sequences) if len(sequences) > 1 else (0, len(sequences[0]))
    return [s[start:end] for s in sequences], stored["relevance"][:, :, start:end], start


def groups_of(task: str, stored: dict) -> list[tuple[str, int, np.ndarray]]:
    """(group name, output index, sequence rows) of one attribution file."""
    n = len(stored["seq_id"])
    if task == "mpra":
        return [(f"mpra:{o}", k, np.arange(n)) for k, o in enumerate(stored["output"])]
    return [(f"epi:{o}", k, np.flatnonzero(stored["label_id"] == k)) for k, o in enumerate(stored["output"])]
