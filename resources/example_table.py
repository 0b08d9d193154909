"""Write resources/example_table.tsv.gz: an MPRA library as a user would bring it (no coordinates).

Made from the offline world of config/config.yaml (results/data/synthetic/Agarwal_<cell>.tsv of a
default run): 4,200 genomic elements measured in all three cell types, drawn with a fixed seed,
plus every designed sequence and every SNV of a drawn element. Columns: name, oligo (the 230-nt
lentiMPRA oligo, adaptors included), one activity column per cell type (log2, averaged over
both orientations), variant_of (the name of an SNV's reference) and designed. Coordinates and
folds are left out on purpose: the table run splits by groups of near-duplicates.

    python resources/example_table.py results/data/synthetic resources/example_table.tsv.gz
"""

import re
import sys

import numpy as np
import pandas as pd

CELLS = ("K562", "HepG2", "WTC11")
VARIANT = re.compile(r"^(?P<ref>.+)__\d+[ACGT]>[ACGT]$")


def main(folder: str, out: str, elements: int = 4200, seed: int = 20261205) -> None:
    merged = None
    for cell in CELLS:
        raw = pd.read_csv(f"{folder}/Agarwal_{cell}.tsv", sep="\t", keep_default_na=False, dtype=str)
        plus = raw[raw.strand == "+"].set_index("seq_id")
        frame = plus[["chromosome", "seq"]].assign(**{cell: plus.averaged_expression.astype(float)})
        merged = frame if merged is None else merged.join(frame[[cell]], how="inner")
    merged = merged.reset_index()
    ref = merged.seq_id.str.extract(VARIANT)["ref"].fillna("")
    designed = (merged.chromosome == "") & (ref == "")
    genomic = merged[(ref == "") & ~designed]
    drawn = set(genomic.sample(n=elements, random_state=np.random.RandomState(seed)).seq_id)
    keep = merged.seq_id.isin(drawn) | designed | ref.isin(drawn)
    table = pd.DataFrame(
        {
            "name": merged.seq_id,
            "oligo": merged.seq,
            **{cell: merged[cell].round(4) for cell in CELLS},
            "variant_of": ref,
            "designed": np.where(designed, "true", "false"),
        }
    )[keep]
    table.sort_values("name").to_csv(out, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{out}: {len(table)} rows ({int(designed[keep].sum())} designed, {int((ref[keep] != '').sum())} SNVs)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
