"""Export a run's EMA generator as a SavedModel for TF Serving.

    python export_main.py --workdir=runs/demo --name=demo     # -> saved_models/demo/<next version>/

Signatures: serving_default (z, psi -> uint8 images), from_seeds, mapping, synthesis
(see keras_attngan/export.py; `saved_model_cli show --dir saved_models/demo/1 --all` lists them).
A class-conditional run (model.num_classes > 0) is exported with one more input, `label` int32 [batch],
in serving_default, from_seeds and mapping (checked in the graph: one class id in [0, K) per row), and
its class names (data.class_names of its config.json) saved with the model.
A checkpoint that does not exist or holds NaN/inf is refused with one `error:` line.
"""

import os
import sys

from keras_attngan.cli import start

start()  # before anything imports TensorFlow: hides its start-up banner; Ctrl-C exits 130 with one line

from absl import app, flags  # noqa: E402

from keras_attngan.cli import fail, parse_flags, quiet_python_logs  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory.")
_NAME = flags.DEFINE_string("name", None, "Model name: saved_models/<name>/<version>/.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint path or name, e.g. ckpt-4 (default: the latest).")
_OUT = flags.DEFINE_string("saved_models", "saved_models", "Base directory of exported models.")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's full logs.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    quiet_python_logs()
    from keras_attngan.training.checkpoint import CheckpointError

    try:
        if not _WORKDIR.value or not _NAME.value:
            raise ValueError("--workdir and --name are required: export_main.py --workdir=<run> --name=<model>")
        from keras_attngan.export import export_generator
        from keras_attngan.training.restore import restore_run

        config, trainer, path, _ = restore_run(_WORKDIR.value, _CHECKPOINT.value)
        names = config.data.get("class_names") if config.model.num_classes else None
        out = export_generator(trainer.g_ema, os.path.join(_OUT.value, _NAME.value), class_names=names)
        k = config.model.num_classes
        kind = f", class-conditional: {k} classes, input label" if k else ""
        print(f"exported {path} to {out}{kind}", flush=True)
    except (ValueError, CheckpointError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
