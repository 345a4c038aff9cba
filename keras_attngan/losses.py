"""GAN losses as ``(d_loss, g_loss)`` pairs of functions of ``(real_logits, fake_logits)``.

Every function returns a float32 scalar averaged over the batch; ``losses.get(name)`` looks a pair up.
The menu is the one compared in Table 1 of Yu et al. 2021: non-saturating (StyleGAN2's default),
saturating, Wasserstein (with gradient penalty, applied by the training step), hinge, and the paper's
dual contrastive loss (Eq. 1-3).
"""

import dataclasses
from typing import Callable

import tensorflow as tf

from keras_attngan.registry import LOSSES


def _f32(x):
    return tf.cast(tf.reshape(x, [-1]), tf.float32)


# ----------------------------------------------------------------- non-saturating / saturating
def ns_d_loss(real_logits, fake_logits):
    """Logistic loss for D (Goodfellow et al. 2014): softplus(D(G(z))) + softplus(-D(x))."""
    return tf.reduce_mean(tf.nn.softplus(_f32(fake_logits))) + tf.reduce_mean(tf.nn.softplus(-_f32(real_logits)))


def ns_g_loss(real_logits, fake_logits):
    """Non-saturating G loss: softplus(-D(G(z))) = -log sigmoid(D(G(z))). ``real_logits`` unused."""
    del real_logits
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def saturating_g_loss(real_logits, fake_logits):
    """The original minimax G loss: log(1 - sigmoid(D(G(z)))) = -softplus(D(G(z)))."""
    del real_logits
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


# ----------------------------------------------------------------- Wasserstein / hinge
def wgan_d_loss(real_logits, fake_logits):
    """Wasserstein critic loss (Arjovsky et al. 2017): D(G(z)) - D(x). The gradient penalty of
    Gulrajani et al. 2017 is added by the training step (``WGAN_GP_WEIGHT``)."""
    return tf.reduce_mean(_f32(fake_logits)) - tf.reduce_mean(_f32(real_logits))


def wgan_g_loss(real_logits, fake_logits):
    """Wasserstein / hinge G loss: -D(G(z))."""
    del real_logits
    return -tf.reduce_mean(_f32(fake_logits))


def hinge_d_loss(real_logits, fake_logits):
    """Hinge loss for D (Lim & Ye 2017; SAGAN Eq. 4): relu(1 - D(x)) + relu(1 + D(G(z)))."""
    return (tf.reduce_mean(tf.nn.relu(1.0 - _f32(real_logits)))
            + tf.reduce_mean(tf.nn.relu(1.0 + _f32(fake_logits))))


# ----------------------------------------------------------------- dual contrastive (Yu et al. 2021)
def one_against_batch(positive, negatives):
    """Mean over i of -log( e^{p_i} / (e^{p_i} + sum_j e^{n_j}) ): softmax cross-entropy classifying each
    positive logit against the whole batch of negatives. Computed with logsumexp, so it is finite for
    logits of any magnitude."""
    p, n = _f32(positive), _f32(negatives)
    rows = tf.concat([p[:, None], tf.broadcast_to(n[None, :], [tf.shape(p)[0], tf.shape(n)[0]])], axis=1)
    return tf.reduce_mean(tf.reduce_logsumexp(rows, axis=1) - p)


def dual_contrastive_d_loss(real_logits, fake_logits):
    """-(L_real^contr + L_fake^contr), Eq. 1-3 of Yu et al. 2021 (D maximises Eq. 3).

    Case I (Eq. 1): each real logit D(x) is classified against all fake logits of the batch.
    Case II (Eq. 2): each negated fake logit -D(G(z)) is classified against all negated real logits.
    """
    return one_against_batch(real_logits, fake_logits) + one_against_batch(-_f32(fake_logits), -_f32(real_logits))


def dual_contrastive_g_loss(real_logits, fake_logits):
    """G's side of Eq. 3: the same two terms with the roles of real and fake swapped, so each fake logit
    is classified against the reals (pushed up) and each negated real against the negated fakes.
    (Minimising D's objective directly would saturate like the minimax loss; a popular port gets the
    sign of this term wrong, which makes G push its own logits *down*.)"""
    return one_against_batch(fake_logits, real_logits) + one_against_batch(-_f32(real_logits), -_f32(fake_logits))


# ----------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class LossPair:
    """``(d_loss, g_loss)`` (unpacks like a tuple) plus what the training step must provide for it."""

    d_loss: Callable
    g_loss: Callable
    g_needs_reals: bool = False      # G's loss uses D(x) (contrastive)
    gradient_penalty: bool = False   # WGAN-GP: add the interpolate gradient penalty to D's loss
    # Couples the samples of the batch (contrastive): under tf.distribute the logits of all replicas
    # are gathered so the loss sees the global batch. Per-sample losses need no gather: their
    # per-replica means, scaled by 1/replicas and summed, are already the global mean.
    whole_batch: bool = False

    def __iter__(self):
        return iter((self.d_loss, self.g_loss))

    def __getitem__(self, i):
        return (self.d_loss, self.g_loss)[i]


WGAN_GP_WEIGHT = 10.0  # lambda of Gulrajani et al. 2017

# The menu of Table 1 of Yu et al. 2021 (keras_attngan.registry.LOSSES); a new loss registers the same way.
for _name, _pair in {
    "ns": LossPair(ns_d_loss, ns_g_loss),
    "saturating": LossPair(ns_d_loss, saturating_g_loss),
    "wgan_gp": LossPair(wgan_d_loss, wgan_g_loss, gradient_penalty=True),
    "hinge": LossPair(hinge_d_loss, wgan_g_loss),
    "dual_contrastive": LossPair(dual_contrastive_d_loss, dual_contrastive_g_loss, g_needs_reals=True,
                                 whole_batch=True),
}.items():
    LOSSES.register(_name)(_pair)


def names():
    return sorted(LOSSES.names())


def get(name, field="loss.name"):
    """Returns ``(d_loss, g_loss)`` for a loss name (a :class:`LossPair`)."""
    return LOSSES.get(name, field)
