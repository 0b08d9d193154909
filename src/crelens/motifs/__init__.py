"""Motifs (rules/motifs.smk): from per-nucleotide attributions to JASPAR motifs.

- `attributions`: attribution files as the motif stage reads them (variable span, groups)
- `seqlets`: seqlets, their backgrounds and FIMO scans against JASPAR
- `enrichment`: Fisher enrichment of motifs and TF families in seqlets (the `motif_enrichment` job)
- `denovo`: TF-MoDISco lite patterns matched to JASPAR (the `denovo_motifs` job)
- `truth_check`: recall and false share of the planted families (offline world)
- `summary`: the stage's headline tables and figures
"""
