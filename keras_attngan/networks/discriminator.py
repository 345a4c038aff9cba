"""StyleGAN2 residual discriminator (config E) with the minibatch-stddev epilogue."""

import math
import types

import keras
import tensorflow as tf

from keras_attngan.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev
from keras_attngan.layers.attention import make_attention, reference_sources
from keras_attngan.layers.spectral import check_weight_norm
from keras_attngan.networks.mapping import MappingNetwork, check_labels
from keras_attngan.networks.widths import block_resolutions, check_resolution, num_channels


class DiscriminatorBlock(keras.layers.Layer):
    """Residual block at ``resolution``: two 3x3 convs (the second down-samples) + 1x1 down-sampled skip,
    summed and scaled by sqrt(1/2). ``weight_norm``: "equalized" or "spectral" for the three convs."""

    def __init__(self, resolution, in_channels, out_channels, weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.resolution, self.in_channels, self.out_channels = int(resolution), int(in_channels), int(out_channels)
        self.weight_norm = wn = check_weight_norm(weight_norm)
        self.conv0 = EqualizedConv2D(self.in_channels, 3, activation="lrelu", weight_norm=wn, name="conv0")
        self.conv1 = EqualizedConv2D(self.out_channels, 3, activation="lrelu", down=True, weight_norm=wn,
                                     name="conv1")
        self.skip = EqualizedConv2D(self.out_channels, 1, down=True, use_bias=False, weight_norm=wn, name="skip")

    def build(self, input_shape):
        r, c = self.resolution, self.in_channels
        self.conv0.build((None, r, r, c))
        self.conv1.build((None, r, r, c))
        self.skip.build((None, r, r, c))

    def call(self, x, hidden=None):
        """``hidden`` replaces conv0's output (an attention module's output, Yu et al. 2021 Sec. 3.3)."""
        hidden = self.conv0(x) if hidden is None else hidden
        return (self.skip(x) + self.conv1(hidden)) * math.sqrt(0.5)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "weight_norm": self.weight_norm}


class Discriminator(keras.Model):
    """images [B, R, R, C] -> logits [B, 1] (float32).

    ``call(img, return_features=True)`` also returns the last hidden layer (the input of the output
    layer), used for FDDF (Table 2 of Yu et al. 2021).

    ``attention``: optional spec ``{"type": "self" | "reference", "module": "san", "resolution": 8,
    "variant": "eq8", <module options>}``. The module replaces the first (non-down-sampling) convolution
    of the block at ``resolution``. With ``"reference"`` (Sec. 3.3, Eq. 8; variants Eq. 9/10 of the
    supplementary) ``call(img, reference=real_images)``: primary and reference images go through the same
    (Siamese, shared-weight) layers down to that block; K and Q come from the reference branch, V and the
    residual from the primary one (Eq. 8), and the fused tensor continues to the logit.

    ``weight_norm``: "equalized" (StyleGAN2) or "spectral" (Miyato et al. 2018; SAGAN's D) for fromrgb,
    every block, the epilogue conv, fc and out; an attention module keeps its own weights. With
    "spectral" the training step calls ``keras_attngan.layers.spectral_update(D)`` once per step.

    ``num_classes > 0``: a projection discriminator (Miyato & Koyama 2018, in StyleGAN2-ADA's form, its
    ``cmap``), ``call(img, labels=...)``: the output layer maps D's last features to ``cmap_dim`` values
    phi(x) (0: nf(4)), a label mapping network (``mapping_layers`` FCs after the label embedding, as G's
    mapping with z_dim=0) gives the label's embedding e(y), and the score is
    ``<phi(x), e(y)> / sqrt(cmap_dim)`` (:meth:`project`). Unlike Miyato & Koyama's form it has no separate
    unconditional term psi(phi(x)): e(y) can learn one through its bias. With reference attention the
    reference batch only supplies keys and queries (Eq. 8), so its labels do not enter: the score projects
    the primary image's features on the primary image's label. The label path stays equalized in a
    spectrally normalized D (the output layer phi is normalized), as G's mapping does.
    """

    def __init__(self, resolution=256, img_channels=3, fmap_base=8192, fmap_max=512, mbstd_group=4,
                 mbstd_features=1, attention=None, weight_norm="equalized", num_classes=0, cmap_dim=0,
                 mapping_layers=8, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.mapping_layers = int(num_classes), int(mapping_layers)
        self.weight_norm = wn = check_weight_norm(weight_norm)
        self.resolution = check_resolution(resolution)
        self.img_channels, self.fmap_base, self.fmap_max = int(img_channels), int(fmap_base), int(fmap_max)
        self.mbstd_group, self.mbstd_features = int(mbstd_group), int(mbstd_features)
        self.attention = dict(attention) if attention and attention.get("type", "none") != "none" else None
        self.attn_layer, self.uses_reference = None, False
        if self.attention:
            kind, res = self.attention.get("type"), self.attention.get("resolution")
            if kind not in ("self", "reference"):
                raise ValueError(f"discriminator attention type {kind!r}: use 'none', 'self' or 'reference'")
            if res not in block_resolutions(self.resolution):
                raise ValueError(f"discriminator attention resolution {res} must be a power of two from 8 "
                                 f"to {self.resolution}")
            self.uses_reference = kind == "reference"

        def nf(res):
            return num_channels(res, self.fmap_base, self.fmap_max)

        r = self.resolution
        self.fromrgb = EqualizedConv2D(nf(r), 1, activation="lrelu", weight_norm=wn, name="fromrgb")
        self.fromrgb.build((None, r, r, self.img_channels))
        self.blocks = []
        for res in reversed(block_resolutions(r)):
            block = DiscriminatorBlock(res, nf(res), nf(res // 2), weight_norm=wn, name=f"b{res}")
            block.build(None)
            self.blocks.append(block)
            if self.attention and self.attention["resolution"] == res:
                spec = dict(self.attention, type=self.attention.get("module", "san"))
                self.attn_layer = make_attention(spec, name="attention")
                self.attn_layer.build((None, res, res, nf(res)))
                self.attn_block = block
        c4 = nf(4)
        self.mbstd = MinibatchStdDev(self.mbstd_group, self.mbstd_features, name="mbstd")
        self.conv = EqualizedConv2D(c4, 3, activation="lrelu", weight_norm=wn, name="conv")
        self.conv.build((None, 4, 4, c4 + self.mbstd_features))
        self.fc = EqualizedDense(c4, activation="lrelu", weight_norm=wn, name="fc")
        self.fc.build((None, 16 * c4))
        self.cmap_dim = (int(cmap_dim) or c4) if self.num_classes else 0
        self.out = EqualizedDense(self.cmap_dim or 1, weight_norm=wn, name="out")
        self.out.build((None, c4))
        if self.num_classes:
            self.label_mapping = MappingNetwork(0, self.cmap_dim, self.mapping_layers, w_avg_beta=None,
                                                num_classes=self.num_classes, name="label_mapping")
            self.label_mapping.build(None)
        self.built = True

    def project(self, x, labels=None):
        """The score of an output-layer value ``x``: [B, 1] as it is (unconditional), or the projection
        ``sum(x * e(y), axis=1) / sqrt(cmap_dim)`` on the labels' embedding (conditional). ContraD's h_d head
        ends here too, so its critic is conditional in the same way."""
        x = tf.cast(x, tf.float32)
        if not self.num_classes:
            return x
        cmap = self.label_mapping(None, check_labels(labels, self.num_classes, "discriminator"))
        return tf.reduce_sum(x * cmap, axis=1, keepdims=True) * (1.0 / math.sqrt(self.cmap_dim))

    def output_names(self):
        """The names ``call(img, outputs=...)`` accepts. ``x<s>``: the output of block ``b<2s>``, the
        [B, s, s, nf(s)] map of D at s x s (largest first; ``x4`` is the epilogue's input, before mbstd);
        ``penultimate``: the flattened output of the 4x4 conv after mbstd [B, 16 * nf(4)]; ``fc``: the fc
        layer's output [B, nf(4)], the input of the output layer."""
        return [f"x{block.resolution // 2}" for block in self.blocks] + ["penultimate", "fc"]

    def check_outputs(self, outputs):
        """``outputs`` as a tuple of names (one name alone is a tuple of one); ValueError naming the valid
        ones for an unknown name. Modules that read D's outputs can call it when they are set up."""
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        unknown = [name for name in outputs if name not in self.output_names()]
        if unknown:
            raise ValueError(f"unknown discriminator output {unknown[0]!r}: use {', '.join(self.output_names())}")
        return outputs

    def __call__(self, *args, outputs=(), **kwargs):
        # Checked before Keras runs call(), which would wrap the one-line error in ten lines of context.
        if self.num_classes:
            check_labels(kwargs.get("labels"), self.num_classes, "discriminator")
        return super().__call__(*args, outputs=self.check_outputs(outputs), **kwargs)

    @property
    def heads(self):
        """Read-only ``{name: layer}`` of the heads other modules added with :meth:`add_head`. ``call``
        does not run them: their owners call ``D.heads[name](tensor)`` on the outputs they asked for."""
        return types.MappingProxyType(getattr(self, "_heads", {}))

    def add_head(self, name, layer, input_shape):
        """Builds ``layer`` for ``input_shape`` (unless built) and keeps it as head ``name`` inside D, as
        ContraD keeps its projection heads (Jeong & Shin 2021) and GGDR its decoder (Lee et al. 2022).

        Its weights join ``D.weights`` / ``D.trainable_variables`` after every existing one, whose order
        (checkpoints list weights by index) does not change, so the optimizer, EMA and checkpoints need no
        special case: add heads before the optimizer is built and a checkpoint restored. ``get_config``
        does not record heads; the modules that add them add them again from the run's config.
        """
        if name in self.heads:
            raise ValueError(f"the discriminator already has a head {name!r}")
        if not layer.built:
            layer.build(input_shape)
        locked = self._tracker.locked
        self._tracker.unlock()  # Keras refuses new sub-layers on a built layer; heads come later by design
        try:
            if not hasattr(self, "_heads"):
                self._heads = {}  # tracked: Keras wraps it, and a layer stored in it joins D's layers
            self._heads[name] = layer
        finally:
            if locked:
                self._tracker.lock()
        return layer

    def call(self, img, reference=None, outputs=(), return_features=False, labels=None):
        """images [B, R, R, C] (and, conditional, their int labels [B]) -> logits [B, 1] (float32).

        ``outputs``: names from :meth:`output_names`; D then returns ``(logits, {name: tensor})``: the maps
        GGDR's decoder reads (block ``b<r>``'s output, ``feats[r/2]`` in Lee et al. 2022) and the
        penultimate feature ContraD's heads read (Jeong & Shin 2021). With reference attention they are the
        primary branch's (batch B). ``return_features``: ``(logits, fc output)``, as FDDF uses it.
        """
        outputs = self.check_outputs(outputs)
        if outputs and return_features:
            raise ValueError("pass outputs=(..., 'fc') or return_features=True, not both")
        img = tf.cast(img, tf.float32)
        n = tf.shape(img)[0]
        if self.uses_reference:
            if reference is None:
                raise ValueError("this discriminator uses reference attention: call it with reference=<real images>")
            # Siamese branches share every layer: run both halves as one batch until the attention block.
            img = tf.concat([img, tf.cast(reference, tf.float32)], axis=0)
        found = {}
        shared = self.uses_reference  # the batch holds both Siamese branches until the attention block
        x = self.fromrgb(img)
        for block in self.blocks:
            if block is not getattr(self, "attn_block", None):
                x = block(x)
            elif self.uses_reference:
                t_pri, t_ref = x[:n], x[n:]
                k, q, v, residual = reference_sources(self.attention.get("variant", "eq8"), t_pri, t_ref)
                x = block(t_pri, hidden=self.attn_layer(k, q, v, residual=residual))
                shared = False
            else:
                x = block(x, hidden=self.attn_layer(x))
            name = f"x{block.resolution // 2}"
            if name in outputs:
                found[name] = x[:n] if shared else x
        x = self.conv(self.mbstd(x))
        found["penultimate"] = tf.reshape(x, [tf.shape(x)[0], -1])
        found["fc"] = self.fc(found["penultimate"])
        logits = self.project(self.out(found["fc"]), labels if self.num_classes else None)
        if return_features:
            return logits, found["fc"]
        return (logits, {name: found[name] for name in outputs}) if outputs else logits

    def get_config(self):
        return {"name": self.name, "resolution": self.resolution, "img_channels": self.img_channels,
                "fmap_base": self.fmap_base, "fmap_max": self.fmap_max, "mbstd_group": self.mbstd_group,
                "mbstd_features": self.mbstd_features, "attention": self.attention,
                "weight_norm": self.weight_norm, "num_classes": self.num_classes, "cmap_dim": self.cmap_dim,
                "mapping_layers": self.mapping_layers}
