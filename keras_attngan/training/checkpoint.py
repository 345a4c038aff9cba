"""Checkpoints of a training run: G, D, G_ema (with w_avg and noise buffers), both optimizers and the
step counter (which is also the state of the run's stateless RNG)."""

import os

import tensorflow as tf
from absl import logging


class CheckpointError(RuntimeError):
    """A checkpoint cannot be restored into the current model."""


def named_variables(trainer):
    """Every variable of the run under a unique, stable name.

    Variables are listed explicitly because Keras 3 layers held in Python lists (mapping layers,
    synthesis/discriminator blocks) are not children in TF's object graph, so checkpointing the
    models as objects would silently skip them. Index + path also makes a mismatch fail loudly.
    """
    named = {"step": trainer.step, "pl_mean": trainer.pl_mean}
    groups = {"generator": trainer.generator.weights, "discriminator": trainer.discriminator.weights,
              "g_ema": trainer.g_ema.weights, "g_optimizer": trainer.g_optimizer.variables,
              "d_optimizer": trainer.d_optimizer.variables}
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            named[f"{group}.{i:04d}.{v.path.replace('/', '.')}"] = v
    return named


class Checkpointer:
    """Saves to and restores from ``<workdir>/checkpoints`` with ``tf.train.CheckpointManager``."""

    def __init__(self, workdir, trainer, max_to_keep=3):
        self.directory = os.path.join(workdir, "checkpoints")
        self.checkpoint = tf.train.Checkpoint(**named_variables(trainer))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=max_to_keep)
        self.trainer = trainer

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def save(self):
        step = int(self.trainer.step.numpy())
        path = self.manager.save(checkpoint_number=step)
        logging.info("saved checkpoint %s", path)
        return path

    def restore(self, path=None):
        """Restores ``path`` (default: the latest); returns the restored step, or 0 if there is none."""
        path = path or self.latest
        if not path:
            return 0
        status = None
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except Exception as e:  # noqa: BLE001 -- any failure to read becomes one clear line
            if status is not None:
                status.expect_partial()  # we report the mismatch ourselves; silence TF's warnings
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            reason = reason.split(": [<")[0].split(". Showing")[0][:200]
            raise CheckpointError(
                f"cannot restore checkpoint {path} into this model ({reason}); it was written by a "
                "different model config or is corrupt: train with the config it was made with, or use a "
                "new --workdir") from None
        self.trainer.reset_host_step()
        step = int(self.trainer.step.numpy())
        logging.info("restored %s (step %d)", path, step)
        return step
