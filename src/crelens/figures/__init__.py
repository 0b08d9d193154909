"""Figures (rules/figures.smk), one module per stage plus the paper figures, in one place.

- `style`: saving, shared colours
- `datasets`, `encoder`, `evaluation`, `attribution`, `motifs`: the report figures each stage draws
- `paper`: the paper figures (PDF + PNG + the plotted numbers), one fixed style
"""
