"""GAN losses as ``(d_loss, g_loss)`` pairs of functions of ``(real_logits, fake_logits)``.

Every function returns a float32 scalar: the mean over the batch. ``losses.get(name)`` looks a pair up.
"""

import tensorflow as tf


def _f32(x):
    return tf.cast(tf.reshape(x, [-1]), tf.float32)


def ns_d_loss(real_logits, fake_logits):
    """Non-saturating logistic loss for D (Goodfellow et al. 2014; StyleGAN2 default):
    softplus(D(G(z))) + softplus(-D(x))."""
    return tf.reduce_mean(tf.nn.softplus(_f32(fake_logits))) + tf.reduce_mean(tf.nn.softplus(-_f32(real_logits)))


def ns_g_loss(real_logits, fake_logits):
    """Non-saturating loss for G: softplus(-D(G(z))). ``real_logits`` is unused (may be None)."""
    del real_logits
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


_REGISTRY = {
    "ns": (ns_d_loss, ns_g_loss),
}


def names():
    return sorted(_REGISTRY)


def get(name):
    """Returns ``(d_loss, g_loss)`` for a loss name."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}: use one of {names()}")
    return _REGISTRY[name]
