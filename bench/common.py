"""Shared measuring helpers of the benchmark scripts."""

import time

import numpy as np
import tensorflow as tf


def forward_flops(fn, *specs):
    """Float ops of one forward pass, counted by the TF profiler on the traced graph."""
    graph = tf.function(fn).get_concrete_function(*specs).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops


def matmul_peak(n=4096, iters=5, rounds=5):
    """This machine's measured fp32 matmul throughput (FLOP/s), the yardstick for the step: the best of
    ``rounds`` rounds, since one round varied by 1.8x on this shared 2-core machine."""
    a = tf.random.normal([n, n])
    f = tf.function(lambda: tf.matmul(a, a))
    f().numpy()
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            r = f()
        r.numpy()
        best = max(best, 2 * n ** 3 * iters / (time.perf_counter() - t0))
    return best


def train_step_timer(trainer, config, warmup=3):
    """A function ``timer(steps)`` -> mean seconds per training step on a fixed random batch (measures
    the step, not the input pipeline). The first ``warmup`` steps (tracing, compilation) run here,
    untimed; call ``timer`` repeatedly to interleave the rounds of several trainers."""
    m, b = config.model, config.train.batch_size
    reals = np.random.RandomState(0).uniform(-1, 1, (b, m.resolution, m.resolution, m.img_channels))
    dataset = tf.data.Dataset.from_tensors(reals.astype(np.float32)).repeat()
    iterator = iter(trainer.distribute_strategy.experimental_distribute_dataset(dataset))
    fn = trainer.make_train_function()
    for _ in range(warmup):
        fn(iterator)
    float(fn(iterator)["d_loss"])  # wait for the device

    def timer(steps):
        t0 = time.perf_counter()
        for _ in range(steps):
            logs = fn(iterator)
        float(logs["d_loss"])
        return (time.perf_counter() - t0) / steps

    return timer


def make_images(size, channels, count, seed=0):
    """Garment photos stand-ins: uint8 [count, size, size, channels]."""
    import tensorflow as tf

    from keras_attngan.data.arrays import load_embedded

    base = load_embedded()[:count].astype(np.float32)
    base = np.concatenate([base] * (count // len(base) + 1))[:count]
    rng = np.random.RandomState(seed)
    out = np.empty((count, size, size, channels), np.uint8)
    for start in range(0, count, 200):
        x = tf.image.resize(base[start:start + 200], [size, size], method="bilinear").numpy()
        tint = rng.uniform(0.4, 1.0, (len(x), 1, 1, channels)) if channels == 3 else 1.0
        x = x * tint + rng.normal(0, 4, (len(x), size, size, channels)) + (255 - x.max()) * 0.2
        out[start:start + len(x)] = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return out


def images_per_second(source, size, channels, seconds, tfds_data_dir=None, batch=32):
    from keras_attngan.data import build_dataset

    ds = build_dataset(source, size, channels, batch, fit="resize", tfds_data_dir=tfds_data_dir)
    it = iter(ds)
    for _ in range(3):  # warm-up: the pipeline's threads start, the prefetch buffer fills
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        next(it).numpy()
        n += batch
    return n / (time.perf_counter() - t0)
