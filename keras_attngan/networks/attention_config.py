"""The check of a model's attention sections (``model.g_attention``, ``model.d_attention``): the types the
attention registry holds, placed at resolutions the networks have."""

from keras_attngan.layers.attention import D_ATTENTION_TYPES, REFERENCE_VARIANTS
from keras_attngan.networks.widths import block_resolutions
from keras_attngan.registry import ATTENTION


def check_attention_config(m):
    """One-line errors for ``model.g_attention`` / ``model.d_attention`` (``m`` is the model section)."""
    g, d, names = m.g_attention, m.d_attention, ", ".join(ATTENTION.names())
    if g.type != "none" and g.type not in ATTENTION:
        raise ValueError(f"model.g_attention.type={g.type!r} is not one of none, {names}")
    if d.type not in D_ATTENTION_TYPES:
        raise ValueError(f"model.d_attention.type={d.type!r} is not one of {', '.join(D_ATTENTION_TYPES)}")
    if d.type == "none":
        return
    if d.module not in ATTENTION:
        raise ValueError(f"model.d_attention.module={d.module!r} is not one of {names}")
    if d.type == "reference" and d.variant not in REFERENCE_VARIANTS:
        raise ValueError(f"model.d_attention.variant={d.variant!r} is not one of {', '.join(REFERENCE_VARIANTS)} "
                         "(Eq. 8-10 of Yu et al. 2021)")
    for section, spec in (("g_attention", g), ("d_attention", d)):
        if spec.type != "none" and spec.resolution not in block_resolutions(m.resolution):
            raise ValueError(f"model.{section}.resolution={spec.resolution} must be a power of two from 8 to "
                             f"model.resolution={m.resolution}")
