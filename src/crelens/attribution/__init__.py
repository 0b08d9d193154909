"""Attribution (rules/attribution.smk): MambaLRP for Caduceus heads, baselines, faithfulness.

- `explained`: the model as explained (the evaluated prediction, per-nucleotide inputs)
- `lrp`: MambaLRP relevance with its conservation accounted
- `baselines`: Gradient×Input, Integrated Gradients, SmoothGrad, ISM, random
- `selection`: which sequences are explained
- `store`: the stored `.npz` format (torch-free: the motif stage reads it)
- `attribute`: the `attribute` job
- `faithfulness`: perturbation curves, planted-motif recovery (the `faithfulness` job)
- `summary`: conservation and faithfulness tables and figures (`summarise_attribution`)
"""
