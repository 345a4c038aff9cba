"""Makes keras_attngan/data/embedded/fashion_mnist_5k.npz from Debian's Fashion-MNIST idx files.

    python -m keras_attngan.data.make_embedded [--source-dir DIR] [--count 5000] [--out PATH]

Takes the FIRST `count` images of the training split (not a random sample: "train[:5000]" is easy to
reproduce and is the real-image set the FID protocol in the project notes uses) with their labels, and
writes them as key x (uint8 [N, 28, 28]) and y (uint8 [N]). The zip is written at deflate level 9
(np.savez_compressed uses the default level 6), saving ~20 KB; np.load reads it like any npz.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import zipfile

import numpy as np

from keras_attngan.data.arrays import EMBEDDED_FILE, read_idx_images
from keras_attngan.data.sources import FASHION_MNIST_DIR, DataError

IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte data, 1 dimension
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded", EMBEDDED_FILE)


def read_idx_labels(path: str) -> np.ndarray:
    """Reads an idx1 label file (8-byte header: magic 2049, N), gzipped or not, into uint8 [N]."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 8:
        raise DataError(f"idx label file {path} is corrupt: shorter than its 8-byte header")
    magic, n = (int(v) for v in np.frombuffer(data, dtype=">u4", count=2))
    if magic != IDX_LABELS_MAGIC or len(data) != 8 + n:
        raise DataError(f"idx label file {path} is corrupt: magic {magic}, {len(data)} bytes for {n} labels")
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def write_npz(path: str, arrays: dict) -> None:
    """Writes arrays into a standard, reproducible .npz zip at deflate level 9 (smaller than np.savez_compressed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(value), allow_pickle=False)
            # A fixed timestamp makes the file byte-for-byte reproducible, so re-running shows no git diff.
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def make_embedded(source_dir: str = FASHION_MNIST_DIR, count: int = 5000, out: str = DEFAULT_OUT) -> str:
    """Writes the first `count` Fashion-MNIST training images and labels to `out`; returns the path."""
    images = read_idx_images(os.path.join(source_dir, "train-images-idx3-ubyte.gz"))[..., 0]
    labels = read_idx_labels(os.path.join(source_dir, "train-labels-idx1-ubyte.gz"))
    if len(labels) != len(images) or count > len(images):
        raise DataError(f"{source_dir}: {len(images)} images, {len(labels)} labels; cannot take {count}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_npz(out, {"x": images[:count], "y": labels[:count]})
    return out


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-dir", default=FASHION_MNIST_DIR, help="directory with Debian's idx .gz files")
    parser.add_argument("--count", type=int, default=5000, help="number of leading training images to keep")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args()
    path = make_embedded(args.source_dir, args.count, args.out)
    print(f"wrote {path}: {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
