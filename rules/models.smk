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
    priority: 50
    conda:
        ENV
    threads: 1
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


rule train_head_in_loop:
    # heads.aug_mode full / finetune: the encoder runs on every step on shifted windows (MPRA)
    input:
        table="results/datasets/{task}.parquet",
        encoder=encoder_file("model.safetensors"),
        encoder_config=encoder_file("config.json"),
    output:
        weights="results/models/{task}/head_{head}_{aug}/best.safetensors",
        metrics="results/models/{task}/head_{head}_{aug}/metrics.json",
        curve="results/models/{task}/head_{head}_{aug}/curve.tsv",
        shifted="results/models/{task}/head_{head}_{aug}/shifted_inputs.tsv",
    log:
        "results/logs/train_head_in_loop/{task}_{head}_{aug}.log",
    benchmark:
        "results/benchmarks/train_head_in_loop/{task}_{head}_{aug}.tsv"
    priority: 30
    conda:
        GPU_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=480,
    params:
        cells=CELLS,
        settings=head_settings,
        in_loop=config["heads"]["in_loop"],
        bins=config["cache"]["bins"],
        n_as=config["encoder"]["n_as"],
        seed=lambda wildcards: derive_seed(
            config["seed"],
            f"head:{wildcards.task}:{wildcards.head}:{wildcards.aug}",
        ),
        code=script_code("models/train_head_in_loop.py"),
    script:
        "../workflow/scripts/models/train_head_in_loop.py"


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
    priority: 40
    conda:
        GPU_ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        cells=CELLS,
        settings=baseline_settings(
            "batch_size", "max_epochs", "patience", "malinois", "attention"
        ),
        seed=lambda wildcards: derive_seed(
            config["seed"], f"scratch:{wildcards.task}:{wildcards.scratch}"
        ),
        code=script_code("models/train_scratch.py"),
    script:
        "../workflow/scripts/models/train_scratch.py"


rule train_kmer:
    input:
        table="results/datasets/{task}.parquet",
    output:
        weights=f"results/models/{{task}}/{KMER}/best.safetensors",
        metrics=f"results/models/{{task}}/{KMER}/metrics.json",
        curve=f"results/models/{{task}}/{KMER}/curve.tsv",
    log:
        "results/logs/train_kmer/{task}.log",
    benchmark:
        "results/benchmarks/train_kmer/{task}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cells=CELLS,
        settings=config["baselines"]["kmer"],
        seed=lambda wildcards: derive_seed(config["seed"], f"kmer:{wildcards.task}"),
        code=script_code("models/train_kmer.py"),
    script:
        "../workflow/scripts/models/train_kmer.py"


rule train_distilled:
    input:
        table="results/datasets/{task}.parquet",
        teacher=f"results/models/{{task}}/{TEACHER}/best.safetensors",
    output:
        weights="results/models/{task}/{student}/best.safetensors",
        metrics="results/models/{task}/{student}/metrics.json",
        curve="results/models/{task}/{student}/curve.tsv",
    log:
        "results/logs/train_distilled/{task}_{student}.log",
    benchmark:
        "results/benchmarks/train_distilled/{task}_{student}.tsv"
    conda:
        GPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cells=CELLS,
        settings=baseline_settings("batch_size", "attention", "distillation"),
        seed=lambda wildcards: derive_seed(
            config["seed"], f"distilled:{wildcards.task}:{wildcards.student}"
        ),
        code=script_code("models/train_distilled.py"),
    script:
        "../workflow/scripts/models/train_distilled.py"


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
    threads: 1
    resources:
        mem_mb=8000,
        runtime=360,
    params:
        cells=CELLS,
        settings=baseline_settings(
            "batch_size", "max_epochs", "patience", "attention", "joint"
        ),
        seed=derive_seed(config["seed"], "joint"),
        code=script_code("models/train_joint.py"),
    script:
        "../workflow/scripts/models/train_joint.py"
