"""Bad data inputs give one clear DataError line (problem + fix), and nothing is skipped or repeated silently."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.data import DataError, build_dataset, parse_source
from keras_attngan.data import tfds_source

RES, CHANNELS = 8, 1


def write_pngs(folder, n, bad=0, size=8):
    """Writes n valid size x size gray pngs (distinct grey levels) and `bad` corrupt ones into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        tf.io.write_file(str(folder / f"good{i}.png"), tf.io.encode_png(np.full((size, size, 1), 10 * i, np.uint8)))
    for i in range(bad):
        (folder / f"bad{i}.png").write_bytes(b"\x89PNG but not really")
    return folder


def write_npz(path, n, **extra):
    """Saves n random 8x8 gray uint8 images under key x (plus any extra arrays); returns the path string."""
    images = np.random.default_rng(0).integers(0, 256, (n, 8, 8), dtype=np.uint8)
    np.savez(path, x=images, **extra)
    return str(path)


def bad_source(tmp_path, case):
    """Creates the bad input named `case`; returns (source, build_dataset kwargs)."""
    if case == "all_bad_skip":
        return str(write_pngs(tmp_path / "bad", 0, bad=3)), dict(skip_bad=True)
    if case == "all_bad":
        return str(write_pngs(tmp_path / "bad", 0, bad=3)), {}
    if case == "npy":
        np.save(tmp_path / "x.npy", np.zeros((4, 8, 8), np.uint8))
        return str(tmp_path / "x.npy"), {}
    if case == "npz_prefix_npy":
        np.save(tmp_path / "x.npy", np.zeros((4, 8, 8), np.uint8))
        return f"npz:{tmp_path / 'x.npy'}", {}
    if case == "other_file":
        (tmp_path / "list.txt").write_text("a.png\n")
        return str(tmp_path / "list.txt"), {}
    if case == "fm_split":
        return "fashion_mnist:valid", {}
    if case == "fm_dir_split":
        return f"fashion_mnist:{tmp_path}:valid", {}
    if case in ("garbage_npz", "empty_npz"):
        (tmp_path / "x.npz").write_bytes(os.urandom(300) if case == "garbage_npz" else b"")
        return str(tmp_path / "x.npz"), {}
    if case == "npz_no_images":
        np.savez(tmp_path / "x.npz", labels=np.arange(4))
        return str(tmp_path / "x.npz"), {}
    if case == "npz_two_channels":
        np.savez(tmp_path / "x.npz", x=np.zeros((4, 8, 8, 2), np.uint8))
        return str(tmp_path / "x.npz"), {}
    if case == "fewer_than_batch":
        return str(write_pngs(tmp_path / "three", 3)), {}
    if case == "subset_below_batch":
        return "embedded", dict(subset=3)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, words",
    [
        ("all_bad_skip", ["no readable image found under", "bad", "all 3", "skipped", "replace them"]),
        ("all_bad", ["no readable image found under", "all 3", "replace them"]),
        ("npy", ["x.npy", "is a .npy file", "not supported", "np.savez", "accepted forms"]),
        ("npz_prefix_npy", ["x.npy", "single .npy array", "np.savez"]),
        ("other_file", ["list.txt", "not a supported format", "accepted forms"]),
        ("fm_split", ["unknown fashion_mnist split 'valid'", "valid splits are train, test, all"]),
        ("fm_dir_split", ["unknown fashion_mnist split 'valid'", "valid splits are train, test, all"]),
        ("garbage_npz", ["x.npz", "not an npz (zip) archive", "uint8 images", "np.savez"]),
        ("empty_npz", ["x.npz", "not an npz (zip) archive"]),
        ("npz_no_images", ["x.npz", "no array under keys x/images/arr_0", "found: labels", "uint8 images"]),
        ("npz_two_channels", ["x.npz", "shape (4, 8, 8, 2)", "NHWC"]),
        ("fewer_than_batch", ["has 3 image(s)", "fewer than batch_size=4", "--config.train.batch_size", "at most 3"]),
        ("subset_below_batch", ["'embedded' has 3 image(s)", "batch_size=4", "raise data.subset=3"]),
    ],
)
def test_bad_input_one_line_error(tmp_path, case, words):
    """Each bad input raises a DataError whose single line names the problem and the fix."""
    source, kwargs = bad_source(tmp_path, case)
    with pytest.raises(DataError) as info:
        build_dataset(source, RES, CHANNELS, 4, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "does not exist" not in message  # the old, misleading text for existing files and bad splits


def test_tfds_unknown_split_lists_splits():
    """A tfds split name the dataset does not have lists the real ones; slices and sums of known ones pass."""
    splits = {"train": None, "test": None}
    with pytest.raises(DataError, match=r"unknown split 'valid' of tfds dataset 'mnist'; valid splits are test, train"):
        tfds_source._check_split(parse_source("tfds:mnist:valid"), splits)
    for ok in ("train[:10%]+test", "all", "test[5:]"):
        tfds_source._check_split(parse_source(f"tfds:mnist:{ok}"), splits)
    tfds_source._check_split(parse_source("tfds:mnist:anything"), {})  # unprepared: no metadata to check


def test_data_error_is_one_line():
    """Wrapped multi-line library text is folded into the single error line."""
    assert str(DataError("cannot read it (first line\n  second line)\n")) == "cannot read it (first line second line)"


def test_skip_bad_warns_once_per_build(tmp_path, capsys):
    """skip_bad prints one ``warning:`` line, however many bad files, epochs and builds there are."""
    folder = write_pngs(tmp_path / "mixed", 4, bad=3)
    ds = build_dataset(str(folder), RES, CHANNELS, 2, skip_bad=True)
    batches = [b.numpy() for b in ds.take(8)]  # 8 batches of 2 = 4 passes over the 4 good images
    build_dataset(str(folder), RES, CHANNELS, 2, skip_bad=True)  # a second build (training after the grid)
    assert all(b.shape == (2, RES, RES, CHANNELS) for b in batches)
    out = capsys.readouterr()
    skipped = [line for line in out.out.splitlines() if "unreadable images" in line]
    assert len(skipped) == 1 and skipped[0].startswith("warning: skipped 3 unreadable images under")
    assert "bad0.png" in skipped[0] and "unreadable" not in out.err


def test_small_source_rule(tmp_path, capsys):
    """Fewer images than one batch: refused; fewer than 10 batches: one warning; finite reads: silent."""
    def warnings():
        """The small-source warning lines printed since the last call."""
        return [line for line in capsys.readouterr().out.splitlines() if "batches' worth" in line]

    four = write_npz(tmp_path / "four.npz", 4)
    ds = build_dataset(four, RES, CHANNELS, 4)  # exactly one batch: allowed, but warned about
    assert next(iter(ds)).shape == (4, RES, RES, CHANNELS)
    build_dataset(four, RES, CHANNELS, 4)  # built again: not warned again
    printed = warnings()
    assert len(printed) == 1 and printed[0].startswith("warning: data source")
    assert "has only 4 images for batch_size=4" in printed[0]
    build_dataset(write_npz(tmp_path / "forty.npz", 40), RES, CHANNELS, 4)  # 10 batches: no warning
    # Finite reads (evaluation, load_array) may end on a partial batch: no error, no warning.
    out = list(build_dataset(four, RES, CHANNELS, 16, repeat=False, drop_remainder=False).as_numpy_iterator())
    assert [b.shape[0] for b in out] == [4]
    assert warnings() == []
    with pytest.raises(DataError, match=r"has 4 image\(s\), fewer than batch_size=5, so drop_remainder=True leaves"):
        build_dataset(four, RES, CHANNELS, 5, repeat=False)
