"""dataset_tool.py: any source -> a TFDS dataset at the training resolution with labels, read back by training;
bad input is one line and loses nothing; a non-local file system (TF's ram://) works like a bucket."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.data import build_dataset
from keras_attngan.data.pipeline import file_shards, label_info
from keras_attngan.data.sources import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, DataError
from keras_attngan.data.tfds_writer import write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("boots", "coats", "shirts")


def tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "dataset_tool.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def png(image):
    return tf.io.encode_png(image).numpy()


def class_folder(root, per_class=100):
    """Three class folders of per_class images: 12x12 RGB, 8x8 gray and 16x8 RGBA (sizes and channels mixed);
    pixel (0, 0) holds the image's number within its class."""
    rng = np.random.RandomState(0)
    for c, (name, shape) in enumerate(zip(CLASSES, [(12, 12, 3), (8, 8, 1), (16, 8, 4)])):
        os.makedirs(os.path.join(root, name))
        for i in range(per_class):
            x = rng.randint(0, 256, shape).astype(np.uint8)
            x[0, 0] = i
            tf.io.write_file(os.path.join(root, name, f"{i:03d}.png"), png(x))
    return root


def read_back(data_dir, name, labels=True):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir))
    ds = builder.as_dataset(split="train", shuffle_files=False)
    examples = list(ds.as_numpy_iterator())
    return builder, np.stack([e["image"] for e in examples]), np.array([e["label"] for e in examples]) if labels \
        else None


def test_class_folder_to_records_and_one_training_tick_with_labels(tmp_path):
    """A few hundred images in three class folders -> 4 shards at 8x8 (the CLI), read back with their labels and
    class names, then one training tick on the records with data.labels on."""
    folder = class_folder(str(tmp_path / "photos"))
    r = tool(f"--source={folder}", f"--output={tmp_path / 'tfds'}", "--name=photos", "--resolution=8",
             "--channels=3", "--shards=4")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote 300 images (0 skipped, 300 converted to the resolution or channels), 3 classes, 4 shards" \
        in r.stdout, r.stdout
    assert "--config.data.source=tfds:photos" in r.stdout
    builder, images, labels = read_back(tmp_path / "tfds", "photos")
    assert builder.info.features["label"].names == list(CLASSES)
    assert builder.info.splits["train"].num_examples == 300 and builder.info.splits["train"].num_shards == 4
    assert images.shape == (300, 8, 8, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 100))  # sorted files, labels from the folders
    source, data_dir = "tfds:photos", str(tmp_path / "tfds")
    assert label_info(source, data_dir).class_names == CLASSES and file_shards(source, data_dir) == 4

    from keras_attngan.training import loop
    from tests.helpers import FAST, tiny_config

    config = tiny_config(8, channels=3, **dict(FAST, total_kimg=0.008))
    config.data.update(source=source, tfds_data_dir=data_dir, labels=True)
    loop.train(config, str(tmp_path / "run"), verbose=0)
    saved = json.load(open(tmp_path / "run" / "config.json"))
    assert saved["data"]["num_classes"] == 3 and saved["data"]["class_names"] == list(CLASSES)
    assert [json.loads(line)["step"] for line in open(tmp_path / "run" / "stats.jsonl")] == [2]


def test_pixels_and_labels_round_trip_exactly_in_order_or_seeded_order(tmp_path):
    rng = np.random.RandomState(1)
    x = rng.randint(0, 256, (40, 16, 16, 1)).astype(np.uint8)
    y = rng.randint(0, 5, 40)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    summary = write_dataset(str(tmp_path / "a.npz"), str(tmp_path / "out"), "kept", resolution=16, channels=1,
                            fit="pad", verbose=False)
    assert (summary.written, summary.skipped, summary.converted, summary.classes) == (40, 0, 0, 5)
    _, images, labels = read_back(tmp_path / "out", "kept")
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)
    write_dataset(str(tmp_path / "a.npz"), str(tmp_path / "out"), "raw", resolution=16, channels=1, fit="pad",
                  encoding="raw", verbose=False)  # the uint8 bytes themselves: exact too
    _, images, labels = read_back(tmp_path / "out", "raw")
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)
    write_dataset(str(tmp_path / "a.npz"), str(tmp_path / "out"), "shuffled", resolution=16, channels=1,
                  max_images=10, shuffle_seed=3, verbose=False)
    _, images, labels = read_back(tmp_path / "out", "shuffled")
    pick = np.random.RandomState(3).permutation(40)[:10]
    np.testing.assert_array_equal(images, x[pick])
    np.testing.assert_array_equal(labels, y[pick])
    # An existing TFDS dataset as the source (its label feature and class names carried over), at 8x8.
    summary = write_dataset("tfds:kept", str(tmp_path / "out"), "from_tfds", resolution=8, channels=1,
                            tfds_data_dir=str(tmp_path / "out"), verbose=False)
    assert (summary.written, summary.converted, summary.classes) == (40, 40, 5)
    _, small, again = read_back(tmp_path / "out", "from_tfds")
    np.testing.assert_array_equal(again, y)
    assert small.shape == (40, 8, 8, 1)
    # Training's pipeline reads the records as it read the npz (fit=pad at the stored size: exact pixels).
    a = next(iter(build_dataset(str(tmp_path / "a.npz"), 16, 1, 40, shuffle=False, labels=True)))
    b = next(iter(build_dataset("tfds:kept", 16, 1, 40, shuffle=False, labels=True,
                                tfds_data_dir=str(tmp_path / "out"))))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


def test_zip_with_nvlabs_dataset_json_and_fit_modes(tmp_path):
    rng = np.random.RandomState(2)
    images = {f"00000/img{i:08d}.png": rng.randint(0, 256, (20, 10, 3)).astype(np.uint8) for i in range(6)}
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        for name, x in images.items():
            z.writestr(name, png(x))
        z.writestr("dataset.json", json.dumps({"labels": [[n, i % 2] for i, n in enumerate(images)]}))
    for fit in ("resize", "pad", "crop"):
        summary = write_dataset(str(tmp_path / "d.zip"), str(tmp_path / "out"), f"z_{fit}", resolution=8,
                                fit=fit, verbose=False)
        assert (summary.written, summary.converted, summary.classes) == (6, 6, 2)
        _, out, labels = read_back(tmp_path / "out", f"z_{fit}")
        np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0, 1])
        assert out.shape == (6, 8, 8, 3)
        if fit == "crop":  # the central 8x8 window of the central 10x10 square, pixels exact
            np.testing.assert_array_equal(out, np.stack([x[6:14, 1:9] for x in images.values()]))


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR) and not os.environ.get("CI"),
                    reason="needs Debian's dataset-fashion-mnist (installed by .ci/run)")
def test_fashion_mnist_idx_with_its_labels(tmp_path):
    summary = write_dataset("fashion_mnist:test", str(tmp_path), "fm", resolution=32, channels=1, fit="pad",
                            max_images=50, verbose=False)
    assert (summary.written, summary.classes) == (50, 10)
    builder, images, labels = read_back(tmp_path, "fm")
    assert builder.info.features["label"].names == list(FASHION_MNIST_CLASSES)
    from keras_attngan.data.arrays import FashionMNISTKind
    from keras_attngan.data.sources import parse_source

    spec = parse_source("fashion_mnist:test")
    x = FashionMNISTKind().load_array(spec)[:50]
    np.testing.assert_array_equal(images[:, 2:30, 2:30], x)  # 28 -> 32 padded, pixels exact
    np.testing.assert_array_equal(labels, FashionMNISTKind().load_labels(spec)[0][:50])


@pytest.fixture
def ram_like_gcs(monkeypatch):
    """Lets TFDS's path library (etils.epath) treat TF's in-memory ``ram://`` exactly as it treats ``gs://`` when
    TensorFlow is installed: a URI path served by ``tf.io.gfile`` (its TF backend). TF itself reads ram:// natively."""
    from etils.epath import backend, gpath, register

    monkeypatch.setattr(gpath, "_URI_PREFIXES", gpath._URI_PREFIXES + ("ram://",))
    monkeypatch.setattr(gpath, "_URI_SCHEMES", gpath._URI_SCHEMES | {"ram"})
    monkeypatch.setitem(gpath._URI_MAP_ROOT, "ram://", "/ram/")
    monkeypatch.setitem(gpath._PREFIX_TO_BACKEND, "ram", backend.tf_backend)
    monkeypatch.setitem(register._URI_PREFIXES_TO_CLS, "ram://", gpath.PosixGPath)


def test_ram_filesystem_source_output_and_training_workdir(ram_like_gcs):
    """TF's in-memory ram:// file system stands in for gs://: a folder there, the dataset written there, read
    back by the training pipeline from there, a training run's workdir there (one process: ram:// lives in it)."""
    root = "ram://photos_test"
    for c in range(2):
        for i in range(4):
            tf.io.write_file(f"{root}/class{c}/{i}.png", png(np.full((8, 8, 1), 40 * c + i, np.uint8)))
    x = next(iter(build_dataset(root, 8, 1, 8, shuffle=False)))  # training reads the folder there directly too
    np.testing.assert_allclose(np.sort((x.numpy()[:, 0, 0, 0] + 1) * 127.5), [0, 1, 2, 3, 40, 41, 42, 43], atol=1e-3)
    summary = write_dataset(root, "ram://tfds_test", "ramset", resolution=8, channels=1, verbose=False)
    assert (summary.written, summary.classes) == (8, 2) and summary.path.startswith("ram://tfds_test/ramset")
    images, labels = next(iter(build_dataset("tfds:ramset", 8, 1, 8, shuffle=False, labels=True,
                                             tfds_data_dir="ram://tfds_test")))
    np.testing.assert_array_equal(labels.numpy(), [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose((images.numpy()[:, 0, 0, 0] + 1) * 127.5, [0, 1, 2, 3, 40, 41, 42, 43], atol=1e-3)
    from keras_attngan.training import loop
    from keras_attngan.training.run_config import load_run_config
    from tests.helpers import tiny_config

    config = tiny_config(8, batch_size=4, total_kimg=0.008, tick_kimg=0.004, ckpt_kimg=0.004, sample_kimg=0.004)
    config.data.update(source="tfds:ramset", tfds_data_dir="ram://tfds_test", labels=True)
    loop.train(config, "ram://run_test", verbose=0)
    assert load_run_config("ram://run_test").data.class_names == ["class0", "class1"]
    assert {"ckpt-2.index", "ckpt-1.index"} <= set(tf.io.gfile.listdir("ram://run_test/checkpoints"))
    assert tf.io.gfile.glob("ram://run_test/samples/*.png")


def one_line(e):
    message = str(e.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_bad_input_is_one_line_and_loses_nothing(tmp_path):
    folder = class_folder(str(tmp_path / "photos"), per_class=4)
    out = str(tmp_path / "out")
    write_dataset(folder, out, "d", resolution=8, verbose=False)
    before = sorted(tf.io.gfile.listdir(os.path.join(out, "d", "1.0.0")))
    with pytest.raises(DataError) as e:  # an existing dataset
        write_dataset(folder, out, "d", resolution=8, verbose=False)
    assert "already exists: pass --overwrite" in one_line(e)
    # A truncated image: stop (naming it) or skip (counted); a failed --overwrite keeps the old dataset.
    data = png(np.zeros((12, 12, 3), np.uint8))
    with open(os.path.join(folder, "coats", "bad.png"), "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        write_dataset(folder, out, "d", resolution=8, overwrite=True, verbose=False)
    assert "coats/bad.png is unreadable or truncated" in one_line(e) and "--skip_bad" in str(e.value)
    assert sorted(tf.io.gfile.listdir(os.path.join(out, "d", "1.0.0"))) == before
    assert not [n for n in os.listdir(out) if n != "d"]  # nothing incomplete or set aside left behind
    summary = write_dataset(folder, out, "d", resolution=8, overwrite=True, skip_bad=True, verbose=False)
    assert (summary.written, summary.skipped) == (12, 1)
    os.remove(os.path.join(folder, "coats", "bad.png"))
    # Loose files beside class folders, dataset.json problems, an empty source, a bad name.
    tf.io.write_file(os.path.join(folder, "loose.png"), data)
    with pytest.raises(DataError) as e:
        write_dataset(folder, out, "m", resolution=8, verbose=False)
    assert "mixes loose images (1, first: loose.png) with class sub-folders" in one_line(e)
    os.remove(os.path.join(folder, "loose.png"))
    for table, needle in [([["boots/000.png", 0], ["nope.png", 1]], "names 1 file(s) that are not images"),
                          ([[f"{c}/{i:03d}.png", "a"] for c in CLASSES for i in range(4)], "is not an integer")]:
        with open(os.path.join(folder, "dataset.json"), "w") as f:
            json.dump({"labels": table}, f)
        with pytest.raises(DataError) as e:
            write_dataset(folder, out, "j", resolution=8, verbose=False)
        assert needle in one_line(e)
    os.makedirs(tmp_path / "empty")
    for source, name, needle in [(str(tmp_path / "empty"), "e", "no png/jpg images found"),
                                 (folder, "Bad-Name", "must be lowercase letters")]:
        with pytest.raises(DataError) as e:
            write_dataset(source, out, name, resolution=8, verbose=False)
        assert needle in one_line(e)
    r = tool(f"--source={folder}", f"--output={out}", "--resolution=8")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--name required" in r.stderr, r.stderr


def test_full_disk_is_one_line_and_leaves_no_dataset(tmp_path, monkeypatch):
    import errno

    from tensorflow_datasets.core import writer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.Writer, "write", full)
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 8, 8, 1), np.uint8))
    with pytest.raises(DataError) as e:
        write_dataset(str(tmp_path / "a.npz"), str(tmp_path / "out"), "f", resolution=8, verbose=False)
    assert "no space left on the device (ENOSPC)" in one_line(e)
    assert not os.path.exists(tmp_path / "out" / "f" / "1.0.0" / "dataset_info.json")


def test_labels_through_the_pipeline_and_refused_without_them(tmp_path):
    from keras_attngan.data.sources import parse_source

    images, labels = next(iter(build_dataset("embedded", 32, 1, 16, shuffle=False, fit="pad", labels=True)))
    embedded = parse_source("embedded").reader.load_labels(parse_source("embedded"))
    np.testing.assert_array_equal(labels.numpy(), embedded[0][:16])
    assert images.shape == (16, 32, 32, 1) and labels.dtype == tf.int32
    assert label_info("embedded").class_names == FASHION_MNIST_CLASSES
    tf.io.write_file(str(tmp_path / "p" / "0.png"), png(np.zeros((8, 8, 1), np.uint8)))
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((4, 8, 8, 1), np.uint8))
    for source in (str(tmp_path / "p"), str(tmp_path / "nolabels.npz")):
        with pytest.raises(DataError) as e:
            build_dataset(source, 8, 1, 1, labels=True)
        assert "has no labels, so data.labels=True cannot be honoured" in one_line(e)
    np.savez(tmp_path / "neg.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.array([0, -1]))
    with pytest.raises(DataError) as e:
        label_info(str(tmp_path / "neg.npz"))
    assert "label -1 is negative" in one_line(e)



def test_two_workers_read_disjoint_shards_and_together_every_image_once(tmp_path):
    """Two MultiWorkerMirroredStrategy worker processes: with 4 record files each reads only its own (by file)
    and together they see every image once per epoch; with 1 file (fewer than workers) the stream is split by
    data, with the same guarantee."""
    from tests.test_multi_worker import finish, start_workers

    x = np.zeros((64, 8, 8, 1), np.uint8)
    x[:, 0, 0, 0] = np.arange(64)  # the image's id
    np.savez(tmp_path / "ids.npz", x=x, y=np.arange(64) % 4)
    for name, shards in (("ids4", 4), ("ids1", 1)):
        write_dataset(str(tmp_path / "ids.npz"), str(tmp_path / "tfds"), name, resolution=8, channels=1,
                      fit="pad", shards=shards, verbose=False)
    outs = [str(tmp_path / f"worker{i}.npz") for i in range(2)]
    results = finish(start_workers([[str(tmp_path / "tfds"), out] for out in outs],
                                   script=("tests/fixtures/read_shards.py",)))
    for rc, _, stderr in results:
        assert rc == 0, stderr[-3000:]
    seen = [np.load(out) for out in outs]
    assert all(bool(s["ids4_by_file"]) for s in seen) and not any(bool(s["ids1_by_file"]) for s in seen)
    for name in ("ids4", "ids1"):
        a, b = seen[0][name], seen[1][name]
        assert len(a) == len(b) == 32, (name, results[0][2][-1500:])
        assert not set(a) & set(b), name  # disjoint
        np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(64))  # every image once
    # By file, a worker's images come from whole shards (16 consecutive ids each), not from every shard.
    assert sorted({int(i) // 16 for i in seen[0]["ids4"]}) != [0, 1, 2, 3]
