"""Evaluation (rules/evaluation.smk): every model scored the same way on the same test sets.

- `predictions`: one predictions frame per model and task (heads, one-hot models, noise ceiling)
- `scoring`: metrics with bootstrap CIs from a predictions frame
- `paired`: paired bootstrap tests of each model against the best one
- `attention_hits`: how often attention models attend to planted motifs
- `evaluate`: the `evaluate` and `evaluate_noise_ceiling` jobs
- `comparison`: the comparison report over all models (tables, Markdown, figures)
"""
