"""A whole training run: workdir layout, resume, data, callbacks and ``model.fit``.

``<workdir>/`` holds ``config.json`` (the resolved config), ``checkpoints/``, ``samples/*.png``,
``logs/`` (TensorBoard) and ``stats.jsonl`` (one line per tick).
"""

import json
import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_attngan.config import steps_per_tick, validate
from keras_attngan.data import build_dataset
from keras_attngan.training import callbacks as cb
from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.training.setup import build_trainer
from keras_attngan.training.strategy import check_batch, make_strategy, use_xla

# Sections that must not change when a run resumes (they define the checkpoint's contents).
FROZEN_SECTIONS = ("model", "loss")


def check_resume_config(workdir, config):
    """Refuses to resume a workdir whose model/loss config differs from ``config``; writes config.json."""
    path = os.path.join(workdir, "config.json")
    current = json.loads(config.to_json_best_effort())
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            saved = json.load(f)
        for section in FROZEN_SECTIONS:
            # Keys the saved run did not have yet are newer defaults and do not block a resume.
            for key in sorted(saved.get(section, {})):
                a, b = saved.get(section, {}).get(key), current.get(section, {}).get(key)
                if a != b:
                    raise ValueError(
                        f"{workdir} was trained with {section}.{key}={a!r} but the config says {b!r}: "
                        f"resume with the same config or pass a new --workdir")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(current, indent=2, sort_keys=True))


def load_run_config(workdir):
    """The resolved config a run saved in ``<workdir>/config.json``, on top of today's defaults (so a
    field added since the run was made takes its default)."""
    from keras_attngan.config import default_config

    path = os.path.join(workdir, "config.json")
    if not tf.io.gfile.exists(path):
        raise ValueError(f"{path} not found: --workdir must be a training run directory (made by train_main.py)")
    with tf.io.gfile.GFile(path) as f:
        saved = json.load(f)

    def merge(dst, src):
        for key, value in src.items():
            if isinstance(value, dict) and key in dst:
                merge(dst[key], value)
            else:
                dst[key] = value

    config = default_config()
    merge(config, saved)
    return config


def make_dataset(config, seed, batch_size=None, shuffle=True, references=False):
    """Batches of reals; with ``references``, (reals, references) where the references are a second,
    independently shuffled stream of reals (reference attention, Yu et al. 2021 Sec. 3.3)."""
    d, m = config.data, config.model

    def stream(s):
        return build_dataset(d.source, m.resolution, m.img_channels, batch_size or config.train.batch_size,
                             xflip=d.xflip, subset=d.subset, fit=d.fit, skip_bad=d.skip_bad,
                             shuffle=shuffle, seed=s)

    if references:
        return tf.data.Dataset.zip((stream(seed), stream(seed + 7919)))
    return stream(seed)


def take_images(dataset, n):
    """The first ``n`` images of a batched dataset, as a NumPy array."""
    out, have = [], 0
    for batch in dataset:
        out.append(batch.numpy())
        have += len(out[-1])
        if have >= n:
            break
    return np.concatenate(out)[:n]


def train(config, workdir, verbose=None):
    """Trains (or resumes) the run in ``workdir``; returns the trainer."""
    validate(config)
    tf.io.gfile.makedirs(workdir)
    check_resume_config(workdir, config)
    keras.utils.set_random_seed(config.seed)
    t = config.train
    strategy = make_strategy(t.strategy, t.tpu)
    local_batch = check_batch(t.batch_size, strategy, config.model.mbstd_group)
    if strategy.num_replicas_in_sync > 1:
        print(f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replicas x {local_batch} images, "
              f"xla {use_xla(t.xla, strategy)}, precision {t.precision}", flush=True)
    trainer = build_trainer(config, strategy)
    checkpointer = Checkpointer(workdir, trainer, max_to_keep=t.keep_checkpoints)
    step = checkpointer.restore()
    spt = steps_per_tick(config)
    total_ticks = int(math.ceil(t.total_kimg / t.tick_kimg))
    initial_epoch = step // spt
    if initial_epoch >= total_ticks:
        logging.info("%s: training already finished (%d kimg)", workdir, step * t.batch_size // 1000)
        return trainer
    if step:
        print(f"resuming {workdir} from step {step} ({step * t.batch_size / 1000:.1f} kimg)", flush=True)

    # Reshuffle differently after a resume instead of replaying the first ticks' order.
    dataset = make_dataset(config, seed=config.seed + initial_epoch,
                           references=trainer.discriminator.uses_reference)
    reals = take_images(make_dataset(config, seed=config.seed + 1), t.grid_size)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    callbacks = [
        cb.Progress(t.batch_size, workdir, status_every=t.tensorboard_every if verbose == 2 else 0),
        cb.CheckpointEvery(checkpointer, round(t.ckpt_kimg / t.tick_kimg), total_ticks),
        cb.SampleGrid(os.path.join(workdir, "samples"), config.model.z_dim, round(t.sample_kimg / t.tick_kimg),
                      t.batch_size, num_images=t.grid_size, reals=reals, seed=config.seed + 123),
    ]
    if t.metrics and t.metrics_kimg:
        from keras_attngan.metrics.evaluate import Evaluator
        from keras_attngan.metrics.registry import parse_metrics

        names = [spec.name for spec in parse_metrics(t.metrics)]  # fail on a bad name before training
        evaluator = Evaluator(config, trainer.g_ema, trainer.discriminator,
                              cache_dir=os.path.join(workdir, "metric_cache"))
        callbacks.append(cb.MetricsEvery(evaluator, names, round(t.metrics_kimg / t.tick_kimg), workdir,
                                         t.batch_size))
    callbacks += [
        keras.callbacks.TensorBoard(os.path.join(workdir, "logs"), update_freq=t.tensorboard_every,
                                    write_graph=False),
    ]
    trainer.fit(dataset, epochs=total_ticks, steps_per_epoch=spt, initial_epoch=initial_epoch, shuffle=False,
                callbacks=callbacks, verbose=verbose)
    return trainer
