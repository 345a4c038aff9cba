"""Tests for keras_attngan.data: every source form, fit/channel/flip/subset semantics and bad-input errors."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.data import DataError, build_dataset, count_images, load_array, parse_source

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


# ---------- helpers ----------


def collect(ds) -> np.ndarray:
    """Concatenates all batches of a finite dataset into one numpy array."""
    return np.concatenate(list(ds.as_numpy_iterator()))


def once(source, resolution=16, channels=1, batch_size=4, **kw):
    """Builds a finite, unshuffled dataset (so outputs line up with inputs) and returns all images."""
    kw.setdefault("shuffle", False)
    return collect(build_dataset(source, resolution, channels, batch_size, repeat=False, drop_remainder=False, **kw))


def check_batch(batch, batch_size, resolution, channels):
    """Asserts the output contract: float32 NHWC of the right shape, values in [-1, 1]."""
    assert batch.dtype == np.float32
    assert batch.shape == (batch_size, resolution, resolution, channels)
    assert batch.min() >= -1.0 and batch.max() <= 1.0


def write_png(path, image):
    """Writes uint8 [H, W, C] as png with tf.io (pillow is not a dependency)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, tf.io.encode_png(image))


def write_jpg(path, image):
    """Writes uint8 [H, W, C] as jpeg with tf.io."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, tf.io.encode_jpeg(image, quality=95))


def random_images(n, h, w, c, seed=0):
    """Distinct random uint8 images [n, h, w, c]."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def write_idx(path, images, magic=2051, compress=True):
    """Writes uint8 [N, H, W] in idx3 format (optionally gzipped), with an overridable magic number."""
    n, h, w = images.shape
    data = np.array([magic, n, h, w], dtype=">u4").tobytes() + images.tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


@pytest.fixture
def image_folder(tmp_path):
    """A nested folder of png/jpg images with non-square sizes, mixed-case extensions and a stray text file."""
    root = tmp_path / "imgs"
    write_png(str(root / "a" / "one.png"), random_images(1, 20, 30, 3, 1)[0])
    write_png(str(root / "a" / "b" / "two.PNG"), random_images(1, 40, 24, 1, 2)[0])
    write_jpg(str(root / "three.jpg"), random_images(1, 17, 33, 3, 3)[0])
    write_jpg(str(root / "c" / "four.JPEG"), random_images(1, 64, 64, 3, 4)[0])
    write_png(str(root / "c" / "five.png"), random_images(1, 9, 12, 4, 5)[0])  # RGBA
    (root / "notes.txt").write_text("not an image")
    return root


# ---------- sources: shapes, dtype, range ----------


def test_embedded_default_source():
    """The shipped 5k Fashion-MNIST loads raw and as padded batches."""
    images = load_array("embedded")
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    assert count_images("embedded") == 5000
    batch = next(iter(build_dataset("embedded", 32, 1, 8, fit="pad")))
    check_batch(batch.numpy(), 8, 32, 1)
    assert batch.numpy().min() == -1.0  # black padding/background maps to exactly -1


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR) and not os.environ.get("CI"), reason="dataset-fashion-mnist absent")
def test_debian_fashion_mnist():
    """Debian's idx files give 60k/10k/70k images; embedded equals train[:5000]."""
    assert count_images("fashion_mnist") == 60000
    assert count_images("fashion_mnist:test") == 10000
    assert count_images("fashion_mnist:all") == 70000
    check_batch(next(iter(build_dataset("fashion_mnist:test", 32, 3, 4, fit="pad"))).numpy(), 4, 32, 3)
    # The embedded file is documented as train[:5000] in file order.
    np.testing.assert_array_equal(load_array("embedded"), load_array("fashion_mnist", subset=5000))


def test_fashion_mnist_directory_form(tmp_path):
    """fashion_mnist:/dir[:split] reads gzipped and plain idx files exactly."""
    train, test = random_images(6, 28, 28, 1, 7)[..., 0], random_images(3, 28, 28, 1, 8)[..., 0]
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test, compress=False)  # plain idx works too
    np.testing.assert_array_equal(load_array(f"fashion_mnist:{tmp_path}")[..., 0], train)
    np.testing.assert_array_equal(load_array(f"fashion_mnist:{tmp_path}:test")[..., 0], test)
    assert count_images(f"fashion_mnist:{tmp_path}:all") == 9
    check_batch(once(f"fashion_mnist:{tmp_path}:all", 32, 1, 9, fit="pad"), 9, 32, 1)


def test_folder_source(image_folder):
    """Nested png/jpg (any case, non-square, gray/RGBA) decode to the right shape; txt ignored."""
    out = once(f"folder:{image_folder}", 16, 3, 2)
    check_batch(out, 5, 16, 3)
    assert count_images(str(image_folder)) == 5
    check_batch(once(str(image_folder), 8, 1, 5), 5, 8, 1)  # plain directory path form


def test_npz_source_keys_and_shapes(tmp_path):
    """npz keys x/images/arr_0 and shapes NHW/NHW1/NHW3 are accepted."""
    for key, shape in [("x", (5, 12, 12)), ("images", (5, 12, 12, 1)), ("arr_0", (5, 10, 14, 3))]:
        path = tmp_path / f"{key}.npz"
        np.savez(path, **{key: np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)})
        check_batch(once(str(path), 8, 3, 5), 5, 8, 3)
        check_batch(once(f"npz:{path}", 8, 1, 5), 5, 8, 1)


def test_tfds_mock_data():
    """tfds sources work offline under mock_data; an unknown name errors with the name."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        out = once("tfds:mnist", 32, 3, 4, fit="pad")
        check_batch(out, 6, 32, 3)
        check_batch(next(iter(build_dataset("tfds:mnist:test", 16, 1, 4))).numpy(), 4, 16, 1)
        with pytest.raises(DataError, match="no_such_dataset"):
            build_dataset("tfds:no_such_dataset", 16, 1, 4)


# ---------- fit, channels, flip, subset ----------


def test_pad_keeps_pixels_exact(tmp_path):
    """fit=pad puts 28x28 pixels unchanged in the middle of 32x32 with -1 borders."""
    images = random_images(3, 28, 28, 1, 11)
    np.savez(tmp_path / "d.npz", x=images)
    out = once(str(tmp_path / "d.npz"), 32, 1, 3, fit="pad")
    np.testing.assert_allclose(out[:, 2:30, 2:30], images / 127.5 - 1.0, atol=1e-6)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert np.all(out[:, border] == -1.0)
    np.testing.assert_array_equal(load_array(str(tmp_path / "d.npz"), 32, fit="pad")[:, 2:30, 2:30], images)


def test_resize_constant_stays_constant(tmp_path):
    """Crop+resize (up, down, static and dynamic shapes) keeps a constant image constant."""
    np.savez(tmp_path / "c.npz", x=np.full((2, 37, 53, 3), 100, np.uint8))
    for out in (once(str(tmp_path / "c.npz"), 16, 3, 2), once(str(tmp_path / "c.npz"), 64, 3, 2)):
        np.testing.assert_allclose(out, 100 / 127.5 - 1.0, atol=1e-5)
    write_png(str(tmp_path / "f" / "c.png"), np.full((45, 21, 1), 200, np.uint8))  # dynamic-shape path
    np.testing.assert_allclose(once(str(tmp_path / "f"), 8, 1, 1), 200 / 127.5 - 1.0, atol=1e-5)


def test_resize_downscale_is_antialiased(tmp_path):
    """Downscaling averages neighbouring pixels instead of picking one."""
    checker = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)
    np.savez(tmp_path / "c.npz", x=checker[None])
    out = once(str(tmp_path / "c.npz"), 8, 1, 1)
    assert np.abs(out).max() < 0.5  # averaged towards grey; a nearest/aliasing resize gives +-1


def test_pad_larger_than_resolution_resizes(tmp_path):
    """fit=pad falls back to resizing when the image is larger than resolution."""
    np.savez(tmp_path / "c.npz", x=np.full((1, 40, 50), 255, np.uint8))
    np.testing.assert_allclose(once(str(tmp_path / "c.npz"), 32, 1, 1, fit="pad"), 1.0, atol=1e-5)


def test_channel_conversion(tmp_path):
    """RGB->gray uses luma weights, gray->RGB repeats, RGBA drops alpha (static and decoded)."""
    rgba = random_images(2, 8, 8, 4, 12)
    np.savez(tmp_path / "rgba.npz", x=rgba)
    np.savez(tmp_path / "gray.npz", x=rgba[..., :1])
    rgb = rgba[..., :3].astype(np.float64)
    gray = once(str(tmp_path / "rgba.npz"), 8, 1, 2)
    expected = (rgb @ np.array([0.2989, 0.5870, 0.1140]))[..., None] / 127.5 - 1.0
    np.testing.assert_allclose(gray, expected, atol=1e-5)
    np.testing.assert_allclose(once(str(tmp_path / "rgba.npz"), 8, 3, 2), rgb / 127.5 - 1.0, atol=1e-6)  # alpha dropped
    color = once(str(tmp_path / "gray.npz"), 8, 3, 2)
    np.testing.assert_allclose(color, np.repeat(rgba[..., :1], 3, -1) / 127.5 - 1.0, atol=1e-6)
    write_png(str(tmp_path / "f" / "g.png"), rgba[0, ..., :1])  # decoded files take the dynamic path
    np.testing.assert_allclose(once(str(tmp_path / "f"), 8, 3, 1), color[:1], atol=1e-6)


def test_xflip_mirrors_some_images(tmp_path):
    """xflip mirrors some images, leaves the rest identical, and is reproducible by seed."""
    images = random_images(32, 8, 8, 1, 13)
    np.savez(tmp_path / "d.npz", x=images)
    plain = images / 127.5 - 1.0
    out = once(str(tmp_path / "d.npz"), 8, 1, 32, xflip=True, seed=3)
    same = np.all(np.isclose(out, plain, atol=1e-6), axis=(1, 2, 3))
    mirrored = np.all(np.isclose(out, plain[:, :, ::-1], atol=1e-6), axis=(1, 2, 3))
    assert np.all(same | mirrored)
    assert same.any() and mirrored.any()
    np.testing.assert_array_equal(out, once(str(tmp_path / "d.npz"), 8, 1, 32, xflip=True, seed=3))


def test_subset_first_n_distinct(tmp_path, image_folder):
    """subset=N gives exactly the first N distinct images and errors when too large."""
    images = np.arange(20, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 1), np.uint8) * 10
    np.savez(tmp_path / "d.npz", x=images)
    out = once(str(tmp_path / "d.npz"), 8, 1, 3, subset=7, shuffle=True, seed=5)
    values = np.unique(np.round((out[:, 0, 0, 0] + 1) * 127.5))
    assert out.shape[0] == 7 and list(values) == [10 * i for i in range(7)]
    assert count_images(str(tmp_path / "d.npz"), subset=7) == 7
    assert once(str(image_folder), 8, 1, 4, subset=2).shape[0] == 2
    for source in (str(tmp_path / "d.npz"), str(image_folder)):
        with pytest.raises(DataError, match="subset=21 is larger"):
            build_dataset(source, 8, 1, 2, subset=21)


def test_large_array_generator_path(tmp_path, monkeypatch):
    """Arrays too big for a graph constant go through the generator path unchanged."""
    from keras_attngan.data import pipeline

    images = random_images(5, 8, 8, 1, 14)
    np.savez(tmp_path / "d.npz", x=images)
    monkeypatch.setattr(pipeline, "_MAX_EMBEDDED_BYTES", 0)  # force the >1 GB code path on a tiny array
    np.testing.assert_allclose(once(str(tmp_path / "d.npz"), 8, 1, 2), images / 127.5 - 1.0, atol=1e-6)


def test_shuffle_repeat_batches():
    """Repeated datasets keep yielding full batches, in shuffled order."""
    ds = build_dataset("embedded", 8, 1, 64, subset=100, seed=1)
    first = [b.numpy() for b in ds.take(3)]
    assert all(b.shape == (64, 8, 8, 1) for b in first)  # repeat keeps full batches past the 100-image end
    assert not np.array_equal(first[0], once("embedded", 8, 1, 64, subset=100)[:64])  # shuffled


# ---------- bad input: one-line errors naming the file and the fix ----------


def test_truncated_png_named(image_folder):
    """A truncated png is named in a one-line error that suggests skip_bad."""
    good = (image_folder / "a" / "one.png").read_bytes()
    (image_folder / "a" / "bad.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"bad\.png.*skip_bad=True") as info:
        build_dataset(str(image_folder), 16, 3, 2)
    assert "\n" not in str(info.value)


def test_non_image_jpg_named(image_folder):
    """A text file named .jpg is reported by name with the fix."""
    (image_folder / "fake.jpg").write_text("this is not a jpeg")
    with pytest.raises(DataError, match=r"fake\.jpg.*delete or re-encode"):
        build_dataset(f"folder:{image_folder}", 16, 3, 2)


def test_skip_bad_skips_and_logs(image_folder, capsys):
    """skip_bad=True drops bad files, batches count only good ones, and says so in one warning line."""
    (image_folder / "fake.jpg").write_text("not a jpeg")
    (image_folder / "c" / "empty.png").write_bytes(b"")
    out = once(str(image_folder), 8, 3, 2, skip_bad=True)
    assert out.shape[0] == 5  # only the 5 good files, as 3 batches of 2 + 2 + 1
    assert len(list(build_dataset(str(image_folder), 8, 3, 2, skip_bad=True, repeat=False, drop_remainder=False))) == 3
    lines = [line for line in capsys.readouterr().out.splitlines() if "skipped 2 unreadable images" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "first:" in lines[0]


def test_empty_and_missing_paths(tmp_path):
    """Empty folders and missing paths/files raise errors naming the path."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no png/jpg images found under .*empty"):
        build_dataset(f"folder:{tmp_path / 'empty'}", 16, 3, 2)
    for source in (f"folder:{tmp_path}/nope", f"{tmp_path}/nope.npz", f"{tmp_path}/nope", f"npz:{tmp_path}/n.npz"):
        with pytest.raises(DataError, match="nope|n.npz"):
            build_dataset(source, 16, 3, 2)
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte"):
        build_dataset(f"fashion_mnist:{tmp_path}:test", 16, 1, 2)


def test_bad_npz_files(tmp_path):
    """npz with wrong shape, channels, dtype, key or not a zip is named with the problem."""
    cases = {
        "shape.npz": ({"x": np.zeros((4, 8), np.uint8)}, r"shape\.npz.*shape \(4, 8\)"),
        "channels.npz": ({"x": np.zeros((4, 8, 8, 2), np.uint8)}, r"channels\.npz.*expected \[N, H, W\]"),
        "dtype.npz": ({"images": np.zeros((4, 8, 8), np.float32)}, r"dtype\.npz.*float32.*uint8"),
        "key.npz": ({"pixels": np.zeros((4, 8, 8), np.uint8)}, r"key\.npz.*no array under keys.*pixels"),
    }
    for name, (content, pattern) in cases.items():
        np.savez(tmp_path / name, **content)
        with pytest.raises(DataError, match=pattern):
            build_dataset(str(tmp_path / name), 16, 1, 2)
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"junk\.npz.*cannot read"):
        build_dataset(str(tmp_path / "junk.npz"), 16, 1, 2)


def test_corrupt_idx_files(tmp_path):
    """Bad idx magic, truncated payload and truncated gzip are named with the cause."""
    images = random_images(4, 28, 28, 1)[..., 0]
    cases = {"magic": (2049, None, "magic number 2049"), "short": (2051, 100, "truncated"), "gz": (2051, -1, "gzip")}
    for folder, (magic, cut, pattern) in cases.items():
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "train-images-idx3-ubyte.gz"
        write_idx(path, images, magic=magic)
        if cut == 100:  # truncated payload inside a valid gzip
            path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:100]))
        elif cut == -1:  # truncated gzip stream
            path.write_bytes(path.read_bytes()[:50])
        with pytest.raises(DataError, match=f"train-images-idx3-ubyte.gz.*{pattern}"):
            build_dataset(f"fashion_mnist:{tmp_path / folder}", 32, 1, 2)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(resolution=30), "power of two"),
        (dict(resolution=2048), "power of two"),
        (dict(resolution=4), "power of two"),
        (dict(channels=2), "channels=2"),
        (dict(fit="stretch"), "fit='stretch'"),
        (dict(source="fashoin_mnist"), "unknown data source 'fashoin_mnist'; accepted forms: embedded"),
        (dict(source="fashion_mnist:validation"), "split 'validation'|does not exist"),
        (dict(batch_size=0), "batch_size"),
        (dict(subset=-1), "subset"),
        (dict(subset=5001), "subset=5001 is larger than the 5000 images"),
        (dict(subset=10, repeat=False), "fewer than batch_size"),
    ],
)
def test_bad_options(kwargs, pattern):
    """Invalid options and source strings raise one-line ValueErrors."""
    args = dict(source="embedded", resolution=32, channels=1, batch_size=16)
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        build_dataset(args.pop("source"), args.pop("resolution"), args.pop("channels"), args.pop("batch_size"), **args)


def test_parse_source_forms(tmp_path):
    """Source strings parse into the right kind/path/name/split."""
    assert parse_source("embedded").kind == "embedded"
    spec = parse_source(f"fashion_mnist:{tmp_path}:all")
    assert (spec.kind, spec.path, spec.split) == ("fashion_mnist", str(tmp_path), "all")
    assert parse_source("fashion_mnist:test").path == DEBIAN_DIR
    spec = parse_source("tfds:cifar10:train[:10%]")
    assert (spec.kind, spec.name, spec.split) == ("tfds", "cifar10", "train[:10%]")
    assert parse_source(str(tmp_path)).kind == "folder"
