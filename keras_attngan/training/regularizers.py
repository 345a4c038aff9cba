"""Regularizers of the training step: R1, WGAN gradient penalty and path-length regularization."""

import tensorflow as tf

from keras_attngan.rng import batch_normal, batch_uniform, fold


def r1_penalty(discriminator_fn, real):
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on reals (per-sample squared norm, averaged).
    ``discriminator_fn`` maps images to logits (closing over a reference batch if D uses one)."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        logit_sum = tf.reduce_sum(discriminator_fn(real))
    grads = tape.gradient(logit_sum, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))


def wgan_gradient_penalty(discriminator_fn, real, fake, seed=None, eps=None):
    """Gulrajani et al. 2017: E (||grad D(x_hat)|| - 1)^2 at random interpolates of reals and fakes.
    ``eps`` [B, 1, 1, 1] in [0, 1) is drawn from ``seed`` when not given."""
    if eps is None:
        eps = batch_uniform([tf.shape(real)[0], 1, 1, 1], seed)
    mixed = real + eps * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logit_sum = tf.reduce_sum(discriminator_fn(mixed))
    grads = tf.cast(tape.gradient(logit_sum, mixed), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def path_lengths(generator, ws, noise=None, proj=None, seed=None):
    """StyleGAN2's path length |J_w^T y| per sample, y ~ N(0, I) / sqrt(H W) (Karras et al. 2020, Eq. 4).

    The Jacobian is taken w.r.t. the broadcast (and style-mixed) ``ws`` [B, num_ws, w_dim], the norm
    summed over w_dim and averaged over the ws, as in the reference implementation. Differentiable
    w.r.t. G's weights. ``noise`` (``SynthesisNetwork.draw_noise``) and ``proj`` (N(0, 1), image-shaped)
    are drawn from ``seed`` when not given.
    """
    if noise is None:
        noise = generator.synthesis.draw_noise(tf.shape(ws)[0], fold(seed, 0))
    with tf.GradientTape() as tape:
        tape.watch(ws)
        img = generator.synthesis(ws, noise_mode="random", noise=noise)
        h, w = img.shape[1], img.shape[2]
        if proj is None:
            proj = batch_normal(tf.shape(img), fold(seed, 1))
        value = tf.reduce_sum(tf.cast(img, tf.float32) * proj / float((h * w) ** 0.5))
    grads = tf.cast(tape.gradient(value, ws), tf.float32)
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1) + 1e-12)
