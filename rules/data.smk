# Sources: simulate the offline world, download the real files, or read the user's own table
# (data.source: table, read by mpra_dataset); then the run's genome and motifs.


rule simulate:
    input:
        sizes=repo_path(config["data"]["synthetic"]["chrom_sizes"]),
    output:
        **synthetic_outputs(),
    log:
        "results/logs/simulate.log",
    benchmark:
        "results/benchmarks/simulate.tsv"
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        synthetic=config["data"]["synthetic"],
        release=config["data"]["jaspar_release"],
        cells=CELLS,
        chromosomes=config["chromosomes"],
        variant_chromosomes=config["splits"]["test"],
        seed=derive_seed(config["seed"], "simulate"),
        outdir=lambda wildcards, output: os.path.dirname(output.genome),
        code=script_code("data/simulate.py"),
    script:
        "../workflow/scripts/data/simulate.py"


rule download:
    output:
        ensure(f"{DOWNLOAD_DIR}/{{file}}", md5=download_md5),
    log:
        "results/logs/download/{file}.log",
    wildcard_constraints:
        file=PINNED_FILES,
    localrule: True
    conda:
        ENV
    params:
        url=download_url,
        md5=download_md5,
        sha256=download_sha256,
        max_bytes=download_max_bytes,
        retries=config["data"]["download"]["retries"],
        timeout=config["data"]["download"]["timeout_s"],
        code=script_code("data/download.py"),
    script:
        "../workflow/scripts/data/download.py"


rule download_unpinned:
    output:
        ensure(f"{DOWNLOAD_DIR}/{{file}}", non_empty=True),
    log:
        "results/logs/download/{file}.log",
    wildcard_constraints:
        file=UNPINNED_FILES,
    localrule: True
    conda:
        ENV
    params:
        url=download_url,
        md5=None,
        sha256=download_sha256,
        max_bytes=download_max_bytes,
        retries=config["data"]["download"]["retries"],
        timeout=config["data"]["download"]["timeout_s"],
        code=script_code("data/download.py"),
    script:
        "../workflow/scripts/data/download.py"


rule prepare_genome:
    input:
        lambda wildcards: source_file("genome"),
    output:
        fasta="results/data/genome.fa",
        fai="results/data/genome.fa.fai",
        contigs="results/data/genome.contigs.tsv",
        gaps="results/data/gaps.bed",
    log:
        "results/logs/prepare_genome.log",
    benchmark:
        "results/benchmarks/prepare_genome.tsv"
    conda:
        ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        chromosomes=config["chromosomes"],
        code=script_code("data/prepare_genome.py"),
    script:
        "../workflow/scripts/data/prepare_genome.py"


rule jaspar:
    input:
        jaspar_source(),
    output:
        "results/data/jaspar.meme",
    log:
        "results/logs/jaspar.log",
    conda:
        ENV
    params:
        release=config["data"]["jaspar_release"],
        code=script_code("data/jaspar.py"),
    script:
        "../workflow/scripts/data/jaspar.py"
