# Motifs: seqlets from attributions, JASPAR enrichment, de novo motifs, truth check.


rule motif_enrichment:
    input:
        unpack(motif_attributions),
        meme="results/data/jaspar.meme",
    output:
        enrichment="results/motifs/{model}/{method}/enrichment.tsv",
        seqlets="results/motifs/{model}/{method}/seqlets.tsv",
    log:
        "results/logs/motif_enrichment/{model}_{method}.log",
    benchmark:
        "results/benchmarks/motif_enrichment/{model}_{method}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        attributions=motif_attributions,
        release=config["data"]["jaspar_release"],
        settings=MOTIFS,
        seed=derive_seed(config["seed"], "motifs"),
        code=script_code("motifs/motif_enrichment.py"),
    script:
        "../workflow/scripts/motifs/motif_enrichment.py"


rule denovo_motifs:
    input:
        unpack(motif_attributions),
        meme="results/data/jaspar.meme",
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
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        attributions=motif_attributions,
        release=config["data"]["jaspar_release"],
        settings=MOTIFS,
        code=script_code("motifs/denovo_motifs.py"),
    script:
        "../workflow/scripts/motifs/denovo_motifs.py"


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
        code=script_code("motifs/motif_truth_check.py"),
    script:
        "../workflow/scripts/motifs/motif_truth_check.py"


rule summarise_motifs:
    input:
        unpack(motif_summary_inputs),
    output:
        **motif_summary_truth(),
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
        code=script_code("motifs/summarise_motifs.py"),
    script:
        "../workflow/scripts/motifs/summarise_motifs.py"
