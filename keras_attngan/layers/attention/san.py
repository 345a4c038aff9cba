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

import math

import keras
import tensorflow as tf

from keras_attngan.layers.equalized import EqualizedConv2D, EqualizedDense
from keras_attngan.registry import ATTENTION

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


def _aggregate_terms(w, vp, s, sp, out_shape):
    """sum_{m,n} w[..., m*s+n, :] * vp[:, m:m+H, n:n+W] as s row-wise reductions (inside XLA).

    One reduction over the s columns of each of the s window rows: XLA's CPU reduction loops ran this
    ~1.7x faster than one long chain of s^2 multiply-adds, and ~6x faster than one reduction over all
    s^2 offsets (which XLA materialised).
    """
    b, h, wd, g = out_shape[0], out_shape[1], out_shape[2], out_shape[4]
    w6 = tf.reshape(w, [b, h, wd, s, s, 1, g])
    out = None
    for m in range(s):
        window_row = tf.stack([vp[:, m:m + h, n:n + wd] for n in range(s)], axis=3)  # [B,H,W,s,sp,G]
        term = tf.reduce_sum(window_row * w6[:, :, :, m], axis=3)
        out = term if out is None else out + term
    return out


_AGGREGATORS = {}


def _aggregator(s, sp):
    """Eq. 6 as a function of (w [B,H,W,s*s*G], v [B,H,W,C]) with a hand-written gradient.

    Forward and backward are each one XLA-compiled function of plain TF ops (no collectives, so this is
    safe under tf.distribute), so the backward is itself differentiable (path-length and R1
    regularization take gradients of gradients). TF's automatic gradient of the XLA-compiled forward
    ran ~3x slower than this backward on CPU ([16, 32, 32, 128], s = 7).
    """
    key = (s, sp)
    if key in _AGGREGATORS:
        return _AGGREGATORS[key]
    lo = s // 2
    hi = s - 1 - lo

    def split(v):  # [B, H', W', C] -> [B, H', W', share_planes, G]; channel c uses kernel channel c % G
        shape = tf.shape(v)
        return tf.reshape(v, [shape[0], shape[1], shape[2], sp, shape[3] // sp])

    def forward(w, vp):
        vp = split(vp)
        shape = tf.shape(vp)
        out_shape = [shape[0], shape[1] - (s - 1), shape[2] - (s - 1), sp, shape[4]]
        out = _aggregate_terms(w, vp, s, sp, out_shape)
        return tf.reshape(out, [out_shape[0], out_shape[1], out_shape[2], sp * out_shape[4]])

    def backward(w, vp, grad):
        vp, g5 = split(vp), split(grad)
        shape = tf.shape(g5)
        b, h, wd, g = shape[0], shape[1], shape[2], shape[4]
        # dL/dw(m, n) = sum over the share_planes groups of grad * shifted V; one reduction per row m.
        rows = [tf.reduce_sum(tf.stack([vp[:, m:m + h, n:n + wd] for n in range(s)], axis=3)
                              * g5[:, :, :, None], axis=4) for m in range(s)]
        dw = tf.reshape(tf.stack(rows, axis=3), tf.shape(w))
        # dL/dv(y, x) = sum_{m,n} grad(y - m + lo, x - n + lo) w(y - m + lo, x - n + lo; m, n): the same
        # shifted sums on grad and w padded the other way round (outside positions are zeros of grad).
        flip = [[0, 0], [hi, lo], [hi, lo], [0, 0], [0, 0]]
        gp = tf.pad(g5, flip)
        wp = tf.pad(tf.reshape(w, [b, h, wd, s * s, g]), flip)
        dv = None
        for m in range(s):
            a = s - 1 - m
            terms = [gp[:, a:a + h, s - 1 - n:s - 1 - n + wd] * wp[:, a:a + h, s - 1 - n:s - 1 - n + wd,
                                                                  m * s + n, None, :] for n in range(s)]
            term = tf.reduce_sum(tf.stack(terms, axis=3), axis=3)
            dv = term if dv is None else dv + term
        return dw, tf.reshape(dv, [b, h, wd, sp * g])

    forward_xla = tf.function(forward, jit_compile=True, reduce_retracing=True)
    backward_xla = tf.function(backward, jit_compile=True, reduce_retracing=True)

    @tf.custom_gradient
    def aggregate(w, v):
        vp = tf.pad(v, [[0, 0], [lo, hi], [lo, hi], [0, 0]])
        out = forward_xla(w, vp)

        def grad(dout):
            return backward_xla(w, vp, dout)

        return out, grad

    _AGGREGATORS[key] = aggregate
    return aggregate


@ATTENTION.register("san", options=("patch_size", "kq_channels", "hidden_channels", "share_planes", "kernel_gain"))
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

    How it is computed (the same function, faster on CPU):
      * FC1 applied to p = [flatten(s x s patch of K); q] is linear in p, so it is an s x s
        convolution of the zero-padded K with FC1's first s^2 r rows reshaped to an [s, s, r, h] kernel
        (the (row, column, channel) flattening order of the patch) plus q times FC1's last r rows:
        no patch tensor is built. ``kernel_from_patches`` is the literal form (Eq. 4 with
        ``tf.image.extract_patches``, then FC1), kept as the reference the tests compare with.
      * ``kernel_gain`` is folded into FC2's weights and bias.
      * Eq. 6 is a sum over the s^2 shifted slices of the zero-padded V, XLA-compiled, with a
        hand-written backward (``_aggregator``); no [.., s^2 C] patch tensor of V is built.
        ``aggregate_from_patches`` is the literal form with ``tf.image.extract_patches`` of V
        (s^2 times the memory of V: 822 MB for [16, 32, 32, 256] at s = 7), the tests' reference.
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

    def _padding(self):
        # Explicit zero padding so K patches and V slices both use window_offsets (TF's "SAME" would
        # put the extra row of an even window on the other side).
        lo = self.patch_size // 2
        return [[0, 0], [lo, self.patch_size - 1 - lo], [lo, self.patch_size - 1 - lo], [0, 0]]

    def _check(self, x, name):
        if x.shape[-1] is not None and int(x.shape[-1]) != self.channels:
            raise ValueError(f"{name} has {x.shape[-1]} channels, the layer was built for {self.channels}")

    def _key_query(self, key_input, query_input):
        if not self.built:
            self.build(key_input.shape)
        query_input = key_input if query_input is None else query_input
        self._check(key_input, "key_input")
        self._check(query_input, "query_input")
        return self.key_conv(key_input), self.query_conv(query_input)

    def _fc2(self, hidden):
        """FC2 of Eq. 5 times ``gain`` (folded into its weights): [.., h] -> [.., s*s*G]."""
        fc2 = self.fc2
        kernel = tf.cast(fc2.kernel, hidden.dtype) * (fc2.weight_gain * self.gain)
        shape = tf.shape(hidden)
        w = tf.nn.bias_add(tf.matmul(tf.reshape(hidden, [-1, shape[-1]]), kernel),
                           fc2.bias * (fc2.lr_mul * self.gain))
        return tf.reshape(w, tf.concat([shape[:-1], [-1]], axis=0))

    def _kernel_flat(self, key_input, query_input=None):
        """w of Eq. 4-5 as [B, H, W, s*s*G]: FC1 as an s x s convolution of K plus a 1x1 map of q."""
        k, q = self._key_query(key_input, query_input)
        s, r = self.patch_size, int(k.shape[-1])
        fc1 = self.fc1
        w1 = tf.cast(fc1.kernel, k.dtype) * fc1.weight_gain  # [(s*s + 1) r, h]
        # Odd s: "SAME" is this symmetric zero padding; even s: pad explicitly (both ran ~1.8x faster,
        # forward + backward, than conv2d's explicit-padding argument on CPU).
        kernel = tf.reshape(w1[:s * s * r], [s, s, r, -1])
        if s % 2:
            hidden = tf.nn.conv2d(k, kernel, strides=1, padding="SAME")
        else:
            hidden = tf.nn.conv2d(tf.pad(k, self._padding()), kernel, strides=1, padding="VALID")
        hidden = hidden + tf.einsum("bhwr,rk->bhwk", q, w1[s * s * r:])
        hidden = tf.nn.leaky_relu(hidden + fc1.bias * fc1.lr_mul, 0.2) * math.sqrt(2.0)  # fc1's lrelu
        return self._fc2(hidden)

    def _as_kernel(self, w):
        shape = tf.shape(w)
        s = self.patch_size
        return tf.reshape(w, [shape[0], shape[1], shape[2], s * s, self.kernel_channels])

    def attention_kernel(self, key_input, query_input=None):
        """The weight kernel w of Eq. 4-6 as [B, H, W, s*s, C // share_planes] (window index m*s + n).

        Its norm over the last axis per window position is the attention map of Fig. 5 of Yu et al.
        """
        return self._as_kernel(self._kernel_flat(key_input, query_input))

    def kernel_from_patches(self, key_input, query_input=None):
        """``attention_kernel`` computed literally: Eq. 4 with ``tf.image.extract_patches``, then FC1, FC2."""
        k, q = self._key_query(key_input, query_input)
        s = self.patch_size
        patches = tf.image.extract_patches(tf.pad(k, self._padding()), sizes=[1, s, s, 1],
                                           strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="VALID")
        p = tf.concat([patches, q], axis=-1)  # Eq. 4
        return self._as_kernel(self.fc2(self.fc1(p)) * self.gain)  # Eq. 5

    def aggregate(self, w, v):
        """Eq. 6: o(i, j) = sum over the s x s window of w(m, n) * v(m, n); w [B,H,W,s*s,G], v [B,H,W,C]."""
        shape = tf.shape(w)
        w = tf.reshape(w, [shape[0], shape[1], shape[2], -1])
        return _aggregator(self.patch_size, self.share_planes)(w, v)

    def aggregate_from_patches(self, w, v):
        """``aggregate`` computed literally with ``tf.image.extract_patches`` of V (memory-heavy)."""
        s, sp, g = self.patch_size, self.share_planes, self.kernel_channels
        shape = tf.shape(v)
        patches = tf.image.extract_patches(tf.pad(v, self._padding()), sizes=[1, s, s, 1],
                                           strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="VALID")
        patches = tf.reshape(patches, [shape[0], shape[1], shape[2], s * s, sp, g])
        w = tf.reshape(w, [shape[0], shape[1], shape[2], s * s, 1, g])
        return tf.reshape(tf.reduce_sum(patches * w, axis=3), shape)

    def call(self, key_input, query_input=None, value_input=None, residual=None):
        """Eq. 7 (self-attention) or Eq. 8-10 (reference-attention): attn(K, Q, V) + residual."""
        query_input = key_input if query_input is None else query_input
        value_input = key_input if value_input is None else value_input
        residual = key_input if residual is None else residual
        self._check(value_input, "value_input")
        w = self._kernel_flat(key_input, query_input)
        o = _aggregator(self.patch_size, self.share_planes)(w, self.value_conv(value_input))
        return o + tf.cast(residual, o.dtype)

    def compute_output_shape(self, key_input_shape, *args, **kwargs):
        return key_input_shape

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "kq_channels": self.kq_channels,
                "hidden_channels": self.hidden_channels, "share_planes": self.share_planes,
                "kernel_gain": self.kernel_gain}
