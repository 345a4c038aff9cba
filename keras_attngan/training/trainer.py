"""The GAN as a ``keras.Model`` whose ``train_step`` runs one StyleGAN2 iteration under ``model.fit``.

Phases per step, in StyleGAN2-ADA's order: G main, G reg (lazy path-length regularization every
``pl_interval`` steps), D main, D reg (lazy R1 every ``r1_interval`` steps), then the EMA generator. Each
lazy regularizer is its own optimizer step with its loss scaled by the interval (StyleGAN2 Appendix B).
All randomness is stateless, derived from ``(seed, step, replica)``, so a resumed run draws the same
numbers as an uninterrupted one. Gradients are computed in (optionally XLA-compiled) functions without
cross-replica work; ``apply_gradients`` and variable updates happen outside them, the pattern that also
works under ``tf.distribute`` (NOTES-tf-keras.md).
"""

import keras
import tensorflow as tf

from keras_attngan import losses
from keras_attngan.networks.synthesis import fold_seed
from keras_attngan.training import regularizers as reg
from keras_attngan.training.schedule import ema_beta

METRIC_NAMES = ("d_loss", "g_loss", "r1_penalty", "pl_penalty", "real_score", "fake_score")


class GANTrainer(keras.Model):
    """Holds G, D and the EMA copy of G, and trains them with ``fit`` on a dataset of real images.

    ``loss``: a name from :mod:`keras_attngan.losses`; for the first ``warmup_kimg`` thousand images the
    non-saturating loss is used instead (Yu et al. 2021 warm up the dual contrastive loss this way).
    """

    def __init__(self, generator, discriminator, g_ema, loss="ns", warmup_kimg=0.0, r1_gamma=10.0,
                 r1_interval=16, pl_weight=0.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2,
                 ema_kimg=10.0, ema_rampup=None, seed=0, xla=False, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.g_ema = generator, discriminator, g_ema
        self.loss_name, self.warmup_kimg = loss, float(warmup_kimg)
        self.loss_pair, self.warmup_pair = losses.get(loss), losses.get("ns")
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.pl_weight, self.pl_interval = float(pl_weight), int(pl_interval)
        self.pl_decay, self.pl_batch_shrink = float(pl_decay), int(pl_batch_shrink)
        self.ema_kimg, self.ema_rampup = float(ema_kimg), ema_rampup
        self.seed, self.xla = int(seed), bool(xla)
        # Training progress in steps; the stateless RNG and every schedule derive from it.
        self.step = self.add_weight(name="step", shape=(), dtype="int64", initializer="zeros",
                                    trainable=False, aggregation="only_first_replica")
        self.pl_mean = self.add_weight(name="pl_mean", shape=(), initializer="zeros", trainable=False,
                                       aggregation="mean")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in METRIC_NAMES}
        self._host_step = None
        self.global_batch = None  # set by make_train_function's caller via the first batch
        self.built = True
        jit = (lambda f: tf.function(f, jit_compile=True)) if self.xla else (lambda f: f)
        self._g_main_grads = jit(self._g_main_grads_impl)
        self._g_reg_grads = jit(self._g_reg_grads_impl)
        self._d_main_grads = jit(self._d_main_grads_impl)
        self._d_reg_grads = jit(self._d_reg_grads_impl)

    # ------------------------------------------------------------------ setup
    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build both optimizers now: lazily built optimizers fail under MirroredStrategy.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, z, training=False):
        return self.g_ema(z, training=training)

    def schedule(self, step, batch_size):
        """The host-side (Python) decisions for ``step``: (do_d_reg, do_g_reg, warming_up)."""
        do_d_reg = self.r1_gamma > 0 and self.r1_interval > 0 and step % self.r1_interval == 0
        do_g_reg = self.pl_weight > 0 and self.pl_interval > 0 and step % self.pl_interval == 0
        warming_up = step * batch_size < self.warmup_kimg * 1000
        return do_d_reg, do_g_reg, warming_up

    # --------------------------------------------------------- gradient functions (jit-able)
    @staticmethod
    def _replica_scale():
        # Gradients are all-reduced with SUM across replicas: scale per-replica means inside the tape.
        return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

    def _disc(self, ref):
        """D as a function of images; with reference attention, ``ref`` (reals) is the reference batch."""
        if self.discriminator.uses_reference:
            return lambda x: self.discriminator(x, reference=ref)
        return self.discriminator

    def _g_main_grads_impl(self, real, ref, z, seed, warming_up):
        G, D = self.generator, self._disc(ref)
        pair = self.warmup_pair if warming_up else self.loss_pair
        real_logits = tf.stop_gradient(D(real)) if pair.g_needs_reals else None
        with tf.GradientTape() as tape:
            ws = G.training_ws(z, fold_seed(seed, 0))
            fake_logits = D(G.synthesis(ws, noise_mode="random", seed=fold_seed(seed, 1)))
            g_loss = pair[1](real_logits, fake_logits)
            scaled = g_loss * self._replica_scale()
        return g_loss, ws[:, 0], tape.gradient(scaled, G.trainable_variables)

    def _g_reg_grads_impl(self, z, seed):
        """Path-length regularization: (|J^T y| - a)^2 with a the running mean of path lengths."""
        G = self.generator
        with tf.GradientTape() as tape:
            lengths = reg.path_lengths(G, z, fold_seed(seed, 1), mix_seed=fold_seed(seed, 0))
            pl_mean = self.pl_mean + self.pl_decay * (tf.reduce_mean(lengths) - self.pl_mean)
            penalty = tf.reduce_mean(tf.square(lengths - tf.stop_gradient(pl_mean)))
            loss = penalty * self.pl_weight * self.pl_interval * self._replica_scale()
        return penalty, pl_mean, tape.gradient(loss, G.trainable_variables)

    def _d_main_grads_impl(self, real, ref, z, seed, warming_up):
        G, D = self.generator, self._disc(ref)
        pair = self.warmup_pair if warming_up else self.loss_pair
        fake = tf.stop_gradient(G(z, training=True, seed=fold_seed(seed, 0)))
        with tf.GradientTape() as tape:
            real_logits = D(real)
            fake_logits = D(fake)
            d_loss = pair[0](real_logits, fake_logits)
            total = d_loss
            if pair.gradient_penalty:
                total += losses.WGAN_GP_WEIGHT * reg.wgan_gradient_penalty(D, real, fake, fold_seed(seed, 1))
            scaled = total * self._replica_scale()
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        return d_loss, tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits), grads

    def _d_reg_grads_impl(self, real, ref):
        """Lazy R1: gamma / 2 * E ||grad_x D(x)||^2 (w.r.t. the primary image), times the interval."""
        with tf.GradientTape() as tape:
            penalty = reg.r1_penalty(self._disc(ref), real)
            loss = penalty * (self.r1_gamma / 2.0) * self.r1_interval * self._replica_scale()
        return penalty, tape.gradient(loss, self.discriminator.trainable_variables)

    # ------------------------------------------------------------------ the step
    @staticmethod
    def _apply(optimizer, grads, variables):
        # Variables without a gradient in a phase (e.g. D's output bias under R1) are skipped.
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])

    def train_step(self, data, flags=(False, False, False)):
        """One iteration on a (per-replica) batch: reals, or (reals, references) when D uses reference
        attention. ``flags`` = (do_d_reg, do_g_reg, warming_up), Python bools chosen by the host (see
        :meth:`make_train_function`)."""
        do_d_reg, do_g_reg, warming_up = flags
        G, D = self.generator, self.discriminator
        real, ref = data if isinstance(data, (tuple, list)) else (data, None)
        if D.uses_reference and ref is None:
            raise ValueError("the discriminator uses reference attention: the dataset must yield (reals, references)")
        real = tf.cast(real, tf.float32)
        batch = tf.shape(real)[0]
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        seed = fold_seed(tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.step, tf.int64)]), replica)

        def latents(index, n=batch):
            return tf.random.stateless_normal(tf.stack([n, G.z_dim]), fold_seed(seed, index))

        g_loss, w, grads = self._g_main_grads(real, ref, latents(1), fold_seed(seed, 2), warming_up)
        self._apply(self.g_optimizer, grads, G.trainable_variables)
        G.mapping.update_w_avg(w)

        if do_g_reg:
            pl_batch = tf.maximum(batch // self.pl_batch_shrink, 1)
            penalty, pl_mean, grads = self._g_reg_grads(latents(3, pl_batch), fold_seed(seed, 4))
            self._apply(self.g_optimizer, grads, G.trainable_variables)
            self.pl_mean.assign(pl_mean)
            self.trackers["pl_penalty"].update_state(penalty)

        d_loss, real_score, fake_score, grads = self._d_main_grads(real, ref, latents(5), fold_seed(seed, 6),
                                                                   warming_up)
        self._apply(self.d_optimizer, grads, D.trainable_variables)

        if do_d_reg:
            penalty, grads = self._d_reg_grads(real, ref)
            self._apply(self.d_optimizer, grads, D.trainable_variables)
            self.trackers["r1_penalty"].update_state(penalty)

        self.update_ema(tf.cast(batch, tf.float32) * tf.distribute.get_strategy().num_replicas_in_sync)
        self.step.assign_add(1)
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss), ("real_score", real_score),
                            ("fake_score", fake_score)):
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def update_ema(self, global_batch):
        """G_ema <- lerp(G, G_ema, beta) for trainable weights; buffers (w_avg, fixed noise) are copied."""
        cur_nimg = tf.cast(self.step + 1, tf.float32) * global_batch
        beta = ema_beta(cur_nimg, global_batch, self.ema_kimg, self.ema_rampup)
        for src, dst in zip(self.generator.weights, self.g_ema.weights):
            dst.assign(src + (dst - src) * beta if src.trainable else src)

    def make_train_function(self, force=False):
        """Like Keras's, but the host picks a trace per schedule (R1 due, path-length due, warm-up).

        ``tf.cond`` around ``apply_gradients`` fails under MirroredStrategy, so the schedule is decided
        in Python from a host-side step counter and each variant is its own traced function.
        """
        if self.train_function is not None and not force:
            return self.train_function
        strategy = self.distribute_strategy

        @tf.function
        def one_step(iterator, flags):
            data = iterator.get_next()
            outputs = strategy.run(self.train_step, args=(data, flags))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in outputs.items()}

        def train_function(iterator):
            if self._host_step is None:
                self._host_step = int(self.step.numpy())
            flags = self.schedule(self._host_step, self.global_batch or 0)
            self._host_step += 1
            return one_step(iterator, flags)

        self.train_function = train_function
        return train_function

    def reset_host_step(self):
        """Call after restoring a checkpoint so the host schedule follows the restored step."""
        self._host_step = None
