# crelens: interpretable models of cis-regulatory DNA, from download to paper figures.
# Entry point only: configuration, validation, includes and the default target.
# Every rule runs on one thread, so `--cores N` runs N jobs side by side: on 2 cores that beat
# 2-thread jobs one at a time (job start-up, evaluation and motif scans are single-threaded;
# docs/world.md). A cluster profile can give a heavy rule more with `set-threads`. Rules on the
# long chain to the explanations (pretraining, caches, heads, models from scratch, attribution)
# carry a `priority`, so that chain starts first and the run does not end on one busy core.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config/config.yaml")


validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/datasets.smk"
include: "rules/encoder.smk"
include: "rules/models.smk"
include: "rules/evaluation.smk"
include: "rules/attribution.smk"
include: "rules/motifs.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        default_targets(),
