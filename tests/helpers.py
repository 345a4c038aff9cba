"""Shared test helpers: a tiny config that trains in seconds on CPU."""

import numpy as np
import tensorflow as tf

from keras_attngan.config import default_config


def tiny_config(resolution=16, channels=1, batch_size=4, **train):
    """R1 and path-length regularization run every step (interval 1), so a trainer traces one step variant
    instead of two (tracing is most of a test's time); tests of the lazy schedule pass their intervals."""
    c = default_config()
    c.data.source = "embedded"
    c.data.fit = "pad"
    c.model.update(resolution=resolution, img_channels=channels, z_dim=16, w_dim=16, mapping_layers=2,
                   fmap_base=64, fmap_max=16)
    c.train.update(batch_size=batch_size, total_kimg=batch_size * 4 / 1000, tick_kimg=batch_size * 2 / 1000,
                   ckpt_kimg=batch_size * 2 / 1000, sample_kimg=batch_size * 2 / 1000, r1_interval=1, pl_interval=1,
                   r1_gamma=1.0, ema_kimg=0.01, ema_rampup=0.05, grid_size=4, tensorboard_every=1)
    c.train.update(**train)
    return c


# 2 steps per tick and per checkpoint, 4 steps in all (with tiny_config's batch of 4).
FAST = dict(total_kimg=0.016, tick_kimg=0.008, ckpt_kimg=0.008, sample_kimg=0.008)


def fixed_batches(config, n_batches=4, seed=0):
    """A deterministic (unshuffled) repeating dataset of random reals in [-1, 1]."""
    m, b = config.model, config.train.batch_size
    x = np.random.RandomState(seed).uniform(-1, 1, (n_batches * b, m.resolution, m.resolution, m.img_channels))
    return tf.data.Dataset.from_tensor_slices(x.astype(np.float32)).batch(b, drop_remainder=True).repeat()


def all_weights(*models):
    return [w.numpy().copy() for m in models for w in m.weights]


_MIRRORED = []


def mirrored():
    """The process's MirroredStrategy over the 2 logical CPUs (tests/conftest.py). One per process:
    strategies created later reuse collective instance keys and clash with earlier ones in TF's
    collective executor ("Collective instance ... expected type ...")."""
    if not _MIRRORED:
        _MIRRORED.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    return _MIRRORED[0]
