"""Images per second the input pipeline delivers to the step, and a training tick on records vs in memory.

    python -m bench.input_pipeline                      # 32x32x1 and 256x256x3; folders of PNG/JPEG and records
    python -m bench.input_pipeline --sizes=32 --tick=false --count=2000          # a quick look

For each size: a folder of PNGs, a folder of JPEGs (quality 95) and the dataset_tool.py records of the same
images, read through ``build_dataset`` exactly as training reads them (parallel reads and decodes, shuffle,
prefetch), batch 32. The images are Fashion-MNIST garments (the embedded set) scaled up to the size, tinted per
image and given sensor-like noise (sigma 4), so PNG and JPEG compress about as photos do. Then (``--tick``) one
``train_main.py`` tick of the demo config on the records and on the same images in memory (npz): the step,
not the input, should set the pace. Prints this machine's matmul peak beside the figures (its speed varies).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from absl import app, flags

_SIZES = flags.DEFINE_list("sizes", ["32", "256"], "Square sizes to measure (32 is stored 1-channel, others RGB).")
_COUNT = flags.DEFINE_integer("count", 0, "Images per size (0: 5000 at 32, 1000 above).")
_SECONDS = flags.DEFINE_float("seconds", 8.0, "Timed seconds per measurement (after a warm-up).")
_TICK = flags.DEFINE_bool("tick", True, "Also time train_main.py ticks on records vs in memory.")
_TICK_KIMG = flags.DEFINE_float("tick_kimg", 0.64, "Images per tick (kimg) for the tick comparison.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where to write the images (default: a temporary folder).")
_PEAK = flags.DEFINE_bool("peak", True, "Measure this machine's matmul peak first (printed beside the figures).")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_folder(images, folder, ext):
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    encode = tf.io.encode_png if ext == "png" else (lambda x: tf.io.encode_jpeg(x, quality=95))
    for i, x in enumerate(images):
        tf.io.write_file(os.path.join(folder, f"{i:06d}.{ext}"), encode(x))


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def tick_seconds(source, workdir, extra=()):
    """Seconds of the second and third tick of the demo config on ``source`` (the first includes tracing)."""
    cmd = [sys.executable, "train_main.py", "--config=configs/demo.py", f"--config.data.source={source}",
           f"--config.train.tick_kimg={_TICK_KIMG.value}", f"--config.train.total_kimg={3 * _TICK_KIMG.value}",
           f"--config.train.ckpt_kimg={3 * _TICK_KIMG.value}", f"--config.train.sample_kimg={3 * _TICK_KIMG.value}",
           f"--workdir={workdir}", *extra]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    times = [json.loads(line)["time"] for line in open(os.path.join(workdir, "stats.jsonl"))]
    return [b - a for a, b in zip(times, times[1:])]


def main(argv):
    del argv
    from bench.common import images_per_second, make_images, matmul_peak
    from keras_attngan.data.tfds_writer import write_dataset

    base = _WORKDIR.value or tempfile.mkdtemp(prefix="input_bench_")
    os.makedirs(base, exist_ok=True)
    peak = f"matmul peak {matmul_peak() / 1e9:.0f} GFLOP/s; " if _PEAK.value else ""
    print(f"{peak}{os.cpu_count()} CPU cores; images in {base}", flush=True)
    print("| size | source | MB on disk | img/s to the step |\n|---|---|---|---|")
    for size in map(int, _SIZES.value):
        channels = 1 if size <= 32 else 3
        count = _COUNT.value or (5000 if size <= 32 else 1000)
        images = make_images(size, channels, count)
        where = os.path.join(base, str(size))
        np.savez(os.path.join(where + ".npz"), x=images)
        rows = []
        for ext in ("png", "jpg"):
            folder = os.path.join(where, ext)
            write_folder(images, folder, ext)
            rows.append((f"folder of {ext.upper()}s", folder, None, folder_bytes(folder)))
        for encoding in ("png", "raw"):
            summary = write_dataset(where + ".npz", os.path.join(where, "tfds"), f"bench_{encoding}", resolution=size,
                                    channels=channels, fit="resize", shards=8, overwrite=True, encoding=encoding,
                                    verbose=False)
            rows.append((f"dataset_tool records, --encoding={encoding}", f"tfds:bench_{encoding}",
                         os.path.join(where, "tfds"), summary.bytes))
        for label, source, data_dir, size_bytes in rows:
            rate = images_per_second(source, size, channels, _SECONDS.value, tfds_data_dir=data_dir)
            print(f"| {size}x{size}x{channels} | {label} | {size_bytes / 2**20:.0f} | {rate:.0f} |", flush=True)
    if _TICK.value:
        size_dir = os.path.join(base, "tick")
        images = make_images(32, 1, 5000, seed=1)
        np.savez(size_dir + ".npz", x=images)
        write_dataset(size_dir + ".npz", os.path.join(size_dir, "tfds"), "tick", resolution=32, channels=1,
                      fit="pad", shards=8, overwrite=True, verbose=False)
        memory = tick_seconds(size_dir + ".npz", os.path.join(size_dir, "run_npz"))
        records = tick_seconds("tfds:tick", os.path.join(size_dir, "run_tfds"),
                               [f"--config.data.tfds_data_dir={os.path.join(size_dir, 'tfds')}"])
        a, b = float(np.mean(memory)), float(np.mean(records))
        print(f"train_main.py tick of {_TICK_KIMG.value} kimg (demo config, 32x32x1, ticks 2-3): in memory "
              f"{a:.2f} s, records {b:.2f} s ({100 * (b - a) / a:+.1f} %)", flush=True)


if __name__ == "__main__":
    app.run(main)
