"""SAGAN self-attention (Zhang et al. 2019, Eq. 1-3), one of the modules compared in Table 3/4 of
Yu et al. 2021.

Cost at C channels (no biases): f, g: C^2/8 each, h: C^2/2, v: C^2/2, so 1.25 C^2 parameters and
1.25 C^2 multiply-adds per position for the projections, plus 2 N (C/8 + C/2) per position for the
N x N attention over all N = H W positions.
"""

import keras
import tensorflow as tf

from keras_attngan.layers.equalized import EqualizedConv2D
from keras_attngan.registry import ATTENTION


@ATTENTION.register("sagan", options=("kq_channels", "value_channels"))
class SAGANAttention(keras.layers.Layer):
    """y = gamma * o + x with o_j = v(sum_i beta_{j,i} h(x_i)) (Eq. 1-3 of Zhang et al., SAGAN).

    ``beta_{j,i} = softmax_i(f(x_i)^T g(x_j))`` (Eq. 1): g is the query at output position j, f the
    key at position i, and the softmax runs over the keys i. f, g map C -> ``kq_channels``
    (default C/8); h maps C -> ``value_channels`` (default C/2) and v maps it back to C, the
    bottleneck of the SAGAN/BigGAN reference code (BigGAN's extra max-pooling of f and h is not used).
    All four are bias-free 1x1 equalized-lr convs (Eq. 2 writes them as plain matrices W x).
    gamma (Eq. 3) is a learned scalar initialised to 0, so the layer is the identity at
    initialisation. No 1/sqrt(d) scaling of the logits: Eq. 1 has none.

    ``call(key_input, query_input=None, value_input=None, residual=None)`` mirrors ``SANAttention``:
    f from ``key_input``, g from ``query_input``, h from ``value_input``, missing inputs default to
    ``key_input``; ``layer(x)`` is SAGAN self-attention. key and value inputs need the same H x W.
    """

    def __init__(self, kq_channels=None, value_channels=None, **kwargs):
        super().__init__(**kwargs)
        self.kq_channels = None if kq_channels is None else int(kq_channels)
        self.value_channels = None if value_channels is None else int(value_channels)

    def build(self, key_input_shape):
        c = int(key_input_shape[-1])
        self.channels = c
        r = self.kq_channels if self.kq_channels is not None else max(c // 8, 1)
        d = self.value_channels if self.value_channels is not None else max(c // 2, 1)
        spatial = tuple(key_input_shape[:-1])
        self.f_conv = EqualizedConv2D(r, kernel_size=1, use_bias=False, name="f")
        self.g_conv = EqualizedConv2D(r, kernel_size=1, use_bias=False, name="g")
        self.h_conv = EqualizedConv2D(d, kernel_size=1, use_bias=False, name="h")
        self.v_conv = EqualizedConv2D(c, kernel_size=1, use_bias=False, name="v")
        for conv in (self.f_conv, self.g_conv, self.h_conv):
            conv.build(spatial + (c,))
        self.v_conv.build(spatial + (d,))
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    @staticmethod
    def _flatten(x):
        shape = tf.shape(x)
        return tf.reshape(x, [shape[0], shape[1] * shape[2], x.shape[-1]])

    def attention_map(self, key_input, query_input=None):
        """beta of Eq. 1 as [B, N_query, N_key] (positions flattened row-major); rows sum to 1."""
        if not self.built:
            self.build(key_input.shape)
        query_input = key_input if query_input is None else query_input
        f = self._flatten(self.f_conv(key_input))
        g = self._flatten(self.g_conv(query_input))
        logits = tf.matmul(g, f, transpose_b=True)  # [B, j, i] = f(x_i)^T g(x_j)
        return tf.nn.softmax(logits, axis=-1)

    def call(self, key_input, query_input=None, value_input=None, residual=None):
        """Eq. 1-3: gamma * v(beta h) + residual."""
        query_input = key_input if query_input is None else query_input
        value_input = key_input if value_input is None else value_input
        residual = key_input if residual is None else residual
        beta = self.attention_map(key_input, query_input)
        hx = self._flatten(self.h_conv(value_input))
        attended = tf.matmul(beta, hx)  # [B, N_query, d]: sum_i beta_{j,i} h(x_i)
        qs = tf.shape(query_input)
        attended = tf.reshape(attended, [qs[0], qs[1], qs[2], hx.shape[-1]])
        o = self.v_conv(attended)  # Eq. 2
        return tf.cast(self.gamma, o.dtype) * o + tf.cast(residual, o.dtype)  # Eq. 3

    def compute_output_shape(self, key_input_shape, *args, **kwargs):
        return key_input_shape

    def get_config(self):
        return {**super().get_config(), "kq_channels": self.kq_channels,
                "value_channels": self.value_channels}
