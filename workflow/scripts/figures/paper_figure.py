"""One paper figure: PDF, PNG and the plotted numbers as TSV, drawn from results tables."""

from pathlib import Path

from crelens.figures.paper import run_paper_figure
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_paper_figure(
        snakemake.wildcards.figure,
        dict(snakemake.input.items()),
        Path(snakemake.output.pdf).with_suffix(""),
        snakemake.params.settings,
    )
