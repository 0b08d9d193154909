"""De novo motifs (crelens.motifs.denovo): TF-MoDISco lite finds a planted motif and TOMTOM names it."""

import numpy as np
import pandas as pd


def test_modisco_finds_the_planted_motif_and_matches_it_to_jaspar(tmp_path):
    """TF-MoDISco lite itself (not its no-pattern path): a motif carrying the relevance in most
    sequences comes back as a positive pattern whose best TOMTOM match is its JASPAR profile."""
    from crelens.attribution.store import write_attributions
    from crelens.data.jaspar import jaspar_motifs, write_meme
    from crelens.motifs.denovo import read_patterns, run_denovo_motifs

    # 40 profiles + HNF4A: TOMTOM's p-values need a target set of realistic size (>= 25)
    everything = jaspar_motifs("JASPAR2024")
    hnf4 = next(m for m in everything if m.id == "MA0114.5")
    motifs = [m for m in everything[:40] if m.family != hnf4.family] + [hnf4]
    rng = np.random.default_rng(1)
    n, length = 400, 120
    seqs, relevance = [], np.zeros((n, 1, length), np.float32)
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        pos = int(rng.integers(10, length - 25))
        site = "".join(rng.choice(list("ACGT"), p=row / row.sum()) for row in hnf4.probs)
        seq[pos : pos + hnf4.length] = site
        seqs.append("".join(seq))
        relevance[i, 0] = rng.normal(0, 0.02, length)
        relevance[i, 0, pos : pos + hnf4.length] += rng.uniform(0.8, 1.2)
    stored = {
        "seq_id": np.array([f"s{i}" for i in range(n)]),
        "sequence": np.array(seqs),
        "output": np.array(["HepG2"]),
        "relevance": relevance,
        "prediction": np.zeros((n, 1), np.float32),
        "label_id": np.full(n, -1),
    }
    write_attributions(tmp_path / "mpra.npz", stored, {"task": "mpra"})
    write_meme(motifs, tmp_path / "jaspar.meme")
    settings = {
        "modisco": {
            "window": 15,
            "flank": 5,
            "target_seqlet_fdr": 0.05,
            "max_seqlets": 2000,
            "leiden_runs": 2,
            "match_pvalue": 0.05,
        }
    }
    run_denovo_motifs(
        {"mpra": tmp_path / "mpra.npz"},
        tmp_path / "jaspar.meme",
        "JASPAR2024",
        settings,
        tmp_path / "modisco.h5",
        tmp_path / "matches.tsv",
        tmp_path / "report",
    )

    patterns = read_patterns(tmp_path / "modisco.h5")
    assert any(name.startswith("pos_patterns") for name in patterns)
    matches = pd.read_csv(tmp_path / "matches.tsv", sep="\t")
    best = matches.sort_values("n_seqlets", ascending=False).iloc[0]
    assert best["match0"].startswith("MA0114.5") and best["pval0"] < 0.05, matches.to_string()
    assert best["family0"] == hnf4.family
    assert (tmp_path / "report/motifs.html").stat().st_size > 0
