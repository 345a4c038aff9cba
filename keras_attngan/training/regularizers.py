"""Regularizers of the training step: R1, WGAN gradient penalty and path-length regularization."""

import tensorflow as tf


def r1_penalty(discriminator_fn, real):
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on reals (per-sample squared norm, averaged).
    ``discriminator_fn`` maps images to logits (closing over a reference batch if D uses one)."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        logit_sum = tf.reduce_sum(discriminator_fn(real))
    grads = tape.gradient(logit_sum, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))


def wgan_gradient_penalty(discriminator_fn, real, fake, seed):
    """Gulrajani et al. 2017: E (||grad D(x_hat)|| - 1)^2 at random interpolates of reals and fakes."""
    eps = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], seed)
    mixed = real + eps * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logit_sum = tf.reduce_sum(discriminator_fn(mixed))
    grads = tape.gradient(logit_sum, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def path_lengths(generator, z, seed, mix_seed=None):
    """StyleGAN2's path length |J_w^T y| per sample, y ~ N(0, I) / sqrt(H W) (Karras et al. 2020, Eq. 4).

    The Jacobian is taken w.r.t. the broadcast (and style-mixed) ws, the norm summed over w_dim and
    averaged over the ws, as in the reference implementation. Differentiable w.r.t. G's weights.
    """
    ws = generator.training_ws(z, mix_seed) if mix_seed is not None else generator.map(z)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        img = generator.synthesis(ws, noise_mode="random", seed=tf.random.experimental.stateless_fold_in(seed, 0))
        h, w = img.shape[1], img.shape[2]
        noise = tf.random.stateless_normal(tf.shape(img), tf.random.experimental.stateless_fold_in(seed, 1))
        proj = tf.reduce_sum(img * noise / float((h * w) ** 0.5))
    grads = tape.gradient(proj, ws)
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1) + 1e-12)
