# Models of the comparison: heads on the frozen-encoder cache, Malinois and the seed baselines
# trained from scratch, all on the same splits through one training loop.


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
        code=script_code("models/train_head.py"),
    script:
        "../workflow/scripts/models/train_head.py"


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
        code=script_code("models/train_scratch.py"),
    script:
        "../workflow/scripts/models/train_scratch.py"


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
        code=script_code("models/train_joint.py"),
    script:
        "../workflow/scripts/models/train_joint.py"
