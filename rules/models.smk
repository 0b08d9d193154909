# Heads on the frozen-encoder cache (one job per task x head).


rule train_head:
    input:
        table="results/datasets/{task}.parquet",
        cache="results/cache/{task}/manifest.json",
    output:
        weights="results/models/{task}/head_{head}/best.safetensors",
        metrics="results/models/{task}/head_{head}/metrics.json",
        curve="results/models/{task}/head_{head}/curve.tsv",
    log:
        "results/logs/train_head/{task}_{head}.log",
    benchmark:
        "results/benchmarks/train_head/{task}_{head}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cells=CELLS,
        settings=config["heads"],
        seed=lambda wildcards: derive_seed(
            config["seed"], f"head:{wildcards.task}:{wildcards.head}"
        ),
        code=code_version("fit", "training", "models.heads", "cache", "io"),
    script:
        "../workflow/scripts/train_head.py"
