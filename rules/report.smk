# Reports: the model comparison table (TSV + Markdown), paired tests and figures.


rule compare_models:
    input:
        report_inputs,
    output:
        comparison=report(
            "results/reports/comparison.tsv",
            category="Models",
            caption="../report/comparison.rst",
        ),
        markdown="results/reports/comparison.md",
        paired="results/reports/paired_tests.tsv",
        models="results/reports/models.tsv",
        bars=report(
            "results/reports/figures/comparison_bars.png",
            category="Models",
            caption="../report/comparison_bars.rst",
        ),
        scatter=report(
            "results/reports/figures/mpra_scatter.png",
            category="Models",
            caption="../report/mpra_scatter.rst",
        ),
        curves=report(
            "results/reports/figures/training_curves.png",
            category="Models",
            caption="../report/training_curves.rst",
        ),
        confusion=report(
            "results/reports/figures/epi_confusion.png",
            category="Models",
            caption="../report/epi_confusion.rst",
        ),
    log:
        "results/logs/compare_models.log",
    benchmark:
        "results/benchmarks/compare_models.tsv"
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        metrics=evaluation_targets("metrics.tsv"),
        predictions=evaluation_targets("predictions.parquet"),
        train_metrics=trained_model_files("metrics.json"),
        curves=trained_model_files("curve.tsv"),
        cells=CELLS,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "comparison"),
        code=code_version("report", "evaluation", "metrics", "plots"),
    script:
        "../workflow/scripts/compare_models.py"
