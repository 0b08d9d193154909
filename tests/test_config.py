"""The default configuration against config/schema.yaml, and crelens.config.check_config."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from crelens.config import check_config, check_splits, in_loop_models, trained_models
from crelens.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config" / "schema.yaml")


@pytest.fixture(scope="module")
def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture
def config(default_config) -> dict:
    return copy.deepcopy(default_config)


def schema_error(config: dict) -> str:
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    return str(info.value)


# ------------------------------------------------------------------------------------- schema


def test_default_config_passes_schema(config):
    validate(config, SCHEMA)


def test_tiny_overrides_pass_schema(tiny_config):  # fixture from tests/conftest.py
    validate(tiny_config, SCHEMA)
    check_config(tiny_config)


def test_unknown_top_level_key(config):
    config["seeed"] = 1
    message = schema_error(config)
    assert "'seeed' was unexpected" in message


def test_unknown_nested_key(config):
    config["datasets"]["epi"]["windw_bp"] = 600
    message = schema_error(config)
    assert "'windw_bp' was unexpected" in message
    assert "['datasets']['epi']" in message


def test_unknown_motif_field(config):
    config["data"]["synthetic"]["design"]["motifs"][0]["strenght"] = 1
    assert "'strenght' was unexpected" in schema_error(config)


@pytest.mark.parametrize(
    "path, value, problem",
    [
        (("seed",), "twenty", "'twenty' is not of type 'integer'"),
        (("datasets", "epi", "window_bp"), "600", "'600' is not of type 'integer'"),
        (("datasets", "mpra", "require_all_cells"), "yes", "'yes' is not of type 'boolean'"),
        (("data", "synthetic", "gc"), 0.95, "0.95 is greater than the maximum"),
        (("data", "source"), "remote", "'remote' is not one of"),
        (("chromosomes",), ["chr1", "chr1", "chr2"], "non-unique|has non-unique"),
    ],
)
def test_wrong_type_or_value(config, path, value, problem):
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    message = schema_error(config)
    assert re.search(problem, message), message


def test_missing_required_key(config):
    del config["datasets"]["mpra"]["target"]
    assert "'target' is a required property" in schema_error(config)


# -------------------------------------------------------------------------------- check_config


def test_default_config_passes_check(config):
    check_config(config)


def expect_config_error(config: dict, *fragments: str) -> str:
    with pytest.raises(InputError) as info:
        check_config(config)
    message = str(info.value)
    assert info.value.path is None and info.value.line is None
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_val_test_overlap(config):
    config["splits"]["test"].append("chr19")
    expect_config_error(config, "config splits", "chr19", "both val and test")


def test_split_chromosome_not_kept(config):
    config["splits"]["val"] = ["chr19", "chrY"]
    expect_config_error(config, "config splits", "chrY", "not in config chromosomes")


def test_no_training_chromosome(config):
    config["chromosomes"] = ["chr7", "chr13", "chr19", "chr21", "chrX"]
    expect_config_error(config, "config splits", "no chromosome for training")


def test_composition_not_summing_to_one(config):
    config["data"]["synthetic"]["mpra"]["composition"]["random"] = 0.4
    expect_config_error(config, "data.synthetic.mpra.composition", "sum to 1", "1.1")


def test_slot_shares_exceed_one(config):
    config["data"]["synthetic"]["slot_shares"]["enhancer"] = 0.9
    expect_config_error(config, "data.synthetic", "slot_shares plus repeat_share exceed 1")


def test_interaction_unknown_motif(config):
    config["data"]["synthetic"]["design"]["interactions"].append(
        {"motifs": ["GATA1", "KLF1"], "effect": {"K562": 0.1, "HepG2": 0.0, "WTC11": 0.0}}
    )
    expect_config_error(config, "data.synthetic.design.interactions", "KLF1")


def test_duplicate_motif_names(config):
    motifs = config["data"]["synthetic"]["design"]["motifs"]
    motifs.append(copy.deepcopy(motifs[0]))
    expect_config_error(config, "data.synthetic.design.motifs", "unique")


def test_motif_range_reversed(config):
    config["data"]["synthetic"]["design"]["motifs_per_enhancer"] = [5, 2]
    expect_config_error(config, "data.synthetic.design.motifs_per_enhancer", "5 > 2")


@pytest.mark.parametrize("missing", ["ref_id", "offset", "ref", "alt"])
def test_variant_pattern_lacks_group(config, missing):
    pattern = config["datasets"]["mpra"]["variant_pattern"]
    config["datasets"]["mpra"]["variant_pattern"] = pattern.replace(f"?P<{missing}>", "")
    expect_config_error(config, "datasets.mpra.variant_pattern", "lacks named groups", f"'{missing}'")


def test_variant_pattern_not_a_regex(config):
    config["datasets"]["mpra"]["variant_pattern"] = "(?P<ref_id>.+"
    expect_config_error(config, "datasets.mpra.variant_pattern", "not a regular expression")


@pytest.mark.parametrize(
    "where, drop",
    [
        ("data.synthetic.mpra.missing_share", lambda c: c["data"]["synthetic"]["mpra"]["missing_share"]),
        ("data.synthetic.design.baseline", lambda c: c["data"]["synthetic"]["design"]["baseline"]),
        ("data.synthetic.design.noise_sd", lambda c: c["data"]["synthetic"]["design"]["noise_sd"]),
        ("data.synthetic.design.motifs[SP1].effect", lambda c: c["data"]["synthetic"]["design"]["motifs"][0]["effect"]),
        (
            "data.synthetic.design.interactions['GATA1', 'TAL1::TCF3'].effect",
            lambda c: c["data"]["synthetic"]["design"]["interactions"][0]["effect"],
        ),
    ],
)
def test_missing_per_cell_value(config, where, drop):
    del drop(config)["HepG2"]
    expect_config_error(config, f"config {where}", "HepG2", "datasets.cells")


def test_new_cell_without_values(config):
    config["datasets"]["cells"].append("GM12878")
    expect_config_error(config, "data.synthetic.mpra.missing_share", "GM12878")


def test_download_needs_mpra_entry_per_cell(config):
    config["data"]["source"] = "download"
    check_config(copy.deepcopy(config))
    del config["data"]["download"]["mpra_WTC11"]
    expect_config_error(config, "data.download", "mpra_<cell>", "WTC11")


def test_download_duplicate_file_names(config):
    config["data"]["download"]["ccres"]["file"] = config["data"]["download"]["promoters"]["file"]
    expect_config_error(config, "data.download", "share one file name")


def test_split_configuration_errors():
    chroms = ["chr1", "chr2", "chr3"]
    with pytest.raises(InputError, match="both val and test"):
        check_splits({"val": ["chr2"], "test": ["chr2"]}, chroms)
    with pytest.raises(InputError, match="not in config chromosomes"):
        check_splits({"val": ["chr2"], "test": ["chr9"]}, chroms)
    with pytest.raises(InputError, match="no chromosome for training"):
        check_splits({"val": ["chr1"], "test": ["chr2", "chr3"]}, chroms)


def test_cache_bins_beyond_the_inputs(config):
    config["cache"]["bins"] = config["datasets"]["epi"]["window_bp"] + 1
    with pytest.raises(InputError, match="cache.bins"):
        check_config(config)


def test_head_bins_beyond_the_cache(config):
    config["heads"]["per_kind"] = {"mean": {"bins": config["cache"]["bins"] + 1}}
    with pytest.raises(InputError, match=r"heads.bins .*for mean"):
        check_config(config)


# ------------------------------------------------------------------------------ table source


def table_config(config: dict, **table) -> dict:
    config["data"]["source"] = "table"
    config["data"]["table"] = {"path": "lib.tsv", "sequence": "seq", "activity": {"Jurkat": "lfc"}, **table}
    config["encoder"]["pretrain"].update(element_share=0.0, annotation_weight=0.0)
    return config


def test_table_source_takes_cells_from_the_table_and_leaves_epi_out(config):
    from crelens.config import resolve_table_source

    config = table_config(config)
    validate(config, SCHEMA)
    resolve_table_source(config)
    check_config(config)  # no synthetic-world checks against the table's own cell types
    assert config["datasets"]["cells"] == ["Jurkat"]
    for tasks in (config["heads"]["tasks"], config["attribution"]["tasks"], config["motifs"]["tasks"]):
        assert tasks == ["mpra"]
    assert config["data"]["table"]["holdout"] == {"val": 0.1, "test": 0.1}  # defaults filled


def test_table_with_genome_and_beds_keeps_epi(config):
    from crelens.config import epi_available, resolve_table_source

    config = table_config(config, genome="g.fa", promoters="p.bed", ccres="c.bed")
    resolve_table_source(config)
    assert epi_available(config) and "epi" in config["heads"]["tasks"]


@pytest.mark.parametrize(
    ("table", "pretrain", "message"),
    [
        ({"split": {"column": "fold", "val": ["a"], "test": ["t"]}, "chromosome": "chr"}, {}, "not both"),
        ({"split": {"column": "fold", "val": ["a"], "test": ["a"]}}, {}, "in both val and test"),
        ({"holdout": {"val": 0.5, "test": 0.5}}, {}, "leave a training share"),
        ({}, {"annotation_weight": 1.0}, "annotation_weight is 1.0, but element classes need"),
        ({"promoters": "p.bed", "ccres": "c.bed"}, {}, "need data.table.genome"),
    ],
)
def test_contradictory_table_settings_are_named(config, table, pretrain, message):
    from crelens.config import resolve_table_source

    config = table_config(config, **table)
    config["encoder"]["pretrain"].update(pretrain)
    resolve_table_source(config)
    with pytest.raises(InputError, match=re.escape(message)):
        check_config(config)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_configured_column_missing_from_the_table_header_is_named_before_any_job(config, tmp_path, gzipped):
    import gzip

    from crelens.config import resolve_table_source

    text = "name\tseq\tlfc\n" + "x\tACGT\t1.0\n"
    path = tmp_path / ("lib.tsv.gz" if gzipped else "lib.tsv")
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    config = table_config(config, path=str(path), id="name")
    resolve_table_source(config)
    check_config(config)  # every configured column is there
    config["data"]["table"]["activity"] = {"Jurkat": "log2fc"}
    with pytest.raises(InputError, match=re.escape(f"{path}, line 1: no column 'log2fc' (data.table.activity.Jurkat)")):
        check_config(config)


def test_table_schema_rejects_folder_paths_and_bad_cell_names(config):
    assert "On instance['data']['table']" in schema_error(table_config(copy.deepcopy(config), path=".."))
    config = table_config(config)
    config["data"]["table"]["activity"] = {"K 562": "lfc"}
    assert "On instance['data']['table']" in schema_error(config)


# ------------------------------------------------------------ contradictions found by probing


def test_a_motif_source_with_lrp_on_a_model_that_is_no_head_is_named(config):
    config["motifs"]["sources"] = [{"model": "sparse_attention_5", "method": "lrp"}]
    with pytest.raises(InputError, match=re.escape("motifs.sources[0] (sparse_attention_5, lrp): LRP rules exist")):
        check_config(config)


def test_explained_models_must_be_trained(config):
    bad = copy.deepcopy(config)
    bad["heads"]["kinds"] = ["sum"]  # head_conv (the primary model) is no longer trained
    with pytest.raises(InputError, match="attribution.models: \\['head_conv'\\] are not trained"):
        check_config(bad)
    bad["attribution"]["models"] = ["head_sum"]
    with pytest.raises(InputError, match="attribution.primary.model 'head_conv' is not a model the run trains"):
        check_config(bad)
    bad = copy.deepcopy(config)
    bad["motifs"]["sources"] = [{"model": "head_mean", "method": "lrp"}]
    bad["heads"]["kinds"] = ["conv"]
    with pytest.raises(InputError, match="motifs.sources\\[0\\] \\(head_mean, lrp\\): head_mean is not a model"):
        check_config(bad)


def test_kept_chromosomes_must_be_in_the_sizes_file(config, tmp_path):
    (tmp_path / "sizes.tsv").write_text("chr1\t1000\nchr2\t900\n")
    config["data"]["synthetic"]["chrom_sizes"] = "sizes.tsv"
    config["chromosomes"] = ["chr1", "chr2", "chrZZ", "chr19", "chr21", "chrX", "chr7", "chr13"]
    with pytest.raises(InputError, match=re.escape("config chromosomes ['chrZZ', 'chr19'")) as caught:
        check_config(config, base_dir=tmp_path)
    assert caught.value.path == f"{tmp_path}/sizes.tsv"


def test_download_entries_accept_sha256_and_reject_folder_names(config):
    entry = config["data"]["download"]["ccres"]
    entry["sha256"] = "a" * 64
    validate(config, SCHEMA)
    for name in (".", ".."):
        bad = copy.deepcopy(config)
        bad["data"]["download"]["ccres"]["file"] = name
        assert "does not match" in schema_error(bad)
    bad = copy.deepcopy(config)
    bad["data"]["download"]["ccres"]["sha256"] = "xyz"
    assert "does not match" in schema_error(bad) or "is not valid" in schema_error(bad)


@pytest.mark.parametrize(
    "modes, mpra",
    [
        ("no_shift", ["head_conv", "head_mean"]),
        (["no_shift", "full"], ["head_conv", "head_mean", "head_conv_full"]),
        (["finetune", "full"], ["head_conv_full", "head_conv_finetune"]),
    ],
)
def test_each_training_mode_is_a_model_of_its_own_for_mpra(config, modes, mpra):
    config["heads"].update({"kinds": ["conv", "mean"], "aug_mode": modes})
    config["heads"]["in_loop"]["kinds"] = ["conv"]
    config["baselines"]["models"] = ["kmer_ridge"]
    validate(config, SCHEMA)
    assert trained_models(config, "mpra") == [*mpra, "kmer_ridge"]
    # the encoder-in-the-loop modes shift MPRA inserts inside their construct: MPRA only
    expected_epi = ["head_conv", "head_mean"] if "no_shift" in modes else []
    assert trained_models(config, "epi") == [*expected_epi, "kmer_ridge"]
    assert in_loop_models(config, "epi") == []


def test_an_encoder_in_the_loop_mode_without_mpra_is_named(config):
    config["heads"].update({"aug_mode": ["no_shift", "finetune"], "tasks": ["epi"]})
    with pytest.raises(InputError, match=r"heads.aug_mode \['finetune'\] .* heads.tasks needs mpra"):
        check_config(config)


def test_schema_takes_a_mode_or_a_list_of_modes(config):
    for value in ("full", ["no_shift", "finetune"]):
        config["heads"]["aug_mode"] = value
        validate(config, SCHEMA)
    for value in ("shifted", [], ["full", "full"]):
        config["heads"]["aug_mode"] = value
        assert "aug_mode" in schema_error(config)
