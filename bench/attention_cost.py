"""The analogue of Table 4 of Yu et al. 2021: cost of each generator attention module at 32x32.

    python bench/attention_cost.py                      # configs/bench_32.py widths, batch 16
    python bench/attention_cost.py --config.train.batch_size=8 --steps=5

For G without attention and with SAN, SAGAN, DFN and VT replacing the 32x32 convolution, prints the
generator's parameters, its forward FLOPs per image (TF profiler's count of float ops in the traced graph)
and the time of a full training step (G main + D main with the dual contrastive loss, no lazy
regularization) in ms and img/s, with the change relative to the plain generator.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from bench.common import forward_flops, time_train_steps  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/bench_32.py", "Config file (sizes).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per variant.")
_TYPES = flags.DEFINE_list("types", ["none", "san", "sagan", "dfn", "vt"], "Attention types.")


def main(argv):
    del argv
    from keras_attngan.training.setup import build_trainer

    base = _CONFIG.value
    base.loss.name = "dual_contrastive"
    base.train.update(r1_gamma=0.0, pl_weight=0.0)  # time the main phases only
    rows = []
    for kind in _TYPES.value:
        config = base.copy_and_resolve_references()
        config.model.g_attention.update(type=kind, resolution=32)
        trainer = build_trainer(config)
        G = trainer.generator
        rows.append((kind, G.count_params(), forward_flops(lambda z: G(z, noise_mode="const"), tf.TensorSpec([1, config.model.z_dim])),
                     time_train_steps(trainer, config, _STEPS.value)))
    b = base.train.batch_size
    ref = rows[0]
    print(f"G attention at 32x32, batch {b}, D+G step with the dual contrastive loss")
    print(f"{'G':8s} {'params (M)':>11s} {'GFLOPs/img':>11s} {'step ms':>9s} {'img/s':>7s} {'d params':>9s} {'d time':>7s}")
    for kind, params, flops, dt in rows:
        print(f"{kind:8s} {params / 1e6:11.3f} {flops / 1e9:11.3f} {dt * 1000:9.1f} {b / dt:7.1f} "
              f"{(params - ref[1]) / 1e6:+9.3f} {100 * (dt / ref[3] - 1):+6.1f}%")


if __name__ == "__main__":
    app.run(main)
