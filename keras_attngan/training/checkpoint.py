"""Checkpoints of a training run: G, D, G_ema (with w_avg and noise buffers), both optimizers and the
step counter (which is also the state of the run's stateless RNG).

Nothing non-finite is ever written (:class:`DivergenceError` instead), a restore can fall back from a
corrupt or non-finite latest checkpoint to the newest one that restores and is finite, and the
``ckpt-N_temp`` folders a kill during saving leaves behind are removed.
"""

import os
import re
import time

import tensorflow as tf
from absl import logging

from keras_attngan.training.files import WorkdirError, writing
from keras_attngan.training.finite import nonfinite_names
from keras_attngan.utils.console import tf_warnings_hidden, warn


class CheckpointError(RuntimeError):
    """A checkpoint cannot be restored into the current model."""


class DivergenceError(RuntimeError):
    """Training produced non-finite losses or weights."""


def named_variables(trainer):
    """Every variable of the run under a unique, stable name.

    Variables are listed explicitly because Keras 3 layers held in Python lists (mapping layers,
    synthesis/discriminator blocks) are not children in TF's object graph, so checkpointing the
    models as objects would silently skip them. Index + path also makes a mismatch fail loudly. A
    method's heads are layers of D (in its weights); its other state comes from
    ``trainer.state_variables()``, so this list needs no change per method.
    """
    named = dict(trainer.state_variables())  # step, pl_mean, and what the augmentation/terms add
    groups = {"generator": trainer.generator.weights, "discriminator": trainer.discriminator.weights,
              "g_ema": trainer.g_ema.weights, "g_optimizer": trainer.g_optimizer.variables,
              "d_optimizer": trainer.d_optimizer.variables}
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            named[f"{group}.{i:04d}.{v.path.replace('/', '.')}"] = v
    return named


def _first_line(e):
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return reason.split(": [<")[0].split(". Showing")[0][:200]


def _step_of(path):
    match = re.search(r"ckpt-(\d+)$", path)
    return int(match.group(1)) if match else -1


class Checkpointer:
    """Saves to and restores from ``<workdir>/checkpoints`` with ``tf.train.CheckpointManager``."""

    def __init__(self, workdir, trainer, max_to_keep=3, write=True):
        self.write = write  # False on the other workers of a multi-worker run: the chief writes
        self.directory = os.path.join(workdir, "checkpoints")
        self.variables = named_variables(trainer)
        self.checkpoint = tf.train.Checkpoint(**self.variables)
        self.max_to_keep = max_to_keep
        state = os.path.join(self.directory, "checkpoint")
        with tf_warnings_hidden():  # a corrupt list is reported below, in one line, not as TF's ParseError
            self.state_corrupt = (tf.io.gfile.exists(state)
                                  and tf.train.get_checkpoint_state(self.directory) is None)
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=max_to_keep)
        if self.state_corrupt:
            warn(f"{state} (the list of checkpoints) is corrupt: ignored; the checkpoints are found from their "
                 "files, and the list is rewritten when the run starts")
        self.trainer = trainer
        self.restored = None  # the path the last successful restore() read
        self.skipped = []  # checkpoints newer than the restored one that restore() had to skip

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def available(self):
        """Checkpoint paths on disk, newest step first (the manager's list, plus any index file it lost)."""
        paths = set(self.manager.checkpoints)
        for index in tf.io.gfile.glob(os.path.join(self.directory, "ckpt-*.index")):
            paths.add(index[:-len(".index")])
        return sorted(paths, key=_step_of, reverse=True)

    def nonfinite(self):
        """Names of the run's variables holding NaN or inf (empty when all are finite)."""
        return nonfinite_names(self.variables)

    def remove_temp(self):
        """Deletes the ``ckpt-N_temp`` folders of saves that were killed half-way (never valid checkpoints)."""
        for path in tf.io.gfile.glob(os.path.join(self.directory, "*_temp")):
            with writing(path):
                tf.io.gfile.rmtree(path)
            print(f"removed {path} (left by an interrupted save)", flush=True)

    def set_aside_skipped(self):
        """Moves the checkpoints restore() skipped (newer than the one it restored, but corrupt or not finite)
        into ``checkpoints/skipped/``: kept for inspection, but out of the rotation, which would otherwise
        delete finite checkpoints first and keep those. Rewrites a corrupt or stale checkpoint list from the
        files on disk. Called once the start has succeeded (it writes)."""
        moved = []
        for path in self.skipped:
            target = os.path.join(self.directory, "skipped")
            with writing(target):
                tf.io.gfile.makedirs(target)
                for name in tf.io.gfile.glob(path + ".*"):
                    tf.io.gfile.rename(name, os.path.join(target, os.path.basename(name)), overwrite=True)
            moved.append(os.path.basename(path))
        if moved:
            warn(f"moved {', '.join(moved)} to {os.path.join(self.directory, 'skipped')} (kept, out of the "
                 "checkpoint rotation)")
        if moved or self.state_corrupt:
            kept = sorted((p for p in self.available() if tf.io.gfile.exists(p + ".index")), key=_step_of)
            with writing(self.directory), tf_warnings_hidden():  # (compat.v1: its deprecation note)
                if kept:
                    # With their times (oldest first): the manager rotates only listed checkpoints that
                    # carry a time after last_preserved_timestamp, and treats the others as kept forever.
                    times = [min(tf.io.gfile.stat(p + ".index").mtime_nsec / 1e9, time.time()) for p in kept]
                    tf.compat.v1.train.update_checkpoint_state(
                        self.directory, kept[-1], kept, all_model_checkpoint_timestamps=times,
                        last_preserved_timestamp=min(times) - 1)
                else:
                    tf.io.gfile.remove(os.path.join(self.directory, "checkpoint"))
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.max_to_keep)
            self.skipped, self.state_corrupt = [], False

    def _size_of(self, path):
        """Bytes of a checkpoint's files (0 when it has none)."""
        return sum(tf.io.gfile.stat(name).length for name in tf.io.gfile.glob(path + ".*")) if path else 0

    def save(self):
        """Writes a checkpoint of the current state; raises DivergenceError instead of writing NaN/inf.
        Without ``write`` (a worker that is not the chief) it only checks, like the chief, and returns None."""
        step = int(self.trainer.step.numpy())
        bad = self.nonfinite()
        if bad:
            raise DivergenceError(f"non-finite weights at step {step} ({bad[0]}"
                                  f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''})")
        if not self.write:
            return None
        try:
            with writing(self.directory, needed=self._size_of((self.available() or [None])[0])):
                path = self.manager.save(checkpoint_number=step)
        except WorkdirError:
            for temp in tf.io.gfile.glob(os.path.join(self.directory, f"ckpt-{step}_temp")):
                tf.io.gfile.rmtree(temp)  # the half-written save: gives back the space it took
            raise
        logging.info("saved checkpoint %s", path)
        return path

    def restore(self, path=None, fallback=False):
        """Restores ``path`` (default: the latest); returns the restored step, or 0 if there is none.

        With ``fallback``, a latest checkpoint that fails to restore or holds non-finite values is
        skipped for the newest one that works, with one line saying so; CheckpointError when none does.
        ``path`` may be a bare name such as ``ckpt-4`` (what the error messages list) in this run's
        ``checkpoints`` folder. ``self.restored`` is then the path that was read.
        """
        self.restored = None
        if path and "/" not in path and not tf.io.gfile.exists(path + ".index"):
            path = os.path.join(self.directory, path)
        if path:
            if not tf.io.gfile.exists(path + ".index"):
                raise CheckpointError(f"checkpoint {path} does not exist ({self._listing()})")
            candidates = [path]
        else:
            candidates = self.available() if fallback else [self.latest] if self.latest else []
        self.skipped = []
        if not candidates:
            return 0
        errors = []
        for candidate in candidates:
            try:
                step = self._restore_one(candidate)
            except CheckpointError as e:
                errors.append(e)
                if fallback and not path:
                    print(f"warning: skipping {candidate}: {e}", flush=True)
                    self.skipped.append(candidate)
                continue
            if errors:
                print(f"resuming from {candidate} instead", flush=True)
            return step
        self.skipped = []  # nothing restored: nothing is set aside either
        raise errors[0] if len(errors) == 1 else CheckpointError(
            f"no checkpoint in {self.directory} restores into this model ({len(errors)} tried; newest: "
            f"{errors[0]})")

    def _listing(self):
        names = [os.path.basename(p) for p in self.available()]
        return f"available in {self.directory}: {', '.join(names)}" if names else f"{self.directory} has none"

    def _restore_one(self, path):
        status = None
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except Exception as e:  # noqa: BLE001 -- any failure to read becomes one clear line
            if status is not None:
                status.expect_partial()  # we report the mismatch ourselves; silence TF's warnings
            raise CheckpointError(
                f"cannot restore checkpoint {path} into this model ({_first_line(e)}); it was written by a "
                "different model config or is corrupt: train with the config it was made with, resume from "
                "another checkpoint (--checkpoint), or use a new --workdir") from None
        bad = self.nonfinite()
        if bad:
            raise CheckpointError(f"checkpoint {path} holds non-finite values ({bad[0]}): pick an earlier "
                                  f"one with --checkpoint ({self._listing()})")
        self.trainer.reset_host_step()
        self.restored = path
        step = int(self.trainer.step.numpy())
        logging.info("restored %s (step %d)", path, step)
        return step
