"""The class-conditional metrics (ifid, cas, gen_acc) on a tiny labelled source whose 4 classes are a bright
quadrant each, with stand-in generators whose images do or do not follow their label."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.metrics import classifier as clf
from keras_attngan.metrics import registry
from keras_attngan.metrics.evaluate import Evaluator
from tests.helpers import tiny_config

K, RES = 4, 16


def pattern(c, rs):
    """A 16x16 uint8 image of class c: quadrant c bright, the rest dark, both noisy."""
    x = rs.randint(0, 50, (RES, RES, 1))
    h = RES // 2
    r, col = divmod(int(c), 2)
    x[r * h:(r + 1) * h, col * h:(col + 1) * h] = rs.randint(180, 256, (h, h, 1))
    return x.astype(np.uint8)


def write_source(path, n, seed):
    rs = np.random.RandomState(seed)
    y = rs.randint(0, K, n)
    np.savez(path, x=np.stack([pattern(c, rs) for c in y]), y=y)
    return str(path)


def features(images):
    """A fixed random projection of 8x8 thumbnails: cheap, deterministic 16-d features (an Inception stand-in)."""
    x = tf.image.resize(tf.cast(images, tf.float32), [8, 8])
    x = tf.reshape(x, [tf.shape(x)[0], -1]) / 255.0
    return tf.matmul(x, tf.constant(np.random.RandomState(0).randn(x.shape[-1], 16).astype(np.float32)))


class PatternG:
    """A stand-in conditional generator: image i of a call at ``seed=[s, start]`` is ``pattern`` drawn from
    RandomState([start + i, 5]) for its label (``faithful``) or for a class of its own (not)."""

    z_dim, num_classes = 4, K

    def __init__(self, faithful=True):
        self.faithful = faithful

    @staticmethod
    def image(c, index):
        return pattern(c, np.random.RandomState([index, 5]))

    def __call__(self, z, labels=None, psi=1.0, seed=None):
        start, out = int(seed[1]), []
        for i, c in enumerate(np.asarray(labels)):
            c = c if self.faithful else np.random.RandomState([start + i, 3]).randint(K)
            out.append(self.image(c, start + i))
        return tf.constant(np.stack(out).astype(np.float32) / 127.5 - 1.0)


class CopyG:
    """Fakes of class c are the reals of class c, in order: the same distribution, exactly."""

    z_dim, num_classes = 4, K

    def __init__(self, path):
        with np.load(path) as z:
            self.by_class = [z["x"][z["y"] == c] for c in range(K)]

    def __call__(self, z, labels=None, psi=1.0, seed=None):
        start, labels = int(seed[1]), np.asarray(labels)
        reals = self.by_class[labels[0]]
        return tf.constant(reals[start:start + len(labels)].astype(np.float32) / 127.5 - 1.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config, cache dir, train npz path): a labelled 1200-image source and a 400-image test source."""
    root = tmp_path_factory.mktemp("cond")
    config = tiny_config(resolution=RES, channels=1)
    config.data.update(source=write_source(root / "train.npz", 1200, 0), labels=True,
                       test_source=write_source(root / "test.npz", 400, 1))
    config.model.num_classes = K
    return config, str(root / "cache"), config.data.source


def evaluator(setup, generator, **kwargs):
    config, cache, _ = setup
    return Evaluator(config, generator, feature_net=features, cache_dir=cache, batch_size=100,
                     feature_net_id="standin", **kwargs)


# ----------------------------------------------------------------------------- names and refusals
def test_names():
    spec = registry.parse_metric("ifid10k")
    assert (spec.kind, spec.num_fakes, spec.num_reals) == ("ifid", 10_000, None)
    assert registry.parse_metric("ifid").params["fakes_per_class"] == "reals"
    spec = registry.parse_metric("cas10k")
    assert (spec.kind, spec.num_fakes, spec.num_reals, spec.params) == (
        "cas", 10_000, 10_000, {"epochs": clf.EPOCHS, "width": clf.WIDTH})
    assert registry.parse_metric("gen_acc2k_e3_w8").params == {"epochs": 3, "width": 8}
    assert registry.parse_metric("cas1k_w4").params == {"epochs": clf.EPOCHS, "width": 4}
    for bad in ("cas", "cas0k", "cas1k_e0", "gen_acc1k_w8_e3", "ifid01k"):
        with pytest.raises(ValueError, match="unknown metric"):
            registry.parse_metric(bad)
    assert {"ifid<N>k", "cas<N>k[_e<E>][_w<W>]", "gen_acc<N>k[_e<E>][_w<W>]"} <= set(registry.known_forms())


@pytest.mark.parametrize("name", ["ifid1k", "ifid", "cas1k", "gen_acc1k"])
def test_generator_without_classes_is_refused_in_one_line(setup, name):
    class Unconditional:
        z_dim, num_classes = 4, 0

    with pytest.raises(ValueError) as err:
        evaluator(setup, Unconditional()).compute(name)
    assert "\n" not in str(err.value) and "model.num_classes" in str(err.value) and name in str(err.value)


# ----------------------------------------------------------------------------- intra-class FID
def test_ifid_of_identical_class_distributions_is_zero(setup):
    row = evaluator(setup, CopyG(setup[2])).compute("ifid")["results"]
    assert set(row) == {"ifid"} | {f"ifid_class{c}" for c in range(K)}
    assert all(abs(v) < 1e-6 for v in row.values()), row
    # The per-class real statistics are cached, one file per class.
    assert len([f for f in os.listdir(setup[1]) if f.endswith(".npz")]) == K


def frechet(a, b):
    """FID of two feature sets with NumPy and scipy's sqrtm, independently of keras_attngan."""
    from scipy import linalg
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))


def test_ifid_is_the_mean_of_per_class_fids(setup):
    row = evaluator(setup, PatternG()).compute("ifid2k")["results"]
    with np.load(setup[2]) as z:
        x, y = z["x"], z["y"]
    want = []
    for c in range(K):
        fakes = np.stack([PatternG.image(c, i) for i in range(2000 // K)])
        want.append(frechet(features(x[y == c]).numpy().astype(np.float64), features(fakes).numpy()))
        assert row[f"ifid2k_class{c}"] == pytest.approx(want[-1], rel=1e-4, abs=1e-6)
    assert row["ifid2k"] == pytest.approx(np.mean(want), rel=1e-4) and row["ifid2k"] > 0
    assert evaluator(setup, PatternG()).compute("ifid2k")["results"] == row  # from the cached real statistics


# ----------------------------------------------------------------------------- classifiers
def test_gen_acc_of_a_faithful_and_a_label_blind_generator(setup):
    files = set(os.listdir(setup[1])) if os.path.isdir(setup[1]) else set()
    good = evaluator(setup, PatternG()).compute("gen_acc1k_e3_w8")["results"]
    assert good["gen_acc1k_e3_w8"] == 1.0 and good["gen_acc1k_e3_w8_real"] == 1.0
    assert len(set(os.listdir(setup[1])) - files) == 1  # the real-data classifier's weights
    blind = evaluator(setup, PatternG(faithful=False)).compute("gen_acc1k_e3_w8")["results"]
    assert 0.15 < blind["gen_acc1k_e3_w8"] < 0.35  # chance: 1/4
    assert blind["gen_acc1k_e3_w8_real"] == good["gen_acc1k_e3_w8_real"]  # the cached classifier


def test_cas_of_a_faithful_and_a_label_blind_generator(setup):
    good = evaluator(setup, PatternG()).compute("cas1k_e3_w8")["results"]
    assert good["cas1k_e3_w8"] > 0.95 and good["cas1k_e3_w8_real"] > 0.95
    blind = evaluator(setup, PatternG(faithful=False)).compute("cas1k_e3_w8")["results"]
    assert blind["cas1k_e3_w8"] < 0.5 and blind["cas1k_e3_w8_real"] == good["cas1k_e3_w8_real"]
    with pytest.raises(ValueError, match=r"only 1200 .* cas1k"):
        evaluator(setup, PatternG()).compute("cas2k")


def test_classifier_training_is_seeded_and_deterministic(setup):
    images, labels = clf.read_split(setup[0], clf.train_split(setup[0]), 300)
    noisy = np.random.RandomState(0).randint(0, K, len(labels))  # hard labels: weights and accuracy vary by seed
    a, b, c = (clf.train_classifier(images, noisy, K, epochs=2, width=4, seed=s) for s in (3, 3, 4))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert clf.accuracy(a, images, noisy) == clf.accuracy(b, images, noisy)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


# ----------------------------------------------------------------------------- data splits
def test_test_and_train_splits(setup):
    config = tiny_config(resolution=RES, channels=1)
    config.data.source = setup[2]  # an npz has no test split: its last 10 % is held out
    test, train = clf.test_split(config), clf.train_split(config)
    assert (test.source, test.start, test.count) == (setup[2], 1080, 120)
    assert (train.subset, train.count) == (0, 1080)
    config.data.subset = 500
    assert (clf.train_split(config).subset, clf.train_split(config).count) == (500, 500)
    images, labels = clf.read_split(config, test)
    with np.load(setup[2]) as z:
        np.testing.assert_array_equal(images, z["x"][1080:])
        np.testing.assert_array_equal(labels, z["y"][1080:])
    config.data.source = "embedded"  # 5k images of Fashion-MNIST's train split
    assert clf.test_split(config).source == "fashion_mnist:test"
    config.data.source = "fashion_mnist:/some/dir:train"
    assert clf.test_split(config).source == "fashion_mnist:/some/dir:test"
    config.data.test_source = "npz:/elsewhere.npz"
    assert clf.test_split(config).source == "npz:/elsewhere.npz"


def test_large_images_are_pooled_to_at_most_64():
    assert [clf.pool_factor(r) for r in (16, 64, 128, 256, 1024)] == [1, 1, 2, 4, 16]
    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    got = clf.pool_images(x, 2)
    assert got.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(got[0, 0, 0], np.round(x[0, :2, :2].reshape(4, 3).mean(0)))
