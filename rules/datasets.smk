# Model-ready tables: EPI classification, MPRA regression, SNV pairs, OOD, and truth positions.


rule epi_dataset:
    input:
        genome="results/data/genome.fa",
        fai="results/data/genome.fa.fai",
        contigs="results/data/genome.contigs.tsv",
        gaps="results/data/gaps.bed",
        promoters=lambda wildcards: source_file("promoters"),
        ccres=lambda wildcards: source_file("ccres"),
    output:
        "results/datasets/epi.parquet",
    log:
        "results/logs/epi_dataset.log",
    benchmark:
        "results/benchmarks/epi_dataset.tsv"
    conda:
        ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        epi=config["datasets"]["epi"],
        splits=config["splits"],
        homology=config["datasets"]["homology"],
        seed=derive_seed(config["seed"], "epi"),
        code=script_code("datasets/epi_dataset.py"),
    script:
        "../workflow/scripts/datasets/epi_dataset.py"


rule mpra_dataset:
    input:
        unpack(mpra_inputs),
    output:
        mpra="results/datasets/mpra.parquet",
        snv="results/datasets/mpra_snv.parquet",
        ood="results/datasets/mpra_ood.parquet",
    log:
        "results/logs/mpra_dataset.log",
    benchmark:
        "results/benchmarks/mpra_dataset.tsv"
    conda:
        ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        mpra=config["datasets"]["mpra"],
        splits=config["splits"],
        cells=CELLS,
        homology=config["datasets"]["homology"],
        table=TABLE,
        seed=derive_seed(config["seed"], "mpra_split"),
        code=script_code("datasets/mpra_dataset.py"),
    script:
        "../workflow/scripts/datasets/mpra_dataset.py"


rule truth_sites:
    input:
        planted=synthetic_path("truth_motifs"),
        designed=synthetic_path("truth_designed"),
        epi="results/datasets/epi.parquet",
        mpra="results/datasets/mpra.parquet",
        ood="results/datasets/mpra_ood.parquet",
    output:
        "results/datasets/truth_sites.parquet",
    log:
        "results/logs/truth_sites.log",
    conda:
        ENV
    params:
        input_length=config["datasets"]["mpra"]["input_length"],
        code=script_code("datasets/truth_sites.py"),
    script:
        "../workflow/scripts/datasets/truth_sites.py"


rule datasets_summary:
    input:
        unpack(summary_inputs),
    output:
        table=report(
            "results/datasets/summary.tsv",
            category="Data",
            caption="../report/datasets_summary.rst",
        ),
        figure=report(
            "results/datasets/overview.png",
            category="Data",
            caption="../report/datasets_overview.rst",
        ),
    log:
        "results/logs/datasets_summary.log",
    conda:
        ENV
    params:
        cells=CELLS,
        code=script_code("datasets/datasets_summary.py"),
    script:
        "../workflow/scripts/datasets/datasets_summary.py"
