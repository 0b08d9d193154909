"""The simulator: deterministic, written in the real formats, and its truth is true."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from crelens.data.formats import (
    Contigs,
    iter_fasta,
    read_ccres,
    read_lentimpra,
    read_planted_motifs,
    read_promoters,
    read_sizes,
)
from crelens.data.jaspar import jaspar_motifs
from crelens.data.simulate import PlantedMotif, World, encode
from crelens.names import SYNTHETIC_OUTPUTS as OUTPUTS
from crelens.names import mpra_file
from crelens.sequences import LENTIMPRA_ADAPTOR_3, LENTIMPRA_ADAPTOR_5, strip_adaptors

from conftest import REPO, load_config, run_simulation


def all_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes(simulated, tmp_path):
    config, first = simulated
    run_simulation(config, tmp_path)
    assert all_files(first) == all_files(tmp_path)
    for name in all_files(first):
        assert filecmp.cmp(first / name, tmp_path / name, shallow=False), name


def test_other_seed_gives_another_world(simulated, tmp_path):
    config, first = simulated
    run_simulation(config, tmp_path, seed=config["seed"] + 1)
    assert not filecmp.cmp(first / OUTPUTS["genome"], tmp_path / OUTPUTS["genome"], shallow=False)


def test_files_parse_with_the_real_format_readers(simulated):
    config, folder = simulated
    records = dict(iter_fasta(folder / OUTPUTS["genome"]))
    assert list(records) == config["chromosomes"]
    sizes = read_sizes(folder / (OUTPUTS["genome"] + ".fai"))
    assert sizes == {name: len(seq) for name, seq in records.items()}
    contigs = Contigs(sizes, config["chromosomes"])
    promoters = read_promoters(folder / OUTPUTS["promoters"], contigs)
    assert len(promoters) > 50 and set(promoters.strand) == {"+", "-"}
    assert ((promoters.end - promoters.start) == 60).all()  # EPDnew: TSS-49 … TSS+10
    ccres = read_ccres(folder / OUTPUTS["ccres"], contigs)
    assert {"PLS", "pELS", "dELS", "CA-CTCF"} <= set(ccres.ccre_class)
    for cell in config["datasets"]["cells"]:
        table = read_lentimpra(folder / mpra_file(cell), contigs)
        assert set(table.strand) == {"+", "-"}
        assert table.seq.str.startswith(LENTIMPRA_ADAPTOR_5).all() and table.seq.str.endswith(LENTIMPRA_ADAPTOR_3).all()
        assert (table.seq.map(strip_adaptors).str.len() == config["data"]["synthetic"]["mpra"]["insert_bp"]).all()
        designed = table[table.chromosome == ""]
        assert designed.seq_id.str.startswith("DESIGN_").all() and len(designed) > 0


def test_distal_and_proximal_enhancers_follow_the_2kb_rule(simulated):
    config, folder = simulated
    sizes = read_sizes(folder / (OUTPUTS["genome"] + ".fai"))
    contigs = Contigs(sizes, config["chromosomes"])
    tss = read_promoters(folder / OUTPUTS["promoters"], contigs)
    ccres = read_ccres(folder / OUTPUTS["ccres"], contigs)
    for row in ccres[ccres.ccre_class.isin(["pELS", "dELS"])].itertuples():
        near = tss.tss[tss.chrom == row.chrom]
        distance = np.abs(near - (row.start + row.end) // 2).min() if len(near) else np.inf
        assert (distance <= 2000) == (row.ccre_class == "pELS")


def test_truth_bed_records_what_is_in_the_genome(simulated):
    config, folder = simulated
    genome = dict(iter_fasta(folder / OUTPUTS["genome"]))
    truth = read_planted_motifs(folder / OUTPUTS["truth_motifs"])
    design = {m["id"]: m for m in config["data"]["synthetic"]["design"]["motifs"]}
    motifs = {m.id: m for m in jaspar_motifs("JASPAR2024", list(design))}
    assert set(truth.motif_id) == set(design)  # every configured motif planted somewhere
    for row in truth.sample(300, random_state=0).itertuples():
        site = genome[row.chrom][row.start : row.end]
        assert "N" not in site.upper()
        planted = PlantedMotif(motifs[row.motif_id], "x", {}, False)
        strength = planted.strength(encode(site), row.strand)
        assert abs(1000 * strength - row.score) <= 1, (row, site)
        assert row.motif_name == design[row.motif_id]["name"]


def test_measured_activity_tracks_truth_up_to_the_noise_ceiling(simulated):
    config, folder = simulated
    truth = pd.read_csv(folder / OUTPUTS["truth_activity"], sep="\t").set_index("seq_id")
    ceiling = pd.read_csv(folder / OUTPUTS["noise_ceiling"], sep="\t").set_index("cell")
    for cell in config["datasets"]["cells"]:
        table = pd.read_csv(folder / mpra_file(cell), sep="\t", keep_default_na=False)
        plus = table[(table.strand == "+") & (table.chromosome != "")].set_index("seq_id")
        plus = plus[~plus.index.str.contains("__")]  # variants are not part of the ceiling's set
        r = np.corrcoef(plus.averaged_expression, truth.loc[plus.index, f"{cell}_true"])[0, 1]
        assert abs(r - ceiling.at[cell, "ceiling_pearson"]) < 0.08, (cell, r)
        assert 0.5 < r < 0.999


def test_variant_truth_hits_change_activity_and_misses_do_not(simulated):
    config, folder = simulated
    variants = pd.read_csv(folder / OUTPUTS["truth_variants"], sep="\t", keep_default_na=False)
    assert len(variants) > 5 and variants.hits_motif.any() and (~variants.hits_motif).any()
    assert set(variants.chrom) <= set(config["splits"]["test"])
    deltas = variants[[f"{c}_true_delta" for c in config["datasets"]["cells"]]].abs().sum(axis=1)
    assert (deltas[~variants.hits_motif] == 0).all()
    ctcf_id = next(m["id"] for m in config["data"]["synthetic"]["design"]["motifs"] if m["name"] == "CTCF")
    effective = variants.hits_motif & (variants.motif_id != ctcf_id)  # CTCF has no effect by design
    assert (deltas[effective] > 0).mean() > 0.8


@pytest.fixture(scope="module")
def world():
    config = load_config()
    syn = dict(config["data"]["synthetic"], jaspar_release="JASPAR2024")
    return World(syn, config["datasets"]["cells"], 0, read_sizes(REPO / "resources/hg38.chrom.sizes"), ["chr1"])


def best_site(world, name):
    """The consensus (most likely base per position) of a planted motif, on its + strand."""
    return world.motifs[name].motif.probs.argmax(axis=1).astype(np.int8)


def test_activity_is_the_documented_function(world):
    design = world.design
    insert = np.zeros(200, dtype=np.int8)  # poly-A carries no planted motif
    gata = best_site(world, "GATA1")
    centre = 100 - len(gata) // 2
    codes = insert.copy()
    codes[centre : centre + len(gata)] = gata
    base = world.activity(insert, [], "+")
    one = world.activity(codes, [("GATA1", centre, "+")], "+")
    effect = next(m["effect"] for m in design["motifs"] if m["name"] == "GATA1")
    distance = abs(centre + len(gata) / 2 - 100)
    position = design["position_floor"] + (1 - design["position_floor"]) * np.exp(
        -0.5 * (distance / design["position_scale_bp"]) ** 2
    )
    for cell in world.cells:
        assert base[cell] == design["baseline"][cell]
        assert one[cell] == pytest.approx(base[cell] + effect[cell] * position)
    # the same site at the insert's edge counts less
    edge = insert.copy()
    edge[: len(gata)] = gata
    assert world.activity(edge, [("GATA1", 0, "+")], "+")["K562"] < one["K562"]


def test_orientation_sensitive_motif_and_synergy(world):
    design = world.design
    tbp = best_site(world, "TBP")
    codes = np.zeros(200, dtype=np.int8)
    codes[90 : 90 + len(tbp)] = tbp
    forward = world.activity(codes, [("TBP", 90, "+")], "+")["K562"]
    reverse = world.activity(codes, [("TBP", 90, "+")], "-")["K562"]
    baseline = design["baseline"]["K562"]
    assert reverse - baseline == pytest.approx((forward - baseline) * design["orientation_penalty"])

    gata, tal = best_site(world, "GATA1"), best_site(world, "TAL1::TCF3")
    codes = np.zeros(200, dtype=np.int8)
    codes[60 : 60 + len(gata)] = gata
    codes[120 : 120 + len(tal)] = tal
    alone_a = world.activity(codes, [("GATA1", 60, "+")], "+")["K562"] - baseline
    alone_b = world.activity(codes, [("TAL1::TCF3", 120, "+")], "+")["K562"] - baseline
    both = world.activity(codes, [("GATA1", 60, "+"), ("TAL1::TCF3", 120, "+")], "+")["K562"] - baseline
    synergy = next(p["effect"]["K562"] for p in design["interactions"] if p["motifs"] == ["GATA1", "TAL1::TCF3"])
    assert both == pytest.approx(alone_a + alone_b + synergy)
