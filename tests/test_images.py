"""PNG grids (keras_attngan/utils/images.py): rounding, layout, a lossless round trip, and no stray folders."""

import os

import numpy as np
import tensorflow as tf

from keras_attngan.utils.images import make_grid, save_grid, to_uint8


def test_to_uint8_rounds_as_nvlabs():
    x = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), np.clip(np.floor(x * 127.5 + 128), 0, 255).astype(np.uint8))


def test_grid_layout_and_lossless_round_trip(tmp_path, monkeypatch):
    images = np.random.RandomState(0).uniform(-1, 1, (5, 4, 6, 3)).astype(np.float32)
    grid = make_grid(to_uint8(images), cols=2)
    assert grid.shape == (3 * 4, 2 * 6, 3)
    np.testing.assert_array_equal(grid[4:8, 6:12], to_uint8(images[3]))  # row 1, column 1
    assert not grid[8:, 6:].any()  # the missing sixth cell stays black
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    path = str(tmp_path / "new" / "dir" / "g.png")  # absolute, parents missing
    save_grid(path, images, cols=2)
    decoded = tf.io.decode_png(tf.io.read_file(path)).numpy()
    np.testing.assert_array_equal(decoded, grid)
    assert os.listdir(".") == []  # nothing created relative to the working directory
