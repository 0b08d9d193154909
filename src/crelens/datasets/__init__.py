"""Data sets (rules/datasets.smk): model-ready tables from the sources, with their splits.

- `splits`: chromosome splits and the leak checks (identical and homologous sequences)
- `homology`: HashFrag/BLAST homology between test and training sequences
- `epi`: the enhancer / promoter / intergenic classification set
- `mpra`: the MPRA regression set and its SNV-pair and OOD test sets
- `truth_sites`: planted motifs in each data set's sequence coordinates (offline world)
- `overview`: the summary table and overview figure of the data sets
"""
