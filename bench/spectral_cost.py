"""Cost of spectral normalization (Miyato et al. 2018) in the discriminator: forward + backward of D
with ``weight_norm="equalized"`` vs ``"spectral"``, and the per-step ``spectral_update(D)``.

    python -m bench.spectral_cost                                   # configs/bench_32_e.py's D, batch 16
    python -m bench.spectral_cost --rounds=7 --steps=20 --nojit

The forward + backward (gradient of the mean logit w.r.t. D's trainable variables) runs in one
``tf.function(jit_compile=True)``, as the trainer runs each replica's D pass; ``spectral_update`` runs
in its own non-XLA tf.function, as the trainer calls it. Variants are timed in interleaved rounds
(A, B, A, B, ...) so that load from other processes hits both alike; medians over rounds.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", "configs/bench_32_e.py", "Config file (sizes).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed passes per variant and round.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds; medians are reported.")
_JIT = flags.DEFINE_bool("jit", True, "XLA-compile the forward + backward, as the trainer does.")


def timed(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fn()
    tf.nest.map_structure(lambda t: t.numpy(), out)  # wait for the device
    return (time.perf_counter() - t0) / steps


def main(argv):
    del argv
    from keras_attngan.layers import spectral_update
    from keras_attngan.networks import Discriminator

    m, b = _CONFIG.value.model, _CONFIG.value.train.batch_size
    img = tf.constant(np.random.RandomState(0).uniform(-1, 1, (b, m.resolution, m.resolution, m.img_channels)),
                      tf.float32)
    variants = []
    for norm in ("equalized", "spectral"):
        D = Discriminator(m.resolution, m.img_channels, fmap_base=m.d_fmap_base or m.fmap_base,
                          fmap_max=m.d_fmap_max or m.fmap_max, weight_norm=norm)

        def fwd_bwd(D=D):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(D(img))
            return tape.gradient(loss, D.trainable_variables)

        step = tf.function(fwd_bwd, jit_compile=_JIT.value)
        update = tf.function(lambda D=D: tf.constant(spectral_update(D)))  # returns a tensor to wait on
        step(), update()  # trace / compile, untimed
        variants.append((norm, D.count_params(), step, update))
    times = np.array([[(timed(step, _STEPS.value), timed(update, _STEPS.value)) for _, _, step, update in variants]
                      for _ in range(_ROUNDS.value)])  # [round, variant, (fwd+bwd, update)]
    med = np.median(times, axis=0)
    ratio = np.median(times[:, 1, 0] / times[:, 0, 0])
    print(f"D: {m.resolution}x{m.resolution}x{m.img_channels}, batch {b}, jit_compile={_JIT.value}; "
          f"{_ROUNDS.value} interleaved rounds of {_STEPS.value} passes, medians")
    print(f"{'weight_norm':12s} {'params (M)':>11s} {'fwd+bwd ms':>11s} {'update ms':>10s}")
    for (norm, params, _, _), (fb, up) in zip(variants, med):
        print(f"{norm:12s} {params / 1e6:11.3f} {fb * 1000:11.1f} {up * 1000:10.2f}")
    print(f"spectral / equalized fwd+bwd (median of per-round ratios): {ratio:.3f} ({100 * (ratio - 1):+.1f}%)")
    print("per-round fwd+bwd ms: " + "; ".join(
        f"{norm} " + " ".join(f"{1000 * t:.0f}" for t in times[:, i, 0]) for i, (norm, *_) in enumerate(variants)))


if __name__ == "__main__":
    app.run(main)
