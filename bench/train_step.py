"""Times the training step (G main + D main, lazy R1 at its schedule, EMA) and prints img/s.

    python bench/train_step.py --config=configs/demo.py --steps=20
    python bench/train_step.py --config=configs/bench_32.py --config.train.batch_size=16 --xla

Random reals are fed, so only the step is measured (not the input pipeline). Prints parameter counts,
mean step time over the timed steps (after warm-up steps that include tracing/compilation) and img/s.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

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
    reals = np.random.RandomState(0).uniform(-1, 1, (b, m.resolution, m.resolution, m.img_channels))
    dataset = tf.data.Dataset.from_tensors(reals.astype(np.float32)).repeat()
    iterator = iter(trainer.distribute_strategy.experimental_distribute_dataset(dataset))
    train_fn = trainer.make_train_function()
    for _ in range(_WARMUP.value):
        train_fn(iterator)
    logs = train_fn(iterator)
    float(logs["d_loss"])  # wait for the device
    t0 = time.perf_counter()
    for _ in range(_STEPS.value):
        logs = train_fn(iterator)
    float(logs["d_loss"])
    dt = (time.perf_counter() - t0) / _STEPS.value
    print(f"resolution {m.resolution} channels {m.img_channels} batch {b} xla {config.train.xla} "
          f"r1_interval {config.train.r1_interval}")
    print(f"params G {trainer.generator.count_params() / 1e6:.2f}M D {trainer.discriminator.count_params() / 1e6:.2f}M")
    print(f"step {dt * 1000:.1f} ms  {b / dt:.1f} img/s")


if __name__ == "__main__":
    app.run(main)
