"""ProGAN's drift penalty (Karras et al. 2018, "Progressive Growing of GANs", Sec. A.1) as an objective term."""

import tensorflow as tf

from keras_attngan.methods.base import ObjectiveTerm
from keras_attngan.registry import METHODS


def check_config(config):
    if config.loss.drift < 0:
        raise ValueError(f"loss.drift must be >= 0 (0 = off), got {config.loss.drift}")


@METHODS.register("drift", validate=check_config, order=0)
class DriftPenalty(ObjectiveTerm):
    """epsilon * E[D(x)^2] on D's real logits, keeping them from drifting far from 0 (used with WGAN-GP
    there). ``loss.drift`` = epsilon (0.001 in ProGAN; 0 = off)."""

    name = "drift"

    def __init__(self, weight):
        self.weight = float(weight)

    @classmethod
    def from_config(cls, config):
        return cls(config.loss.drift) if config.loss.get("drift", 0.0) else None

    def d_loss(self, ctx):
        logits = tf.cast(ctx.real_out[0], tf.float32)
        penalty = tf.reduce_mean(tf.square(logits))
        return self.weight * penalty, {"drift_penalty": penalty}

    def stat_names(self):
        return ("drift_penalty",)
