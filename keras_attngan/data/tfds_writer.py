"""``dataset_tool.py``'s output: a prepared TFDS dataset (sharded record files plus TFDS's metadata: image
shape, number of examples, class names), written by TFDS's own writer (``tfds.dataset_builders.AdhocBuilder``,
what ``store_as_tfds_dataset`` uses), never a record format of ours.

Images are stored at the training resolution, lossless: as PNG (encoded in parallel by tf.data) or, with
``encoding="raw"``, as their uint8 bytes (no decoding at all), so training never resizes. TFDS writes into an ``incomplete.*`` folder and renames it when the split is
complete, so an interrupted or failed write never leaves a dataset that TFDS would load as complete; an
existing dataset is replaced (``--overwrite``) only once the new one is complete.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import shutil
import tempfile
import time

import tensorflow as tf
from absl import logging as absl_logging

from keras_attngan.data import convert
from keras_attngan.data.folder import SKIP_HINT
from keras_attngan.data.sources import DataError
from keras_attngan.utils.disk import is_disk_full

VERSION = "1.0.0"
# png: lossless and compact, decoded on every read (~1,100 img/s at 256x256x3 on 2 cores); raw: the uint8 pixels
# as bytes, no decoding (several times the img/s, about twice the disk of photos' PNGs). Both read as uint8 images.
ENCODINGS = ("png", "raw")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass
class Summary:
    """What a write produced (printed at the end)."""

    path: str
    written: int
    skipped: int
    converted: int
    classes: int
    shards: int
    bytes: int
    seconds: float

    def line(self) -> str:
        classes = f"{self.classes} classes" if self.classes else "no labels"
        return (f"wrote {self.written} images ({self.skipped} skipped, {self.converted} converted to the resolution "
                f"or channels), {classes}, {self.shards} shards, {self.bytes / 2**20:.1f} MB in {self.seconds:.1f} s "
                f"to {self.path}")


def _tree_bytes(path: str) -> int:
    return sum(tf.io.gfile.stat(posixpath.join(d, f)).length for d, _, files in tf.io.gfile.walk(path) for f in files)


def _examples(collected, index, total, *, resolution, channels, fit, max_images, shuffle_seed, skip_bad, counts,
              progress, encoding="png"):
    """(key, example) pairs for TFDS's writer, in order; counts skipped and converted images as they go."""
    stream = convert.images(collected, index, resolution, channels, fit, max_images, shuffle_seed)
    if encoding == "png":  # encoded here, in parallel; TFDS stores the bytes as they are
        stream = stream.map(lambda i, x, y, changed: (i, tf.io.encode_png(x), y, changed),
                            num_parallel_calls=tf.data.AUTOTUNE)
    expected, t0 = 0, time.time()

    def missing(upto):
        nonlocal expected
        if upto > expected:  # positions expected..upto-1 did not decode
            name = convert.bad_item(collected, expected, index)
            if not skip_bad:
                raise DataError(f"image {name} is unreadable or truncated ({convert.decode_reason(collected, name)}; "
                                f"nothing was written); {SKIP_HINT.replace('data.skip_bad=True', '--skip_bad')}")
            counts["skipped"] += upto - expected
        expected = upto

    for i, image, y, changed in stream.as_numpy_iterator():
        missing(int(i))
        expected += 1
        counts["written"] += 1
        counts["converted"] += bool(changed)
        example = {"image": image}
        if collected.classes is not None:
            example["label"] = int(y)
        if progress is not None and (counts["written"] % 64 == 0 or expected == total):
            progress.update(expected, values=[("img/s", counts["written"] / max(time.time() - t0, 1e-6))])
        yield int(i), example
    missing(total)
    if not counts["written"]:
        raise DataError(f"no readable image in {collected.where}: all {total} failed to decode (first: "
                        f"{convert.bad_item(collected, 0, index)}); fix --source")


def write_dataset(source, output, name, *, resolution, channels=3, fit="resize", labels="auto", max_images=0,
                  shuffle_seed=-1, shards=0, skip_bad=False, overwrite=False, tfds_data_dir=None, encoding="png",
                  verbose=True):
    """Converts ``source`` into the TFDS dataset ``<output>/<name>/1.0.0`` (read it back with
    ``data.source=tfds:<name>`` and ``data.tfds_data_dir=<output>``); returns a :class:`Summary`."""
    import keras
    import tensorflow_datasets as tfds

    if not _NAME.fullmatch(name or ""):
        raise DataError(f"--name={name!r} must be lowercase letters, digits and _ starting with a letter (a TFDS "
                        "dataset name), e.g. --name=my_photos")
    from keras_attngan.data.pipeline import check_options

    check_options(resolution, channels, 1, fit, max_images)
    if shards < 0:
        raise DataError(f"--shards={shards} must be 0 (TFDS decides from the size) or a positive number of files")
    target = posixpath.join(output, name)
    if tf.io.gfile.exists(target) and not overwrite:
        raise DataError(f"{target} already exists: pass --overwrite to replace it (the old dataset stays until the "
                        "new one is complete) or choose another --name/--output")
    collected = convert.collect(source, labels, tfds_data_dir)
    index = convert.order(collected, max_images, shuffle_seed)
    total = len(index)
    if collected.kind == "tfds":
        from keras_attngan.data.tfds_source import open_tfds

        count = open_tfds(collected.tfds[0], shuffle_files=False, seed=0, tfds_data_dir=tfds_data_dir)[1] or 0
        total = min(count, max_images) if max_images else count
    if total == 0:
        raise DataError(f"source {source} has no images to write; fix --source")
    if encoding not in ENCODINGS:
        raise DataError(f"--encoding={encoding!r} must be one of {', '.join(ENCODINGS)}")
    shape = (resolution, resolution, channels)
    features = {"image": tfds.features.Image(shape=shape, encoding_format="png") if encoding == "png" else
                tfds.features.Tensor(shape=shape, dtype=tf.uint8.as_numpy_dtype, encoding=tfds.features.Encoding.BYTES)}
    if collected.classes is not None:
        features["label"] = tfds.features.ClassLabel(names=list(collected.classes.class_names))
    local = "://" not in output
    # TFDS finishes a write by renaming its incomplete folder, which object stores (gs://) do object by object:
    # a URI output is written on local disk first and uploaded once complete, its metadata last.
    staging = output if local else tempfile.mkdtemp(prefix="dataset_tool_")
    aside = f"{target}.replaced-{os.getpid()}"
    if local:
        tf.io.gfile.makedirs(output)
        if tf.io.gfile.exists(target):
            tf.io.gfile.rename(target, aside)
    downloads = posixpath.join(staging, "downloads")  # TFDS makes it for every builder; the tool downloads nothing
    had_downloads = tf.io.gfile.exists(downloads)
    counts = {"written": 0, "skipped": 0, "converted": 0}
    progress = keras.utils.Progbar(total, unit_name="image", stateful_metrics=["img/s"]) if verbose else None
    tfds.disable_progress_bar()  # ours shows images/s
    t0 = time.time()
    ok = False
    try:
        builder = tfds.dataset_builders.AdhocBuilder(  # what store_as_tfds_dataset builds, without its prints
            name=name, version=VERSION, data_dir=staging, disable_shuffling=True,
            features=tfds.features.FeaturesDict(features),
            split_datasets={"train": _examples(collected, index, total, resolution=resolution, channels=channels,
                                               fit=fit, max_images=max_images, shuffle_seed=shuffle_seed,
                                               skip_bad=skip_bad, counts=counts, progress=progress,
                                               encoding=encoding)},
            description=f"Written by keras-attngan's dataset_tool.py from {source} at {resolution}x{resolution}x"
                        f"{channels} (fit={fit}).",
        )
        builder._log_download_bytes = builder._log_download_done = lambda: None  # our progress bar and summary
        verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.ERROR)  # TFDS's per-write info and "no dataset_info.json yet"
        try:
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=shards or None))
        finally:
            absl_logging.set_verbosity(verbosity)
        ok = True
    except (OSError, tf.errors.OpError) as e:
        where = target if local else f"{staging} (local staging for {target})"
        if is_disk_full(e):
            raise DataError(f"cannot write {where}: no space left on the device (ENOSPC) after {counts['written']} "
                            "images; nothing was kept: free disk space or pass an --output on a larger disk") from None
        raise DataError(f"cannot write {where} ({_first_line(e)}); nothing was kept: check --output and its "
                        "permissions") from None
    except Exception as e:  # TFDS wraps a generator's error (ours: a DataError) in its own types
        cause = e if isinstance(e, DataError) else next((c for c in _causes(e) if isinstance(c, DataError)), None)
        if cause is not None:
            raise cause from None
        raise
    finally:
        if local and tf.io.gfile.exists(aside):
            if ok:
                tf.io.gfile.rmtree(aside)
            else:  # the new dataset is not complete: the old one comes back
                if tf.io.gfile.exists(target):
                    tf.io.gfile.rmtree(target)
                tf.io.gfile.rename(aside, target)
        if not had_downloads and tf.io.gfile.exists(downloads):
            tf.io.gfile.rmtree(downloads)
        if not local and not ok:
            shutil.rmtree(staging, ignore_errors=True)
    path = str(builder.data_dir)
    if not local:
        path = _upload(path, posixpath.join(target, VERSION), target)
        shutil.rmtree(staging, ignore_errors=True)
    split = builder.info.splits["train"]
    return Summary(path=path, written=counts["written"], skipped=counts["skipped"], converted=counts["converted"],
                   classes=collected.classes.num_classes if collected.classes else 0, shards=int(split.num_shards),
                   bytes=_tree_bytes(path), seconds=time.time() - t0)


def _upload(src: str, dest: str, target: str) -> str:
    """Copies a complete local dataset version to ``dest`` (any file system TF can write), ``dataset_info.json``
    last: TFDS treats a version without it as not prepared, so a partial upload is never read as complete. An
    existing ``target`` (``--overwrite``) is replaced only now, after the new dataset was written in full."""
    names = sorted(os.listdir(src), key=lambda n: n == "dataset_info.json")
    try:
        if tf.io.gfile.exists(target):
            tf.io.gfile.rmtree(target)
        tf.io.gfile.makedirs(dest)
        for n in names:
            tf.io.gfile.copy(os.path.join(src, n), posixpath.join(dest, n), overwrite=True)
    except (OSError, tf.errors.OpError) as e:
        raise DataError(f"cannot upload the dataset to {dest} ({_first_line(e)}); the complete dataset is in {src}: "
                        f"copy it with `gsutil -m cp -r {src} {dest}` or fix --output") from None
    return dest


def _first_line(e: BaseException) -> str:
    return ((str(e).strip().splitlines() or [type(e).__name__])[0])[:200]


def _causes(e: BaseException):
    while e is not None:
        yield e
        e = e.__cause__ or e.__context__

