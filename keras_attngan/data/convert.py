"""What ``dataset_tool.py`` reads: any image source, as a stream of images already at the training resolution.

Sources: an image folder (recursive) or a zip of images, labelled by their first-level sub-folders or by a
``dataset.json`` of ``[file, label]`` pairs as NVlabs' ``dataset_tool.py`` writes it; an npz (``x`` plus
optional ``y``); Debian's Fashion-MNIST idx files (with their labels); an existing TFDS dataset (its
``label`` feature). Every image goes through the training pipeline's own conversion
(:func:`keras_attngan.data.pipeline.prepare_image`: channels, then crop / pad / resize), decoded by TF on all
cores, so a dataset written at the training resolution trains exactly as its source would have.
Paths go through ``tf.io.gfile``: ``gs://bucket/photos`` works where TensorFlow can reach the bucket.
"""

from __future__ import annotations

import dataclasses
import io
import json
import posixpath
import zipfile

import numpy as np
import tensorflow as tf

from keras_attngan.data.folder import IMAGE_EXTENSIONS, decode_error, decode_image_bytes, list_image_files
from keras_attngan.data.pipeline import prepare_image
from keras_attngan.data.sources import DataError, LabelInfo, check_labels, parse_source

LABEL_MODES = ("auto", "folders", "json", "none")


@dataclasses.dataclass
class Collected:
    """A source's items before decoding: ``items`` (file paths, zip member names, or the index into
    ``arrays``), labels (int64 [N] or None) and the classes."""

    kind: str                 # "files", "zip", "array" or "tfds"
    items: list
    labels: np.ndarray | None
    classes: LabelInfo | None
    where: str
    array: np.ndarray | None = None
    tfds: object = None       # (spec, data_dir) of a tfds source


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _read_json(text: str, where: str):
    try:
        data = json.loads(text)
    except ValueError as e:
        raise DataError(f"{where} is not valid JSON ({e}); write it as {{\"labels\": [[file, label], ...]}}") from e
    pairs = data.get("labels") if isinstance(data, dict) else data
    if pairs is None:
        return None  # NVlabs' tool writes "labels": null for an unlabelled dataset
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise DataError(f"{where}: expected {{\"labels\": [[file, label], ...]}} (NVlabs' format); fix the file")
    for name, label in pairs:
        if not isinstance(label, int) or isinstance(label, bool):
            raise DataError(f"{where}: label {label!r} of {name} is not an integer; class ids are 0, 1, 2, ...")
    return {str(name).replace("\\", "/"): label for name, label in pairs}


def _labels_for(names: list[str], mode: str, where: str, json_text: str | None):
    """(names kept, labels or None, LabelInfo or None) for the image names of a folder or zip."""
    if mode not in LABEL_MODES:
        raise DataError(f"--labels={mode!r} must be one of {', '.join(LABEL_MODES)}")
    if mode == "json" and json_text is None:
        raise DataError(f"--labels=json but {where} has no dataset.json; add one or pass --labels=folders|none")
    if mode in ("json", "auto") and json_text is not None:
        table = _read_json(json_text, f"{where}/dataset.json")
        if table is None:
            return names, None, None
        missing = sorted(set(table) - set(names))
        if missing:
            raise DataError(f"{where}/dataset.json names {len(missing)} file(s) that are not images in {where} (first: "
                            f"{missing[0]}); fix dataset.json or add the files")
        unlabelled = [n for n in names if n not in table]
        if unlabelled:
            raise DataError(f"{where}: {len(unlabelled)} image(s) have no label in dataset.json (first: "
                            f"{unlabelled[0]}); label every image or remove it")
        labels, info = check_labels(np.array([table[n] for n in names], np.int64), len(names), f"{where}/dataset.json")
        return names, labels, info
    top = [n for n in names if "/" not in n]
    folders = sorted({n.split("/")[0] for n in names if "/" in n})
    if mode == "none" or (mode == "auto" and (not folders or len(folders) < 2 and not top)):
        return names, None, None
    if top:
        raise DataError(f"{where} mixes loose images ({len(top)}, first: {top[0]}) with class sub-folders "
                        f"({', '.join(folders[:3])}...): move the loose images into a class folder, or pass "
                        "--labels=none to ignore the folders")
    ids = {name: i for i, name in enumerate(folders)}
    labels = np.array([ids[n.split("/")[0]] for n in names], np.int64)
    return names, labels, LabelInfo(len(folders), tuple(folders))


def collect(source: str, label_mode: str = "auto", tfds_data_dir: str | None = None) -> Collected:
    """Lists a source's images (nothing decoded yet) and their labels; a bad source is one DataError line."""
    path = source[len("zip:"):] if source.startswith("zip:") else source
    if source.startswith("zip:") or source.lower().endswith(".zip"):
        return _collect_zip(path, label_mode)
    root = source[len("folder:"):] if source.startswith("folder:") else source
    if "://" in root or tf.io.gfile.isdir(root):
        # The training pipeline's listing (sorted, recursive, any file system), relative to the root with '/'.
        names = [path[len(root):].lstrip("/") for path in list_image_files(root)]
        json_path = posixpath.join(root, "dataset.json")
        text = tf.io.gfile.GFile(json_path).read() if tf.io.gfile.exists(json_path) else None
        names, labels, info = _labels_for(names, label_mode, root, text)
        return Collected("files", [posixpath.join(root, n) for n in names], labels, info, root)
    spec = parse_source(source)
    if spec.kind == "tfds":
        from keras_attngan.data.tfds_source import tfds_builder, tfds_label_info

        builder = tfds_builder(spec, tfds_data_dir)
        info = None
        if label_mode != "none" and "label" in builder.info.features.keys():
            info = tfds_label_info(spec, builder)
        return Collected("tfds", [], None, info, spec.raw, tfds=(spec, tfds_data_dir))
    if spec.kind == "folder":  # a folder source that parse_source resolved (e.g. ~ or $VARS in the path)
        return collect(spec.path, label_mode)
    kind = spec.reader
    images = kind.load_array(spec)
    labels = info = None
    if label_mode != "none":
        try:
            labels, info = kind.load_labels(spec)
        except DataError:
            if label_mode in ("folders", "json"):
                raise
    return Collected("array", list(range(len(images))), labels, info, spec.raw, array=images)


def _collect_zip(path: str, label_mode: str) -> Collected:
    if not tf.io.gfile.exists(path):
        raise DataError(f"zip {path} does not exist; fix --source")
    try:
        with tf.io.gfile.GFile(path, "rb") as f, zipfile.ZipFile(io.BytesIO(f.read())) as z:
            names = sorted(n for n in z.namelist() if _is_image(n) and not n.endswith("/"))
            text = z.read("dataset.json").decode() if "dataset.json" in z.namelist() else None
    except zipfile.BadZipFile as e:
        raise DataError(f"zip {path} is corrupt or not a zip ({e}); re-create it") from e
    if not names:
        raise DataError(f"no png/jpg images in zip {path}; add images or fix --source")
    names, labels, info = _labels_for(names, label_mode, path, text)
    return Collected("zip", names, labels, info, path)


def order(c: Collected, max_images: int = 0, shuffle_seed: int = -1) -> np.ndarray:
    """Indices of the items to write: all, or a seeded permutation (``shuffle_seed`` >= 0), cut at ``max_images``."""
    n = len(c.items)
    index = np.random.RandomState(shuffle_seed).permutation(n) if shuffle_seed >= 0 else np.arange(n)
    return index[:max_images] if max_images else index


def _zip_bytes(path: str, names):
    """Member bytes of a zip, in order (the archive is read once, then its members one by one)."""
    with tf.io.gfile.GFile(path, "rb") as f, zipfile.ZipFile(io.BytesIO(f.read())) as z:
        for name in names:
            yield z.read(name)


def images(c: Collected, index: np.ndarray, resolution: int, channels: int, fit: str, max_images: int = 0,
           shuffle_seed: int = -1):
    """tf.data of (position, uint8 image [resolution, resolution, channels], label, converted) in order; a file
    that does not decode is dropped (its position is missing: the writer names it and skips or stops)."""
    labels = np.full(len(c.items), -1, np.int64) if c.labels is None else c.labels
    if c.kind == "tfds":
        from keras_attngan.data.tfds_source import open_tfds

        spec, data_dir = c.tfds
        ds, _, _ = open_tfds(spec, shuffle_files=False, seed=0, tfds_data_dir=data_dir, labels=c.classes is not None)
        if c.classes is None:
            ds = ds.map(lambda x: (x, tf.constant(-1, tf.int32)))
        if shuffle_seed >= 0:
            ds = ds.shuffle(10_000, seed=shuffle_seed, reshuffle_each_iteration=False)
        raw = ds.take(max_images) if max_images else ds
        raw = raw.enumerate().map(lambda i, e: (i, e[0], tf.cast(e[1], tf.int64)))
    elif c.kind == "array":
        raw = tf.data.Dataset.from_tensor_slices((tf.range(len(index), dtype=tf.int64), c.array[index], labels[index]))
    else:
        positions = tf.data.Dataset.range(len(index))
        if c.kind == "files":
            encoded = tf.data.Dataset.from_tensor_slices([c.items[i] for i in index]).map(tf.io.read_file)
        else:  # zip members, read in Python (zipfile), decoded by TF like files
            encoded = tf.data.Dataset.from_generator(lambda: _zip_bytes(c.where, [c.items[i] for i in index]),
                                                     output_signature=tf.TensorSpec([], tf.string))
        raw = tf.data.Dataset.zip((positions, encoded, tf.data.Dataset.from_tensor_slices(labels[index])))
        raw = raw.map(lambda i, data, y: (i, decode_image_bytes(data), y), num_parallel_calls=tf.data.AUTOTUNE)

    def convert(i, image, y):
        shape = tf.shape(image)
        changed = tf.reduce_any(tf.not_equal(shape, [resolution, resolution, channels]))
        x = prepare_image(image, resolution, channels, fit)
        return i, tf.cast(tf.round((x + 1.0) * 127.5), tf.uint8), y, changed

    return raw.map(convert, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors().prefetch(64)


def bad_item(c: Collected, position: int, index: np.ndarray) -> str:
    """The name of the item at ``position`` (that failed to decode), for the error line or the skip count."""
    if c.kind == "zip":
        return f"{c.where}:{c.items[index[position]]}"
    return c.items[index[position]] if c.kind == "files" else f"{c.where} image {position}"


def decode_reason(c: Collected, name: str) -> str:
    """Why one file does not decode (TF's message, one line)."""
    return decode_error(name) if c.kind == "files" else "not a decodable png/jpg"

