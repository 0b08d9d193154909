"""The models attribution explains, behind one small interface.

Why: LRP, Gradient×Input, Integrated Gradients, SmoothGrad, ISM and the perturbation
(faithfulness) curves all need the same four things of a model — a per-nucleotide input tensor,
a differentiable forward from it, what a given base or a removed base looks like in that input,
and the names of the outputs. `ExplainedModel` provides them for

* `CaduceusHeadModel`: Caduceus encoder + an adapter head (the frozen encoder for heads of the
  no_shift and full modes, the head's own fine-tuned encoder for finetune), exactly the
  prediction the workflow evaluates (RC-invariant per-nucleotide features, mean-pooled into bins, head applied
  to both strands and averaged). Input: the embedding output (B, L, C), C = 2·d_model for both
  model kinds — a PS model's embedding already holds both RCPS halves per nucleotide; a PH
  model's input holds the embedding of nucleotide i and, in the second half, the embedding of
  its complement in the reverse-complement pass (that pass reads nucleotide i at L-1-i). So
  relevance of nucleotide i is always the sum over the C channels at position i.
* `OneHotModel`: a one-hot CNN such as Malinois. Input: one-hot (B, L, 4) channels last
  (A, C, G, T; N all zero); forward averages the model on the sequence and on its reverse
  complement (flip of both axes), as the workflow's inference does.

Every input row is the representation of one nucleotide, and that representation depends only
on the base (`base_vectors`, and `removed_vector` for N), so ISM and removal are row
replacements in the input tensor.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crelens.encoder.caduceus import RCPSEmbedding, rc_invariant_features
from crelens.encoder.hub import load_caduceus
from crelens.encoder.tokenizer import CaduceusTokenizer
from crelens.models.registry import load_model, task_view
from crelens.names import HEAD_MODES, is_head
from crelens.sequences import ALPHABET, one_hot

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ExplainedModel(nn.Module):
    """Interface: `inputs(seqs)` → (B, L, C); `forward(x)` → (B, n_outputs);
    `base_vectors` (4, C) in A, C, G, T order; `removed_vector` (C,) for N; `output_names`;
    `lrp_modules()` — the modules whose forward the MambaLRP rules modify (empty: no LRP)."""

    output_names: list[str]

    def inputs(self, seqs: list[str]) -> torch.Tensor:
        raise NotImplementedError

    @property
    def base_vectors(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def removed_vector(self) -> torch.Tensor:
        raise NotImplementedError

    def lrp_modules(self) -> list[nn.Module]:
        return []

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def per_nucleotide(attributions: torch.Tensor) -> torch.Tensor:
    """(B, L, C) attributions of the input → (B, L) relevance per nucleotide (sum over channels)."""
    return attributions.sum(-1)


class CaduceusHeadModel(ExplainedModel):
    """Caduceus backbone (frozen) + adapter head over `bins` pooled bins, strand-averaged."""

    def __init__(self, backbone: nn.Module, head: nn.Module, bins: int, output_names: list[str], n_as: str = "pad"):
        super().__init__()
        self.backbone = backbone  # CaduceusMixerModel
        self.head = head
        self.bins = bins
        self.output_names = list(output_names)
        self.tokenizer = CaduceusTokenizer(n_as=n_as)
        self.config = backbone.config

    def _embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids → (B, L, 2·d_model) per-nucleotide input representation."""
        words = self.backbone.embeddings.word_embeddings
        if isinstance(words, RCPSEmbedding):
            return words(ids)
        rc_ids = self.tokenizer.reverse_complement_ids(ids)
        return torch.cat([words(ids), words(rc_ids).flip(-2)], dim=-1)

    def inputs(self, seqs: list[str]) -> torch.Tensor:
        ids = self.tokenizer.encode(seqs).to(self.device)
        return self._embed_ids(ids).to(self.dtype).detach()

    def _token_vectors(self, letters: str) -> torch.Tensor:
        """(k, C) input rows of single nucleotides (a row depends only on the base)."""
        ids = self.tokenizer.encode([letters]).to(self.device).reshape(-1, 1)  # k sequences of length 1
        return self._embed_ids(ids)[:, 0].to(self.dtype).detach()

    @property
    def base_vectors(self) -> torch.Tensor:
        return self._token_vectors(ALPHABET)

    @property
    def removed_vector(self) -> torch.Tensor:
        return self._token_vectors("N")[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) input → (B, bins, d_model) pooled RC-invariant features (what the cache stores)."""
        d = self.config.d_model
        if self.config.rcps:
            per_base = rc_invariant_features(self.backbone(inputs_embeds=x), d)
        else:
            hidden = self.backbone(inputs_embeds=x[..., :d])
            hidden_rc = self.backbone(inputs_embeds=x[..., d:].flip(-2))
            per_base = rc_invariant_features(hidden, d, hidden_rc)
        return F.adaptive_avg_pool1d(per_base.transpose(1, 2), self.bins).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x)
        # the reverse complement's pooled features are the bins reversed (exact for RC-invariant
        # per-nucleotide features and symmetric adaptive pooling), so one encoder pass serves both
        return 0.5 * (self.head(pooled) + self.head(pooled.flip(1)))

    def lrp_modules(self) -> list[nn.Module]:
        return [self.backbone, self.head]


class OneHotModel(ExplainedModel):
    """A one-hot CNN taking (B, 4, L), averaged over the sequence and its reverse complement."""

    def __init__(self, model: nn.Module, output_names: list[str]):
        super().__init__()
        self.model = model
        self.output_names = list(output_names)

    def inputs(self, seqs: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([one_hot(s) for s in seqs])).to(self.device, self.dtype)

    @property
    def base_vectors(self) -> torch.Tensor:
        return torch.eye(4, dtype=self.dtype, device=self.device)

    @property
    def removed_vector(self) -> torch.Tensor:
        return torch.zeros(4, dtype=self.dtype, device=self.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reverse_complement = x.flip(-2, -1)  # in A, C, G, T order: reverse positions and channels
        return 0.5 * (self.model(x.transpose(1, 2)) + self.model(reverse_complement.transpose(1, 2)))


def load_explained(
    model_path, task: str, names: list[str], *, encoder_folder=None, n_as: str = "pad", dtype: str = "float64"
) -> ExplainedModel:
    """The trained model as the workflow predicts with it, in `dtype`, eval mode."""
    model, spec = load_model(model_path)
    if HEAD_MODES.get(spec["model"]) == "finetune":  # its own, fine-tuned encoder
        explained = CaduceusHeadModel(
            model.encoder.backbone, model.head, spec["bins"], names, n_as=spec.get("n_as", n_as)
        )
    elif is_head(spec["model"]):
        if encoder_folder is None:
            raise ValueError(f"{model_path}: a head needs the encoder it was trained on")
        backbone = load_caduceus(encoder_folder).backbone
        explained = CaduceusHeadModel(backbone, model, spec["bins"], names, n_as=n_as)
    else:
        explained = OneHotModel(task_view(model, task), names)
    return explained.to(DTYPES[dtype]).eval()
