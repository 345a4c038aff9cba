"""Train a GAN from a config file.

    python train_main.py --config=configs/demo.py --workdir=runs/demo
    python train_main.py --config=configs/fashion_mnist.py --config.train.batch_size=16 --workdir=W

    python train_main.py --config=configs/demo.py --config.train.strategy=mirrored --logical_cpus=2 --workdir=W

Re-running with the same --workdir resumes from its newest checkpoint that restores and is finite
(--checkpoint picks one). --dry_run prints the resolved config and exits. --logical_cpus=N splits the CPU
into N logical devices (before TensorFlow starts), so ``train.strategy=mirrored`` runs N replicas on a
machine without GPUs: for trying distribution out. Ctrl-C (or SIGTERM) saves a checkpoint (a second Ctrl-C
exits at once); during start-up it exits with nothing written. One run per workdir: a second start on a
workdir in use is refused (``<workdir>/train.lock``). Exit codes: 0 done (or already complete), 2 a one-line
``error:`` (bad flags/config/data, divergence, unwritable workdir, workdir in use), 130 interrupted (143 by
SIGTERM).
"""

import sys

from keras_attngan.cli import (define_config_flag, fail, interrupt_code, load_config, parse_flags, quiet_python_logs,
                               start)

start("interrupted during start-up; nothing was written: run the same command again")

from absl import app, flags  # noqa: E402

_CONFIG = define_config_flag("configs/demo.py", "Path to a config file (get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, samples, logs, config.json.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Resume from this checkpoint (e.g. W/checkpoints/ckpt-400) "
                                  "instead of the newest one.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")
_LOGICAL_CPUS = flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices (N replicas for "
                                     "train.strategy=mirrored without GPUs); 0: leave the devices alone.",
                                     lower_bound=0)
_VERBOSE = flags.DEFINE_bool("verbose", False, "Show TensorFlow's full start-up and C++ logs.")


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    quiet_python_logs()
    from keras_attngan.config import validate
    from keras_attngan.data import DataError
    from keras_attngan.training.checkpoint import CheckpointError, DivergenceError
    from keras_attngan.training.cluster import WorkerLost
    from keras_attngan.training.files import WorkdirError
    from keras_attngan.training.strategy import split_cpu

    try:
        config = load_config(_CONFIG)
        if _LOGICAL_CPUS.value:
            split_cpu(_LOGICAL_CPUS.value)
        validate(config)
        if _DRY_RUN.value:
            print(config.to_json_best_effort(indent=2, sort_keys=True))
            return 0
        if not _WORKDIR.value:
            raise ValueError("--workdir is required: pass --workdir=<run directory>")
        from keras_attngan.training.loop import Interrupted, train

        try:
            train(config, _WORKDIR.value, checkpoint=_CHECKPOINT.value)
        except Interrupted as e:
            print(f"\n{e}", file=sys.stderr, flush=True)
            return interrupt_code()
    except (ValueError, DataError, CheckpointError, DivergenceError, WorkdirError, WorkerLost) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
