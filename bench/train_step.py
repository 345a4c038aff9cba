"""Times the training step (G main + D main, lazy R1 at its schedule, EMA) and prints img/s.

    python bench/train_step.py --config=configs/demo.py --steps=20
    python bench/train_step.py --config=configs/bench_32.py --config.train.batch_size=16 --xla

Random reals are fed, so only the step is measured (not the input pipeline). Prints parameter counts,
mean step time over the timed steps (after warm-up steps that include tracing/compilation) and img/s.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from bench.common import forward_flops, matmul_peak, time_train_steps  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/demo.py", "Config file.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing, compilation).")
_XLA = flags.DEFINE_bool("xla", None, "Override train.xla.")


def main(argv):
    del argv
    from keras_attngan.config import validate
    from keras_attngan.training.setup import build_trainer

    config = _CONFIG.value
    if _XLA.value is not None:
        config.train.xla = _XLA.value
    validate(config)
    m, b = config.model, config.train.batch_size
    trainer = build_trainer(config)
    dt = time_train_steps(trainer, config, _STEPS.value, _WARMUP.value)
    print(f"resolution {m.resolution} channels {m.img_channels} batch {b} xla {config.train.xla} "
          f"r1_interval {config.train.r1_interval}")
    print(f"params G {trainer.generator.count_params() / 1e6:.2f}M D {trainer.discriminator.count_params() / 1e6:.2f}M")
    print(f"step {dt * 1000:.1f} ms  {b / dt:.1f} img/s")
    # Model FLOPs of a D+G step: G step = G fwd+bwd (3 G) + D fwd + input-grad (2 D);
    # D step = G fwd (1 G) + D fwd+bwd on reals and fakes (6 D). Lazy regularization not counted.
    g = forward_flops(lambda z: trainer.generator(z, noise_mode="const"), tf.TensorSpec([1, m.z_dim]))
    d = forward_flops(trainer.discriminator, tf.TensorSpec([4, m.resolution, m.resolution, m.img_channels])) / 4
    step_flops = b * (4 * g + 8 * d)
    peak = matmul_peak()
    print(f"forward GFLOP/img: G {g / 1e9:.2f} D {d / 1e9:.2f}; D+G step {step_flops / 1e9:.0f} GFLOP; "
          f"matmul peak {peak / 1e9:.0f} GFLOP/s; step reaches {step_flops / dt / peak:.0%} of it")


if __name__ == "__main__":
    app.run(main)
