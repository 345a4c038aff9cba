"""ContraD: contrastive learning for the discriminator (Jeong & Shin 2021, "Training GANs with Stronger
Augmentations via Contrastive Discriminator", ICLR; jh-jeong/ContraD ``training/gan/contrad.py``,
``training/criterion.py``; docs/methods.md, ContraD).

D's encoder is its penultimate feature (the flattened 4x4 conv output after minibatch-stddev). Three heads
on it are added to D (:meth:`Discriminator.add_head`, so they are D's weights: optimizer, checkpoint):
h_r and h_f (Linear -> LeakyReLU(0.1) -> Linear to ``proj_dim``, L2-normalised) and h_d (Linear ->
LeakyReLU(0.1) -> Linear to 1), the "actual" discriminator. With T the SimCLR augmentation
(:mod:`keras_attngan.augment.simclr`) and one D pass on [T(x), T(x), T(G(z))] (each its own draw):

    L_D = L_con+ + lambda_con * L_con- + L_dis                                    (Sec. 3.2, Eq. 7)
    L_con+ = NT-Xent(h_r(v_r1), h_r(v_r2))   (SimCLR on the two real views, Eq. 4)
    L_con- = SupCon of the fakes against all 3N views with h_f (Eq. 5)
    L_dis  = loss.name's D loss on h_d(sg(v_r1)), h_d(sg(v_f))   (only h_d learns from it, Eq. 6)
    L_G    = loss.name's G loss on h_d(D(T(G(z))))   (through the encoder, Eq. 8)

The term's ``adversarial`` hook replaces the loss on D's own logits (D's ``fc``/``out`` layers are
unused); it draws T's parameters in its ``draw`` hook and calls D through the step's ``ctx.run_D`` on the
views (un-augmented by the step: T is its augmentation). As the authors' code:

- R1 (``train.r1_gamma`` > 0) is taken on the critic h_d(D(v)) with respect to the view v = T(x) of the
  reals, detached (their ``train_stylegan2.py``), through the whole D;

One departure, kept on purpose: minibatch-stddev groups are contiguous here (samples m*G ... m*G + G - 1,
so they stay within a replica and a step under ``tf.distribute`` equals the single-device step), while the
authors' StyleGAN2 strides them (sample i with i + 3N/G, ...). In the one pass on [v_r1; v_r2; v_f] their
groups therefore mix real and fake views, these do not (each group holds views of one kind). A strided
order depends on the per-replica batch, so it cannot be had without giving up that equality.

Under ``tf.distribute`` the contrastive losses see the global batch (``ctx.gather``).
"""

import keras
import tensorflow as tf

from keras_attngan import augment as augment_lib
from keras_attngan import losses
from keras_attngan.methods.base import Adversarial, ObjectiveTerm
from keras_attngan.registry import METHODS
from keras_attngan.rng import fold
from keras_attngan.utils.graphs import maybe_xla

MASK = -5e4  # the reference's diagonal fill: a self-similarity never wins the softmax
VIEWS = ("real1", "real2", "fake")


def nt_xent(z1, z2, temperature):
    """NT-Xent (Chen et al. 2020; ContraD Eq. 4) over the 2N unit vectors z = [z1; z2]:

        S = z z^T / tau with S_ii = -5e4,   L = -1/(2N) sum_i log softmax(S_i)_{p(i)},

    where p(i) = i + N for i < N and i - N otherwise (the other view of the same image)."""
    z = tf.concat([tf.cast(z1, tf.float32), tf.cast(z2, tf.float32)], axis=0)
    n = tf.shape(z1)[0]
    sim = tf.linalg.set_diag(tf.matmul(z, z, transpose_b=True) / temperature, tf.fill([2 * n], MASK))
    positive = tf.concat([tf.range(n, 2 * n), tf.range(n)], axis=0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(positive, sim))


def supcon_fakes(v_real1, v_real2, v_fake, temperature):
    """ContraD's L_con- (Eq. 5; SupCon, Khosla et al. 2020, with the fakes as the one class): V = [v_r1;
    v_r2; v_f] (3N unit vectors), S = V V^T / tau with S_ii = -5e4,

        L = -1/N sum_{i fake} sum_{j fake, j != i} 1/(N-1) log softmax(S_i)_j,

    the softmax running over all 3N - 1 non-self entries (both real views and the other fakes)."""
    v = tf.concat([tf.cast(t, tf.float32) for t in (v_real1, v_real2, v_fake)], axis=0)
    n = tf.shape(v_fake)[0]
    sim = tf.linalg.set_diag(tf.matmul(v, v, transpose_b=True) / temperature, tf.fill([3 * n], MASK))
    log_prob = tf.nn.log_softmax(sim[2 * n:], axis=1)[:, 2 * n:]  # fake anchors, fake columns
    others = 1.0 - tf.eye(n)
    weight = others / tf.cast(n - 1, tf.float32)
    return -tf.reduce_mean(tf.reduce_sum(weight * log_prob, axis=1))


def mlp_head(hidden, out, name):
    """Linear -> LeakyReLU(0.1) -> Linear (the reference's plain nn.Linear heads of its StyleGAN2 D)."""
    # Named layers: checkpoints key variables by path, which must not depend on Keras's name counters.
    return keras.Sequential([keras.layers.Dense(hidden, name="fc1"), keras.layers.LeakyReLU(negative_slope=0.1),
                             keras.layers.Dense(out, name="fc2")], name=name)


def check_config(config):
    """One-line errors for settings ContraD cannot run with."""
    c = config.contrad
    if c.temperature <= 0:
        raise ValueError(f"contrad.temperature must be > 0 (the paper uses 0.1), got {c.temperature}")
    if not c.enabled:
        return
    if not c.augment.startswith("simclr"):
        raise ValueError(f"contrad.augment={c.augment!r} must be one of simclr, simclr_hq, simclr_hq_cutout")
    if config.augment.name != "none":
        raise ValueError(f"augment.name={config.augment.name!r} must be 'none' with contrad.enabled: ContraD "
                         "augments D's inputs itself with contrad.augment")
    if config.loss.name not in ("ns", "saturating", "hinge"):
        raise ValueError(f"loss.name={config.loss.name!r} cannot be ContraD's L_dis on h_d: use ns, saturating "
                         "or hinge (dual_contrastive and wgan_gp need D's own logits)")
    if config.model.d_attention.type == "reference":
        raise ValueError("model.d_attention.type='reference' cannot be used with contrad.enabled: ContraD runs D "
                         "without reference images; use 'self' or 'none'")
    for name in ("proj_dim", "hidden"):
        if int(c[name]) < 1:
            raise ValueError(f"contrad.{name} must be a positive integer, got {c[name]}")


class _HdAdversarial(Adversarial):
    """ContraD's replacement of the adversarial objective: no loss on D's logits (the term's d_loss/g_loss
    carry L_dis and L_G), R1 on h_d(D(v)) w.r.t. the detached real view v = T(x)."""

    def __init__(self, term):
        self.term = term

    def draw_critic(self, batch, seed):
        return self.term.draw(batch, seed)

    def r1_inputs(self, real, random):
        return tf.stop_gradient(self.term.T.apply(real, random["real1"]))

    def critic(self, run_D, images, ref, random, labels=None):
        return self.term._critic(self.term._features(run_D, images, labels), labels)


@METHODS.register("contrad", section="contrad", validate=check_config, order=2,
                  config=dict(enabled=False, temperature=0.1, lambda_con=1.0, augment="simclr", proj_dim=128,
                              hidden=512))
class ContraD(ObjectiveTerm):
    """The ContraD objective as a term replacing the adversarial loss; see the module docstring.
    Config: ``contrad.enabled``; L_dis is ``loss.name``'s pair and ``augment.name`` stays none (T is
    ``contrad.augment``)."""

    name = "contrad"

    def __init__(self, temperature=0.1, lambda_con=1.0, augment="simclr", proj_dim=128, hidden=512, loss="ns"):
        self.temperature, self.lambda_con = float(temperature), float(lambda_con)
        self.proj_dim, self.hidden = int(proj_dim), int(hidden)
        self.T = augment_lib.get(augment)
        self.pair = losses.get(loss)

    @classmethod
    def from_config(cls, config):
        """The term, or None when ``contrad.enabled`` is off."""
        c = config.get("contrad")
        if not (c and c.enabled):
            return None
        return cls(c.temperature, c.lambda_con, c.augment, c.proj_dim, c.hidden, config.loss.name)

    def adversarial(self):
        return _HdAdversarial(self)

    def build(self, trainer):
        D = trainer.discriminator
        dim = D.fc.weights[0].shape[0]  # the penultimate feature's size, the fc layer's input
        # h_r, h_f (projections) and h_d (the discriminator), named for their role in D's weight paths.
        # h_d of a class-conditional D ends in D's projection (cmap_dim values projected on e(y)).
        for head, out in (("contrad_real", self.proj_dim), ("contrad_fake", self.proj_dim),
                          ("contrad_dis", D.cmap_dim or 1)):
            D.add_head(head, mlp_head(self.hidden, out, head), (None, dim))
        self._D = D  # the heads are D's; D itself is called through the step's run_D
        self._d_forward = maybe_xla(self._d_forward_impl, trainer.xla)
        self._g_forward = maybe_xla(self._g_forward_impl, trainer.xla)

    # ------------------------------------------------------------------ forward passes (XLA when on)
    def draw(self, batch, seed):
        """T's params of the three views, each its own per-sample draw (so a replica's rows are its
        share of the global draw)."""
        return {view: self.T.draw(batch, fold(seed, i)) for i, view in enumerate(VIEWS)}

    @staticmethod
    def _features(run_D, images, labels=None):
        """D's encoder output (penultimate feature) of ``images`` as they are, through the step's run_D
        (``labels``: the images' labels, which a conditional D's own logits need)."""
        return run_D(images, None, None, ("penultimate",), labels=labels)[1]["penultimate"]

    def _head(self, x, name, normalize=False):
        y = tf.cast(self._D.heads[name](x), tf.float32)
        return tf.math.l2_normalize(y, axis=1) if normalize else y

    def _critic(self, x, labels):
        """h_d's score, projected on the labels' embedding for a conditional D (``Discriminator.project``)."""
        return self._D.project(self._head(x, "contrad_dis"), labels)

    def _d_forward_impl(self, run_D, real, fake, random, labels=None):
        n = tf.shape(real)[0]
        views = tf.concat([self.T.apply(x, random[v]) for x, v in zip((real, real, fake), VIEWS)], axis=0)
        view_labels = (tf.concat([labels["real"], labels["real"], labels["fake"]], axis=0)
                       if labels is not None else None)
        feats = self._features(run_D, views, view_labels)  # one pass on 3N images, as the reference
        u = self._head(feats[:2 * n], "contrad_real", normalize=True)  # h_r of the fakes is never used
        v = self._head(feats, "contrad_fake", normalize=True)
        d = self._critic(tf.stop_gradient(feats), view_labels)  # L_dis trains h_d (and e(y)) only (Eq. 6)
        return u[:n], u[n:], v[:n], v[n:2 * n], v[2 * n:], d[:n], d[2 * n:]

    def _g_forward_impl(self, run_D, fake, random, labels=None):
        return self._critic(self._features(run_D, self.T.apply(fake, random["fake"]), labels), labels)

    # ------------------------------------------------------------------ losses
    @staticmethod
    def _labels(ctx):
        return None if ctx.real_labels is None else {"real": ctx.real_labels, "fake": ctx.fake_labels}

    def d_loss(self, ctx):
        u1, u2, v1, v2, vf, d_real, d_fake = self._d_forward(ctx.run_D, ctx.real, ctx.fake, ctx.random[self.name],
                                                             self._labels(ctx))
        g = ctx.gather  # global negatives under tf.distribute
        con_real = nt_xent(g(u1), g(u2), self.temperature)
        con_fake = supcon_fakes(g(v1), g(v2), g(vf), self.temperature)
        dis = self.pair.d_loss(d_real, d_fake)  # per-sample: a per-replica mean like the adversarial loss
        stats = {"d_loss": dis, "contrad_real": con_real, "contrad_fake": con_fake,
                 "real_score": tf.reduce_mean(d_real), "fake_score": tf.reduce_mean(d_fake)}
        return con_real + self.lambda_con * con_fake + dis, stats

    def g_loss(self, ctx):
        loss = self.pair.g_loss(None, self._g_forward(ctx.run_D, ctx.fake, ctx.random[self.name], ctx.fake_labels))
        return loss, {"g_loss": loss}

    def stat_names(self):
        return ("contrad_real", "contrad_fake")
