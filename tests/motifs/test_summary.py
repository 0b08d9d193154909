"""The motif stage's headline tables and figures (crelens.motifs.summary)."""

from __future__ import annotations

import pandas as pd

from crelens.data.jaspar import jaspar_motifs, write_meme
from crelens.motifs.summary import run_summarise_motifs
from crelens.tables import read_table, write_table


def inputs(tmp_path, truth: bool) -> dict:
    enrichment = pd.DataFrame(
        {
            "group": "mpra:K562",
            "level": ["motif", "family"],
            "motif_id": ["MA0035.5", "GATA"],
            "motif_name": ["GATA1", "GATA1"],
            "family": ["GATA", "GATA"],
            "seqlets_with": 10,
            "seqlets": 20,
            "background_with": 1,
            "background": 20,
            "odds_ratio": 19.0,
            "pvalue": 1e-5,
            "qvalue": 1e-4,
        }
    )
    files = {
        "enrichment": tmp_path / "enrichment.tsv",
        "seqlets": tmp_path / "seqlets.tsv",
        "matches": tmp_path / "matches.tsv",
        "modisco": tmp_path / "modisco.h5",
        "meme": tmp_path / "jaspar.meme",
    }
    write_table(enrichment, files["enrichment"])
    write_table(pd.DataFrame({"group": "mpra:K562", "start": [290], "end": [310], "length": [600]}), files["seqlets"])
    write_table(pd.DataFrame(columns=["pattern", "n_seqlets", "match0", "pval0", "family0"]), files["matches"])
    import h5py

    h5py.File(files["modisco"], "w").close()  # TF-MoDISco found no pattern
    write_meme(jaspar_motifs("JASPAR2024", ["MA0035.5"]), files["meme"])
    if truth:
        files["truth_check"] = tmp_path / "truth.tsv"
        write_table(
            pd.DataFrame({"metric": ["recall"], "value": [1.0], "n": [1], "detail": ["GATA"]}), files["truth_check"]
        )
    return files


def outputs(tmp_path, truth: bool) -> dict:
    out = {name: tmp_path / "out" / f"{name}.png" for name in ("volcano", "logos", "positions")}
    out["enrichment"] = tmp_path / "out" / "enrichment.tsv"
    if truth:
        out["truth_check"] = tmp_path / "out" / "truth_check.tsv"
    return out


def test_headline_tables_are_the_primary_sources_and_the_figures_are_drawn(tmp_path):
    files, out = inputs(tmp_path, truth=True), outputs(tmp_path, truth=True)
    run_summarise_motifs(files, out, qvalue=0.05)
    pd.testing.assert_frame_equal(read_table(out["enrichment"]), read_table(files["enrichment"]))
    assert read_table(out["truth_check"]).detail.tolist() == ["GATA"]
    for name in ("volcano", "logos", "positions"):
        assert out[name].read_bytes()[:4] == b"\x89PNG", name


def test_without_the_truth_there_is_no_truth_check(tmp_path):
    files, out = inputs(tmp_path, truth=False), outputs(tmp_path, truth=False)
    run_summarise_motifs(files, out, qvalue=0.05)
    assert not (tmp_path / "out" / "truth_check.tsv").exists()
