"""Restoring a finished (or running) training run from its workdir: the one path eval_main.py,
export_main.py and generate_main.py share."""

from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.training.loop import load_run_config
from keras_attngan.training.setup import build_trainer


def restore_run(workdir, checkpoint=None):
    """(config, trainer, checkpoint path, step) of ``workdir``, restored from ``checkpoint`` (default: the
    latest). ``trainer.g_ema`` is the EMA generator (with ``w_avg`` and the fixed noise).

    Raises ValueError when the workdir has no config or no checkpoint, CheckpointError when the checkpoint
    does not fit the run's model.
    """
    config = load_run_config(workdir)
    trainer = build_trainer(config)
    checkpointer = Checkpointer(workdir, trainer)
    path = checkpoint or checkpointer.latest
    if not path:
        raise ValueError(f"no checkpoint in {workdir}/checkpoints: train first or pass --checkpoint")
    step = checkpointer.restore(path)
    return config, trainer, path, step
