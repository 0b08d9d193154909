# Paper figures: PDF + PNG + the plotted numbers as TSV, redrawn from results tables.


rule paper_figure:
    input:
        unpack(figure_inputs),
    output:
        pdf="results/figures/{figure}.pdf",
        png="results/figures/{figure}.png",
        tsv="results/figures/{figure}.tsv",
    log:
        "results/logs/paper_figure/{figure}.log",
    wildcard_constraints:
        figure=_alternatives(FIGURES),
    conda:
        ENV
    params:
        settings=figure_settings,
        code=script_code("figures/paper_figure.py"),
    script:
        "../workflow/scripts/figures/paper_figure.py"


rule figures:
    input:
        figure_targets(),
    localrule: True
