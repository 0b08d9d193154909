"""Attribution → motif chain on a toy set with a planted motif (seqlets, scan, enrichment, truth)."""

import numpy as np
import pandas as pd

from crelens.motif_analysis import denovo_truth, enrichment_for, groups_of, planted_families, variable_span

GATA = "AGATAAGA"
GATA_PROBS = np.full((4, 8), 0.02)
for i, base in enumerate(GATA):
    GATA_PROBS["ACGT".index(base), i] = 0.94
SOX_PROBS = np.full((4, 8), 0.02)
for i, base in enumerate("ACAAAGGC"):
    SOX_PROBS["ACGT".index(base), i] = 0.94
MATRICES = {"MA0035.5 GATA1": GATA_PROBS, "MA0143.5 SOX2": SOX_PROBS}
META = pd.DataFrame({"motif_id": ["MA0035.5", "MA0143.5"], "motif_name": ["GATA1", "SOX2"],
                     "family": ["C4-GATA-related", "SOX-related"], "key": list(MATRICES)})
SETTINGS = {"seqlet_pvalue": 0.01, "min_seqlet_len": 4, "max_seqlet_len": 25, "seqlet_flank": 3,
            "background": "low_attribution", "fimo_pvalue": 1e-4, "best_hit_only": True, "qvalue": 0.05}


def toy_stored(n=60, length=160, seed=0):
    """MPRA-like attributions: GATA planted in every sequence, relevance high on it, noise elsewhere."""
    rng = np.random.default_rng(seed)
    seqs, relevance = [], np.zeros((n, 1, length), np.float32)
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        pos = int(rng.integers(20, length - 30))
        seq[pos : pos + 8] = GATA
        seqs.append("".join(seq))
        relevance[i, 0] = rng.normal(0, 0.05, length)
        relevance[i, 0, pos : pos + 8] += rng.uniform(0.8, 1.2)
    return {"seq_id": np.array([f"s{i}" for i in range(n)]), "sequence": np.array(seqs), "output": np.array(["K562"]),
            "relevance": relevance, "prediction": np.zeros((n, 1), np.float32), "label_id": np.full(n, -1)}


def test_groups_are_cells_for_mpra_and_classes_for_epi():
    stored = toy_stored(4)
    assert [g for g, _, _ in groups_of("mpra", stored)] == ["mpra:K562"]
    epi = {**stored, "output": np.array(["enhancer", "promoter"]), "label_id": np.array([0, 1, 1, 0])}
    groups = groups_of("epi", epi)
    assert [(g, list(rows)) for g, _, rows in groups] == [("epi:enhancer", [0, 3]), ("epi:promoter", [1, 2])]


def test_planted_motif_family_is_enriched_and_the_absent_one_is_not():
    table, seqlets = enrichment_for({"mpra": toy_stored()}, MATRICES, META, SETTINGS, seed=0)
    assert len(seqlets) >= 50
    family = table[table.level == "family"].set_index("family")
    assert family.loc["C4-GATA-related", "qvalue"] < 1e-6
    assert family.loc["SOX-related", "qvalue"] > 0.05
    shuffled, _ = enrichment_for({"mpra": toy_stored()}, MATRICES, META, {**SETTINGS, "background": "shuffled"}, seed=0)
    assert shuffled.set_index(["level", "family"]).loc[("family", "C4-GATA-related"), "qvalue"] < 1e-6


def test_planted_families_follow_the_explained_outputs():
    sites = pd.DataFrame({"motif_name": ["GATA1", "HNF4A", "CTCF"], "tf_family": ["GATA", "HNF4", "CTCF"]})
    design = [{"name": "GATA1", "program": "K562", "effect": {"K562": 0.9}},
              {"name": "HNF4A", "program": "HepG2", "effect": {"K562": 0.0}},
              {"name": "CTCF", "program": "insulator", "effect": {"K562": 0.0}}]
    assert planted_families({"mpra": toy_stored(2)}, sites, design) == {"GATA"}


def test_denovo_truth_counts_matched_families():
    matches = pd.DataFrame({"pattern": ["p0", "p1", "p2"], "pval0": [1e-5, 1e-4, 0.5], "family0": ["GATA", "ETS", "SOX"]})
    check = denovo_truth(matches, {"GATA", "HNF4"}, match_pvalue=0.05).set_index("metric")
    assert check.loc["denovo_recall", "value"] == 0.5
    assert check.loc["denovo_false_share", "value"] == 0.5
    empty = denovo_truth(pd.DataFrame(columns=["pattern", "pval0", "family0"]), {"GATA"}, 0.05).set_index("metric")
    assert empty.loc["denovo_recall", "value"] == 0.0


def test_variable_span_drops_constant_flanks():
    assert variable_span(["AAACGTTT", "AAAGGATT", "AAACCTTT"]) == (3, 6)
    assert variable_span(["ACGT", "ACGT"]) == (0, 4)


def test_modisco_finds_the_planted_motif_and_matches_it_to_jaspar(tmp_path):
    """TF-MoDISco lite itself (not its no-pattern path): a motif carrying the relevance in most
    sequences comes back as a positive pattern whose best TOMTOM match is its JASPAR profile."""
    from crelens.attribution.jobs import write_attributions
    from crelens.motif_analysis import read_patterns, run_denovo
    from crelens.motifs_db import jaspar_motifs, write_meme

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
    stored = {"seq_id": np.array([f"s{i}" for i in range(n)]), "sequence": np.array(seqs), "output": np.array(["HepG2"]),
              "relevance": relevance, "prediction": np.zeros((n, 1), np.float32), "label_id": np.full(n, -1)}
    write_attributions(tmp_path / "mpra.npz", stored, {"task": "mpra"})
    write_meme(motifs, tmp_path / "jaspar.meme")
    settings = {"modisco": {"window": 15, "flank": 5, "target_seqlet_fdr": 0.05, "max_seqlets": 2000,
                            "leiden_runs": 2, "match_pvalue": 0.05}}
    run_denovo({"mpra": tmp_path / "mpra.npz"}, tmp_path / "jaspar.meme", "JASPAR2024", settings,
               tmp_path / "modisco.h5", tmp_path / "matches.tsv", tmp_path / "report")

    patterns = read_patterns(tmp_path / "modisco.h5")
    assert any(name.startswith("pos_patterns") for name in patterns)
    matches = pd.read_csv(tmp_path / "matches.tsv", sep="\t")
    best = matches.sort_values("n_seqlets", ascending=False).iloc[0]
    assert best["match0"].startswith("MA0114.5") and best["pval0"] < 0.05, matches.to_string()
    assert best["family0"] == hnf4.family
    assert (tmp_path / "report/motifs.html").stat().st_size > 0
