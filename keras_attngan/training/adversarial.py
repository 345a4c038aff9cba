"""The step's own adversarial objective: the configured loss pair on D's logits (``keras_attngan.losses``),
and R1 on those logits (Mescheder et al. 2018) through the configured augmentation. A term that replaces it
(ContraD) returns its own :class:`~keras_attngan.methods.base.Adversarial` from its ``adversarial`` hook."""

import tensorflow as tf

from keras_attngan.methods.base import Adversarial
from keras_attngan.replicas import gather


class LogitLoss(Adversarial):
    """``pair``'s losses on D's logits of the step's reals and fakes; whole-batch pairs (the dual
    contrastive loss, Eq. 1-3 of Yu et al. 2021) see every replica's logits. ``draw_aug`` draws the
    configured augmentation's params of one D call site (the trainer's), used for R1's reals."""

    logits = True

    def __init__(self, draw_aug):
        self.draw_aug = draw_aug

    @staticmethod
    def _global(pair, real_logits, fake_logits):
        if pair.whole_batch:  # every fake against every real of the global batch
            return gather(real_logits), gather(fake_logits)
        return real_logits, fake_logits

    def g_loss(self, pair, real_logits, fake_logits):
        real_logits, fake_logits = self._global(pair, real_logits, fake_logits)
        return pair.g_loss(real_logits if pair.g_needs_reals else None, fake_logits)

    def d_loss(self, pair, real_logits, fake_logits):
        return pair.d_loss(*self._global(pair, real_logits, fake_logits))

    def scores(self, real_logits, fake_logits):
        return {"real_score": tf.reduce_mean(real_logits), "fake_score": tf.reduce_mean(fake_logits)}

    def draw_critic(self, batch, seed):
        return self.draw_aug(batch, seed)

    def critic(self, run_D, images, ref, random, labels=None):
        """D(aug(x)): R1 is taken with respect to the un-augmented reals, as stylegan2-ada-pytorch does."""
        return run_D(images, ref, random, labels=labels)[0]
