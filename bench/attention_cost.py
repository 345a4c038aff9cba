"""The analogue of Table 4 of Yu et al. 2021: cost of each generator attention module at 32x32.

    python -m bench.attention_cost                      # configs/bench_32.py widths, batch 16
    python -m bench.attention_cost --types=none,san --rounds=7
    python -m bench.attention_cost --config.train.batch_size=8 --steps=5

For G without attention and with SAN, SAGAN, DFN and VT replacing the 32x32 convolution, prints the
generator's parameters, its forward FLOPs per image (TF profiler's count of float ops in the traced graph)
and the time of a full training step (G main + D main with the dual contrastive loss, no lazy
regularization) in ms and img/s, with the change relative to the plain generator.

All trainers are built first; then ``--rounds`` rounds each time ``--steps`` steps of every variant in
turn (A, B, ..., A, B, ...), so that load from other processes hits all variants alike. Step times are
medians over the rounds; the ratio column is the median over rounds of (variant / none in the same
round), the figure to trust on a shared machine.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from absl import app, flags
from ml_collections import config_flags

from bench.common import forward_flops, train_step_timer

_CONFIG = config_flags.DEFINE_config_file("config", "configs/bench_32.py", "Config file (sizes).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per variant.")
_TYPES = flags.DEFINE_list("types", ["none", "san", "sagan", "dfn", "vt"], "Attention types (the first "
                          "is the reference of the relative columns).")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds; medians are reported.")


def main(argv):
    del argv
    from keras_attngan.training.setup import build_trainer

    base = _CONFIG.value
    base.loss.name = "dual_contrastive"
    base.train.update(r1_gamma=0.0, pl_weight=0.0)  # time the main phases only
    rows, timers = [], []
    for kind in _TYPES.value:
        config = base.copy_and_resolve_references()
        config.model.g_attention.update(type=kind, resolution=32)
        trainer = build_trainer(config)
        G = trainer.generator
        flops = forward_flops(lambda z: G(z, noise_mode="const"), tf.TensorSpec([1, config.model.z_dim]))
        rows.append((kind, G.count_params(), flops))
        timers.append(train_step_timer(trainer, config))
    times = np.array([[timer(_STEPS.value) for timer in timers] for _ in range(_ROUNDS.value)])  # [round, kind]
    step = np.median(times, axis=0)
    ratio = np.median(times / times[:, :1], axis=0)
    b = base.train.batch_size
    ref = rows[0]
    print(f"G attention at 32x32, batch {b}, D+G step with the dual contrastive loss; "
          f"{_ROUNDS.value} interleaved rounds of {_STEPS.value} steps, medians")
    print(f"{'G':8s} {'params (M)':>11s} {'GFLOPs/img':>11s} {'step ms':>9s} {'img/s':>7s} {'d params':>9s} "
          f"{'ratio':>6s} {'d time':>7s}")
    for (kind, params, flops), dt, rt in zip(rows, step, ratio):
        print(f"{kind:8s} {params / 1e6:11.3f} {flops / 1e9:11.3f} {dt * 1000:9.1f} {b / dt:7.1f} "
              f"{(params - ref[1]) / 1e6:+9.3f} {rt:6.3f} {100 * (rt - 1):+6.1f}%")
    print("per-round step ms: " + "; ".join(
        f"{kind} " + " ".join(f"{1000 * t:.0f}" for t in times[:, i]) for i, (kind, *_) in enumerate(rows)))


if __name__ == "__main__":
    app.run(main)
