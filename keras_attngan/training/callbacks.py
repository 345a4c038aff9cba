"""Callbacks of a training run: the divergence guard, progress (kimg, img/s, stats.jsonl), checkpoints,
PNG sample grids, metrics."""

import math
import os
import time

import keras
import numpy as np

from keras_attngan.training.checkpoint import DivergenceError
from keras_attngan.training.files import append_jsonl, writing
from keras_attngan.utils.images import save_grid


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training when a tick's mean losses are not finite (a NaN or inf anywhere in the tick makes
    its mean non-finite), before any other callback writes stats, samples or a checkpoint of that
    state: it must come first in the callback list. One host check per tick; the checkpointer checks
    the weights themselves before each save."""

    def on_epoch_end(self, epoch, logs=None):
        bad = sorted(k for k, v in (logs or {}).items() if not math.isfinite(float(v)))
        if bad:
            step = int(self.model.step.numpy())
            raise DivergenceError(f"non-finite {', '.join(bad)} in the tick ending at step {step}")


class Progress(keras.callbacks.Callback):
    """Adds ``kimg`` and ``img_s`` to the logs (so the progress bar and TensorBoard show them) and
    appends one JSON line per tick to ``<workdir>/stats.jsonl``."""

    def __init__(self, global_batch, workdir=None, status_every=0):
        super().__init__()
        self.global_batch = int(global_batch)
        self.status_every = int(status_every)  # >0: also print a one-line status every N steps
        self.stats_path = os.path.join(workdir, "stats.jsonl") if workdir else None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._n = None, 0

    def on_train_batch_end(self, batch, logs=None):
        if batch is None:
            pass
        elif self._t0 is None:  # time from the end of the first step: excludes tracing/compilation
            self._t0 = time.perf_counter()
        else:
            self._n += 1
        if logs is not None:
            step = self.model._host_step or 0
            logs["kimg"] = step * self.global_batch / 1000.0
            if self._n:
                logs["img_s"] = self._n * self.global_batch / (time.perf_counter() - self._t0)
            if batch is not None and self.status_every and step % self.status_every == 0:
                # For logs that are not a terminal, where Keras prints only at the end of a tick.
                print(f"step {step} " + " ".join(f"{k} {float(v):.4g}" for k, v in sorted(logs.items())),
                      flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # epoch logs are rebuilt from the metrics: add ours again for the progbar
            self.on_train_batch_end(None, logs)
        if self.stats_path and logs:
            row = {"tick": epoch + 1, "step": int(self.model.step.numpy()), "time": time.time()}
            row.update({k: float(v) for k, v in logs.items()})
            append_jsonl(self.stats_path, row)


class CheckpointEvery(keras.callbacks.Callback):
    """Saves a checkpoint every ``every_ticks`` epochs and at the end of training."""

    def __init__(self, checkpointer, every_ticks, total_ticks):
        super().__init__()
        self.checkpointer, self.every, self.total = checkpointer, int(every_ticks), int(total_ticks)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.total:
            self.checkpointer.save()


class SampleGrid(keras.callbacks.Callback):
    """Writes ``reals.png`` once and ``fakes<kimg>.png`` from the EMA generator with fixed latents
    (and fixed noise) every ``every_ticks`` epochs. A class-conditional G (``num_classes > 0``) draws one
    class per grid row (row r: class r mod num_classes), as StyleGAN2-ADA's conditional grids, with
    num_images // num_classes columns so that every class has a row."""

    def __init__(self, directory, z_dim, every_ticks, global_batch, num_images=64, reals=None, seed=123,
                 num_classes=0):
        super().__init__()
        self.directory, self.every, self.global_batch = directory, int(every_ticks), int(global_batch)
        self.z = np.random.RandomState(seed).randn(num_images, z_dim).astype(np.float32)
        self.cols = grid_columns(num_images, num_classes) if num_classes else None
        self.labels = (np.arange(num_images) // self.cols % num_classes).astype(np.int32) if num_classes else None
        self.reals = reals

    def on_train_begin(self, logs=None):
        if self.reals is not None:
            path = os.path.join(self.directory, "reals.png")
            with writing(path):
                save_grid(path, self.reals)
        if int(self.model.step.numpy()) == 0:
            self.write()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.write()

    def write(self):
        path = os.path.join(self.directory, sample_name(int(self.model.step.numpy()) * self.global_batch))
        labels = {} if self.labels is None else {"labels": self.labels}
        images = np.concatenate([self.model.g_ema(self.z[i:i + 16], noise_mode="const",
                                                  **{k: v[i:i + 16] for k, v in labels.items()}).numpy()
                                 for i in range(0, len(self.z), 16)])
        with writing(path):
            save_grid(path, images, self.cols)
        return path


def grid_columns(num_images, num_classes):
    """Columns of a conditional sample grid: as many as fit ``num_classes`` full rows (at least 1)."""
    return max(1, num_images // num_classes)


def sample_name(nimg):
    """``fakes<kimg>.png`` as NVlabs names them, with the kimg's decimals when it is not whole (so
    grids written less than 1 kimg apart do not overwrite each other)."""
    return f"fakes{nimg // 1000:06d}.png" if nimg % 1000 == 0 else f"fakes{nimg / 1000:010.3f}.png"


class MetricsEvery(keras.callbacks.Callback):
    """Evaluates metrics (``keras_attngan.metrics``) every ``every_ticks`` epochs: appends them to
    ``<workdir>/metrics.jsonl`` and adds them to the epoch logs, so TensorBoard plots them."""

    def __init__(self, evaluator, names, every_ticks, workdir, global_batch):
        super().__init__()
        self.evaluator, self.names, self.every = evaluator, list(names), int(every_ticks)
        self.path, self.global_batch = os.path.join(workdir, "metrics.jsonl"), int(global_batch)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        step = int(self.model.step.numpy())
        for name in self.names:
            row = self.evaluator.compute(name)
            row.update(step=step, kimg=step * self.global_batch / 1000, time=time.time())
            append_jsonl(self.path, row)
            if logs is not None:
                logs.update({f"metric/{k}": v for k, v in row["results"].items()})
