"""The GAN as a ``keras.Model`` whose ``train_step`` runs one StyleGAN2 iteration under ``model.fit``.

Phases per step, in StyleGAN2-ADA's order: G main, G reg (lazy path-length regularization every
``pl_interval`` steps), D main, D reg (lazy R1 every ``r1_interval`` steps), then the EMA generator. Each
lazy regularizer is its own optimizer step with its loss scaled by the interval (StyleGAN2 Appendix B).
All randomness is stateless, derived from ``(seed, step)`` and sliced per replica from the global
batch's draw, so a resumed run draws the same numbers as an uninterrupted one and a step under
``MirroredStrategy``/``TPUStrategy`` equals the single-device step on the same global batch:

- per-sample losses are per-replica means scaled by 1/replicas (gradients are all-reduced with SUM);
- whole-batch losses (dual contrastive) gather the logits of all replicas first;
- path-length's running mean uses the global batch mean; ``w_avg`` and ``pl_mean`` have 'mean'
  aggregation; minibatch-stddev groups are contiguous and stay within a replica.

Everything D sees passes through one place, :meth:`GANTrainer._run_D`, which applies the configured
augmentation (``keras_attngan.augment``: reals and fakes of both steps, R1's reals, WGAN-GP's interpolates,
reference batches) with parameters drawn like every other random input; terms reach D through it too
(``StepContext.run_D``). Methods plug in as :class:`~keras_attngan.methods.base.ObjectiveTerm` objects
(extra losses on D's named outputs and G's features) and through the state they own; the step iterates
over them and names none. The adversarial objective is an
:class:`~keras_attngan.methods.base.Adversarial`: the configured loss pair on D's logits
(:class:`~keras_attngan.training.adversarial.LogitLoss`) unless a term's ``adversarial`` hook returns
another (ContraD's h_d), which then also provides R1's critic.

Forward passes are (optionally) XLA-compiled per replica; tapes, collectives, ``apply_gradients`` and
variable updates stay outside them, the pattern that works under ``tf.distribute`` (docs/architecture.md).
"""

import keras
import tensorflow as tf

from keras_attngan import augment as augment_lib
from keras_attngan import losses
from keras_attngan.config import lazy_interval
from keras_attngan.layers.spectral import spectral_update
from keras_attngan.methods.base import StepContext
from keras_attngan.replicas import gather, global_mean, replica_scale
from keras_attngan.rng import batch_categorical, batch_normal, batch_uniform, fold
from keras_attngan.training.adversarial import LogitLoss
from keras_attngan.training.forward import ForwardPasses
from keras_attngan.training.schedule import ema_beta
from keras_attngan.utils.graphs import graph_function, maybe_xla

METRIC_NAMES = ("d_loss", "g_loss", "r1_penalty", "pl_penalty", "real_score", "fake_score")


class GANTrainer(ForwardPasses, keras.Model):
    """Holds G, D and the EMA copy of G, and trains them with ``fit`` on a dataset of real images.

    ``loss``: a name from :mod:`keras_attngan.losses`; for the first ``warmup_kimg`` thousand images the
    non-saturating loss is used instead (Yu et al. 2021 warm up the dual contrastive loss this way).

    Class-conditional G and D (``num_classes > 0``): the dataset yields ``{"image", "label"}``; D scores
    the reals with their labels, and the fakes of every phase get labels drawn from ``label_probs`` (the
    training set's class frequencies) statelessly from ``(seed, step)`` and sliced per replica like every
    other random input, so a resumed run draws the same labels. G is asked for those labels and D scores
    its fakes with them; R1 and WGAN-GP's interpolates use the reals' labels.
    """

    def __init__(self, generator, discriminator, g_ema, loss="ns", warmup_kimg=0.0, r1_gamma=10.0,
                 r1_interval=16, pl_weight=0.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2,
                 ema_kimg=10.0, ema_rampup=None, seed=0, xla=False, augment=None, terms=(), label_probs=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(generator.num_classes)
        if discriminator.num_classes != self.num_classes:
            raise ValueError(f"the generator has {self.num_classes} classes and the discriminator "
                             f"{discriminator.num_classes}: build both from the same model.num_classes")
        if self.num_classes:
            probs = [1.0] * self.num_classes if label_probs is None else [float(p) for p in label_probs]
            if len(probs) != self.num_classes or min(probs) < 0 or sum(probs) <= 0:
                raise ValueError(f"label_probs must be {self.num_classes} non-negative class frequencies, got {probs}")
            self.label_probs = tuple(p / sum(probs) for p in probs)
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
        # The augmentation of everything D sees, and the extra objective terms of the configured method.
        self.augment = augment if augment is not None else augment_lib.get("none")
        self.terms = list(terms)
        self.d_output_names = tuple(sorted({n for t in self.terms for n in t.d_outputs}))
        self.g_output_names = tuple(sorted({n for t in self.terms for n in t.g_outputs}))
        self.need_g_features = any(t.g_features for t in self.terms)
        # The one call of D, a fixed object (terms' compiled forwards take it as an argument).
        self.run_D = self._run_D
        for term in self.terms:
            term.build(self)
        # The adversarial objective: the loss pair on D's logits unless a term's hook replaces it.
        replacing = [(t, t.adversarial()) for t in self.terms]
        replacing = [(t, a) for t, a in replacing if a is not None]
        if len(replacing) > 1:
            raise ValueError(f"terms {', '.join(t.name for t, _ in replacing)} each replace the adversarial loss: "
                             "use one")
        self.adversarial = replacing[0][1] if replacing else LogitLoss(self._draw_aug)
        # D's passes on the step's reals and fakes run when the adversarial loss or a term reads them.
        self.d_passes = self.adversarial.logits or bool(self.d_output_names)
        self.g_passes = self.adversarial.logits or bool(self.g_output_names)
        self.r1_every = lazy_interval(self.r1_gamma, self.r1_interval)
        self.pl_every = lazy_interval(self.pl_weight, self.pl_interval)
        names = list(METRIC_NAMES) + [n for t in self.terms for n in t.stat_names()]
        names += list(self.augment.log_values())
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self._host_step = None
        self.global_batch = None  # set by make_train_function's caller via the first batch
        self.built = True
        self._g_main_forward = maybe_xla(self._g_main_forward_impl, self.xla)
        self._g_reg_forward = maybe_xla(self._g_reg_forward_impl, self.xla)
        self._generate = maybe_xla(self._generate_impl, self.xla)
        self._d_main_forward = maybe_xla(self._d_main_forward_impl, self.xla)
        self._d_reg_grads = maybe_xla(self._d_reg_grads_impl, self.xla)

    # ------------------------------------------------------------------ setup
    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build both optimizers now: lazily built optimizers fail under MirroredStrategy.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, *args, **kwargs):
        # Under a strategy Keras would build the model by tracing call() on a data batch it takes from
        # the iterator (one batch lost). G, D and both optimizers are built explicitly instead, and
        # call() maps latents, not images.
        return None

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, z, training=False):
        return self.g_ema(z, training=training)

    def schedule(self, step, batch_size):
        """The host-side (Python) decisions for ``step``: (do_d_reg, do_g_reg, warming_up)."""
        do_d_reg = bool(self.r1_every) and step % self.r1_every == 0
        do_g_reg = bool(self.pl_every) and step % self.pl_every == 0
        warming_up = step * batch_size < self.warmup_kimg * 1000
        return do_d_reg, do_g_reg, warming_up

    # ------------------------------------------------------------- cross-replica helpers
    def _scaled(self, loss, optimizer):
        """The loss to differentiate on this replica: x 1/replicas, and x the dynamic loss scale when
        the optimizer is a LossScaleOptimizer (mixed_float16); apply_gradients unscales."""
        loss = loss * replica_scale()
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            loss = optimizer.scale_loss(loss)
        return loss

    def _run_D(self, images, ref, aug, outputs=(), labels=None):
        """The one place D is called: ``(logits, {name: output})`` of D on ``images`` augmented with ``aug``
        (a dict of :meth:`_draw_aug`, None: no augmentation); with reference attention, ``ref`` (reals,
        augmented with their own draw) is the reference batch; ``labels``: the images' int labels
        (a conditional D; ignored otherwise)."""
        D = self.discriminator
        if aug is not None:
            images = self.augment.apply(images, aug["x"])
            ref = self.augment.apply(ref, aug["ref"]) if ref is not None and D.uses_reference else ref
        kwargs = {"reference": ref} if D.uses_reference else {}
        if self.num_classes:
            kwargs["labels"] = labels
        if outputs:
            return D(images, outputs=outputs, **kwargs)
        return D(images, **kwargs), {}

    def draw_labels(self, batch, seed):
        """Labels for ``batch`` fakes drawn from the training set's class frequencies (this replica's rows
        of the global draw); None for an unconditional model."""
        return batch_categorical(batch, self.label_probs, seed) if self.num_classes else None

    def _draw_terms(self, batch, seed):
        """{term name: random inputs} the terms draw for one phase, outside compiled code."""
        return {t.name: t.draw(batch, fold(seed, i)) for i, t in enumerate(self.terms)}

    def _draw_aug(self, batch, seed):
        """Augmentation parameters of one D call site (its images and its reference batch), drawn outside
        compiled code from ``seed``; None when the augmentation is the identity."""
        if self.augment.is_identity:
            return None
        ref = self.augment.draw(batch, fold(seed, 1)) if self.discriminator.uses_reference else None
        return {"x": self.augment.draw(batch, fold(seed, 0)), "ref": ref}

    def _context(self, **kwargs):
        return StepContext(discriminator=self.discriminator, augment=self.augment, gather=gather,
                           step=self.step, run_D=self.run_D, draw_aug=self._draw_aug, **kwargs)

    @staticmethod
    def _no_output():
        """What a skipped D pass returns: no logits, no outputs."""
        return tf.zeros([0, 1]), {}

    def _terms_loss(self, phase, ctx, stats):
        """Sum of the terms' losses for ``phase`` ('d_loss' or 'g_loss'); their stats go into ``stats``."""
        total = tf.zeros([])
        for term in self.terms:
            out = getattr(term, phase)(ctx)
            if out is not None:
                loss, term_stats = out
                total += tf.cast(loss, tf.float32)
                stats.update(term_stats)
        return total

    # ------------------------------------------------------------------ the phases
    def _g_main(self, real, ref, z, seed, pair, stats, real_labels=None):
        G = self.generator
        batch = tf.shape(z)[0]
        random = G.draw_random(batch, seed)
        labels = {"real": real_labels, "fake": self.draw_labels(batch, fold(seed, 11))}
        need_reals = ((self.adversarial.logits and pair.g_needs_reals)
                      or any(t.needs_reals_in_g for t in self.terms))
        aug_real, aug_fake = self._draw_aug(batch, fold(seed, 7)), self._draw_aug(batch, fold(seed, 8))
        term_random = self._draw_terms(batch, fold(seed, 10))
        with tf.GradientTape() as tape:
            fake_out, real_out, w, fake = self._g_main_forward(real, ref, z, random, need_reals, aug_real, aug_fake,
                                                               labels)
            g_loss = self.adversarial.g_loss(pair, real_out[0], fake_out[0])
            ctx = self._context(real_out=real_out, fake_out=fake_out, aug_params=aug_fake, real=real, fake=fake,
                                random=term_random, ref=ref, real_labels=real_labels, fake_labels=labels["fake"])
            total = g_loss + self._terms_loss("g_loss", ctx, stats)
            scaled = self._scaled(total, self.g_optimizer)
        return g_loss, w, tape.gradient(scaled, G.trainable_variables), labels["fake"]

    def _g_reg(self, z, seed):
        """Path-length regularization: (|J^T y| - a)^2 with a the running mean of path lengths, updated
        with the mean over the global batch so every replica (and a single device) agrees."""
        G = self.generator
        batch = tf.shape(z)[0]
        random = G.draw_random(batch, fold(seed, 0))
        proj = batch_normal([batch, G.resolution, G.resolution, G.img_channels], fold(seed, 1))
        labels = self.draw_labels(batch, fold(seed, 2))
        with tf.GradientTape() as tape:
            lengths = self._g_reg_forward(z, random, proj, labels)
            batch_mean = global_mean(tf.reduce_mean(lengths))
            pl_mean = self.pl_mean + self.pl_decay * (batch_mean - self.pl_mean)
            penalty = tf.reduce_mean(tf.square(lengths - pl_mean))
            scaled = self._scaled(penalty * self.pl_weight * self.pl_interval, self.g_optimizer)
        return penalty, pl_mean, tape.gradient(scaled, self.generator.trainable_variables)

    def _d_main(self, real, ref, z, seed, pair, stats, real_labels=None):
        batch = tf.shape(z)[0]
        labels = {"real": real_labels, "fake": self.draw_labels(batch, fold(seed, 11))}
        fake, g_features = tf.nest.map_structure(
            tf.stop_gradient, self._generate(z, self.generator.draw_random(batch, fold(seed, 0)), labels["fake"]))
        eps = batch_uniform([batch, 1, 1, 1], fold(seed, 1)) if pair.gradient_penalty else None
        aug_real, aug_fake = self._draw_aug(batch, fold(seed, 2)), self._draw_aug(batch, fold(seed, 3))
        aug_gp = self._draw_aug(batch, fold(seed, 4)) if pair.gradient_penalty else None
        term_random = self._draw_terms(batch, fold(seed, 10))
        with tf.GradientTape() as tape:
            real_out, fake_out, gp = self._d_main_forward(real, ref, fake, eps, aug_real, aug_fake, aug_gp, labels)
            local_real, local_fake = real_out[0], fake_out[0]
            d_loss = self.adversarial.d_loss(pair, local_real, local_fake)
            ctx = self._context(real_out=real_out, fake_out=fake_out, g_features=g_features, aug_params=aug_fake,
                                real=real, fake=fake, random=term_random, ref=ref, real_labels=real_labels,
                                fake_labels=labels["fake"])
            total = d_loss + losses.WGAN_GP_WEIGHT * gp + self._terms_loss("d_loss", ctx, stats)
            scaled = self._scaled(total, self.d_optimizer)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        return d_loss, local_real, local_fake, grads

    # ------------------------------------------------------------------ the step
    @staticmethod
    def _apply(optimizer, grads, variables):
        # Variables without a gradient in a phase (e.g. D's output bias under R1) are skipped.
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])

    def train_step(self, data, flags=(False, False, False)):
        """One iteration on this replica's share of the global batch: reals, or (reals, references)
        when D uses reference attention, or a dict of them with the labels (``data.labels``; a conditional model
        reads them). ``flags`` = (do_d_reg, do_g_reg, warming_up), Python bools
        chosen by the host (see :meth:`make_train_function`)."""
        do_d_reg, do_g_reg, warming_up = flags
        G, D = self.generator, self.discriminator
        real_labels = None
        if isinstance(data, dict):  # data.labels (an unconditional step does not use them)
            real_labels = tf.cast(data["label"], tf.int32) if self.num_classes else None
            data = (data["image"], data["reference"]) if "reference" in data else data["image"]
        elif self.num_classes:
            raise ValueError(f"the model is class-conditional (model.num_classes={self.num_classes}): the dataset "
                             "must yield labels (data.labels=True)")
        real, ref = data if isinstance(data, (tuple, list)) else (data, None)
        if D.uses_reference and ref is None:
            raise ValueError("the discriminator uses reference attention: the dataset must yield (reals, references)")
        real = tf.cast(real, tf.float32)
        batch = tf.shape(real)[0]
        pair = self.warmup_pair if warming_up else self.loss_pair
        # One seed per step for all replicas: per-sample draws are sliced from the global batch's draw
        # (keras_attngan.rng), so replicas differ and the split does not change the numbers.
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.step, tf.int64)])

        def latents(index, n=batch):
            return batch_normal(tf.stack([n, G.z_dim]), fold(seed, index))

        stats = {}  # the terms' stats
        g_loss, w, grads, fake_labels = self._g_main(real, ref, latents(1), fold(seed, 2), pair, stats, real_labels)
        self._apply(self.g_optimizer, grads, G.trainable_variables)
        # 'mean' aggregation: the global batch mean under tf.distribute; per class from the gathered batch.
        if self.num_classes:
            G.mapping.update_w_avg(w, gather(fake_labels), gather(w))
        else:
            G.mapping.update_w_avg(w)

        if do_g_reg:
            pl_batch = tf.maximum(batch // self.pl_batch_shrink, 1)
            penalty, pl_mean, grads = self._g_reg(latents(3, pl_batch), fold(seed, 4))
            self._apply(self.g_optimizer, grads, G.trainable_variables)
            self.pl_mean.assign(pl_mean)
            self.trackers["pl_penalty"].update_state(penalty)

        d_loss, real_logits, fake_logits, grads = self._d_main(real, ref, latents(5), fold(seed, 6), pair,
                                                               stats, real_labels)
        self._apply(self.d_optimizer, grads, D.trainable_variables)
        global_batch = tf.cast(batch, tf.float32) * tf.distribute.get_strategy().num_replicas_in_sync
        self.augment.observe(real_logits, self.step, global_batch)  # ADA: E[sign(D(real))] drives p

        if do_d_reg:
            aug = self.adversarial.draw_critic(batch, fold(seed, 9))
            penalty, grads = self._d_reg_grads(real, ref, aug, real_labels)
            self._apply(self.d_optimizer, grads, D.trainable_variables)
            self.trackers["r1_penalty"].update_state(penalty)

        # Spectral normalization's persistent u vectors: one power iteration per step on the updated
        # weights, here outside compiled code (the forward passes only read u). No-op without SN layers.
        spectral_update(G)
        spectral_update(D)
        self.update_ema(global_batch)
        self.step.assign_add(1)
        own = dict(d_loss=d_loss, g_loss=g_loss, **self.augment.log_values(),
                   **self.adversarial.scores(real_logits, fake_logits))
        for name, value in {**own, **stats}.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def state_variables(self):
        """{name: variable} of the training state besides the networks and optimizers: the step, the
        path-length mean, the augmentation's state (ADA's p and its statistic) and every term's state.
        The checkpoint saves and restores exactly these (keras_attngan.training.checkpoint)."""
        named = {"step": self.step, "pl_mean": self.pl_mean}
        named.update({f"augment.{k}": v for k, v in self.augment.state_variables().items()})
        for term in self.terms:
            named.update({f"{term.name}.{k}": v for k, v in term.state_variables().items()})
        return named

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

        @graph_function
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
