"""Conservation and faithfulness tables with CIs, and the attribution figures."""

from crelens.attribution.summary import run_summarise_attribution
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_summarise_attribution(
        snakemake.params.lrp_files,
        snakemake.params.scores,
        snakemake.params.curves,
        snakemake.params.primary_files,
        snakemake.params.primary,
        dict(snakemake.output.items()),
        n_boot=snakemake.params.settings["n_boot"],
        level=snakemake.params.settings["level"],
        seed=snakemake.params.seed,
        logos=snakemake.params.logos,
        sites_path=snakemake.params.sites,
        design_motifs=snakemake.params.motifs,
    )
