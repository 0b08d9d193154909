"""crelens: interpretable models of cis-regulatory DNA.

The library knows nothing about Snakemake; `workflow/scripts/*.py` call into it.
"""

__version__ = "0.1.0"

from crelens import transformers_registration as _transformers_registration

_transformers_registration.install()  # Caduceus for transformers' Auto classes, once transformers is imported
