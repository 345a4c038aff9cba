"""Cost of the augmentations alone: draw, apply and apply + its gradient w.r.t. the images.

    python -m bench.augment_cost                         # batch 32 of 32x32x3, XLA on and off
    python -m bench.augment_cost --batch=64 --size=64 --rounds=7

For ``none``, DiffAugment (color,translation,cutout) and ADA at p = 0 and p = 1 (p = 0 still warps: the
trainer does not skip it while p adapts), prints the median time of ``draw`` (a ``tf.function``, no XLA, as in the
training step; the same figure on both rows) and of ``apply`` and ``apply`` + gradient (one
``tf.function``, with and without XLA); ``none`` is the call overhead. Rounds interleave the variants, so load from other processes hits all alike.
The full training-step benchmark with D in the loop is bench/train_step.py's job.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_attngan import augment

_BATCH = flags.DEFINE_integer("batch", 32, "Images per batch.")
_SIZE = flags.DEFINE_integer("size", 32, "Image height and width.")
_CHANNELS = flags.DEFINE_integer("channels", 3, "Image channels (1 or 3).")
_ITERS = flags.DEFINE_integer("iters", 20, "Calls per timing.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved rounds; medians are reported.")

VARIANTS = {"none": lambda: augment.get("none"),
            "diffaugment": lambda: augment.get("diffaugment", policy="color,translation,cutout"),
            "ada p=0": lambda: augment.get("ada", p=0.0),
            "ada p=1": lambda: augment.get("ada", p=1.0)}


def timed(fn, iters):
    fn().numpy()  # trace / compile, untimed
    t0 = time.perf_counter()
    for _ in range(iters):
        out = fn()
    out.numpy()
    return (time.perf_counter() - t0) / iters


def main(argv):
    del argv
    b, s, c = _BATCH.value, _SIZE.value, _CHANNELS.value
    x = tf.constant(np.random.RandomState(0).uniform(-1, 1, (b, s, s, c)).astype(np.float32))
    seed = tf.constant([1, 2], tf.int64)
    augs = {name: make() for name, make in VARIANTS.items()}
    rows = []  # (name, xla, draw, apply, apply + grad)
    for name, aug in augs.items():
        params = aug.draw(b, seed)

        @tf.function  # as in the training step: traced, outside XLA
        def draw(aug=aug):
            return tf.add_n([tf.reduce_sum(v) for v in aug.draw(b, seed).values()] + [tf.constant(0.0)])

        def loss(p, aug=aug):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(aug.apply(x, p) ** 2)
            return tf.reduce_sum(tape.gradient(y, x))

        for xla in (False, True):
            apply = tf.function(lambda p, aug=aug: tf.reduce_sum(aug.apply(x, p)), jit_compile=xla)
            grad = tf.function(loss, jit_compile=xla)
            rows.append((name, xla, draw, lambda f=apply, p=params: f(p), lambda f=grad, p=params: f(p)))

    times = np.zeros([_ROUNDS.value, len(rows), 3])
    for r in range(_ROUNDS.value):
        for i, row in enumerate(rows):
            for j, fn in enumerate(row[2:]):
                times[r, i, j] = timed(fn, _ITERS.value)
    keys = [row[:2] for row in rows]
    med = np.median(times, axis=0) * 1000
    print(f"batch {b} of {s}x{s}x{c}, {_ROUNDS.value} interleaved rounds of {_ITERS.value} calls, medians (ms)")
    print(f"{'augmentation':14s} {'XLA':>4s} {'draw':>7s} {'apply':>7s} {'+grad':>7s} {'+grad us/img':>13s}")
    for i, (name, xla) in enumerate(keys):
        print(f"{name:14s} {'on' if xla else 'off':>4s} {med[i, 0]:7.2f} {med[i, 1]:7.2f} {med[i, 2]:7.2f} "
              f"{1000 * med[i, 2] / b:13.1f}")


if __name__ == "__main__":
    app.run(main)
