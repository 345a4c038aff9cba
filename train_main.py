"""Train a GAN from a config file.

    python train_main.py --config=configs/demo.py --workdir=runs/demo
    python train_main.py --config=configs/fashion_mnist.py --config.train.batch_size=16 --workdir=W

    python train_main.py --config=configs/demo.py --config.train.strategy=mirrored --logical_cpus=2 --workdir=W

Re-running with the same --workdir resumes from its latest checkpoint. --dry_run prints the resolved
config and exits. --logical_cpus=N splits the CPU into N logical devices (before TensorFlow starts), so
``train.strategy=mirrored`` runs N replicas on a machine without GPUs: for trying distribution out.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/demo.py", "Path to a config file (get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, samples, logs, config.json.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")
_LOGICAL_CPUS = flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices (N replicas for "
                                     "train.strategy=mirrored without GPUs); 0: leave the devices alone.",
                                     lower_bound=0)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    from keras_attngan.config import validate
    from keras_attngan.data import DataError
    from keras_attngan.training.checkpoint import CheckpointError
    from keras_attngan.training.strategy import split_cpu

    config = _CONFIG.value
    if _LOGICAL_CPUS.value:
        split_cpu(_LOGICAL_CPUS.value)
    try:
        validate(config)
        if _DRY_RUN.value:
            print(config.to_json_best_effort(indent=2, sort_keys=True))
            return 0
        if not _WORKDIR.value:
            raise ValueError("--workdir is required: pass --workdir=<run directory>")
        from keras_attngan.training.loop import train

        train(config, _WORKDIR.value)
    except (ValueError, DataError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
