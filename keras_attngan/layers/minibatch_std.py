"""Minibatch standard deviation layer (Karras et al. 2018; StyleGAN2 discriminator epilogue)."""

import keras
import tensorflow as tf


class MinibatchStdDev(keras.layers.Layer):
    """Appends ``num_features`` maps holding the mean standard deviation within groups of samples.

    Consecutive samples form a group (samples m*G .. m*G + G - 1, G = min(group_size, B); B must be
    divisible by G). Under tf.distribute the groups stay within one replica, as in StyleGAN2; because
    groups are contiguous (StyleGAN2 strides them), a replica's groups are exactly the groups the
    single-device step forms for the same global batch.
    """

    def __init__(self, group_size=4, num_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_features = int(num_features)

    def call(self, x):
        s = tf.shape(x)
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        f = self.num_features
        g = tf.minimum(self.group_size, s[0])
        tf.debugging.assert_equal(
            s[0] % g, 0, message="MinibatchStdDev: per-replica batch must be divisible by group_size")
        # Statistics in float32 also under mixed precision.
        y = tf.reshape(tf.cast(x, tf.float32), [-1, g, h, w, f, c // f])  # [M, G, H, W, F, c]
        y = y - tf.reduce_mean(y, axis=1, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=1) + 1e-8)  # [M, H, W, F, c]
        y = tf.reduce_mean(y, axis=[1, 2, 4])  # [M, F]
        y = tf.repeat(y, g, axis=0)[:, None, None, :]  # row b = m*G + k gets group m's value
        y = tf.tile(y, [1, h, w, 1])
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_features)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "num_features": self.num_features}
