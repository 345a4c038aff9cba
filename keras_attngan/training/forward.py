"""The per-replica forward passes of :class:`~keras_attngan.training.trainer.GANTrainer`'s phases, the part
of a step that is jit-compiled with XLA (``train.xla``).

Each phase runs its forward pass in one of these; the GradientTape, the cross-replica gathers of whole-batch
losses and apply_gradients stay outside, since collectives cannot be compiled inside a per-replica XLA function
(docs/architecture.md). The backward pass of a jit-compiled function is compiled too. Their random inputs
(latents, style mixing, noise, projections) are drawn by the caller, outside compiled code: XLA's RNG draws
other numbers than TF's kernels for the same seed.
"""

import tensorflow as tf

from keras_attngan.training import regularizers as reg


class ForwardPasses:
    """Mixed into ``GANTrainer``, which wraps each ``*_impl`` with ``utils.graphs.maybe_xla``; they read the
    trainer's networks, its objective (``adversarial``, ``r1_gamma``, ``r1_interval``) and ``_run_D``."""

    def _g_main_forward_impl(self, real, ref, z, random, need_reals, aug_real, aug_fake, labels):
        G, outputs = self.generator, self.g_output_names
        real_out = (tf.nest.map_structure(tf.stop_gradient,
                                          self._run_D(real, ref, aug_real, outputs, labels["real"]))
                    if need_reals else self._no_output())
        ws = G.training_ws(z, mixing=random["mixing"], labels=labels["fake"])
        fake = G.synthesis(ws, noise_mode="random", noise=random["noise"])
        fake_out = self._run_D(fake, ref, aug_fake, outputs, labels["fake"]) if self.g_passes else self._no_output()
        return fake_out, real_out, ws[:, 0], fake

    def _g_reg_forward_impl(self, z, random, proj, labels):
        G = self.generator
        return reg.path_lengths(G, G.training_ws(z, mixing=random["mixing"], labels=labels), random["noise"], proj)

    def _generate_impl(self, z, random, labels):
        """Fakes for the D step; with terms that read G's features, ``(images, {res: features})``."""
        if self.need_g_features:
            return self.generator(z, training=True, random=random, return_features=True, labels=labels)
        return self.generator(z, training=True, random=random, labels=labels), {}

    def _d_main_forward_impl(self, real, ref, fake, eps, aug_real, aug_fake, aug_gp, labels):
        if not self.d_passes:  # nothing reads D's outputs on the step's images (ContraD runs its own views)
            return self._no_output(), self._no_output(), tf.zeros([])
        outputs = self.d_output_names
        # WGAN-GP's interpolates between a real and a fake are scored with the real's label.
        gp = (reg.wgan_gradient_penalty(lambda x: self._run_D(x, ref, aug_gp, labels=labels["real"])[0], real, fake,
                                        eps=eps)
              if eps is not None else tf.zeros([]))
        return (self._run_D(real, ref, aug_real, outputs, labels["real"]),
                self._run_D(fake, ref, aug_fake, outputs, labels["fake"]), gp)

    def _d_reg_grads_impl(self, real, ref, aug, labels):
        """Lazy R1: gamma / 2 * E ||grad_x critic(x)||^2 times the interval, the critic and x given by the
        adversarial objective (D(aug(x)) w.r.t. the un-augmented reals, as stylegan2-ada). Per-sample, so
        it needs no collective and runs forward and backward in one function."""
        adversarial = self.adversarial
        with tf.GradientTape() as tape:
            x = adversarial.r1_inputs(real, aug)
            penalty = reg.r1_penalty(lambda images: adversarial.critic(self.run_D, images, ref, aug, labels), x)
            loss = self._scaled(penalty * (self.r1_gamma / 2.0) * self.r1_interval, self.d_optimizer)
        return penalty, tape.gradient(loss, self.discriminator.trainable_variables)
