"""FIR up/down-sampling with StyleGAN2's [1, 3, 3, 1] filter (NHWC).

Borders are zero-padded exactly as in StyleGAN2 (upfirdn2d), so a constant image stays constant
away from the outermost (filter-width) border pixels.
"""

import keras
import numpy as np
import tensorflow as tf

DEFAULT_FILTER = (1, 3, 3, 1)


def fir_filter(taps=DEFAULT_FILTER, gain=1.0):
    """Separable 2-D FIR filter normalised to sum to ``gain``."""
    k = np.asarray(taps, dtype=np.float64)
    f = np.outer(k, k)
    return (f / f.sum() * gain).astype(np.float32)


def _blur(x, pad0, pad1, gain=1.0, stride=1, taps=DEFAULT_FILTER):
    """Zero-pads H and W by (pad0, pad1) and filters every channel with the FIR filter."""
    channels = x.shape[-1]
    f = tf.constant(fir_filter(taps, gain), dtype=x.dtype)
    f = tf.tile(f[:, :, None, None], [1, 1, channels, 1])
    x = tf.pad(x, [[0, 0], [pad0, pad1], [pad0, pad1], [0, 0]])
    return tf.nn.depthwise_conv2d(x, f, strides=[1, stride, stride, 1], padding="VALID")


def _zero_insert(x):
    """[B, H, W, C] -> [B, 2H, 2W, C] with the input at even positions and zeros elsewhere."""
    s = tf.shape(x)
    c = x.shape[-1]
    x = tf.reshape(x, [s[0], s[1], 1, s[2], 1, c])
    x = tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]])
    return tf.reshape(x, [s[0], s[1] * 2, s[2] * 2, c])


def upsample2d(x):
    """2x up-sampling: zero insertion then the FIR filter with gain 4 (keeps the mean)."""
    return _blur(_zero_insert(x), 2, 1, gain=4.0)


def downsample2d(x):
    """2x down-sampling: FIR low-pass filter then keep every second pixel."""
    return _blur(x, 1, 1, stride=2)


def upsample_conv2d(x, w):
    """Transposed stride-2 convolution followed by the FIR filter (StyleGAN2's fused up-conv).

    Equivalent to zero-insertion, convolution with ``w`` and filtering, at a quarter of the cost.
    ``w`` has shape [k, k, in, out].
    """
    k = w.shape[0]
    s = tf.shape(x)
    # conv2d_transpose wants [k, k, out, in]; the spatial flip makes it a true convolution with w.
    wt = tf.transpose(w[::-1, ::-1], [0, 1, 3, 2])
    out_shape = tf.stack([s[0], (s[1] - 1) * 2 + k, (s[2] - 1) * 2 + k, w.shape[-1]])
    x = tf.nn.conv2d_transpose(x, wt, out_shape, strides=2, padding="VALID")
    p = 4 - 2 - (k - 1)
    return _blur(x, (p + 1) // 2 + 1, p // 2 + 1, gain=4.0)


def downsample_conv2d(x, w):
    """FIR filter then a stride-2 'valid' convolution with ``w`` [k, k, in, out] (StyleGAN2)."""
    k = w.shape[0]
    p = 4 - 2 + (k - 1)
    x = _blur(x, (p + 1) // 2, p // 2)
    return tf.nn.conv2d(x, w, strides=2, padding="VALID")


class Upsample2D(keras.layers.Layer):
    """Keras layer for :func:`upsample2d`."""

    def call(self, x):
        return upsample2d(x)


class Downsample2D(keras.layers.Layer):
    """Keras layer for :func:`downsample2d`."""

    def call(self, x):
        return downsample2d(x)
