# Attribution: MambaLRP for Caduceus + heads, baselines, conservation and faithfulness.


rule attribute:
    input:
        unpack(attribution_inputs),
    output:
        "results/attribution/{task}/{model}/{selection}/{method}.npz",
    log:
        "results/logs/attribute/{task}_{model}_{selection}_{method}.log",
    benchmark:
        "results/benchmarks/attribute/{task}_{model}_{selection}_{method}.tsv"
    priority: 30
    conda:
        GPU_ENV
    threads: 1
    # Peak RSS with attribution.chunk 64 on the default (200 nt): ISM 1.7 GB, SmoothGrad and IG
    # 1.2-1.3 GB (whole batches: IG 3.7 GB); at 600 nt chunked IG and SmoothGrad 2.3 GB
    # (benchmarks/bench_attribution_memory.py).
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        encoder_folder=lambda wildcards, input: (
            os.path.dirname(input.encoder) if "encoder" in input.keys() else None
        ),
        cells=CELLS,
        settings=ATTRIBUTE_SETTINGS,
        n_as=config["encoder"]["n_as"],
        seed=lambda wildcards: derive_seed(
            config["seed"], f"attribution/{wildcards.task}/{wildcards.selection}"
        ),
        code=script_code("attribution/attribute.py"),
    script:
        "../workflow/scripts/attribution/attribute.py"


rule faithfulness:
    input:
        unpack(faithfulness_inputs),
    output:
        scores="results/attribution/{task}/{model}/faithfulness.tsv",
        curves="results/attribution/{task}/{model}/curves.tsv",
    log:
        "results/logs/faithfulness/{task}_{model}.log",
    benchmark:
        "results/benchmarks/faithfulness/{task}_{model}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        encoder_folder=lambda wildcards, input: (
            os.path.dirname(input.encoder) if "encoder" in input.keys() else None
        ),
        attributions=lambda wildcards: {
            m: attribution_file(wildcards.task, wildcards.model, "test", m)
            for m in attribution_methods(wildcards.model)
        },
        cells=CELLS,
        settings=FAITHFULNESS_SETTINGS,
        n_as=config["encoder"]["n_as"],
        motifs=config["data"]["synthetic"]["design"]["motifs"] if SYNTHETIC else None,
        code=script_code("attribution/faithfulness.py"),
    script:
        "../workflow/scripts/attribution/faithfulness.py"


rule summarise_attribution:
    input:
        attribution_summary_inputs,
    output:
        conservation=report(
            "results/attribution/conservation.tsv",
            category="Attribution",
            caption="../report/conservation.rst",
        ),
        conservation_per_sequence="results/attribution/conservation_per_sequence.tsv",
        faithfulness=report(
            "results/attribution/faithfulness.tsv",
            category="Attribution",
            caption="../report/faithfulness.rst",
        ),
        faithfulness_all="results/attribution/faithfulness_all.tsv",
        paired="results/attribution/paired_differences.tsv",
        conservation_figure=report(
            "results/attribution/figures/conservation.png",
            category="Attribution",
            caption="../report/conservation_figure.rst",
        ),
        curves_figure=report(
            "results/attribution/figures/perturbation_curves.png",
            category="Attribution",
            caption="../report/perturbation_curves.rst",
        ),
        faithfulness_figure=report(
            "results/attribution/figures/faithfulness.png",
            category="Attribution",
            caption="../report/faithfulness_figure.rst",
        ),
        logos_figure=report(
            "results/attribution/figures/logos.png",
            category="Attribution",
            caption="../report/logos.rst",
        ),
    log:
        "results/logs/summarise_attribution.log",
    benchmark:
        "results/benchmarks/summarise_attribution.tsv"
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        lrp_files=lrp_files(),
        scores=faithfulness_files("faithfulness.tsv"),
        curves=faithfulness_files("curves.tsv"),
        primary_files=primary_attribution_files(),
        primary=ATTRIBUTION["primary"],
        logos=ATTRIBUTION["logos"],
        sites="results/datasets/truth_sites.parquet" if SYNTHETIC else None,
        motifs=config["data"]["synthetic"]["design"]["motifs"] if SYNTHETIC else None,
        settings=config["evaluation"],
        seed=derive_seed(config["seed"], "attribution_summary"),
        code=script_code("attribution/summarise_attribution.py"),
    script:
        "../workflow/scripts/attribution/summarise_attribution.py"
