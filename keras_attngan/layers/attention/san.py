"""Patch-wise self-/reference-attention of Yu et al. 2021 (Eq. 4-10), after SAN (Zhao et al. 2020).

One ``SANAttention`` module serves the generator's self-attention (Eq. 7) and the discriminator's
reference-attention (Eq. 8 and the supplementary variants Eq. 9-10): only the sources of key, query,
value and residual change, see ``reference_sources``.

Cost (multiply-adds per output position, and parameters), with r = kq_channels, h = hidden_channels,
G = C / share_planes, s = patch_size:

    K, Q 1x1 convs   2 C r           V 1x1 conv   C^2
    FC1 (Eq. 5)      (s^2 r + r) h   FC2 (Eq. 5)  h s^2 G
    aggregation      s^2 C (Eq. 6)

Parameters are the same products plus the biases (2r + C + h + s^2 G). At the defaults (r = C/8,
h = C/2, share_planes = 8) both are about 7.44 C^2 against 9 C^2 for the 3x3 C->C convolution SAN
replaces: C=128, s=7: 122,864 parameters and 128,128 MACs/position vs 147,584 and 147,456;
C=512, s=7: 1,953,728 and 1,974,784 vs 2,359,808 and 2,359,296. Table 4 of Yu et al. likewise
reports SAN at the cost of the convolution it replaces. ``san_cost`` computes these numbers.
"""

import keras
import tensorflow as tf

from keras_attngan.layers.equalized import EqualizedConv2D, EqualizedDense

REFERENCE_VARIANTS = ("eq8", "eq9", "eq10")


def window_offsets(patch_size):
    """Row/column offsets of the s x s window around a position: ``-(s//2) ... s - 1 - s//2``.

    Odd s gives the centred window; even s gives ``i - s/2 ... i + s/2 - 1`` as written in Eq. 4/6.
    """
    lo = patch_size // 2
    return list(range(-lo, patch_size - lo))


def reference_sources(variant, t_pri, t_ref):
    """(key_input, query_input, value_input, residual) for reference-attention.

    ``"eq8"``: attn(K(T_ref), Q(T_ref), V(T_pri)) + T_pri (Eq. 8 of Yu et al. 2021, the paper's choice);
    ``"eq9"``: attn(K(T_pri), Q(T_ref), V(T_ref)) + T_pri (Eq. 9, supplementary B);
    ``"eq10"``: attn(K(T_pri), Q(T_ref), V(T_pri)) + T_pri (Eq. 10, supplementary B).
    """
    if variant == "eq8":
        return t_ref, t_ref, t_pri, t_pri
    if variant == "eq9":
        return t_pri, t_ref, t_ref, t_pri
    if variant == "eq10":
        return t_pri, t_ref, t_pri, t_pri
    raise ValueError(f"unknown reference-attention variant {variant!r}: use one of {REFERENCE_VARIANTS}")


def default_widths(channels, kq_channels=None, hidden_channels=None):
    """The key/query width r and hidden FC width h used when they are not given: C/8 and C/2."""
    r = kq_channels if kq_channels is not None else max(channels // 8, 1)
    h = hidden_channels if hidden_channels is not None else max(channels // 2, 1)
    return int(r), int(h)


def san_cost(channels, patch_size=7, kq_channels=None, hidden_channels=None, share_planes=8):
    """(parameters, multiply-adds per output position) of ``SANAttention``; see the module docstring."""
    c, s2 = int(channels), int(patch_size) ** 2
    r, h = default_widths(c, kq_channels, hidden_channels)
    g = c // share_planes
    params = 2 * (c * r + r) + (c * c + c) + ((s2 * r + r) * h + h) + (h * s2 * g + s2 * g)
    macs = 2 * c * r + c * c + (s2 * r + r) * h + h * s2 * g + s2 * c
    return params, macs


def conv3x3_cost(channels):
    """(parameters, multiply-adds per position) of the 3x3 C->C convolution with bias SAN replaces."""
    return 9 * channels * channels + channels, 9 * channels * channels


class SANAttention(keras.layers.Layer):
    """Patch-wise attention of Eq. 4-7 of Yu et al. 2021; reference-attention (Eq. 8-10) by its inputs.

    ``call(key_input, query_input=None, value_input=None, residual=None)``; every missing input
    defaults to ``key_input``, so ``layer(T)`` is self-attention, Eq. 7:
    ``O = attn(K(T), Q(T), V(T)) + T``. Eq. 8 is ``layer(T_ref, T_ref, T_pri, residual=T_pri)``
    (``reference_sources`` gives the sources of Eq. 8-10). All inputs are [B, H, W, C] with one C.

    Per position (i, j):
      * K, Q, V: 1x1 convs with bias + leaky ReLU (Sec. 3.2); K and Q reduced to ``kq_channels``.
      * Eq. 4: p = concat(flatten(k), q), k the s x s patch of K around (i, j), flattened in
        (row, column, channel) order, q = Q(i, j).
      * Eq. 5: w = FC2(leakyReLU(FC1(p))), both FCs with bias; FC1 has ``hidden_channels`` units.
      * Eq. 6: w is reshaped to [s*s, C / share_planes] (window index m*s + n) and
        o(i, j) = sum_{m,n} w(m, n) * v(m, n) over the s x s window of V. Channel c of v uses kernel
        channel c mod (C / share_planes): SAN's "share planes", one kernel shared by ``share_planes``
        channel groups. ``share_planes=1`` is the paper's literal per-channel kernel (s^2 C outputs).
      * Eq. 7: O = o + residual.

    ``kernel_gain`` multiplies w (default 1/s = 1/sqrt(s^2), the fan-in of the sum in Eq. 6): a
    constant reparameterisation of FC2, like equalized lr, so that o has about the scale of v at
    initialisation instead of ~s times it. ``kernel_gain=1.0`` gives Eq. 5 unscaled.

    Borders and offsets: the window of (i, j) covers rows i + d and columns j + d for
    d in ``window_offsets(s)`` = -(s//2) ... s-1-s//2 (centred for odd s; i - s/2 ... i + s/2 - 1 for
    even s, as Eq. 4 writes it). Positions outside the image are zeros of K and V (after the 1x1
    conv + activation), so they contribute nothing to the aggregation and zeros to p.

    The patches of K come from ``tf.image.extract_patches`` on the reduced (r-channel) K, which is
    no larger than the kernel w itself; V is aggregated as a sum over the s^2 shifted slices of a
    zero-padded V, so no [.., s^2 C] patch tensor of V is ever built.
    """

    def __init__(self, patch_size=7, kq_channels=None, hidden_channels=None, share_planes=8,
                 kernel_gain=None, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.kernel_gain = None if kernel_gain is None else float(kernel_gain)
        self.kq_channels = None if kq_channels is None else int(kq_channels)
        self.hidden_channels = None if hidden_channels is None else int(hidden_channels)
        self.share_planes = int(share_planes)
        if self.patch_size < 1 or self.share_planes < 1:
            raise ValueError("patch_size and share_planes must be >= 1")

    def build(self, key_input_shape):
        c = int(key_input_shape[-1])
        if c % self.share_planes:
            raise ValueError(f"channels {c} not divisible by share_planes {self.share_planes}")
        self.channels = c
        self.kernel_channels = c // self.share_planes
        self.gain = 1.0 / self.patch_size if self.kernel_gain is None else self.kernel_gain
        r, h = default_widths(c, self.kq_channels, self.hidden_channels)
        s2 = self.patch_size ** 2
        self.key_conv = EqualizedConv2D(r, kernel_size=1, activation="lrelu", name="key")
        self.query_conv = EqualizedConv2D(r, kernel_size=1, activation="lrelu", name="query")
        self.value_conv = EqualizedConv2D(c, kernel_size=1, activation="lrelu", name="value")
        self.fc1 = EqualizedDense(h, activation="lrelu", name="fc1")
        self.fc2 = EqualizedDense(s2 * self.kernel_channels, activation="linear", name="fc2")
        spatial = tuple(key_input_shape[:-1])
        self.key_conv.build(spatial + (c,))
        self.query_conv.build(spatial + (c,))
        self.value_conv.build(spatial + (c,))
        self.fc1.build(spatial + (s2 * r + r,))
        self.fc2.build(spatial + (h,))

    def _pad(self, x):
        # Explicit zero padding so both K patches and V slices use window_offsets (TF's "SAME" would
        # put the extra row of an even window on the other side).
        lo = self.patch_size // 2
        hi = self.patch_size - 1 - lo
        return tf.pad(x, [[0, 0], [lo, hi], [lo, hi], [0, 0]])

    def _check(self, x, name):
        if x.shape[-1] is not None and int(x.shape[-1]) != self.channels:
            raise ValueError(f"{name} has {x.shape[-1]} channels, the layer was built for {self.channels}")

    def attention_kernel(self, key_input, query_input=None):
        """The weight kernel w of Eq. 4-6 as [B, H, W, s*s, C // share_planes] (window index m*s + n).

        Its norm over the last axis per window position is the attention map of Fig. 5 of Yu et al.
        """
        if not self.built:
            self.build(key_input.shape)
        query_input = key_input if query_input is None else query_input
        self._check(key_input, "key_input")
        self._check(query_input, "query_input")
        s = self.patch_size
        k = self.key_conv(key_input)
        q = self.query_conv(query_input)
        patches = tf.image.extract_patches(self._pad(k), sizes=[1, s, s, 1], strides=[1, 1, 1, 1],
                                           rates=[1, 1, 1, 1], padding="VALID")
        p = tf.concat([patches, q], axis=-1)  # Eq. 4
        w = self.fc2(self.fc1(p)) * self.gain  # Eq. 5
        shape = tf.shape(w)
        return tf.reshape(w, [shape[0], shape[1], shape[2], s * s, self.kernel_channels])

    def aggregate(self, w, v):
        """Eq. 6: o(i, j) = sum over the s x s window of w(m, n) * v(m, n); w [B,H,W,s*s,G], v [B,H,W,C].

        The s^2 shifted multiply-adds are XLA-compiled on their own (no collectives inside, so this is
        also safe under tf.distribute): fused into one loop they ran 4x faster than as separate TF ops on
        CPU (forward + backward, [16, 32, 32, 128], s = 7).
        """
        if not hasattr(self, "_aggregate_xla"):
            self._aggregate_xla = tf.function(self._aggregate, jit_compile=True, reduce_retracing=True)
        return self._aggregate_xla(w, v)

    def _aggregate(self, w, v):
        s, sp, g = self.patch_size, self.share_planes, self.kernel_channels
        shape = tf.shape(v)
        b, h, wd = shape[0], shape[1], shape[2]
        vp = self._pad(v)
        # Channel c = group * G + j uses kernel channel j: split C into (share_planes, G).
        vp = tf.reshape(vp, [b, h + s - 1, wd + s - 1, sp, g])
        out = None
        for m in range(s):
            for n in range(s):
                term = vp[:, m:m + h, n:n + wd] * w[:, :, :, m * s + n, None, :]
                out = term if out is None else out + term
        return tf.reshape(out, [b, h, wd, self.channels])

    def call(self, key_input, query_input=None, value_input=None, residual=None):
        """Eq. 7 (self-attention) or Eq. 8-10 (reference-attention): attn(K, Q, V) + residual."""
        query_input = key_input if query_input is None else query_input
        value_input = key_input if value_input is None else value_input
        residual = key_input if residual is None else residual
        self._check(value_input, "value_input")
        w = self.attention_kernel(key_input, query_input)
        o = self.aggregate(w, self.value_conv(value_input))
        return o + tf.cast(residual, o.dtype)

    def compute_output_shape(self, key_input_shape, *args, **kwargs):
        return key_input_shape

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "kq_channels": self.kq_channels,
                "hidden_channels": self.hidden_channels, "share_planes": self.share_planes,
                "kernel_gain": self.kernel_gain}
