"""Planted motifs in data set coordinates (crelens.datasets.truth_sites)."""

from __future__ import annotations

from crelens.data.jaspar import jaspar_motifs
from crelens.data.simulate import PlantedMotif, encode
from crelens.datasets.truth_sites import truth_sites
from crelens.names import SYNTHETIC_OUTPUTS as OUTPUTS


def test_truth_sites_point_at_the_planted_sequence(built):
    config, src, _, epi, mpra, _, ood = built
    sites = truth_sites(
        src / OUTPUTS["truth_motifs"],
        src / OUTPUTS["truth_designed"],
        epi,
        mpra,
        ood,
        config["datasets"]["mpra"]["input_length"],
    )
    assert set(sites.dataset) == {"epi", "mpra", "ood"}
    ids = sorted(set(sites.motif_id))
    motifs = {m.id: PlantedMotif(m, "x", {}, False) for m in jaspar_motifs("JASPAR2024", ids)}
    frames = {"epi": epi.set_index("seq_id"), "mpra": mpra.set_index("seq_id"), "ood": ood.set_index("seq_id")}
    for row in sites.groupby("dataset").head(150).itertuples():
        seq = frames[row.dataset].at[row.seq_id, "sequence"]
        strength = motifs[row.motif_id].strength(encode(seq[row.start : row.end]), row.strand)
        assert abs(1000 * strength - row.score) <= 1, row
