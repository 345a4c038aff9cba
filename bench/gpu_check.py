"""The first-GPU check (``bench/gpu_check.sh``): config E at 256x256 in sec/kimg (float32 and mixed bfloat16, XLA
on and off), the input pipeline's img/s from dataset_tool records beside what the step consumes, and Inception
(FID) throughput, in one process and under 8 minutes on one GPU.

    python -m bench.gpu_check            # on a GPU (StyleGAN2-ADA's published 256x256 figure: docs/benchmarks.md)
    python -m bench.gpu_check --tiny     # the same code on CPU at 8x8 with a tiny model, one of the four variants
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from absl import app, flags

_TINY = flags.DEFINE_bool("tiny", False, "A CPU smoke run: 8x8, a tiny model, 2 timed steps.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per variant.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where to write the records (default: a temporary folder).")


def step_config(tiny, precision, xla):
    from configs.stylegan2_256 import get_config

    config = get_config()
    if tiny:
        config.model.update(resolution=8, img_channels=3, z_dim=16, w_dim=16, mapping_layers=2, fmap_base=64,
                            fmap_max=16)
        config.train.batch_size = 4
    config.train.update(precision=precision, xla=xla)
    return config


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from bench.common import images_per_second, make_images, matmul_peak, train_step_timer
    from keras_attngan.data.tfds_writer import write_dataset
    from keras_attngan.training.setup import build_trainer

    tiny, steps = _TINY.value, (2 if _TINY.value else _STEPS.value)
    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"
    print(f"device {device}; matmul peak {matmul_peak(n=1024 if tiny else 8192) / 1e12:.2f} TFLOP/s", flush=True)
    consumed = 0.0
    variants = [(p, x) for p in ("float32", "mixed_bfloat16") for x in ("off", "on")]
    for precision, xla in variants[-1:] if tiny else variants:  # tiny: one variant (bfloat16 with XLA)
        config = step_config(tiny, precision, xla)
        t0 = time.perf_counter()
        trainer = build_trainer(config)
        timer = train_step_timer(trainer, config, warmup=1 if tiny else 3)
        dt = min(timer(steps) for _ in range(1 if tiny else 2))
        b = config.train.batch_size
        consumed = max(consumed, b / dt)
        print(f"config E {config.model.resolution}x{config.model.resolution} batch {b} {precision} xla {xla}: "
              f"{dt * 1000 / b:.2f} sec/kimg ({b / dt:.1f} img/s; build+trace {time.perf_counter() - t0:.0f} s)",
              flush=True)
    size, count = (8, 64) if tiny else (256, 2000)
    base = _WORKDIR.value or tempfile.mkdtemp(prefix="gpu_check_")
    np.savez(os.path.join(base, "x.npz"), x=make_images(size, 3, count))
    write_dataset(os.path.join(base, "x.npz"), os.path.join(base, "tfds"), "check", resolution=size, channels=3,
                  shards=8, overwrite=True, verbose=False)
    rate = images_per_second("tfds:check", size, 3, 1.0 if tiny else 10.0, tfds_data_dir=os.path.join(base, "tfds"))
    print(f"input pipeline from records at {size}x{size}x3: {rate:.0f} img/s; the fastest step above consumes "
          f"{consumed:.0f} img/s ({rate / consumed:.1f}x headroom)", flush=True)
    try:
        from keras_attngan.metrics.inception import load_inception
    except ImportError as e:  # pragma: no cover
        print(f"FID throughput: skipped ({e})")
        return
    try:
        net = load_inception()
    except (FileNotFoundError, ValueError) as e:
        print(f"FID throughput: no Inception weights ({str(e).splitlines()[0]})")
        return
    batch = 4 if tiny else 200
    images = np.random.RandomState(0).randint(0, 256, (batch, 299, 299, 3), dtype=np.uint8)
    net(images).numpy()
    best = 0.0
    for _ in range(1 if tiny else 3):
        t0 = time.perf_counter()
        for _ in range(1 if tiny else 5):
            out = net(images)
        out.numpy()
        best = max(best, batch * (1 if tiny else 5) / (time.perf_counter() - t0))
    print(f"FID Inception features: {best:.0f} img/s (fid50k feature pass {50000 / best / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    app.run(main)
