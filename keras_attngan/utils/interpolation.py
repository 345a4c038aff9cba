"""Interpolation of latents, shared by generation (interpolation videos) and metrics (PPL)."""

import tensorflow as tf


def slerp(a, b, t):
    """Spherical interpolation of (normalised) latents, per row; t [N]."""
    a = a / tf.norm(a, axis=-1, keepdims=True)
    b = b / tf.norm(b, axis=-1, keepdims=True)
    d = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    p = t[:, None] * tf.math.acos(tf.clip_by_value(d, -1.0, 1.0))
    c = b - d * a
    c = c / (tf.norm(c, axis=-1, keepdims=True) + 1e-12)
    return a * tf.cos(p) + c * tf.sin(p)


def lerp(a, b, t):
    """Linear interpolation a + (b - a) t per row; t [N]."""
    return a + (b - a) * tf.reshape(t, [-1] + [1] * (len(a.shape) - 1))
