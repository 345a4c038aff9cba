"""Readers for sources that fit in memory as one uint8 array [N, H, W, C]: embedded, idx files, npz.

All readers return C-contiguous uint8 arrays with an explicit channel axis (1, 3 or 4), and report bad
files with a DataError naming the file and the fix. Only numpy and the standard library are used.
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import zipfile
import zlib

import numpy as np

from keras_attngan.data.sources import (FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, DataError, SourceKind, SourceSpec,
                                        check_labels, no_labels, parse_fashion_mnist, parse_npz)
from keras_attngan.registry import DATA_SOURCES

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte data, 3 dimensions
IDX_HEADER_BYTES = 16
EMBEDDED_FILE = "fashion_mnist_5k.npz"
NPZ_KEYS = ("x", "images", "arr_0")
NPZ_LABEL_KEYS = ("y", "labels")  # optional integer labels [N]; optional "class_names" [K] strings
_IDX_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
_IDX_LABEL_FILES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte data, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK"  # local file header PK\x03\x04, or PK\x05\x06 for an archive with no arrays
_NPY_MAGIC = b"\x93NUMPY"
EXPECTED_IMAGES = "uint8 images [N, H, W] or [N, H, W, 1|3|4]"


def parse_idx_images(data: bytes, name: str) -> np.ndarray:
    """Parses raw (already decompressed) idx3 image bytes into uint8 [N, rows, cols, 1].

    The header is four big-endian uint32: magic 2051, N, rows, cols. Sizes are checked against the
    payload length so a truncated or padded file is rejected rather than silently reshaped.
    """
    fix = "re-download or reinstall it (apt-get install --reinstall dataset-fashion-mnist)"
    if len(data) < IDX_HEADER_BYTES:
        raise DataError(f"idx file {name} is corrupt: {len(data)} bytes, shorter than the 16-byte header; {fix}")
    magic, n, rows, cols = (int(v) for v in np.frombuffer(data, dtype=">u4", count=4))
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(
            f"idx file {name} is corrupt: magic number {magic}, expected {IDX_IMAGES_MAGIC} (images); {fix}"
        )
    if n == 0 or rows == 0 or cols == 0:
        raise DataError(f"idx file {name} is corrupt: header says {n} images of {rows}x{cols}; {fix}")
    expected = IDX_HEADER_BYTES + n * rows * cols
    if len(data) != expected:
        raise DataError(
            f"idx file {name} is corrupt or truncated: {len(data)} bytes, header ({n} images of {rows}x{cols}) "
            f"implies {expected}; {fix}"
        )
    images = np.frombuffer(data, dtype=np.uint8, offset=IDX_HEADER_BYTES)
    return images.reshape(n, rows, cols, 1)


def _read_idx_bytes(path: str) -> bytes:
    """The decompressed bytes of an idx file, gzipped or not (detected by content, not by the file name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"cannot read idx file {path}: {e.strerror or e}; check the path and permissions") from e
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(
                f"idx file {path} is a corrupt or truncated gzip ({e}); re-download or reinstall it"
            ) from e
    return data


def read_idx_images(path: str) -> np.ndarray:
    """Reads an idx3 image file, gzipped or not."""
    return parse_idx_images(_read_idx_bytes(path), path)


def read_idx_labels(path: str) -> np.ndarray:
    """Reads an idx1 label file (magic 2049, N, then N uint8 labels), gzipped or not, into int64 [N]."""
    data = _read_idx_bytes(path)
    magic, n = (int(v) for v in np.frombuffer(data[:8], dtype=">u4")) if len(data) >= 8 else (0, 0)
    if magic != IDX_LABELS_MAGIC or len(data) != 8 + n:
        raise DataError(f"idx file {path} is not a valid label file (magic {magic}, {len(data)} bytes for {n} "
                        "labels); re-download or reinstall it")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def load_fashion_mnist_labelled(directory: str, split: str) -> tuple:
    """(uint8 images [N, 28, 28, 1], int64 labels [N]) of split train or test, from the idx files."""
    images = load_fashion_mnist(directory, split)
    labels = read_idx_labels(_find_idx_file(directory, split, _IDX_LABEL_FILES))
    if len(labels) != len(images):
        raise DataError(f"fashion_mnist: {len(images)} {split} images but {len(labels)} labels in {directory}")
    return images, labels


def _find_idx_file(directory: str, split: str, files: dict = _IDX_FILES) -> str:
    """Returns the path of the idx image (or label) file for `split` in `directory`, preferring the .gz form."""
    base = files[split]
    for candidate in (base + ".gz", base):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    hint = (
        "install it with `apt-get install dataset-fashion-mnist`"
        if os.path.abspath(directory) == FASHION_MNIST_DIR
        else "point fashion_mnist:/dir at a directory holding the idx files"
    )
    raise DataError(f"fashion_mnist: no {base}[.gz] found in {directory}; {hint}")


def load_fashion_mnist(directory: str, split: str) -> np.ndarray:
    """Loads Fashion-MNIST images for split train (60k), test (10k) or all (train then test)."""
    if not os.path.isdir(directory):
        raise DataError(
            f"fashion_mnist: directory {directory} does not exist; install it with "
            "`apt-get install dataset-fashion-mnist` or give fashion_mnist:/dir"
        )
    splits = ("train", "test") if split == "all" else (split,)
    arrays = [read_idx_images(_find_idx_file(directory, s)) for s in splits]
    if len(arrays) > 1 and len({a.shape[1:] for a in arrays}) > 1:
        raise DataError(f"fashion_mnist: train and test images in {directory} have different sizes; check the files")
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)


def check_image_array(x: np.ndarray, name: str, key: str = "") -> np.ndarray:
    """Validates an image array and returns it as uint8 [N, H, W, C], C in {1, 3, 4}.

    Only uint8 is accepted: float data has no single obvious scale ([0, 1], [-1, 1] or [0, 255]), and
    guessing wrong would train silently on the wrong range.
    """
    where = f"{name} (key {key!r})" if key else name
    if x.dtype != np.uint8:
        raise DataError(
            f"npz {where}: dtype {x.dtype}, expected uint8 in 0..255; convert first, e.g. "
            "np.clip(np.round(x * 255), 0, 255).astype(np.uint8) for floats in [0, 1]"
        )
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or min(x.shape[:3]) == 0:
        raise DataError(
            f"npz {where}: shape {x.shape}, expected [N, H, W], [N, H, W, 1], [N, H, W, 3] or [N, H, W, 4] "
            "with N, H, W > 0; reshape/transpose it to NHWC"
        )
    return np.ascontiguousarray(x)


def _check_npz_container(path: str) -> None:
    """Rejects files that are not zip archives before np.load, which would misreport them.

    np.load treats any non-zip, non-npy bytes as a pickle and, with allow_pickle=False, blames
    "pickled (object) data"; a real .npy file would come back as a bare array instead of an archive.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as e:
        raise DataError(f"cannot read npz {path}: {e.strerror or e}; check the path and permissions") from e
    if head.startswith(_NPY_MAGIC):
        raise DataError(
            f"npz {path}: cannot read it, it is a single .npy array, not an npz archive; "
            "re-save it with np.savez(path, x=images)"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise DataError(
            f"npz {path}: cannot read it, it is not an npz (zip) archive; expected {EXPECTED_IMAGES} "
            f"under key {'/'.join(NPZ_KEYS)}; "
            "re-create it with np.savez(path, x=images)"
        )


def load_npz(path: str) -> np.ndarray:
    """Loads the image array of an .npz file from the first present key of x / images / arr_0."""
    _check_npz_container(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            key = next((k for k in NPZ_KEYS if k in keys), None)
            if key is None:
                raise DataError(
                    f"npz {path}: no array under keys {'/'.join(NPZ_KEYS)} (found: {', '.join(keys) or 'none'}); "
                    f"expected {EXPECTED_IMAGES}; save the images with np.savez(path, x=images)"
                )
            x = npz[key]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"npz {path}: cannot read it ({type(e).__name__}: {e}); re-create the file") from e
    return check_image_array(x, path, key)


def load_npz_labels(path: str, spec: SourceSpec, names=None):
    """(int64 labels [N], LabelInfo) from an npz's ``y``/``labels`` array (and its ``class_names``, if any)."""
    count = len(load_npz(path))
    with np.load(path, allow_pickle=False) as npz:
        key = next((k for k in NPZ_LABEL_KEYS if k in npz.files), None)
        if key is None:
            raise no_labels(spec)
        labels = npz[key]
        if names is None and "class_names" in npz.files:
            names = [str(n) for n in npz["class_names"]]
    return check_labels(labels, count, f"npz {path} (key {key!r})", names)


def _embedded_path():
    resource = importlib.resources.files("keras_attngan.data").joinpath("embedded", EMBEDDED_FILE)
    with importlib.resources.as_file(resource) as path:
        if not os.path.isfile(path):
            raise DataError(
                f"embedded dataset {path} is missing from the package; reinstall keras-attngan or "
                "re-create it with `python -m keras_attngan.data.make_embedded`"
            )
        return str(path)


def load_embedded() -> np.ndarray:
    """Loads the 5,000 Fashion-MNIST images shipped in keras_attngan/data/embedded (no network needed)."""
    return load_npz(_embedded_path())


def load_array_source(spec: SourceSpec) -> np.ndarray:
    """Reads any in-memory source (embedded, fashion_mnist, npz) into uint8 [N, H, W, C]."""
    kind = spec.reader
    if not kind.in_memory:
        raise ValueError(f"load_array_source: {spec.kind!r} is not an in-memory source")
    return kind.load_array(spec)


class ArrayKind(SourceKind):
    """A source read whole into one uint8 array."""

    in_memory = True

    def count(self, spec, tfds_data_dir=None):
        return len(self.load_array(spec))


@DATA_SOURCES.register("embedded")
class EmbeddedKind(ArrayKind):
    """``embedded``: the 5,000 Fashion-MNIST images shipped in the package."""

    bare = True

    def parse(self, raw, rest):
        if rest:
            raise DataError(f"source {raw!r}: 'embedded' takes no argument; use data.source=embedded")
        return SourceSpec("embedded", raw)

    def load_array(self, spec):
        return load_embedded()

    def load_labels(self, spec):
        return load_npz_labels(_embedded_path(), spec, FASHION_MNIST_CLASSES)


@DATA_SOURCES.register("fashion_mnist")
class FashionMNISTKind(ArrayKind):
    """``fashion_mnist[:split]`` / ``fashion_mnist:/dir[:split]``: Fashion-MNIST idx files."""

    bare = True

    def parse(self, raw, rest):
        return parse_fashion_mnist(raw, rest)

    def load_array(self, spec):
        return load_fashion_mnist(spec.path, spec.split)

    def load_labels(self, spec):
        splits = ("train", "test") if spec.split == "all" else (spec.split,)
        labels = np.concatenate([read_idx_labels(_find_idx_file(spec.path, s, _IDX_LABEL_FILES)) for s in splits])
        return check_labels(labels, len(self.load_array(spec)), f"fashion_mnist labels in {spec.path}",
                            FASHION_MNIST_CLASSES)


@DATA_SOURCES.register("npz")
class NpzKind(ArrayKind):
    """``npz:<path>`` (or a path ending in .npz): a uint8 array."""

    def parse(self, raw, rest):
        return parse_npz(raw, rest)

    def load_array(self, spec):
        return load_npz(spec.path)

    def load_labels(self, spec):
        return load_npz_labels(spec.path, spec)
