"""crelens: interpretable models of cis-regulatory DNA.

The library knows nothing about Snakemake; `workflow/scripts/*.py` call into it.
"""

__version__ = "0.1.0"
