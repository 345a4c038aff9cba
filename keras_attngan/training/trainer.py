"""The GAN as a ``keras.Model`` whose ``train_step`` runs one StyleGAN2 iteration under ``model.fit``.

Phases per step, in StyleGAN2-ADA's order: G main (non-saturating loss), D main, D reg (lazy R1 every
``r1_interval`` steps as its own optimizer step, loss scaled by the interval), then the EMA generator.
All randomness is stateless, derived from ``(seed, step)``, so a resumed run draws the same numbers as
an uninterrupted one. Gradients are computed in (optionally XLA-compiled) functions that contain no
cross-replica work; ``apply_gradients`` and variable updates happen outside them, which is the pattern
that also works under ``tf.distribute`` (see NOTES-tf-keras.md).
"""

import keras
import tensorflow as tf

from keras_attngan import losses
from keras_attngan.networks.synthesis import fold_seed
from keras_attngan.training.schedule import ema_beta

METRIC_NAMES = ("d_loss", "g_loss", "r1_penalty", "real_score", "fake_score")


class GANTrainer(keras.Model):
    """Holds G, D and the EMA copy of G, and trains them with ``fit`` on a dataset of real images."""

    def __init__(self, generator, discriminator, g_ema, loss="ns", r1_gamma=10.0, r1_interval=16,
                 ema_kimg=10.0, ema_rampup=None, seed=0, xla=False, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.g_ema = generator, discriminator, g_ema
        self.loss_name = loss
        self.d_loss_fn, self.g_loss_fn = losses.get(loss)
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.ema_kimg, self.ema_rampup = float(ema_kimg), ema_rampup
        self.seed, self.xla = int(seed), bool(xla)
        # Training progress in steps; the stateless RNG and the lazy-regularization schedule derive from it.
        self.step = self.add_weight(name="step", shape=(), dtype="int64", initializer="zeros",
                                    trainable=False, aggregation="only_first_replica")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in METRIC_NAMES}
        self._host_step = None
        self.built = True
        jit = (lambda f: tf.function(f, jit_compile=True)) if self.xla else (lambda f: f)
        self._g_main_grads = jit(self._g_main_grads_impl)
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

    def r1_due(self, step):
        return self.r1_gamma > 0 and self.r1_interval > 0 and step % self.r1_interval == 0

    # --------------------------------------------------------- gradient functions (jit-able)
    def _replica_scale(self):
        return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

    def _g_main_grads_impl(self, z, seed):
        G, D = self.generator, self.discriminator
        with tf.GradientTape() as tape:
            ws = G.map(z)
            mixed = G.mix_styles(z, ws, fold_seed(seed, 0)) if G.style_mixing_prob > 0 else ws
            fake = G.synthesis(mixed, noise_mode="random", seed=fold_seed(seed, 1))
            fake_logits = D(fake)
            g_loss = self.g_loss_fn(None, fake_logits)
            scaled = g_loss * self._replica_scale()  # gradients are all-reduced with SUM
        grads = tape.gradient(scaled, G.trainable_variables)
        return g_loss, ws[:, 0], grads

    def _d_main_grads_impl(self, real, z, seed):
        G, D = self.generator, self.discriminator
        fake = tf.stop_gradient(G(z, training=True, seed=seed))
        with tf.GradientTape() as tape:
            real_logits = D(real)
            fake_logits = D(fake)
            d_loss = self.d_loss_fn(real_logits, fake_logits)
            scaled = d_loss * self._replica_scale()
        grads = tape.gradient(scaled, D.trainable_variables)
        return d_loss, tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits), grads

    def _d_reg_grads_impl(self, real):
        """R1 (Mescheder et al. 2018): gamma / 2 * E ||grad_x D(x)||^2 on reals, times the interval."""
        D = self.discriminator
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(real)
                logit_sum = tf.reduce_sum(D(real))
            r1_grads = inner.gradient(logit_sum, real)
            penalty = tf.reduce_mean(tf.reduce_sum(tf.square(r1_grads), axis=[1, 2, 3]))
            loss = penalty * (self.r1_gamma / 2.0) * self.r1_interval * self._replica_scale()
        return penalty, tape.gradient(loss, D.trainable_variables)

    # ------------------------------------------------------------------ the step
    def train_step(self, real, do_d_reg=None):
        """One iteration on a (per-replica) batch of reals. ``do_d_reg`` (a Python bool chosen by the
        host, see :meth:`make_train_function`) decides whether the lazy R1 step runs."""
        G, D = self.generator, self.discriminator
        real = tf.cast(real, tf.float32)
        batch = tf.shape(real)[0]
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        # Distinct, reproducible randomness per step and per replica.
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.step, tf.int64)])
        seed = fold_seed(seed, replica)
        z_shape = tf.stack([batch, G.z_dim])

        g_loss, w, g_grads = self._g_main_grads(tf.random.stateless_normal(z_shape, fold_seed(seed, 1)),
                                                fold_seed(seed, 2))
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_variables))
        G.mapping.update_w_avg(w)

        d_loss, real_score, fake_score, d_grads = self._d_main_grads(
            real, tf.random.stateless_normal(z_shape, fold_seed(seed, 3)), fold_seed(seed, 4))
        self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_variables))

        if do_d_reg:
            r1, r1_grads = self._d_reg_grads(real)
            # The output bias has no R1 gradient; skip it (as PyTorch does for None grads).
            self.d_optimizer.apply_gradients(
                [(g, v) for g, v in zip(r1_grads, D.trainable_variables) if g is not None])
            self.trackers["r1_penalty"].update_state(r1)

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
            if src.trainable:
                dst.assign(src + (dst - src) * beta)
            else:
                dst.assign(src)

    def make_train_function(self, force=False):
        """Like Keras's, but the host picks a trace with or without the lazy-regularization phase.

        ``tf.cond`` around ``apply_gradients`` fails under MirroredStrategy, so the schedule is decided
        in Python from a host-side step counter and each variant is its own traced function.
        """
        if self.train_function is not None and not force:
            return self.train_function
        strategy = self.distribute_strategy

        @tf.function
        def one_step(iterator, do_d_reg):
            data = iterator.get_next()
            outputs = strategy.run(self.train_step, args=(data, do_d_reg))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in outputs.items()}

        def train_function(iterator):
            if self._host_step is None:
                self._host_step = int(self.step.numpy())
            do_d_reg = self.r1_due(self._host_step)
            self._host_step += 1
            return one_step(iterator, do_d_reg)

        self.train_function = train_function
        return train_function

    def reset_host_step(self):
        """Call after restoring a checkpoint so the host schedule follows the restored step."""
        self._host_step = None
