"""GGDR: generator-guided discriminator regularization.

Lee, Kim, Kim, Kim, Yoo 2022, "Generator Knows What Discriminator Should Learn in Unconditional GANs"
(ECCV); official code naver-ai/GGDR (``training/networks_ggdr.py``, ``training/loss_ggdr.py``,
``AugmentPipeGFeat`` in ``training/augment.py``); docs/methods.md, GGDR.

A U-Net decoder on D's feature maps predicts, for a fake image, the generator's own feature map of that
image; D learns it next to its adversarial loss, on fakes only:

    L_ggdr = lambda * (1 - mean_{b,h,w} cos_c(Dec(D(T(G(z))))[r], T_geom(G_feat(z)[r])))

(the paper's L_ggdr, added to D's loss with lambda_reg; lambda = ``ggdr.weight``, 10 in the code, where it is
hard-coded). The target is a constant for D: the reference computes it with G frozen (requires_grad False in
the D phase), here it is stop-gradient. G's loss is unchanged, so the method costs nothing in the G step.

- Decoder (:class:`GGDRDecoder`), as the reference's final code (commit cf27880; the lrelu stages of its
  first commit were an ablation): one stage per resolution r = 8, 16, ..., ``ggdr.resolution``, each a 1x1
  equalized-lr convolution with 2x FIR [1,3,3,1] up-sampling, bias and linear activation. Stage 8 reads D's
  4x4 map (the epilogue's input, before minibatch-stddev); later stages read concat[previous stage output,
  D's map at r/2] (U-Net skip). Each outputs G's channel count at r, so the last one matches the target.
- Target (:meth:`GGDRTerm.target`): G's synthesis block output at ``ggdr.resolution`` (its second
  modulated conv's output, before ToRGB) for the very fakes D saw, moved by the geometric part of their
  augmentation; colour ops touch only the image (ADA: AugmentPipeGFeat).
- ``ggdr.resolution`` 0 means model.resolution // 4 (README of the reference: 64 at 256 px, 8 at CIFAR's 32).
"""

import keras
import tensorflow as tf

from keras_attngan.layers import EqualizedConv2D, bias_act, upsample2d
from keras_attngan.networks.widths import block_resolutions, num_channels
from keras_attngan.methods.base import ObjectiveTerm
from keras_attngan.registry import METHODS

HEAD = "ggdr_decoder"  # the decoder's name among D's heads (Discriminator.add_head)


def ggdr_resolution(config):
    """The resolution the decoder predicts G's features at: ``ggdr.resolution``, or model.resolution // 4."""
    return int(config.ggdr.resolution or config.model.resolution // 4)


def check_config(config):
    """One-line errors for the ``ggdr`` section."""
    g, r = config.ggdr, config.model.resolution
    if g.weight < 0:
        raise ValueError(f"ggdr.weight must be >= 0 (0 = off; Lee et al. 2022 use 10), got {g.weight}")
    res = ggdr_resolution(config)
    if (g.weight > 0 or g.resolution) and (res < 8 or res > r // 2 or res & (res - 1)):
        given = "" if g.resolution else f" (model.resolution // 4 = {res})"
        raise ValueError(f"ggdr.resolution={g.resolution}{given} must be a power of two from 8 to "
                         f"model.resolution / 2 = {r // 2}")


def source_sizes(resolution):
    """Sizes of D's maps the decoder reads, ``x4, x8, ..., x<resolution/2>`` (``feats[r/2]`` of block b<r>)."""
    return [r // 2 for r in block_resolutions(resolution)]


def cosine_distance(x, y):
    """1 - mean over batch and pixels of the cosine similarity along channels (the last axis, NHWC):
    the reference's ``1 - F.cosine_similarity(x, y).mean()`` on NCHW. In float32 whatever the inputs.

    l2_normalize clamps the squared norm at 1e-16 (torch clamps each norm at 1e-8): a zero vector then
    gives cos 0 and a zero gradient, where dividing by tf.norm would give NaN."""
    x = tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1, epsilon=1e-16)
    y = tf.math.l2_normalize(tf.cast(y, tf.float32), axis=-1, epsilon=1e-16)
    return 1.0 - tf.reduce_mean(tf.reduce_sum(x * y, axis=-1))


class GGDRDecoder(keras.layers.Layer):
    """D's feature maps ``{x<s>: [B, s, s, C_D(s)]}`` (s = 4 ... resolution/2) -> [B, r, r, C_G(r)] at
    r = ``resolution``, with C_G = num_channels(r, fmap_base, fmap_max) of the generator.

    Each stage runs its 1x1 convolution at r/2 and then up-samples: the reference's ``Conv2dLayer(up=2,
    kernel_size=1)`` up-samples first, which is the same map (a 1x1 conv mixes channels per pixel, the FIR
    up-sampling filters each channel alone, so they commute) at a quarter of the multiply-adds. The bias
    comes after the up-sampling, as there: the zero-padded FIR would not keep a bias constant at the border.

    The reference derives both widths from one channels_dict (G and D share channel_base there); here a
    stage's input has the previous stage's C_G(r/2) + D's C_D(r/2) channels, so D may be wider than G
    (``model.d_fmap_base``). It keeps equalized learning rate even when D uses spectral normalization.
    """

    def __init__(self, resolution, fmap_base, fmap_max, **kwargs):
        super().__init__(**kwargs)
        self.resolution, self.fmap_base, self.fmap_max = int(resolution), int(fmap_base), int(fmap_max)
        self.stages = block_resolutions(self.resolution)  # output resolutions 8, 16, ..., resolution
        self.convs = [EqualizedConv2D(num_channels(r, self.fmap_base, self.fmap_max), 1, use_bias=False,
                                      name=f"conv{r}") for r in self.stages]

    def build(self, input_shape):
        """``input_shape``: {x<s>: shape} of D's maps for s = 4 ... resolution/2."""
        prev = 0  # channels of the previous stage's output, concatenated in front of D's map
        for r, conv in zip(self.stages, self.convs):
            conv.build((None, r // 2, r // 2, prev + int(input_shape[f"x{r // 2}"][-1])))
            prev = conv.filters
        self.biases = [self.add_weight(name=f"bias{r}", shape=(conv.filters,), initializer="zeros")
                       for r, conv in zip(self.stages, self.convs)]

    def call(self, maps):
        y = None
        for r, conv, bias in zip(self.stages, self.convs, self.biases):
            x = maps[f"x{r // 2}"]
            if y is not None:  # U-Net skip: the decoder's own output next to D's map of the same size
                x = tf.concat([y, tf.cast(x, y.dtype)], axis=-1)
            y = bias_act(upsample2d(conv(x)), bias)
        return y

    def compute_output_shape(self, input_shape):
        return (input_shape["x4"][0], self.resolution, self.resolution, self.convs[-1].filters)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "fmap_base": self.fmap_base,
                "fmap_max": self.fmap_max}


# weight 0 = off; resolution 0 = model.resolution // 4
@METHODS.register("ggdr", section="ggdr", config=dict(weight=0.0, resolution=0), validate=check_config, order=1)
class GGDRTerm(ObjectiveTerm):
    """GGDR's loss on D (Lee et al. 2022): ``weight`` * cosine distance between the decoder's prediction
    from D's maps of the augmented fakes and G's feature map of those fakes at ``resolution`` (moved like
    the image). Its decoder is D's head ``ggdr_decoder``: trained by D's optimizer, saved with D."""

    name = "ggdr"
    g_features = True

    def __init__(self, weight, resolution):
        self.weight, self.resolution = float(weight), int(resolution)
        self.d_outputs = tuple(f"x{s}" for s in source_sizes(self.resolution))

    @classmethod
    def from_config(cls, config):
        """The term, or None when ``ggdr.weight`` is 0."""
        if not (config.get("ggdr") and config.ggdr.weight > 0):
            return None
        return cls(config.ggdr.weight, ggdr_resolution(config))

    def build(self, trainer):
        D, synthesis = trainer.discriminator, trainer.generator.synthesis
        D.check_outputs(self.d_outputs)
        sizes = source_sizes(self.resolution)
        shapes = {f"x{s}": (None, s, s, num_channels(s, D.fmap_base, D.fmap_max)) for s in sizes}
        # G's widths, not D's: the prediction is compared channel by channel with G's feature map.
        D.add_head(HEAD, GGDRDecoder(self.resolution, synthesis.fmap_base, synthesis.fmap_max, name=HEAD), shapes)

    def target(self, ctx):
        """G's block output at ``resolution`` for the fakes of ``ctx``, warped by the geometric part of their
        augmentation (the trainer passes it stop-gradient already; stopped here too so that the term
        can never train G, whoever calls it)."""
        target = tf.stop_gradient(ctx.g_features[self.resolution])
        if ctx.aug_params is not None:
            target = ctx.augment.apply_geometric(target, ctx.aug_params["x"])
        return target

    def decode(self, discriminator, maps):
        """The decoder's prediction from ``maps``, D's outputs (it reads the ones it asked for)."""
        return discriminator.heads[HEAD]({name: maps[name] for name in self.d_outputs})

    def d_loss(self, ctx):
        """Fakes only: the reference multiplies the decoder's output on reals by 0 (a DDP trick, no loss).
        Logs ``ggdr_loss``, the weighted loss added to D's (in [0, 2 * weight])."""
        loss = self.weight * cosine_distance(self.decode(ctx.discriminator, ctx.fake_out[1]), self.target(ctx))
        return loss, {"ggdr_loss": loss}

    def stat_names(self):
        return ("ggdr_loss",)
