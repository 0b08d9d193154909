# Motifs: seqlets from attributions, JASPAR enrichment, de novo motifs, truth check (issue 6).


rule motif_database:
    input:
        "results/data/jaspar.meme",
    output:
        "results/motifs/jaspar.meme",
    log:
        "results/logs/motif_database.log",
    conda:
        ENV
    params:
        release=config["data"]["jaspar_release"],
        code=code_version("motifs_db", "io", "atomic"),
    script:
        "../workflow/scripts/motif_database.py"


rule motif_enrichment:
    input:
        unpack(motif_attributions),
        meme="results/motifs/jaspar.meme",
    output:
        enrichment="results/motifs/{model}/{method}/enrichment.tsv",
        seqlets="results/motifs/{model}/{method}/seqlets.tsv",
    log:
        "results/logs/motif_enrichment/{model}_{method}.log",
    benchmark:
        "results/benchmarks/motif_enrichment/{model}_{method}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        attributions=motif_attributions,
        release=config["data"]["jaspar_release"],
        settings=MOTIFS,
        seed=derive_seed(config["seed"], "motifs"),
        code=code_version(
            "motif_analysis", "enrichment", "seqlets", "motifs_db", "attribution", "io"
        ),
    script:
        "../workflow/scripts/motif_enrichment.py"


rule denovo_motifs:
    input:
        unpack(motif_attributions),
        meme="results/motifs/jaspar.meme",
    output:
        h5="results/motifs/{model}/{method}/modisco.h5",
        matches="results/motifs/{model}/{method}/denovo_matches.tsv",
        report=directory("results/motifs/{model}/{method}/modisco_report"),
    log:
        "results/logs/denovo_motifs/{model}_{method}.log",
    benchmark:
        "results/benchmarks/denovo_motifs/{model}_{method}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        attributions=motif_attributions,
        release=config["data"]["jaspar_release"],
        settings=MOTIFS,
        code=code_version("motif_analysis", "motifs_db", "attribution", "io"),
    script:
        "../workflow/scripts/denovo_motifs.py"


rule motif_truth_check:
    input:
        unpack(motif_attributions),
        enrichment="results/motifs/{model}/{method}/enrichment.tsv",
        matches="results/motifs/{model}/{method}/denovo_matches.tsv",
        sites="results/datasets/truth_sites.parquet",
    output:
        "results/motifs/{model}/{method}/truth_check.tsv",
    log:
        "results/logs/motif_truth_check/{model}_{method}.log",
    conda:
        ENV
    params:
        attributions=motif_attributions,
        motifs=config["data"]["synthetic"]["design"]["motifs"],
        settings=MOTIFS,
        code=code_version("motif_analysis", "enrichment", "io"),
    script:
        "../workflow/scripts/motif_truth_check.py"


rule summarise_motifs:
    input:
        unpack(motif_summary_inputs),
    output:
        enrichment=report(
            "results/motifs/enrichment.tsv",
            category="Motifs",
            caption="../report/motif_enrichment.rst",
        ),
        volcano=report(
            "results/motifs/figures/enrichment_volcano.png",
            category="Motifs",
            caption="../report/motif_volcano.rst",
        ),
        logos=report(
            "results/motifs/figures/motif_logos.png",
            category="Motifs",
            caption="../report/motif_logos.rst",
        ),
        positions=report(
            "results/motifs/figures/seqlet_positions.png",
            category="Motifs",
            caption="../report/seqlet_positions.rst",
        ),
    log:
        "results/logs/summarise_motifs.log",
    conda:
        ENV
    params:
        qvalue=MOTIFS["qvalue"],
        code=code_version("motif_analysis", "plots", "io"),
    script:
        "../workflow/scripts/summarise_motifs.py"


rule primary_truth_check:
    input:
        os.path.join(
            motif_folder(MOTIF_PRIMARY["model"], MOTIF_PRIMARY["method"]),
            "truth_check.tsv",
        ),
    output:
        report(
            "results/motifs/truth_check.tsv",
            category="Motifs",
            caption="../report/motif_truth.rst",
        ),
    log:
        "results/logs/primary_truth_check.log",
    conda:
        ENV
    script:
        "../workflow/scripts/primary_truth_check.py"
