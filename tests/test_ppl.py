"""Perceptual path length with a stand-in distance (the LPIPS weights are given by file in real use)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.metrics.ppl import (lerp, perceptual_path_length, path_length_samples, ppl_images,
                                      reject_outliers_mean, slerp)
from keras_attngan.networks import Generator


def squared_l2(a, b):
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)  # Keras initializers: the same weights whatever ran before in the process
    return Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16)


def test_ppl_wend_equals_squared_jacobian_norm_along_the_path(generator):
    """With d = squared L2, d / eps^2 -> |J_w (w1 - w0)|^2 at t = 0: check against autodiff (JVP)."""
    vals = path_length_samples(generator, squared_l2, 4, space="w", sampling="end", epsilon=1e-4, batch_size=4)
    rng = np.random.RandomState(0)
    z = tf.constant(rng.randn(8, 8).astype(np.float32))
    rng.uniform(size=4)  # t draws (all zero for 'end')
    w0, w1 = generator.map(z[:4]), generator.map(z[4:])
    with tf.autodiff.ForwardAccumulator(w0, w1 - w0) as acc:
        img = generator.synthesis(w0, noise_mode="const")
    jvp = acc.jvp(img).numpy()
    want = (jvp ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(vals, want, rtol=0.05)


def test_outlier_rejection_and_interpolation():
    values = np.concatenate([np.ones(990), [1000.0] * 5, [-1000.0] * 5])
    assert reject_outliers_mean(values) == pytest.approx(1.0)
    a, b = tf.constant([[1.0, 0.0]]), tf.constant([[0.0, 1.0]])
    np.testing.assert_allclose(slerp(a, b, tf.constant([0.5])).numpy(), [[0.5 ** 0.5, 0.5 ** 0.5]], atol=1e-6)
    np.testing.assert_allclose(lerp(a, b, tf.constant([0.25])).numpy(), [[0.75, 0.25]], atol=1e-6)


def test_ppl_is_finite_and_zero_for_a_constant_generator(generator):
    value = perceptual_path_length(generator, squared_l2, num_samples=16, space="z", sampling="full",
                                   batch_size=8)
    assert np.isfinite(value) and value > 0
    const = perceptual_path_length(generator, lambda a, b: tf.zeros([tf.shape(a)[0]]), num_samples=8)
    assert const == 0.0
    with pytest.raises(ValueError, match="space"):
        path_length_samples(generator, squared_l2, 2, space="x")


def test_ppl_images_downsample_above_256_and_repeat_grayscale():
    """As NVlabs: an integer-factor box filter (area) to 256 when larger, grayscale to RGB, no clipping."""
    x = np.random.RandomState(0).uniform(-1.2, 1.2, (2, 512, 512, 1)).astype(np.float32)
    y = ppl_images(x).numpy()
    want = x.reshape(2, 256, 2, 256, 2, 1).mean(axis=(2, 4))
    assert y.shape == (2, 256, 256, 3)
    np.testing.assert_allclose(y, np.repeat(want, 3, axis=-1), rtol=0, atol=1e-6)
    small = np.random.RandomState(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(ppl_images(small).numpy(), small)
