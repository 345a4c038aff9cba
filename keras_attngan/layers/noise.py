"""Per-pixel noise injection of StyleGAN/StyleGAN2 with a learned per-channel strength."""

import keras
import tensorflow as tf

from keras_attngan.rng import batch_normal

NOISE_MODES = ("random", "const", "none")


def check_noise_mode(mode):
    if mode not in NOISE_MODES:
        raise ValueError(f"unknown noise_mode {mode!r}: use one of {NOISE_MODES}")
    return mode


class NoiseInjection(keras.layers.Layer):
    """Adds ``strength[c] * n[b, h, w]`` with one N(0, 1) noise image per sample, shared by channels.

    Modes: ``random`` draws fresh noise (stateless from ``seed`` when given, so training is reproducible
    and resumable, and the same however the global batch is split across replicas; see
    :mod:`keras_attngan.rng`), ``const`` uses a fixed noise image stored in the layer, ``none`` adds nothing.
    The strength starts at 0 as in StyleGAN2.
    """

    def build(self, input_shape):
        _, h, w, c = input_shape
        self.strength = self.add_weight(name="strength", shape=(c,), initializer="zeros")
        self.const_noise = self.add_weight(
            name="const_noise", shape=(1, h, w, 1), trainable=False,
            initializer=keras.initializers.RandomNormal(seed=h * 1000 + c))

    def call(self, x, noise_mode="random", seed=None, noise=None):
        """``noise``: a given [B, H, W, 1] noise image for ``random`` mode (the training step draws it
        outside compiled code, see ``SynthesisNetwork.draw_noise``); else drawn from ``seed``."""
        check_noise_mode(noise_mode)
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            noise = tf.cast(self.const_noise, x.dtype)
        elif noise is not None:
            noise = tf.cast(noise, x.dtype)
        else:
            shape = tf.concat([tf.shape(x)[:3], [1]], axis=0)
            if seed is None:
                noise = tf.random.normal(shape, dtype=x.dtype)
            else:
                noise = batch_normal(shape, seed, dtype=x.dtype)  # split-invariant under tf.distribute
        return x + noise * tf.cast(self.strength, x.dtype)
