"""bCR: balanced consistency regularization (Zhao, Singh, Lee, Zhang, Odena, Zhang 2020, "Improved
Consistency Regularization for GANs", AAAI 2021, Sec. 3.1, Algorithm 1).

D is asked to give an image and its augmented copy the same score, on reals and on fakes:

    L_D += lambda_real * E_x ||D(x) - D(T(x))||^2 + lambda_fake * E_z ||D(G(z)) - D(T(G(z)))||^2

T is the run's configured augmentation (``augment.name``: DiffAugment's translation and cutout play the
role of the paper's flip-and-shift), drawn afresh for this term; D(x) is D on the image as it is. The fakes
are constants in the D step, so the penalty trains D only and G's loss is unchanged (the paper's bCR; its
zCR, on latent perturbations, is not here). lambda_real = lambda_fake = 10 as in the paper. Both D calls go
through the step's ``ctx.run_D`` (the reference batch included, with reference attention).
"""

import tensorflow as tf

from keras_attngan.methods.base import ObjectiveTerm
from keras_attngan.registry import METHODS
from keras_attngan.rng import fold


def consistency(a, b):
    """E ||a - b||^2 over the batch (a, b: [B, 1] logits), in float32."""
    d = tf.cast(a, tf.float32) - tf.cast(b, tf.float32)
    return tf.reduce_mean(tf.reduce_sum(tf.square(tf.reshape(d, [tf.shape(d)[0], -1])), axis=1))


def check_config(config):
    """One-line errors for the ``bcr`` section."""
    c = config.bcr
    for name in ("lambda_real", "lambda_fake"):
        if c[name] < 0:
            raise ValueError(f"bcr.{name} must be >= 0 (Zhao et al. 2020 use 10), got {c[name]}")
    if c.enabled and config.augment.name == "none":
        raise ValueError("bcr.enabled needs an augmentation T: set augment.name (e.g. diffaugment with "
                         "augment.policy=translation,cutout); with none, D(x) = D(T(x)) and bCR adds nothing")


@METHODS.register("bcr", section="bcr", validate=check_config, order=3,
                  config=dict(enabled=False, lambda_real=10.0, lambda_fake=10.0))
class BCR(ObjectiveTerm):
    """The bCR penalty on D (see the module docstring); logs ``bcr_real`` and ``bcr_fake`` (unweighted)."""

    name = "bcr"

    def __init__(self, lambda_real=10.0, lambda_fake=10.0):
        self.lambda_real, self.lambda_fake = float(lambda_real), float(lambda_fake)

    @classmethod
    def from_config(cls, config):
        c = config.get("bcr")
        return cls(c.lambda_real, c.lambda_fake) if c and c.enabled else None

    def draw(self, batch, seed):
        return seed  # T's params are drawn from it in d_loss, with the step's own draw_aug

    def d_loss(self, ctx):
        seed, n = ctx.random[self.name], tf.shape(ctx.real)[0]
        stats, total = {}, tf.zeros([])
        for i, (name, images, labels, weight) in enumerate((
                ("real", ctx.real, ctx.real_labels, self.lambda_real),
                ("fake", ctx.fake, ctx.fake_labels, self.lambda_fake))):
            plain = ctx.run_D(images, ctx.ref, None, labels=labels)[0]
            augmented = ctx.run_D(images, ctx.ref, ctx.draw_aug(n, fold(seed, i)), labels=labels)[0]
            stats[f"bcr_{name}"] = penalty = consistency(plain, augmented)
            total += weight * penalty
        return total, stats

    def stat_names(self):
        return ("bcr_real", "bcr_fake")
