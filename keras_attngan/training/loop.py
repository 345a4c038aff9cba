"""A whole training run: workdir layout, resume, data, callbacks and ``model.fit``.

``<workdir>/`` holds ``config.json`` (the resolved config), ``checkpoints/``, ``samples/*.png``,
``logs/`` (TensorBoard) and ``stats.jsonl`` (one line per tick).
"""

import contextlib
import math
import os
import signal
import sys

import keras
import numpy as np
import tensorflow as tf

from keras_attngan.config import steps_per_tick, validate
from keras_attngan.data.pipeline import label_info
from keras_attngan.training import callbacks as cb
from keras_attngan.training import cluster
from keras_attngan.training.checkpoint import Checkpointer, CheckpointError, DivergenceError
from keras_attngan.training.files import trim_jsonl
from keras_attngan.training.inputs import make_dataset
from keras_attngan.training.lock import WorkdirClaim, interrupts_deferred, release_all
from keras_attngan.training.run_config import check_resume_config, write_run_config
from keras_attngan.training.setup import apply_optimizer_config, build_trainer
from keras_attngan.training.strategy import check_batch, make_strategy, use_xla
from keras_attngan.utils.console import hide_expected_tf_warnings

def take_images(dataset, n):
    """The first ``n`` images of a batched dataset, as a NumPy array."""
    out, have = [], 0
    for batch in dataset:
        out.append((batch["image"] if isinstance(batch, dict) else batch).numpy())  # dict: data.labels
        have += len(out[-1])
        if have >= n:
            break
    return np.concatenate(out)[:n]


class Interrupted(Exception):
    """Ctrl-C during training; the message says where the run was saved."""


def train(config, workdir, verbose=None, checkpoint=None):
    """Trains (or resumes) the run in ``workdir``; returns the trainer.

    Resumes from ``checkpoint`` or else the newest checkpoint that restores and is finite. Holds the
    workdir's lock (``train.lock``) throughout, and writes nothing into the workdir until the model, the
    restore and the data source have all succeeded. Raises DivergenceError when the losses or weights become
    non-finite (after ``train.nan_retries`` rollbacks with ``train.nan_policy=rollback``), Interrupted on
    Ctrl-C (after saving a checkpoint once training runs), WorkdirLocked when another run holds the workdir.
    """
    validate(config)
    hide_expected_tf_warnings()
    t = config.train
    # First: a multi-worker strategy must be set up before TensorFlow initialises its devices.
    strategy = make_strategy(t.strategy, t.tpu, cluster=t.cluster, timeout=t.collective_timeout)
    chief = cluster.is_chief(strategy)  # only the chief writes into the workdir (and holds its lock)
    claim = WorkdirClaim(workdir, strategy, chief)
    try:
        try:
            claim.acquire()
            run = _start(config, workdir, strategy, chief, verbose, checkpoint)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted during start-up; nothing was written to {workdir}: run the same "
                              "command again") from None
        if run.done:
            return run.trainer
        claim.commit()
        try:
            _commit(run, config, workdir, chief)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted before training started (step {run.step}); the checkpoints are as "
                              f"they were: run the same command again (--workdir={workdir})") from None
        return _fit(run, config, workdir, strategy, chief, verbose)
    finally:
        claim.release()


class _Run:
    """What a successful start hands to the training loop."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _start(config, workdir, strategy, chief, verbose, checkpoint):
    """Everything that can fail before the run writes a file: config checks, model, restore, data.
    Returns a _Run (``done`` after one line saying so, when the run is already complete)."""
    t = config.train
    changed = check_resume_config(workdir, config)
    cluster.check_shared_workdir(strategy, workdir)
    keras.utils.set_random_seed(config.seed)
    local_batch = check_batch(t.batch_size, strategy, config.model.mbstd_group)
    if strategy.num_replicas_in_sync > 1:
        workers = cluster.num_workers(strategy)
        print(f"{cluster.strategy_name(strategy)}: {strategy.num_replicas_in_sync} replicas x {local_batch} images"
              f"{f' on {workers} workers' if workers > 1 else ''}, xla {use_xla(t.xla, strategy)}, "
              f"precision {t.precision}", flush=True)
    # A Ctrl-C while the networks' variables are created waits until they are (seconds): raised inside
    # TensorFlow's variable creation, it once ended the process with a segmentation fault instead of one line.
    # Not with several workers: there each variable's creation waits for the other workers, maybe for long.
    deferred = contextlib.nullcontext() if cluster.is_multi_worker(strategy) else interrupts_deferred()
    with deferred:
        trainer = build_trainer(config, strategy)
    checkpointer = Checkpointer(workdir, trainer, max_to_keep=t.keep_checkpoints, write=chief)
    step = checkpointer.restore(checkpoint, fallback=True)
    cluster.check_same_step(strategy, step)
    spt = steps_per_tick(config)
    total_ticks = int(math.ceil(t.total_kimg / t.tick_kimg))
    if step // spt >= total_ticks:
        if chief:
            print(f"{workdir} is complete: {step * t.batch_size / 1000:g} kimg of train.total_kimg={t.total_kimg:g} "
                  f"(step {step}); nothing to do: to train longer, run again with --config.train.total_kimg=<more>",
                  flush=True)
        return _Run(trainer=trainer, done=True)
    # The data source is read (and refused, when bad) here, before anything is written.
    labels = label_info(config.data.source, config.data.tfds_data_dir or None) if config.data.labels else None
    dataset = make_dataset(config, seed=config.seed + step // spt, references=trainer.discriminator.uses_reference,
                           strategy=strategy)
    callbacks = make_callbacks(config, workdir, trainer, checkpointer, total_ticks, verbose, chief)
    return _Run(done=False, trainer=trainer, checkpointer=checkpointer, step=step, changed=changed, spt=spt,
                total_ticks=total_ticks, dataset=dataset, callbacks=callbacks, labels=labels)


def _commit(run, config, workdir, chief):
    """The start succeeded: the run's files are written from here on (the chief writes them)."""
    t = config.train
    if chief:
        run.checkpointer.remove_temp()
        run.checkpointer.set_aside_skipped()
    if run.step:
        apply_optimizer_config(run.trainer, config)  # the config's learning rates, not the checkpoint's
        if run.changed and chief:
            print("changed on resume: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in run.changed), flush=True)
    if chief:
        for name in ("stats.jsonl", "metrics.jsonl"):  # ticks after the restored step are run again
            trim_jsonl(os.path.join(workdir, name), run.step)
        write_run_config(workdir, config, run.labels)
    else:
        print(f"{cluster.task_name(run.trainer.distribute_strategy)}: training; the chief writes {workdir}",
              flush=True)
    if not run.step and t.nan_policy == "rollback":
        run.checkpointer.save()  # a finite state to roll back to before the first scheduled checkpoint
    if run.step:
        print(f"resuming {workdir} from step {run.step} ({run.step * t.batch_size / 1000:.1f} kimg)", flush=True)


def _fit(run, config, workdir, strategy, chief, verbose):
    """``model.fit`` over the remaining ticks, with rollback on divergence and a checkpoint on Ctrl-C."""
    trainer, checkpointer, step, dataset = run.trainer, run.checkpointer, run.step, run.dataset
    retries = 0
    while True:
        initial_epoch = step // run.spt
        if dataset is None:
            # Reshuffle differently after a rollback instead of replaying the failed ticks' order.
            dataset = make_dataset(config, seed=config.seed + initial_epoch + 100003 * retries,
                                   references=trainer.discriminator.uses_reference, strategy=strategy)
        try:
            trainer.fit(dataset, epochs=run.total_ticks, steps_per_epoch=run.spt, initial_epoch=initial_epoch,
                        shuffle=False, callbacks=run.callbacks, verbose=verbose_mode(verbose) if chief else 0)
            return trainer
        except DivergenceError as e:
            step, retries = _roll_back(e, config, trainer, checkpointer, retries)
            dataset = None
        except KeyboardInterrupt:
            _save_on_interrupt(checkpointer, workdir)
        except cluster.LOST_ERRORS as e:
            if not cluster.is_multi_worker(strategy):
                raise
            latest = (checkpointer.available() or [None])[0]
            raise cluster.WorkerLost(cluster.failure_message(e, strategy, workdir, latest)) from None


def verbose_mode(verbose):
    return (1 if sys.stdout.isatty() else 2) if verbose is None else verbose


def make_callbacks(config, workdir, trainer, checkpointer, total_ticks, verbose, chief=True):
    """The run's callbacks; the divergence guard first, so nothing of a non-finite tick is written.
    The other workers of a multi-worker run (not ``chief``) check and keep step with the chief but write
    nothing: no stats, samples, metrics or TensorBoard logs (their checkpointer checks without writing)."""
    t = config.train
    guard_and_checkpoints = [
        cb.DivergenceGuard(),
        cb.CheckpointEvery(checkpointer, round(t.ckpt_kimg / t.tick_kimg), total_ticks),
    ]
    if not chief:
        return guard_and_checkpoints[:1] + [cb.Progress(t.batch_size)] + guard_and_checkpoints[1:]
    reals = take_images(make_dataset(config, seed=config.seed + 1), t.grid_size)
    status_every = t.tensorboard_every if verbose_mode(verbose) == 2 else 0
    callbacks = [
        guard_and_checkpoints[0],
        cb.Progress(t.batch_size, workdir, status_every=status_every),
        guard_and_checkpoints[1],
        cb.SampleGrid(os.path.join(workdir, "samples"), config.model.z_dim, round(t.sample_kimg / t.tick_kimg),
                      t.batch_size, num_images=t.grid_size, reals=reals, seed=config.seed + 123,
                      num_classes=config.model.num_classes),
    ]
    if t.metrics and t.metrics_kimg:
        from keras_attngan.metrics.evaluate import Evaluator
        from keras_attngan.metrics.registry import parse_metrics

        names = [spec.name for spec in parse_metrics(t.metrics)]  # fail on a bad name before training
        # Across workers the chief evaluates alone, on its first device (eval_main.py is faster after).
        local = tf.distribute.get_strategy() if cluster.is_multi_worker(trainer.distribute_strategy) else None
        evaluator = Evaluator(config, trainer.g_ema, trainer.discriminator,
                              cache_dir=os.path.join(workdir, "metric_cache"), strategy=local)
        callbacks.append(cb.MetricsEvery(evaluator, names, round(t.metrics_kimg / t.tick_kimg), workdir,
                                         t.batch_size))
    callbacks.append(keras.callbacks.TensorBoard(os.path.join(workdir, "logs"), update_freq=t.tensorboard_every,
                                                 write_graph=False))
    return callbacks


def _roll_back(error, config, trainer, checkpointer, retries):
    """Restores the newest finite checkpoint after a divergence; returns (step, retries) to go on
    with under ``train.nan_policy=rollback``, else raises DivergenceError naming the step and the fix."""
    t = config.train
    try:
        step = checkpointer.restore(fallback=True)
    except CheckpointError:
        step = 0
    restored = checkpointer.restored
    where = (f"the last finite checkpoint is {restored} (step {step})" if restored else
             f"no finite checkpoint was written yet (the first comes after train.ckpt_kimg={t.ckpt_kimg})")
    if t.nan_policy == "rollback" and restored and retries < t.nan_retries:
        retries += 1
        print(f"warning: training diverged ({error}); rolled back to {restored} (step {step}), "
              f"retry {retries} of {t.nan_retries} with a new random stream", flush=True)
        apply_optimizer_config(trainer, config)
        trainer.seed = config.seed + 100003 * retries  # other latents/noise/shuffle than the failed try
        trainer.train_function = None  # retrace: the seed is part of the traced step
        return step, retries
    tried = f" after {retries} rollback{'s' * (retries != 1)}" if retries else ""
    raise DivergenceError(f"training diverged{tried}: {error}; {where}: lower train.g_lr/"
                          "train.d_lr or raise train.r1_gamma" +
                          ("" if t.nan_policy == "rollback" else ", or retry with train.nan_policy=rollback")) from None


def _save_on_interrupt(checkpointer, workdir):
    """Ctrl-C: saves a checkpoint of the current (finite) state; a second Ctrl-C exits at once."""
    def exit_now(signum, frame):
        print("\ninterrupted again: exiting without saving", file=sys.stderr, flush=True)
        release_all()  # os._exit skips the lock's release
        os._exit(130)

    signal.signal(signal.SIGINT, exit_now)
    step = int(checkpointer.trainer.step.numpy())
    try:
        path = checkpointer.save()
    except DivergenceError as e:
        raise Interrupted(f"interrupted at step {step}, not saved ({e}); the last checkpoint is "
                          f"{checkpointer.latest}") from None
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if path is None:  # a worker that is not the chief: the chief saves (when it is interrupted too)
        raise Interrupted(f"interrupted at step {step} (this worker writes no checkpoints; the chief's last is "
                          f"{(checkpointer.available() or ['none'])[0]}): run all workers again to resume")
    raise Interrupted(f"interrupted at step {step}: saved {path}; run the same command again to resume "
                      f"from it (--workdir={workdir})")
