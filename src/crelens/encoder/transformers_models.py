"""Caduceus as a `transformers` model: `AutoModelForMaskedLM.from_pretrained(<snapshot>)` on CPU.

The official Caduceus remote code imports mamba_ssm at top level and so cannot run without CUDA.
These classes wrap crelens' own modules (`crelens.encoder.caduceus`: the same submodules, the same
state-dict keys as the published checkpoints), so the crelens loader, the transformers class and
the LRP mode run one implementation. `crelens.transformers_registration` registers them under the
published `model_type` "caduceus" as soon as both crelens and transformers are imported; a
published config.json's `auto_map` (the remote code) is then not needed and is dropped.

Written for transformers 5.x (pinned in pyproject.toml): ties are declared in `_tied_weights_keys`
as {alias: stored key} and only honoured with `tie_word_embeddings` true (transformers
`PreTrainedModel.get_expanded_tied_weights_keys`); loading runs the constructor on the meta
device and then replaces parameters, so `_init_weights` must not touch loaded tensors.
"""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from crelens.encoder.caduceus import Caduceus, CaduceusConfig, CaduceusForMaskedLM, masked_lm_logits

# The published config.json fields (CaduceusConfig.to_hf_dict), with the defaults of the published
# kuleshov-group/caduceus-ps_seqlen-131k_d_model-256_n_layer-16 where the field has no crelens default.
_EXAMPLE = CaduceusConfig(d_model=256, n_layer=16).to_hf_dict()
FIELDS = tuple(key for key in _EXAMPLE if key not in ("architectures", "model_type"))


class CaduceusTransformersConfig(PreTrainedConfig):
    """The published config.json fields as a transformers config (model_type "caduceus")."""

    model_type = "caduceus"

    def __init__(
        self,
        d_model=256,
        n_layer=16,
        vocab_size=16,
        pad_vocab_size_multiple=8,
        ssm_cfg=None,
        rms_norm=True,
        residual_in_fp32=False,
        fused_add_norm=True,
        norm_epsilon=1e-5,
        initializer_cfg=None,
        bidirectional=True,
        bidirectional_strategy="add",
        bidirectional_weight_tie=True,
        rcps=False,
        complement_map=None,
        **kwargs,
    ):
        kwargs.pop("auto_map", None)  # the remote code it names cannot run on CPU; these classes replace it
        kwargs["tie_word_embeddings"] = True  # transformers honours the declared aliases only when true
        self.d_model, self.n_layer, self.vocab_size = d_model, n_layer, vocab_size
        self.pad_vocab_size_multiple = pad_vocab_size_multiple
        self.ssm_cfg = dict(ssm_cfg) if ssm_cfg is not None else dict(_EXAMPLE["ssm_cfg"])
        self.rms_norm, self.residual_in_fp32, self.fused_add_norm = rms_norm, residual_in_fp32, fused_add_norm
        self.norm_epsilon = norm_epsilon
        self.initializer_cfg = (
            dict(initializer_cfg) if initializer_cfg is not None else dict(_EXAMPLE["initializer_cfg"])
        )
        self.bidirectional, self.bidirectional_strategy = bidirectional, bidirectional_strategy
        self.bidirectional_weight_tie, self.rcps = bidirectional_weight_tie, rcps
        self.complement_map = dict(complement_map) if complement_map is not None else dict(_EXAMPLE["complement_map"])
        super().__init__(**kwargs)

    def crelens_config(self) -> CaduceusConfig:
        """The same settings as crelens' own config (validated there)."""
        return CaduceusConfig.from_hf_dict({key: getattr(self, key) for key in FIELDS})


class CaduceusPreTrainedModel(PreTrainedModel):
    """Shared transformers plumbing: the config class and weight initialisation by crelens."""

    config_class = CaduceusTransformersConfig
    base_model_prefix = "caduceus"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False

    def _adopt(self, native: nn.Module) -> None:
        """Take over the submodules of a crelens model (same names, so the same state-dict keys) and
        declare its parameter aliases, which the published files do not store."""
        for name, module in native.named_children():
            setattr(self, name, module)
        self._tied_weights_keys = native.alias_keys()
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Nothing: a model built from a config is initialised by crelens (Caduceus/mamba_ssm
        scheme) in its constructor, and a loaded model must keep every loaded tensor."""


class CaduceusTransformersModel(CaduceusPreTrainedModel):
    """The bare backbone (keys `backbone.…`): input ids -> hidden states (B, L, D or 2D for PS)."""

    def __init__(self, config: CaduceusTransformersConfig):
        super().__init__(config)
        self._adopt(Caduceus(config.crelens_config()))

    def forward(self, input_ids=None, inputs_embeds=None, return_dict=None, **kwargs):
        hidden = self.backbone(input_ids, inputs_embeds)
        return BaseModelOutput(last_hidden_state=hidden) if return_dict is not False else (hidden,)

    def crelens_model(self) -> Caduceus:
        """A crelens `Caduceus` sharing these parameters (for LRP, caching, heads)."""
        native = Caduceus(self.config.crelens_config(), init=False)
        native.backbone = self.backbone
        return native


class CaduceusTransformersForMaskedLM(CaduceusPreTrainedModel):
    """Caduceus with its masked-LM head (keys `caduceus.backbone.…`, `lm_head.…`): ids -> logits."""

    def __init__(self, config: CaduceusTransformersConfig):
        super().__init__(config)
        self._adopt(CaduceusForMaskedLM(config.crelens_config()))

    def get_input_embeddings(self) -> nn.Module:
        return self.caduceus.backbone.embeddings.word_embeddings

    def forward(self, input_ids=None, inputs_embeds=None, labels=None, return_dict=None, **kwargs):
        logits = masked_lm_logits(self.caduceus, self.lm_head, input_ids, inputs_embeds)
        loss = None
        if labels is not None:  # -100 marks unmasked positions, as in transformers' masked-LM heads
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        if return_dict is False:
            return (logits,) if loss is None else (loss, logits)
        return MaskedLMOutput(loss=loss, logits=logits)

    def crelens_model(self) -> CaduceusForMaskedLM:
        """A crelens `CaduceusForMaskedLM` sharing these parameters (for LRP, caching, heads)."""
        native = CaduceusForMaskedLM(self.config.crelens_config(), init=False)
        native.caduceus, native.lm_head = self.caduceus, self.lm_head
        return native


def register() -> None:
    """Register the classes with transformers' Auto classes (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    AutoConfig.register("caduceus", CaduceusTransformersConfig, exist_ok=True)
    AutoModel.register(CaduceusTransformersConfig, CaduceusTransformersModel, exist_ok=True)
    AutoModelForMaskedLM.register(CaduceusTransformersConfig, CaduceusTransformersForMaskedLM, exist_ok=True)


register()  # importing this module is what makes the Auto classes know Caduceus
