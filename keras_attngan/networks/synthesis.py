"""StyleGAN2 synthesis network, 'skip' architecture (config E): learned 4x4 constant, two modulated
convolutions per resolution, and the RGB outputs of every resolution up-sampled and summed."""

import keras
import tensorflow as tf

from keras_attngan.layers import ModulatedConv2D, ToRGB, upsample2d
from keras_attngan.layers.attention import make_attention
from keras_attngan.layers.spectral import check_weight_norm
from keras_attngan.networks.widths import block_resolutions, check_resolution, num_channels, num_ws
from keras_attngan.rng import batch_normal, maybe_fold


class SynthesisBlock(keras.layers.Layer):
    """One resolution of the skip generator.

    The 4x4 block holds the learned constant and one convolution; every other block up-samples with
    ``conv0`` (2x transposed modulated conv + FIR) and refines with ``conv1``. Each block adds its ToRGB
    output to the up-sampled running image. It consumes ``num_conv + 1`` ws; the ToRGB w is shared with
    the next block's first convolution (as in StyleGAN2).

    With an ``attention`` spec, the attention module replaces ``conv1``, the block's non-up-sampling
    convolution (Sec. 3.2 of Yu et al. 2021: "replacing the default convolution in the 32x32-resolution
    layer"). That layer's w is then unused (the block still consumes it, so num_ws, style mixing and
    truncation indices do not change), and it gets no noise, bias or activation of its own: its output is
    the residual attention output of Eq. 7.

    ``weight_norm`` ("equalized" | "spectral") applies to the base weights of the modulated convolutions
    and ToRGB (their style affines stay equalized, see ``Generator``); the learned constant and an
    attention module keep their own weights.
    """

    def __init__(self, resolution, in_channels, out_channels, img_channels, w_dim, attention=None,
                 weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.resolution, self.in_channels, self.out_channels = int(resolution), int(in_channels), int(out_channels)
        self.img_channels, self.w_dim = int(img_channels), int(w_dim)
        self.attention = dict(attention) if attention else None
        self.weight_norm = wn = check_weight_norm(weight_norm)
        self.is_first = self.resolution == 4
        self.num_conv = 1 if self.is_first else 2
        w_shape = (None, self.w_dim)
        if self.is_first:
            self.const = self.add_weight(name="const", shape=(4, 4, self.out_channels),
                                         initializer=keras.initializers.RandomNormal(stddev=1.0))
        else:
            self.conv0 = ModulatedConv2D(self.out_channels, 3, up=True, weight_norm=wn, name="conv0")
            self.conv0.build((None, self.resolution // 2, self.resolution // 2, self.in_channels), w_shape)
        if self.attention:
            self.conv1 = make_attention(self.attention, name="attention")
            self.conv1.build((None, self.resolution, self.resolution, self.out_channels))
        else:
            self.conv1 = ModulatedConv2D(self.out_channels, 3, weight_norm=wn, name="conv1")
            self.conv1.build((None, self.resolution, self.resolution, self.out_channels), w_shape)
        self.torgb = ToRGB(self.img_channels, weight_norm=wn, name="torgb")
        self.torgb.build((None, self.resolution, self.resolution, self.out_channels), w_shape)

    def convs(self):
        return [self.conv1] if self.is_first else [self.conv0, self.conv1]

    def noise_layers(self):
        return [c.noise for c in self.convs() if isinstance(c, ModulatedConv2D) and c.use_noise]

    def call(self, x, img, ws, noise_mode="random", noise=None, return_hidden=False):
        """x: features of the previous block (ignored for 4x4), img: running RGB image or None,
        ws: [B, num_conv + 1, w_dim], noise: None or one noise image per layer of ``noise_layers()``.
        Returns (x, img); with ``return_hidden`` (x, img, hidden), hidden = conv1's input (the up-sampled
        conv0 output, or the constant at 4x4): the attention module's input where one replaces conv1."""
        if self.is_first:
            x = tf.tile(tf.cast(self.const, ws.dtype)[None], [tf.shape(ws)[0], 1, 1, 1])
        noise = list(noise) if noise is not None else None
        for i, conv in enumerate(self.convs()):
            if conv is self.conv1:
                hidden = x
            if isinstance(conv, ModulatedConv2D):
                given = noise.pop(0) if noise and conv.use_noise else None
                x = conv(x, ws[:, i], noise_mode=noise_mode, noise=given)
            else:  # attention replacing conv1
                x = conv(x)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2d(img) + y
        return (x, img, hidden) if return_hidden else (x, img)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "img_channels": self.img_channels, "w_dim": self.w_dim,
                "attention": self.attention, "weight_norm": self.weight_norm}


class SynthesisNetwork(keras.layers.Layer):
    """ws [B, num_ws, w_dim] -> images [B, R, R, C] (NHWC, roughly in [-1, 1]).

    ``weight_norm``: "equalized" or "spectral" for every block (see :class:`SynthesisBlock`)."""

    def __init__(self, resolution, img_channels=3, w_dim=512, fmap_base=8192, fmap_max=512, attention=None,
                 weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.weight_norm = wn = check_weight_norm(weight_norm)
        self.resolution = check_resolution(resolution)
        self.img_channels, self.w_dim = int(img_channels), int(w_dim)
        self.fmap_base, self.fmap_max = int(fmap_base), int(fmap_max)
        self.attention = dict(attention) if attention and attention.get("type", "none") != "none" else None
        if self.attention and self.attention.get("resolution") not in [4] + block_resolutions(self.resolution):
            raise ValueError(f"generator attention resolution {self.attention.get('resolution')} must be a "
                             f"power of two from 4 to {self.resolution}")
        if self.img_channels not in (1, 3):
            raise ValueError(f"img_channels must be 1 or 3, got {img_channels}")
        self.num_ws = num_ws(self.resolution)

        def nf(res):
            return num_channels(res, self.fmap_base, self.fmap_max)

        def attn(res):
            return self.attention if self.attention and self.attention["resolution"] == res else None

        self.blocks = [SynthesisBlock(4, nf(4), nf(4), self.img_channels, self.w_dim, attn(4), wn, name="b4")]
        for res in block_resolutions(self.resolution):
            self.blocks.append(SynthesisBlock(res, nf(res // 2), nf(res), self.img_channels, self.w_dim,
                                              attn(res), wn, name=f"b{res}"))

    def draw_noise(self, batch, seed):
        """The per-pixel noise images of a ``random``-mode pass, one [batch, H, W, 1] per noise layer.

        The training step draws them (and every other random input) outside its XLA-compiled functions,
        because XLA's stateless RNG gives other numbers than TF's kernels: so the same seed gives the
        same step with and without XLA, on one device or split across replicas (``rng.batch_normal``).
        """
        layers = [n for block in self.blocks for n in block.noise_layers()]
        return [batch_normal([batch, n.const_noise.shape[1], n.const_noise.shape[2], 1], maybe_fold(seed, i))
                for i, n in enumerate(layers)]

    def call(self, ws, noise_mode="random", seed=None, noise=None, return_features=False):
        """``noise``: the list :meth:`draw_noise` returns; when None and ``seed`` is given, that list is
        drawn here from ``seed`` (the same numbers, except inside XLA-compiled code).

        ``return_features``: True (or ``"output"``) returns ``(img, {res: x})``, x = each block's feature
        output before ToRGB [B, res, res, nf(res)] for res = 4, 8, ..., R: GGDR's decoder target (Lee et
        al. 2022, synthesis ``forward(get_feat=True)``). ``"conv1_input"`` returns ``(img, {res: conv1's
        input})`` instead, which is the attention layer's input in the attention block (see
        ``SynthesisBlock.call``). The image is the same either way.
        """
        if return_features not in (False, None, True, "output", "conv1_input"):
            raise ValueError(f"return_features={return_features!r}: use False, True ('output') or 'conv1_input'")
        if noise is None and seed is not None and noise_mode == "random":
            noise = self.draw_noise(tf.shape(ws)[0], seed)
        x = img = None
        w_idx = 0
        features = {}
        for block in self.blocks:
            block_ws = ws[:, w_idx:w_idx + block.num_conv + 1]
            n = len(block.noise_layers())
            block_noise, noise = (noise[:n], noise[n:]) if noise is not None else (None, None)
            x, img, hidden = block(x, img, block_ws, noise_mode=noise_mode, noise=block_noise, return_hidden=True)
            features[block.resolution] = hidden if return_features == "conv1_input" else x
            w_idx += block.num_conv
        return (img, features) if return_features else img

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "img_channels": self.img_channels,
                "w_dim": self.w_dim, "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
                "attention": self.attention, "weight_norm": self.weight_norm}
