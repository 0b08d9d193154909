# Evaluation: every model scored on the same test sets with bootstrap CIs; the comparison report.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        predictions="results/evaluation/{task}/{model}/predictions.parquet",
        metrics="results/evaluation/{task}/{model}/metrics.tsv",
    log:
        "results/logs/evaluate/{task}_{model}.log",
    benchmark:
        "results/benchmarks/evaluate/{task}_{model}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tables=lambda wildcards: evaluation_tables(wildcards.task),
        caches=lambda wildcards: evaluation_caches(wildcards.task, wildcards.model),
        cells=CELLS,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "evaluation"),
        code=script_code("evaluation/evaluate.py"),
    script:
        "../workflow/scripts/evaluation/evaluate.py"


rule evaluate_noise_ceiling:
    input:
        truth=synthetic_path("truth_activity"),
        variants=synthetic_path("truth_variants"),
        mpra="results/datasets/mpra.parquet",
        snv="results/datasets/mpra_snv.parquet",
        ood="results/datasets/mpra_ood.parquet",
    output:
        predictions=f"results/evaluation/mpra/{NOISE_CEILING}/predictions.parquet",
        metrics=f"results/evaluation/mpra/{NOISE_CEILING}/metrics.tsv",
    log:
        "results/logs/evaluate/mpra_noise_ceiling.log",
    conda:
        ENV
    params:
        tables=evaluation_tables("mpra"),
        cells=CELLS,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "evaluation"),
        code=script_code("evaluation/evaluate_noise_ceiling.py"),
    script:
        "../workflow/scripts/evaluation/evaluate_noise_ceiling.py"


rule compare_models:
    input:
        report_inputs,
    output:
        **epi_confusion_output(),
        comparison=report(
            "results/reports/comparison.tsv",
            category="Models",
            caption="../report/comparison.rst",
        ),
        markdown="results/reports/comparison.md",
        paired="results/reports/paired_tests.tsv",
        models="results/reports/models.tsv",
        aug_modes="results/reports/aug_modes.tsv",
        distillation="results/reports/distillation.tsv",
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
        notes=left_out_notes(),
        cells=CELLS,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "comparison"),
        code=script_code("evaluation/compare_models.py"),
    script:
        "../workflow/scripts/evaluation/compare_models.py"


rule predict:
    # Score new inputs with a trained model (docs/data.md), for example
    #   snakemake predict --config predict="{input: my.vcf, genome: hg38.fa, model: head_mean}"
    input:
        predict_targets,
    localrule: True


rule predict_inputs:
    input:
        unpack(predict_inputs),
    output:
        **predict_outputs(),
    log:
        "results/logs/predict/{name}.log",
    benchmark:
        "results/benchmarks/predict/{name}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        predict=PREDICT,
        cells=CELLS,
        length=predict_length(),
        bins=config["cache"]["bins"],
        n_as=config["encoder"]["n_as"],
        settings=ATTRIBUTE_SETTINGS,
        seed=derive_seed(config["seed"], "predict"),
        code=script_code("evaluation/predict.py"),
    script:
        "../workflow/scripts/evaluation/predict.py"
