"""Turning image batches into PNG grids a person can look at."""

import math
import os

import numpy as np
import tensorflow as tf


def to_uint8(images):
    """[-1, 1] float -> uint8 [0, 255], rounding as NVlabs does (x * 127.5 + 128, clipped)."""
    x = np.asarray(images, dtype=np.float32) * 127.5 + 128.0
    return np.clip(x, 0, 255).astype(np.uint8)


def make_grid(images, cols=None):
    """uint8 [N, H, W, C] -> one uint8 [rows*H, cols*W, C] image (missing cells stay black)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), dtype=images.dtype)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = img
    return grid


def save_png(path, image):
    """Writes a uint8 [H, W, C] array as PNG (tf.io, so gs:// paths work too)."""
    parent = os.path.dirname(path)  # works for gs://bucket/dir/x.png too
    if parent:
        tf.io.gfile.makedirs(parent)
    tf.io.write_file(path, tf.io.encode_png(np.asarray(image, dtype=np.uint8)))


def save_grid(path, images, cols=None):
    """Saves float images in [-1, 1] (NHWC) as one PNG grid."""
    save_png(path, make_grid(to_uint8(images), cols))
