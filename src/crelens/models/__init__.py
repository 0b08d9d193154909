"""Models (rules/models.smk): heads on the frozen encoder and the baselines, one training loop.

- `heads`: Boda-style adapter heads on cached features
- `malinois`: boda2's BassetBranched with the published hyperparameters and checkpoint loader
- `attention`: the full / sparse attention baselines and the joint two-task model
- `registry`: build a model from its spec; self-describing safetensors checkpoints
- `losses`, `training`: per-row losses and the one training loop every model uses
- `flops`: FLOPs per sequence
- `fit`: the `train_head`, `train_scratch` and `train_joint` jobs
"""
