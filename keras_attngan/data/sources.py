"""Parsing of data source strings, and the interface of a kind of source.

Each kind registers a :class:`SourceKind` in :data:`keras_attngan.registry.DATA_SOURCES` under its prefix
where it is read (``arrays``: embedded, fashion_mnist, npz; ``folder``; ``tfds_source``); ``<kind>:<rest>``
goes to that kind's ``parse``, and bare paths are recognised here. A source string names where training
images come from. Accepted forms:

  embedded                         5,000 Fashion-MNIST images shipped in the package (default)
  fashion_mnist[:train|test|all]   Debian's idx files in /usr/share/datasets/fashion-mnist
  fashion_mnist:/dir[:split]       a directory holding the same idx files (gzipped or not)
  tfds:<name>[:<split>]            any tensorflow-datasets image dataset (feature "image")
  folder:<path> or <existing dir>  png/jpg/jpeg files found recursively
  npz:<path> or <path>.npz         uint8 array under key x / images / arr_0
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from keras_attngan.registry import DATA_SOURCES

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
# How an image becomes a square of the resolution (pipeline.fit_square): center-crop to a square, then resize;
# center-crop to a square, then pad a smaller one; or cut the resolution's window from the center (pad if smaller).
FITS = ("resize", "pad", "crop")
FASHION_MNIST_SPLITS = ("train", "test", "all")

ACCEPTED_FORMS = (
    "embedded | fashion_mnist[:train|test|all] | fashion_mnist:/dir[:split] | tfds:<name>[:<split>] | "
    "folder:<path> | <existing dir> | npz:<path> | <path>.npz"
)


class DataError(ValueError):
    """A problem with the training data, reported in one line naming the source/file and the fix.

    Line breaks (e.g. from a wrapped library message) are folded into spaces here, so every DataError
    prints as the single `error:` line the command-line entry points show.
    """

    def __init__(self, message: str):
        super().__init__(re.sub(r"\s*\n\s*", " ", str(message)).strip())


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A parsed source string.

    kind is one of "embedded", "fashion_mnist", "tfds", "folder", "npz"; `path` is the directory or file
    (fashion_mnist, folder, npz), `name` the tfds dataset name and `split` the split (fashion_mnist, tfds).
    """

    kind: str
    raw: str
    path: str = ""
    name: str = ""
    split: str = ""

    @property
    def in_memory(self) -> bool:
        """True for sources that are read into one numpy array (cheap to count and to load whole)."""
        return DATA_SOURCES.get(self.kind).in_memory

    @property
    def reader(self) -> "SourceKind":
        """The registered kind that reads this source."""
        return DATA_SOURCES.get(self.kind)()


FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
LABELLED_FORMS = ("fashion_mnist, embedded, an npz with a 'y' array, tfds:<name> with a 'label' feature, or a "
                  "dataset written by dataset_tool.py (which takes labels from class sub-folders or dataset.json)")


@dataclasses.dataclass(frozen=True)
class LabelInfo:
    """The classes of a labelled source: labels are ints in [0, num_classes), named by ``class_names``."""

    num_classes: int
    class_names: tuple


def no_labels(spec: SourceSpec) -> DataError:
    """The one-line refusal of ``data.labels=True`` for a source without labels."""
    return DataError(f"source {spec.raw!r} has no labels, so data.labels=True cannot be honoured: use a labelled "
                     f"source ({LABELLED_FORMS}) or set data.labels=False")


def check_labels(labels, count: int, where: str, names=None):
    """Validates integer labels [count] (>= 0); returns (int64 labels, LabelInfo)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.shape != (count,):
        raise DataError(f"{where}: labels must be {count} integers (one per image), got dtype {labels.dtype} and "
                        f"shape {labels.shape}; store integer class ids")
    if count and labels.min() < 0:
        raise DataError(f"{where}: label {int(labels.min())} is negative; class ids are 0, 1, 2, ...")
    num = max(int(labels.max()) + 1 if count else 0, len(names or ()))
    names = tuple(str(n) for n in names) if names is not None else tuple(str(i) for i in range(num))
    if len(names) < num:
        raise DataError(f"{where}: label {num - 1} has no class name ({len(names)} names); name every class")
    return labels.astype(np.int64), LabelInfo(num, names)


class SourceKind:
    """What the input pipeline asks of a kind of source (the class is registered; it holds no state, so an
    instance is made where one is needed).

    In-memory kinds implement ``load_array``; the others ``open`` (items, decode fn, count) and ``count``."""

    in_memory = False
    bare = False  # accepts the bare prefix without ":<rest>" (embedded, fashion_mnist)
    shuffle_buffer_max = None  # cap of the shuffle buffer (tfds elements are decoded images); None: all items

    def parse(self, raw: str, rest: str) -> SourceSpec:
        """The spec of ``<prefix>:<rest>`` (``rest`` without the prefix)."""
        raise NotImplementedError

    def load_array(self, spec: SourceSpec):
        """In-memory kinds: uint8 [N, H, W, C]."""
        raise NotImplementedError

    def load_labels(self, spec: SourceSpec):
        """In-memory kinds with labels: (int64 labels [N], :class:`LabelInfo`); others refuse in one line."""
        raise no_labels(spec)

    def open(self, spec: SourceSpec, *, subset: int, skip_bad: bool, shuffle: bool, seed: int, tfds_data_dir,
             labels: bool = False, input_context=None):
        """Other kinds: (dataset of small items, decode fn item -> uint8 image, item count or None); with
        ``labels``, the items are (item, int label) pairs. ``input_context`` (a ``tf.distribute.InputContext``)
        asks a sharded kind to read only this input pipeline's files (:meth:`file_shards`)."""
        raise NotImplementedError

    def label_info(self, spec: SourceSpec, tfds_data_dir=None) -> LabelInfo:
        """The classes of a labelled source (refuses a source without labels in one line)."""
        if self.in_memory:
            return self.load_labels(spec)[1]
        raise no_labels(spec)

    def class_counts(self, spec: SourceSpec, tfds_data_dir=None, subset: int = 0):
        """Images per class [num_classes] (of the first ``subset`` images when > 0) of a labelled source."""
        if not self.in_memory:
            raise no_labels(spec)
        labels, info = self.load_labels(spec)
        labels = labels[:subset] if subset else labels
        return np.bincount(labels, minlength=info.num_classes)

    def file_shards(self, spec: SourceSpec, tfds_data_dir=None) -> int:
        """How many files the source is sharded into (0: not readable by file, e.g. arrays, folders)."""
        return 0

    def count(self, spec: SourceSpec, tfds_data_dir=None):
        """Number of images (None when unknown), cheaply."""
        raise NotImplementedError


def _expand(path: str) -> str:
    """Expands ~ and environment variables so config files can use them (not in gs://... URIs)."""
    return path if "://" in path else os.path.expandvars(os.path.expanduser(path))


def parse_fashion_mnist(raw: str, rest: str) -> SourceSpec:
    """Parses the part after "fashion_mnist:" into a directory and a split."""
    if not rest:
        return SourceSpec("fashion_mnist", raw, path=FASHION_MNIST_DIR, split="train")
    if rest in FASHION_MNIST_SPLITS:
        return SourceSpec("fashion_mnist", raw, path=FASHION_MNIST_DIR, split=rest)
    # A directory, optionally followed by ":split". rpartition keeps colons inside the path intact.
    head, sep, tail = rest.rpartition(":")
    if sep and tail in FASHION_MNIST_SPLITS:
        return SourceSpec("fashion_mnist", raw, path=_expand(head), split=tail)
    bad_split = tail or rest  # without a colon, tail is the whole rest
    # "fashion_mnist:valid" is a misspelt split, not a directory called "valid": say so, not "does not exist".
    if not os.path.isdir(_expand(rest)) and (sep and tail or not _looks_like_path(rest)):
        raise DataError(
            f"source {raw!r}: unknown fashion_mnist split {bad_split!r} (and no such directory); valid splits are "
            f"{', '.join(FASHION_MNIST_SPLITS)} (e.g. fashion_mnist:test or fashion_mnist:/dir:test)"
        )
    return SourceSpec("fashion_mnist", raw, path=_expand(rest), split="train")


def _unsupported_file(path: str) -> str:
    """Why an existing non-npz file is not a source, with the conversion that fixes it (for the error)."""
    if path.lower().endswith(".npy"):
        return (
            "is a .npy file, which is not supported; save it as npz, e.g. np.savez('x.npz', x=np.load('x.npy')) "
            f"(accepted forms: {ACCEPTED_FORMS})"
        )
    return (
        "is not a supported format (a single-file source must be .npz; put image files in a folder); "
        f"accepted forms: {ACCEPTED_FORMS}"
    )


def _looks_like_path(text: str) -> bool:
    """Guesses whether an unknown string was meant as a file system path (for a better error)."""
    return os.sep in text or text.startswith((".", "~", "$"))


def parse_source(source: str) -> SourceSpec:
    """Parses a source string into a SourceSpec; raises DataError for unknown forms or missing paths.

    Only the form is checked here (plus existence of plain paths, since that is how they are recognised);
    readers check the contents.
    """
    if not isinstance(source, str) or not source.strip():
        raise DataError(f"data source {source!r} is empty or not a string; accepted forms: {ACCEPTED_FORMS}")
    raw = source.strip()
    prefix, sep, rest = raw.partition(":")
    if prefix in DATA_SOURCES and (sep or DATA_SOURCES.get(prefix).bare):
        return DATA_SOURCES.get(prefix)().parse(raw, rest.strip() if sep else "")
    path = _expand(raw)
    if raw.lower().endswith(".npz"):
        return parse_npz(raw, raw)
    if is_dir(path):
        return SourceSpec("folder", raw, path=path)
    if os.path.exists(path):
        raise DataError(f"source {raw!r}: {path} exists but {_unsupported_file(path)}")
    if _looks_like_path(raw):
        raise DataError(f"source {raw!r}: path {path} does not exist; fix the path (accepted forms: {ACCEPTED_FORMS})")
    raise DataError(f"unknown data source {raw!r}; accepted forms: {ACCEPTED_FORMS}")


def is_dir(path: str) -> bool:
    """A local folder, or one on any file system TensorFlow can open (gs://bucket/photos)."""
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.isdir(path)
    return os.path.isdir(path)


def parse_folder(raw: str, rest: str) -> SourceSpec:
    path = _expand(rest)
    if not is_dir(path):
        raise DataError(f"source {raw!r}: folder {path} does not exist or is not a directory; fix the path")
    return SourceSpec("folder", raw, path=path)


def parse_npz(raw: str, rest: str) -> SourceSpec:
    path = _expand(rest)
    if not os.path.isfile(path):
        raise DataError(f"source {raw!r}: npz file {path} does not exist; fix the path")
    return SourceSpec("npz", raw, path=path)


def check_subset(subset: int, total: int | None, spec: SourceSpec) -> None:
    """Raises if subset asks for more images than the source has (unknown totals pass)."""
    if subset and total is not None and subset > total:
        raise DataError(f"subset={subset} is larger than the {total} images of {spec.raw!r}; lower data.subset")
