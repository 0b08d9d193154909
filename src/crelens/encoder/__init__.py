"""The frozen encoder (rules/encoder.smk): Caduceus in pure PyTorch, pretraining and feature cache.

- `caduceus`: the RC-equivariant BiMamba model with the published parameter names
- `scan`: the selective scan's interface; its kernels live in `ops/` (reference, chunked
  PyTorch, fused numba CPU kernel, mamba-ssm on CUDA)
- `lrp_rules`: the MambaLRP rules the model's forward consults in LRP mode
- `tokenizer`: Caduceus' character tokenizer and reverse-complement id map
- `hub`: reading and writing Hugging Face checkpoint folders; pinned downloads
- `pretrain`: masked-LM pretraining on the training chromosomes
- `cache`: the float16 embedding cache on disk (shards + manifest)
- `features`: pooled RC-invariant features of a frozen encoder, written into the cache
"""
