"""tensorflow-datasets sources: `tfds:<name>[:<split>]`, images taken from the "image" feature.

Nothing is downloaded: the dataset must already be prepared in data_dir (the `tfds_data_dir` argument,
else env TFDS_DATA_DIR, else tfds' default ~/tensorflow_datasets), because training machines are often
offline and a silent multi-GB download at start-up is worse than a clear error.
"""

from __future__ import annotations

import os
import re

import numpy as np
import tensorflow as tf

from keras_attngan.data.sources import DataError, LabelInfo, SourceKind, SourceSpec, check_subset, no_labels
from keras_attngan.registry import DATA_SOURCES


def _data_dir(tfds_data_dir: str | None) -> str | None:
    """Returns the tfds data directory to use (argument, then env TFDS_DATA_DIR, then tfds' default)."""
    return tfds_data_dir or os.environ.get("TFDS_DATA_DIR") or None


def _short(e: Exception) -> str:
    """First line of an exception message, so tfds' long dataset listings do not flood the error."""
    text = str(e).strip().split("\n")[0]
    return text[:300]


def _check_split(spec: SourceSpec, splits) -> None:
    """Names the valid splits when the split string uses an unknown one (e.g. "valid" for mnist).

    The split string may combine and slice splits ("train[:10%]+test"); only the names are checked.
    Unprepared datasets have no split metadata and are left to the read error below.
    """
    known = sorted(splits.keys()) if splits else []
    names = {re.sub(r"\[.*\]$", "", part).strip() for part in spec.split.split("+")}
    unknown = sorted(n for n in names if n not in known and n != "all")  # tfds' "all" joins every split
    if known and unknown:
        raise DataError(
            f"source {spec.raw!r}: unknown split {', '.join(map(repr, unknown))} of tfds dataset {spec.name!r}; "
            f"valid splits are {', '.join(known)} (slices such as train[:10%] work too)"
        )


def tfds_builder(spec: SourceSpec, tfds_data_dir: str | None = None):
    """The builder of a prepared tfds dataset (a registered one, or one written by dataset_tool.py: tfds finds
    those from their files in data_dir), with an image feature."""
    import tensorflow_datasets as tfds  # slow import (~seconds); only paid when a tfds source is used

    try:
        builder = tfds.builder(spec.name, data_dir=_data_dir(tfds_data_dir))
    except Exception as e:  # tfds raises several unrelated types here (DatasetNotFoundError, KeyError, ...)
        raise DataError(
            f"source {spec.raw!r}: tfds cannot find dataset {spec.name!r} in "
            f"{_data_dir(tfds_data_dir) or 'the default tfds data_dir'} ({_short(e)}); check the name and "
            "data.tfds_data_dir"
        ) from e
    features = builder.info.features
    if "image" not in features.keys():
        raise DataError(
            f"source {spec.raw!r}: tfds dataset {spec.name!r} has no 'image' feature (features: "
            f"{', '.join(features.keys())}); use an image dataset"
        )
    _check_split(spec, builder.info.splits)
    return builder


def tfds_label_info(spec: SourceSpec, builder) -> LabelInfo:
    """Classes of the dataset's ``label`` feature (a ClassLabel); refuses a dataset without one."""
    feature = builder.info.features["label"] if "label" in builder.info.features.keys() else None
    names = getattr(feature, "names", None)
    if not names:
        raise no_labels(spec)
    return LabelInfo(len(names), tuple(names))


def open_tfds(
    spec: SourceSpec, *, shuffle_files: bool, seed: int, tfds_data_dir: str | None = None, labels: bool = False,
    input_context=None,
) -> tuple[tf.data.Dataset, int | None, int | None]:
    """Opens a prepared tfds split as a dataset of uint8 images [H, W, C] (with ``labels``: (image, label)).
    With ``input_context``, tfds reads only this input pipeline's share of the record files.

    Returns (dataset, number of examples or None if unknown, native channel count or None).
    """
    import tensorflow_datasets as tfds

    builder = tfds_builder(spec, tfds_data_dir)
    if labels:
        tfds_label_info(spec, builder)
    where = _data_dir(tfds_data_dir) or "the default tfds data_dir"
    try:
        ds = builder.as_dataset(
            split=spec.split,
            shuffle_files=shuffle_files,
            # dataset_tool writes in a chosen order (disable_shuffling): training may still read its files shuffled.
            read_config=tfds.ReadConfig(shuffle_seed=seed, input_context=input_context, enable_ordering_guard=False),
        )
    except Exception as e:  # AssertionError when not prepared, ValueError for a bad split
        raise DataError(
            f"source {spec.raw!r}: cannot read split {spec.split!r} of {spec.name!r} from {where} ({_short(e)}); "
            f"prepare it with `tfds build {spec.name} --data_dir DIR` (or dataset_tool.py) and pass "
            "data.tfds_data_dir or set TFDS_DATA_DIR"
        ) from e
    if labels:
        ds = ds.map(lambda example: (example["image"], tf.cast(example["label"], tf.int32)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        image_spec = ds.element_spec[0]
    else:
        ds = ds.map(lambda example: example["image"], num_parallel_calls=tf.data.AUTOTUNE)
        image_spec = ds.element_spec
    if image_spec.dtype != tf.uint8:
        raise DataError(f"source {spec.raw!r}: image feature has dtype {image_spec.dtype.name}, expected uint8")
    count = int(ds.cardinality())
    if count < 0:  # UNKNOWN or INFINITE cardinality: fall back on the metadata, if any
        try:
            count = int(builder.info.splits[spec.split].num_examples)
        except Exception:  # splits may be empty (e.g. under mock_data) or the split spec unparsable
            count = None
    shape = image_spec.shape
    channels = shape[-1] if shape.rank == 3 else None
    return ds, count, channels


@DATA_SOURCES.register("tfds")
class TFDSKind(SourceKind):
    """``tfds:<name>[:<split>]``: a prepared tensorflow-datasets image dataset (feature "image")."""

    shuffle_buffer_max = 10_000  # elements are decoded images, so the buffer is bounded

    def parse(self, raw, rest):
        name, _, split = rest.partition(":")
        if not name:
            raise DataError(f"source {raw!r}: missing dataset name; use tfds:<name>[:<split>], e.g. tfds:mnist:train")
        return SourceSpec("tfds", raw, name=name.strip(), split=split.strip() or "train")

    def open(self, spec, *, subset, skip_bad, shuffle, seed, tfds_data_dir, labels=False, input_context=None):
        # Without a subset, shuffling files adds variety; with one, files keep order so "first N" is stable.
        ds, count, _ = open_tfds(spec, shuffle_files=shuffle and not subset, seed=seed, tfds_data_dir=tfds_data_dir,
                                 labels=labels, input_context=None if subset else input_context)
        if subset:
            check_subset(subset, count, spec)
            ds, count = ds.take(subset), subset
        return ds, (lambda x: x), count

    def count(self, spec, tfds_data_dir=None):
        return open_tfds(spec, shuffle_files=False, seed=0, tfds_data_dir=tfds_data_dir)[1]

    def label_info(self, spec, tfds_data_dir=None):
        return tfds_label_info(spec, tfds_builder(spec, tfds_data_dir))

    def class_counts(self, spec, tfds_data_dir=None, subset=0):
        """Reads the split's labels (images not decoded): one pass over the records."""
        import tensorflow_datasets as tfds

        builder = tfds_builder(spec, tfds_data_dir)
        info = tfds_label_info(spec, builder)
        ds = builder.as_dataset(split=spec.split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()},
                                read_config=tfds.ReadConfig(enable_ordering_guard=False))
        ds = ds.take(subset) if subset else ds
        counts = np.zeros(info.num_classes, np.int64)
        for labels in ds.map(lambda example: example["label"]).batch(65536).as_numpy_iterator():
            counts += np.bincount(labels, minlength=info.num_classes)[:info.num_classes]
        return counts

    def file_shards(self, spec, tfds_data_dir=None):
        """Record files of the split (0 for a sliced or combined split: tfds cannot split those by file)."""
        info = tfds_builder(spec, tfds_data_dir).info.splits
        try:
            return int(info[spec.split].num_shards) if spec.split in info.keys() else 0
        except Exception:  # splits without shard metadata
            return 0
