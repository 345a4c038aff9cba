"""Dynamic Filter Network attention (Jia, De Brabandere, Tuytelaars & Van Gool, NeurIPS 2016), "dynamic
local filtering" form, as compared in Table 3 of Yu et al., "Dual Contrastive Loss and Attention for GANs"
(ICCV 2021), where it replaces the C->C 3x3 convolution of StyleGAN2's 32x32 block.

A DFN module has two parts (DFN Sec. 3):

* a **filter-generating network** that maps the input x [B, H, W, C] to one k x k filter per position
  (and per channel group): here a 3x3 conv + leaky ReLU to ``hidden_channels`` then a 1x1 conv to
  ``groups * k * k`` outputs,

      F = conv1x1(lrelu(conv3x3(x)))                       [B, H, W, G, k*k]
      F <- softmax over the k*k taps          (normalize="softmax", the default)

* a **dynamic local filtering layer** that applies each position's own filter to the k x k neighbourhood
  of that position (DFN's "d = H*W" case: position-specific and sample-specific, not sliding):

      y[b, i, j, g, c] = sum_{u, v in [-r, r]} F[b, i, j, g, (u+r)*k + (v+r)] * x_pad[b, i+u, j+v, g, c]

  with r = k // 2, channels split into G groups of C/G (``groups=1``: one filter shared by all channels,
  as in DFN; ``groups=C``: a depthwise dynamic filter).  Positions outside the image read **zeros**
  (x is zero-padded by r on each side), so border outputs simply miss the out-of-image taps; softmax
  weights are *not* renormalised over the in-image taps.

The module is residual like the other attention blocks of the paper (Eq. 7): output = y + x.

Normalisation: the default softmax makes every output a convex combination of its neighbours, so the
module cannot blow up activations whatever the filter net outputs; ``normalize="none"`` uses the raw
filter-net outputs (a general, unbounded local linear map).

Receptive field: the filter at a position comes from the 3x3 hidden conv (radius 1) and a 1x1 conv, and
reads a radius-r window, so an output depends on x only within Chebyshev radius max(1, r).

Cost (per output position, C channels, hidden width Ch, G groups, k x k filters), vs a 3x3 C->C conv
(9 C^2 MACs, 9 C^2 + C parameters):

* filter net: 9 C Ch + Ch G k^2 MACs, (9 C Ch + Ch) + (Ch G k^2 + G k^2) parameters;
* dynamic filtering: k^2 C MACs, no parameters (sum over k^2 shifted slices; no k^2 C patch tensor).

With the defaults (Ch = C, G = 1, k = 3) that is 9 C^2 + 18 C MACs, i.e. about the cost of the conv it
replaces (x1.008 parameters at C = 128).  ``groups = C`` adds a 9 C Ch-parameter 1x1 conv (about x2).
"""

import keras
import tensorflow as tf

from keras_attngan.layers.equalized import EqualizedConv2D
from keras_attngan.registry import ATTENTION

NORMALIZATIONS = ("softmax", "none")


@ATTENTION.register("dfn", options=("kernel_size", "groups", "normalize", "hidden_channels"))
class DynamicFilterAttention(keras.layers.Layer):
    """Residual dynamic local filtering: x -> DFN(x) + x, shape [B, H, W, C] -> [B, H, W, C].

    Args:
        kernel_size: odd k of the generated per-position k x k filters (default 3).
        groups: number of channel groups with their own filter; must divide C (default 1: one filter
            for all channels, as in DFN).
        normalize: "softmax" (default; over the k*k taps) or "none".
        hidden_channels: width of the filter net's hidden 3x3 conv (default None = C).
    """

    def __init__(self, kernel_size=3, groups=1, normalize="softmax", hidden_channels=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        self.groups = int(groups)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        self.normalize = normalize
        self.hidden_channels = None if hidden_channels is None else int(hidden_channels)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if self.groups < 1 or channels % self.groups:
            raise ValueError(f"groups={self.groups} must divide the {channels} input channels")
        self.channels = channels
        hidden = self.hidden_channels or channels
        taps = self.kernel_size ** 2
        self.filter_hidden = EqualizedConv2D(hidden, 3, activation="lrelu", name="filter_hidden")
        self.filter_out = EqualizedConv2D(self.groups * taps, 1, name="filter_out")
        self.filter_hidden.build(input_shape)
        self.filter_out.build(tuple(input_shape[:-1]) + (hidden,))

    def generate_filters(self, x):
        """Filter-generating network: x [B, H, W, C] -> per-position filters [B, H, W, G, k*k]."""
        f = self.filter_out(self.filter_hidden(x))
        shape = tf.shape(x)
        f = tf.reshape(f, [shape[0], shape[1], shape[2], self.groups, self.kernel_size ** 2])
        if self.normalize == "softmax":
            f = tf.nn.softmax(f, axis=-1)
        return f

    def dynamic_filter(self, x, filters):
        """Dynamic local filtering layer (no residual): applies filters [B, H, W, G, k*k] to x.

        Sums k*k shifted slices of the zero-padded x, each weighted by its tap, so memory stays at a
        few copies of x instead of a [B, H, W, k*k*C] patch tensor.
        """
        k, r, g = self.kernel_size, self.kernel_size // 2, self.groups
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        xg = tf.reshape(x, [b, h, w, g, self.channels // g])
        xp = tf.pad(xg, [[0, 0], [r, r], [r, r], [0, 0], [0, 0]])  # zero padding = out-of-image reads 0
        filters = tf.cast(filters, x.dtype)
        out = None
        for u in range(k):
            for v in range(k):
                shifted = xp[:, u:u + h, v:v + w]  # x[i + u - r, j + v - r]
                term = filters[..., u * k + v, None] * shifted
                out = term if out is None else out + term
        return tf.reshape(out, shape)

    def call(self, x):
        return self.dynamic_filter(x, self.generate_filters(x)) + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "groups": self.groups,
                "normalize": self.normalize, "hidden_channels": self.hidden_channels}
