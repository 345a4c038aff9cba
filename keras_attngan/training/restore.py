"""Restoring a finished (or running) training run from its workdir: the one path eval_main.py,
export_main.py and generate_main.py share."""

from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.training.run_config import load_run_config
from keras_attngan.training.setup import build_trainer


def restore_run(workdir, checkpoint=None):
    """(config, trainer, checkpoint path, step) of ``workdir``, restored from ``checkpoint`` (default: the
    latest; a bare name like ``ckpt-4`` is looked up in ``<workdir>/checkpoints``). ``trainer.g_ema`` is
    the EMA generator (with ``w_avg`` and the fixed noise).

    Raises ValueError when the workdir has no config or no checkpoint. ``Checkpointer.restore`` raises
    CheckpointError, one line listing the run's checkpoints, when the checkpoint does not exist, does not
    fit the run's model, or holds NaN/inf (a diverged run: nothing is exported, sampled or evaluated from it).
    """
    config = load_run_config(workdir)
    trainer = build_trainer(config)
    checkpointer = Checkpointer(workdir, trainer)
    path = checkpoint or checkpointer.latest
    if not path:
        raise ValueError(f"no checkpoint in {checkpointer.directory}: train first or pass --checkpoint")
    step = checkpointer.restore(path)
    return config, trainer, checkpointer.restored, step
