"""StyleGAN2 mapping network z -> w with the tracked average w used for truncation."""

import keras
import tensorflow as tf

from keras_attngan.layers import EqualizedDense


def normalize_2nd_moment(x, eps=1e-8):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + eps)


class MappingNetwork(keras.layers.Layer):
    """Normalised z, ``num_layers`` equalized FC layers with leaky ReLU and lr multiplier 0.01.

    ``w_avg`` is a non-trainable running mean of w (decay ``w_avg_beta``), updated by the training step
    through :meth:`update_w_avg`, and used by :meth:`truncate` (the truncation trick).
    Always equalized, also in a spectrally normalized G: see :class:`~keras_attngan.networks.Generator`.
    """

    def __init__(self, z_dim=512, w_dim=512, num_layers=8, lr_mul=0.01, w_avg_beta=0.995, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.w_dim, self.num_layers = int(z_dim), int(w_dim), int(num_layers)
        self.lr_mul, self.w_avg_beta = float(lr_mul), float(w_avg_beta)
        self.fcs = [EqualizedDense(self.w_dim, activation="lrelu", lr_mul=self.lr_mul, name=f"fc{i}")
                    for i in range(self.num_layers)]

    def build(self, input_shape=None):
        shape = (None, self.z_dim)
        for fc in self.fcs:
            fc.build(shape)
            shape = (None, self.w_dim)
        # 'mean' aggregation: under tf.distribute each replica assigns its own batch statistic.
        self.w_avg = self.add_weight(name="w_avg", shape=(self.w_dim,), initializer="zeros",
                                     trainable=False, aggregation="mean")

    def call(self, z):
        x = normalize_2nd_moment(tf.cast(z, tf.float32))
        for fc in self.fcs:
            x = fc(x)
        return x

    def update_w_avg(self, w):
        """w_avg <- lerp(mean(w), w_avg, beta)."""
        batch_mean = tf.reduce_mean(tf.cast(w, tf.float32), axis=0)
        self.w_avg.assign(batch_mean + (self.w_avg - batch_mean) * self.w_avg_beta)

    def truncate(self, ws, psi=1.0, cutoff=None):
        """Truncation trick on ws [B, num_ws, w_dim]: w_avg + psi (w - w_avg) on the first ``cutoff`` ws.

        ``psi`` may be a scalar or a per-sample vector [B].
        """
        psi = tf.cast(psi, ws.dtype)
        psi = tf.reshape(psi, [-1, 1, 1]) if psi.shape.rank == 1 else psi
        avg = tf.cast(self.w_avg, ws.dtype)
        truncated = avg + (ws - avg) * psi
        if cutoff is None:
            return truncated
        layer = tf.range(tf.shape(ws)[1])[None, :, None]
        return tf.where(layer < cutoff, truncated, ws)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "w_dim": self.w_dim,
                "num_layers": self.num_layers, "lr_mul": self.lr_mul, "w_avg_beta": self.w_avg_beta}
