"""The data sets' summary table and overview figure (crelens.datasets.overview)."""

from __future__ import annotations

import pandas as pd
import pytest

from crelens.datasets.overview import datasets_summary, run_datasets_summary
from crelens.sequences import gc_fraction
from crelens.tables import read_table, write_table


def test_summary_counts_gc_activity_and_the_ceiling(built):
    config, _, _, epi, mpra, snv, ood = built
    cells = config["datasets"]["cells"]
    ceiling = pd.DataFrame({"cell": cells, "ceiling_pearson": [0.9, 0.91, 0.92]})
    summary = datasets_summary(epi, mpra, snv, ood, cells, ceiling)
    value = summary.set_index(["dataset", "split", "group", "statistic"]).value
    assert summary[(summary.dataset == "epi") & (summary.statistic == "n")].value.sum() == len(epi)
    test = mpra[mpra.split == "test"]
    assert value["mpra", "test", "all", "n"] == len(test)
    assert value["mpra", "test", cells[0], "mean_activity"] == pytest.approx(test[cells[0]].mean(), abs=1e-6)
    assert value["mpra", "test", "all", "mean_gc"] == pytest.approx(test["insert"].map(gc_fraction).mean(), abs=1e-6)
    assert value["ood", "ood", "all", "n"] == len(ood)
    assert value["snv", "test", "all", "n"] == len(snv)
    assert value["snv", "test", "hits_motif", "n"] == int(snv.hits_motif.sum())
    assert value["mpra", "all", cells[2], "noise_ceiling_pearson"] == 0.92


def test_the_job_writes_the_table_and_the_figure(built, tmp_path):
    config, _, _, epi, mpra, snv, ood = built
    paths = {}
    for name, frame in (("epi", epi), ("mpra", mpra), ("snv", snv), ("ood", ood)):
        paths[name] = tmp_path / f"{name}.parquet"
        write_table(frame, paths[name])
    cells = config["datasets"]["cells"]
    summary = run_datasets_summary(paths, cells, tmp_path / "summary.tsv", tmp_path / "overview.png")
    pd.testing.assert_frame_equal(read_table(tmp_path / "summary.tsv"), summary, check_dtype=False)
    assert (tmp_path / "overview.png").read_bytes()[:4] == b"\x89PNG"
    assert "noise_ceiling_pearson" not in set(summary.statistic)  # no ceiling without the truth
