"""Attention modules compared by Yu et al. 2021 (Tables 3-5) and the registry that builds them.

An attention *spec* is a dict: ``{"type": "san" | "sagan" | "dfn" | "vt", <layer options>...}``;
options that are 0/None/absent take the layer's defaults, options of other types are ignored, so one
config section serves every type.
"""

from keras_attngan.layers.attention.dfn import DynamicFilterAttention
from keras_attngan.layers.attention.sagan import SAGANAttention
from keras_attngan.layers.attention.san import REFERENCE_VARIANTS, SANAttention, reference_sources
from keras_attngan.layers.attention.vt import VisualTransformerAttention

ATTENTION_LAYERS = {
    "san": (SANAttention, ("patch_size", "kq_channels", "hidden_channels", "share_planes", "kernel_gain")),
    "sagan": (SAGANAttention, ("kq_channels", "value_channels")),
    "dfn": (DynamicFilterAttention, ("kernel_size", "groups", "normalize", "hidden_channels")),
    "vt": (VisualTransformerAttention, ("num_tokens", "token_channels", "num_heads", "num_layers", "mlp_ratio")),
}


def make_attention(spec, name=None):
    """Builds the (unbuilt) attention layer a spec describes."""
    kind = spec.get("type")
    if kind not in ATTENTION_LAYERS:
        raise ValueError(f"unknown attention type {kind!r}: use one of {sorted(ATTENTION_LAYERS)} (or 'none')")
    cls, options = ATTENTION_LAYERS[kind]
    kwargs = {k: spec[k] for k in options if spec.get(k) not in (None, 0, "")}
    return cls(name=name or kind, **kwargs)
