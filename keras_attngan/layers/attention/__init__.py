"""Attention modules compared by Yu et al. 2021 (Tables 3-5): each registers itself in
:data:`keras_attngan.registry.ATTENTION` with the constructor options a config section may set.

An attention *spec* is a dict: ``{"type": "san" | "sagan" | "dfn" | "vt", <layer options>...}``;
options that are 0/None/absent take the layer's defaults, options of other types are ignored, so one
config section serves every type (``model.g_attention``, ``model.d_attention``).
"""

from keras_attngan.layers.attention.dfn import DynamicFilterAttention
from keras_attngan.layers.attention.sagan import SAGANAttention
from keras_attngan.layers.attention.san import REFERENCE_VARIANTS, SANAttention, reference_sources
from keras_attngan.layers.attention.vt import VisualTransformerAttention
from keras_attngan.registry import ATTENTION

D_ATTENTION_TYPES = ("none", "self", "reference")


def make_attention(spec, name=None):
    """Builds the (unbuilt) attention layer a spec describes."""
    kind = spec.get("type")
    if kind not in ATTENTION:
        raise ValueError(f"unknown attention type {kind!r}: use one of {sorted(ATTENTION.names())} (or 'none')")
    entry = ATTENTION.entry(kind)
    kwargs = {k: spec[k] for k in entry.info["options"] if spec.get(k) not in (None, 0, "")}
    return entry.obj(name=name or kind, **kwargs)
