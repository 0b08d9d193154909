# Models of the comparison (issue 4): heads on the frozen-encoder cache, Malinois and the seed
# baselines trained from scratch, evaluation of each on the test sets with bootstrap CIs.

MODEL_CODE = (
    "training",
    "losses",
    "fit",
    "models.registry",
    "models.heads",
    "models.malinois",
    "models.attention",
    "models.flops",
    "cache",
    "io",
    "sequences",
)


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
        settings=head_settings,
        seed=lambda wildcards: derive_seed(
            config["seed"], f"head:{wildcards.task}:{wildcards.head}"
        ),
        code=code_version(*MODEL_CODE),
    script:
        "../workflow/scripts/train_head.py"


rule train_scratch:
    input:
        table="results/datasets/{task}.parquet",
    output:
        weights="results/models/{task}/{scratch}/best.safetensors",
        metrics="results/models/{task}/{scratch}/metrics.json",
        curve="results/models/{task}/{scratch}/curve.tsv",
    log:
        "results/logs/train_scratch/{task}_{scratch}.log",
    benchmark:
        "results/benchmarks/train_scratch/{task}_{scratch}.tsv"
    conda:
        GPU_ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        cells=CELLS,
        settings=config["baselines"],
        seed=lambda wildcards: derive_seed(
            config["seed"], f"scratch:{wildcards.task}:{wildcards.scratch}"
        ),
        code=code_version(*MODEL_CODE),
    script:
        "../workflow/scripts/train_scratch.py"


rule train_joint:
    input:
        mpra="results/datasets/mpra.parquet",
        epi="results/datasets/epi.parquet",
    output:
        weights="results/models/joint/best.safetensors",
        metrics="results/models/joint/metrics.json",
        curve="results/models/joint/curve.tsv",
    log:
        "results/logs/train_joint.log",
    benchmark:
        "results/benchmarks/train_joint.tsv"
    conda:
        GPU_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=360,
    params:
        cells=CELLS,
        settings=config["baselines"],
        seed=derive_seed(config["seed"], "joint"),
        code=code_version(*MODEL_CODE),
    script:
        "../workflow/scripts/train_joint.py"


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
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tables=lambda wildcards: evaluation_tables(wildcards.task),
        caches=lambda wildcards: evaluation_caches(wildcards.task, wildcards.model),
        cells=CELLS,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "evaluation"),
        code=code_version("evaluation", "metrics", *MODEL_CODE),
    script:
        "../workflow/scripts/evaluate.py"


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
        code=code_version("evaluation", "metrics", "io"),
    script:
        "../workflow/scripts/evaluate_noise_ceiling.py"
