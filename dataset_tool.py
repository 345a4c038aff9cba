"""Prepare your own images for training: a folder, zip, npz, Fashion-MNIST or TFDS source -> a TFDS dataset of
sharded record files at the training resolution, with labels (docs/data.md).

    python dataset_tool.py --source=~/photos --output=~/tfds --name=photos --resolution=256
    python train_main.py --config=configs/stylegan2.py --config.data.source=tfds:photos \\
        --config.data.tfds_data_dir=~/tfds --workdir=runs/photos

--output may be a bucket (gs://bucket/tfds) where TensorFlow can reach it. Labels come from the first-level
sub-folders of a folder/zip, from its dataset.json ([file, label] pairs, NVlabs' format), or from the source's
own labels (Fashion-MNIST, npz `y`, TFDS `label`). Every problem is one `error:` line naming the file and the fix.
"""

import os
import sys

from keras_attngan.cli import start

start()  # before anything imports TensorFlow: hides its start-up banner; Ctrl-C exits 130 with one line

from absl import app, flags  # noqa: E402

from keras_attngan.cli import fail, parse_flags, quiet_python_logs  # noqa: E402

_SOURCE = flags.DEFINE_string("source", None, "Image folder (recursive), zip of images, .npz, fashion_mnist[:split], "
                              "or tfds:<name>[:split].")
_OUTPUT = flags.DEFINE_string("output", None, "TFDS data_dir to write into (local path or gs://...).")
_NAME = flags.DEFINE_string("name", None, "Dataset name: read it back as data.source=tfds:<name>.")
_RESOLUTION = flags.DEFINE_integer("resolution", None, "Square resolution to store (a power of two, 8..1024).")
_CHANNELS = flags.DEFINE_integer("channels", 3, "1 (grayscale) or 3 (RGB).")
_FIT = flags.DEFINE_string("fit", "resize", "resize (center-crop + resize), pad (center-crop + pad) or crop "
                           "(the central window), as training does them.")
_LABELS = flags.DEFINE_string("labels", "auto", "auto | folders | json | none: where class labels come from.")
_MAX = flags.DEFINE_integer("max_images", 0, "Write at most this many images (0 = all).")
_SEED = flags.DEFINE_integer("shuffle_seed", -1, "Shuffle the images with this seed before writing (-1 = keep order).")
_SHARDS = flags.DEFINE_integer("shards", 0, "Number of record files (0 = TFDS decides from the size; use at least "
                               "the number of hosts that will read it).")
_SKIP_BAD = flags.DEFINE_bool("skip_bad", False, "Skip unreadable images (counted) instead of stopping.")
_ENCODING = flags.DEFINE_enum("encoding", "png", ["png", "raw"], "png (lossless, compact) or raw (uint8 bytes: "
                               "no decoding when training reads them, larger files).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing dataset of that name.")
_TFDS_DATA_DIR = flags.DEFINE_string("tfds_data_dir", None, "Where a tfds:<name> source is (default TFDS_DATA_DIR).")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's full logs.")


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    quiet_python_logs()
    from keras_attngan.data.sources import DataError
    from keras_attngan.data.tfds_writer import write_dataset

    try:
        missing = [f"--{f.name}" for f in (_SOURCE, _OUTPUT, _NAME, _RESOLUTION) if f.value in (None, "")]
        if missing:
            raise DataError(f"{', '.join(missing)} required: dataset_tool.py --source=<images> --output=<dir> "
                            "--name=<name> --resolution=<px>")
        expand = (lambda p: p if "://" in p else os.path.expanduser(os.path.expandvars(p)))
        summary = write_dataset(expand(_SOURCE.value), expand(_OUTPUT.value), _NAME.value,
                                resolution=_RESOLUTION.value, channels=_CHANNELS.value, fit=_FIT.value,
                                labels=_LABELS.value, max_images=_MAX.value, shuffle_seed=_SEED.value,
                                shards=_SHARDS.value, skip_bad=_SKIP_BAD.value, overwrite=_OVERWRITE.value,
                                tfds_data_dir=_TFDS_DATA_DIR.value, encoding=_ENCODING.value)
    except DataError as e:
        return fail(e)
    print(summary.line(), flush=True)
    print(f"train on it with --config.data.source=tfds:{_NAME.value} "
          f"--config.data.tfds_data_dir={expand(_OUTPUT.value)}", flush=True)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
