"""StyleGAN2 mapping network z (and, class-conditional, a label) -> w, with the tracked average w used for
truncation. Also D's label mapping of the projection discriminator (``z_dim=0``)."""

import keras
import tensorflow as tf

from keras_attngan.layers import EqualizedDense


def normalize_2nd_moment(x, eps=1e-8):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + eps)


def check_labels(labels, num_classes, who):
    """int32 labels [B] of a class-conditional network; ValueError when they are missing."""
    if labels is None:
        raise ValueError(f"the {who} is class-conditional ({num_classes} classes): pass labels=<int class ids [B]>")
    return tf.reshape(tf.cast(labels, tf.int32), [-1])


class MappingNetwork(keras.layers.Layer):
    """Normalised z, ``num_layers`` equalized FC layers with leaky ReLU and lr multiplier 0.01.

    Class-conditional (``num_classes > 0``, as StyleGAN2-ADA's ``c_dim``): the one-hot label is embedded by
    an equalized FC layer (``w_dim`` features), normalised to unit second moment like z, and concatenated
    with the normalised z at the first layer's input. With ``z_dim=0`` the label alone is mapped: D's
    projection embedding (``Discriminator``, StyleGAN2-ADA's ``cmap``).

    ``w_avg`` is a non-trainable running mean of w (decay ``w_avg_beta``), updated by the training step
    through :meth:`update_w_avg`, and used by :meth:`truncate` (the truncation trick). A conditional
    mapping also tracks ``class_w_avg`` [num_classes, w_dim], the running mean of w per class, and
    truncates a sample towards its own class's mean: the global mean of a conditional mapping lies between
    the classes, so truncating towards it (what StyleGAN2-ADA does) pulls every class to one average image
    and loses the class as psi -> 0; StyleGAN-XL uses per-class centres for the same reason.
    ``w_avg_beta=None``: no averages (D's label mapping). Always equalized, also in a spectrally normalized
    G or D: see :class:`~keras_attngan.networks.Generator`.
    """

    def __init__(self, z_dim=512, w_dim=512, num_layers=8, lr_mul=0.01, w_avg_beta=0.995, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.w_dim, self.num_layers = int(z_dim), int(w_dim), int(num_layers)
        self.num_classes = int(num_classes)
        self.lr_mul = float(lr_mul)
        self.w_avg_beta = None if w_avg_beta is None else float(w_avg_beta)
        if self.num_classes < 0 or (self.z_dim == 0 and self.num_classes == 0):
            raise ValueError(f"a mapping network needs z_dim > 0 or num_classes > 0, got {z_dim}, {num_classes}")
        self.embed = EqualizedDense(self.w_dim, name="embed") if self.num_classes else None
        self.fcs = [EqualizedDense(self.w_dim, activation="lrelu", lr_mul=self.lr_mul, name=f"fc{i}")
                    for i in range(self.num_layers)]

    def build(self, input_shape=None):
        if self.embed is not None:
            self.embed.build((None, self.num_classes))
        shape = (None, self.z_dim + (self.w_dim if self.num_classes else 0))
        for fc in self.fcs:
            fc.build(shape)
            shape = (None, self.w_dim)
        if self.w_avg_beta is None:
            return
        # 'mean' aggregation: under tf.distribute each replica assigns its own batch statistic.
        self.w_avg = self.add_weight(name="w_avg", shape=(self.w_dim,), initializer="zeros",
                                     trainable=False, aggregation="mean")
        if self.num_classes:  # every replica assigns the same value (computed from the gathered global batch)
            self.class_w_avg = self.add_weight(name="class_w_avg", shape=(self.num_classes, self.w_dim),
                                               initializer="zeros", trainable=False, aggregation="mean")

    def call(self, z, labels=None):
        parts = [normalize_2nd_moment(tf.cast(z, tf.float32))] if self.z_dim else []
        if self.num_classes:
            labels = check_labels(labels, self.num_classes, "mapping network")
            parts.append(normalize_2nd_moment(self.embed(tf.one_hot(labels, self.num_classes))))
        x = tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]
        for fc in self.fcs:
            x = fc(x)
        return x

    def update_w_avg(self, w, labels=None, global_w=None):
        """w_avg <- lerp(mean(w), w_avg, beta); conditional: also each class's mean, over ``global_w`` and
        ``labels`` (the global batch's, the same on every replica), for the classes present."""
        batch_mean = tf.reduce_mean(tf.cast(w, tf.float32), axis=0)
        self.w_avg.assign(batch_mean + (self.w_avg - batch_mean) * self.w_avg_beta)
        if not self.num_classes:
            return
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        sums = tf.math.unsorted_segment_sum(tf.cast(global_w, tf.float32), labels, self.num_classes)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(labels, tf.float32), labels, self.num_classes)[:, None]
        means = sums / tf.maximum(counts, 1.0)
        updated = means + (self.class_w_avg - means) * self.w_avg_beta
        self.class_w_avg.assign(tf.where(counts > 0, updated, self.class_w_avg))

    def average(self, labels=None):
        """The truncation centre: w_avg [1, 1, w_dim], or each sample's class mean [B, 1, w_dim]."""
        if not self.num_classes:
            return self.w_avg[None, None]
        labels = check_labels(labels, self.num_classes, "mapping network")
        return tf.gather(self.class_w_avg, labels)[:, None]

    def truncate(self, ws, psi=1.0, cutoff=None, labels=None):
        """Truncation trick on ws [B, num_ws, w_dim]: avg + psi (w - avg) on the first ``cutoff`` ws, avg
        the global w_avg (unconditional) or the class's mean (:meth:`average`).

        ``psi`` may be a scalar or a per-sample vector [B].
        """
        psi = tf.cast(psi, ws.dtype)
        psi = tf.reshape(psi, [-1, 1, 1]) if psi.shape.rank == 1 else psi
        avg = tf.cast(self.average(labels), ws.dtype)
        truncated = avg + (ws - avg) * psi
        if cutoff is None:
            return truncated
        layer = tf.range(tf.shape(ws)[1])[None, :, None]
        return tf.where(layer < cutoff, truncated, ws)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "w_dim": self.w_dim, "num_layers": self.num_layers,
                "lr_mul": self.lr_mul, "w_avg_beta": self.w_avg_beta, "num_classes": self.num_classes}
