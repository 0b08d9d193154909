"""Sources (rules/data.smk): the offline world or the real downloads, the run's genome and motifs.

- `formats`: one reader per source format (FASTA, chromosome sizes, BED, lentiMPRA tables)
- `simulate`: the offline world with planted JASPAR motifs and its recorded truth
- `download`: checksummed, retried, atomic downloads of the real sources
- `genome`: the configured chromosomes of the source genome, validated and indexed
- `jaspar`: JASPAR profiles from pyjaspar or a MEME file, written as the run's MEME database
"""
