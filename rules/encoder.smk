# The frozen encoder: pretrain a small Caduceus offline or download published weights; cache features.


rule pretrain_encoder:
    input:
        unpack(pretrain_inputs),
    output:
        config="results/encoder/pretrained/config.json",
        weights="results/encoder/pretrained/model.safetensors",
        curve="results/encoder/pretrained/loss_curve.tsv",
    log:
        "results/logs/pretrain_encoder.log",
    benchmark:
        "results/benchmarks/pretrain_encoder.tsv"
    priority: 100
    conda:
        GPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        pretrain=config["encoder"]["pretrain"],
        splits=config["splits"],
        n_as=config["encoder"]["n_as"],
        seed=derive_seed(config["seed"], "pretrain_encoder"),
        code=script_code("encoder/pretrain_encoder.py"),
    script:
        "../workflow/scripts/encoder/pretrain_encoder.py"


rule encoder_loss_curve:
    input:
        "results/encoder/pretrained/loss_curve.tsv",
    output:
        report(
            "results/encoder/loss_curve.png",
            category="Encoder",
            caption="../report/encoder_loss_curve.rst",
        ),
    log:
        "results/logs/encoder_loss_curve.log",
    conda:
        ENV
    params:
        code=script_code("encoder/encoder_loss_curve.py"),
    script:
        "../workflow/scripts/encoder/encoder_loss_curve.py"


rule download_encoder:
    output:
        config="results/encoder/download/config.json",
        weights="results/encoder/download/model.safetensors",
    log:
        "results/logs/download_encoder.log",
    localrule: True
    conda:
        ENV
    params:
        repo_id=config["encoder"]["download"]["repo_id"],
        revision=config["encoder"]["download"]["revision"],
        code=script_code("encoder/download_encoder.py"),
    script:
        "../workflow/scripts/encoder/download_encoder.py"


rule cache_embeddings:
    input:
        table=cache_table_input,
        config=encoder_file("config.json"),
        weights=encoder_file("model.safetensors"),
    output:
        "results/cache/{table}/manifest.json",
    log:
        "results/logs/cache_embeddings/{table}.log",
    benchmark:
        "results/benchmarks/cache_embeddings/{table}.tsv"
    priority: 90
    conda:
        GPU_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        column=cache_column,
        cache=config["cache"],
        n_as=config["encoder"]["n_as"],
        code=script_code("encoder/cache_embeddings.py"),
    script:
        "../workflow/scripts/encoder/cache_embeddings.py"
