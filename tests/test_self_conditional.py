"""ContraD's self-conditional sampling (keras_attngan/generation/self_conditional.py; Jeong & Shin 2021,
cDDLS): the samplers against a stub D/head whose decision is known (mean pixel intensity), determinism,
the one-line errors, and the lineval head's fit (deterministic, cached)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.generation import self_conditional as sc
from keras_attngan.generation.sources import KerasSource
from keras_attngan.metrics import lineval
from keras_attngan.metrics.lineval import LinearHead
from keras_attngan.training.setup import build_trainer
from tests.helpers import tiny_config

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def contrad_config():
    config = tiny_config(resolution=8, batch_size=8, pl_weight=0.0)
    config.contrad.update(enabled=True, hidden=16, proj_dim=8)
    return config


@pytest.fixture(scope="module")
def trainer():
    return build_trainer(contrad_config())


class MeanD:
    """A stand-in D whose penultimate feature is the image's mean intensity (in [-1, 1]) and whose critic
    is 0, so a head on it classifies by brightness, a decision the test can check on the pixels."""
    mbstd_group, num_classes, uses_reference, heads = 4, 0, False, {}

    def __call__(self, x, outputs=()):
        m = tf.reduce_mean(tf.cast(x, tf.float32), axis=[1, 2, 3])[:, None]
        return 0.0 * m, {"penultimate": m}


def brightness(images):
    return images.reshape(len(images), -1).astype(np.float64).mean(1) / 127.5 - 1.0


@pytest.fixture(scope="module")
def split(trainer):
    """The median brightness of G's images: the stub head's decision boundary (class 1 = brighter)."""
    source = KerasSource(trainer.g_ema)
    return float(np.median(brightness(source.images(source.latents(np.arange(64))))))


def brightness_head(split, extra_classes=0):
    """Class 1 iff mean intensity > split; ``extra_classes`` more classes that never win."""
    w = np.array([[-10.0, 10.0] + [0.0] * extra_classes])
    b = np.array([10.0 * split, -10.0 * split] + [-100.0] * extra_classes)
    return LinearHead([0.0], [1.0], w, b)


# ----------------------------------------------------------------------------- rejection sampling
@pytest.mark.parametrize("class_id", [0, 1])
def test_rejection_keeps_only_the_requested_class_and_reproducible_seeds(trainer, split, class_id):
    G, head = trainer.g_ema, brightness_head(split)
    s = sc.self_conditional_samples(G, MeanD(), head, class_id, 6, seed=5, method="rejection", batch_size=8)
    assert s.images.shape == (6, 8, 8, 1) and s.images.dtype == np.uint8 and s.z.shape == (6, 16)
    assert np.all((brightness(s.images) > split) == bool(class_id)) and np.all(s.classes == class_id)
    assert np.all(s.seeds >= 5) and np.all(np.diff(s.seeds) > 0) and np.all(s.confidence > 0.5)
    source = KerasSource(G)  # each kept image is the unconditional image of its seed (generate_main --seeds)
    np.testing.assert_array_equal(source.images(source.latents(s.seeds)), s.images)
    again = sc.self_conditional_samples(G, MeanD(), head, class_id, 6, seed=5, method="rejection", batch_size=8)
    np.testing.assert_array_equal(again.seeds, s.seeds)
    np.testing.assert_array_equal(again.images, s.images)


def test_rejection_threshold_and_unreachable_class_errors(trainer, split):
    G = trainer.g_ema
    head = brightness_head(split, extra_classes=1)
    strict = sc.self_conditional_samples(G, MeanD(), head, 1, 2, seed=0, method="rejection", threshold=0.9)
    assert np.all(strict.confidence >= 0.9)
    with pytest.raises(ValueError) as err:
        sc.self_conditional_samples(G, MeanD(), head, 2, 3, seed=0, method="rejection", max_candidates=16)
    msg = str(err.value)
    assert "kept 0 of 3 images of class 2" in msg and "max_candidates" in msg and "\n" not in msg
    with pytest.raises(ValueError, match="not one of the head's 3 classes"):
        sc.self_conditional_samples(G, MeanD(), head, 3, 1)
    with pytest.raises(ValueError, match="method 'drs' is unknown"):
        sc.self_conditional_samples(G, MeanD(), head, 0, 1, method="drs")


# ----------------------------------------------------------------------------- cDDLS (the authors' sampler)
def test_cddls_is_deterministic_and_steers_towards_the_class(trainer, split):
    G, head = trainer.g_ema, brightness_head(split)
    kw = dict(steps=8, lbd=300.0, batch_size=16)
    runs = {c: sc.self_conditional_samples(G, MeanD(), head, c, 16, seed=0, **kw) for c in (0, 1)}
    for c, s in runs.items():  # every chain is returned; most end in the class asked for (chance: half)
        assert s.images.shape == (16, 8, 8, 1) and s.z.shape == (16, 16) and np.all(np.abs(s.z) <= 1.0)
        np.testing.assert_array_equal(s.seeds, np.arange(16))
        assert np.mean(s.classes == c) >= 0.75 and np.mean((brightness(s.images) > split) == bool(c)) >= 0.75
    assert brightness(runs[1].images).mean() > brightness(runs[0].images).mean() + 0.2
    again = sc.self_conditional_samples(G, MeanD(), head, 1, 16, seed=0, **kw)
    np.testing.assert_array_equal(again.images, runs[1].images)
    np.testing.assert_array_equal(again.z, runs[1].z)
    other = sc.self_conditional_samples(G, MeanD(), head, 1, 16, seed=1, **kw)
    assert not np.array_equal(other.images, runs[1].images)


def test_cddls_runs_through_contrad_h_d_and_the_lineval_head(trainer):
    D = trainer.discriminator
    assert "contrad_dis" in D.heads
    rs = np.random.RandomState(0)
    images = rs.randint(0, 256, (16, 8, 8, 1)).astype(np.uint8)
    head = sc.fit_head(contrad_config(), D, 16, data=([images], np.arange(16) % 3))
    s = sc.self_conditional_samples(trainer.g_ema, D, head, 2, 5, seed=3, steps=2)  # 5 chains in a batch of 8
    assert s.images.shape == (5, 8, 8, 1) and s.classes.shape == (5,) and np.all(np.isfinite(s.confidence))
    np.testing.assert_array_equal(s.seeds, np.arange(3, 8))
    normal = sc.self_conditional_samples(trainer.g_ema, D, head, 2, 5, seed=3, steps=2, prior="normal")
    assert normal.images.shape == (5, 8, 8, 1) and not np.array_equal(normal.z, s.z)
    with pytest.raises(ValueError, match="prior 'flat' is unknown"):
        sc.self_conditional_samples(trainer.g_ema, D, head, 2, 5, steps=2, prior="flat")


def test_conditional_runs_and_bad_classes_are_refused(trainer):
    config = tiny_config(resolution=8, batch_size=8)
    config.data.labels = True
    config.model.num_classes = 10  # the embedded source's
    cond = build_trainer(config)
    with pytest.raises(ValueError, match="class-conditional") as err:
        sc.self_conditional_samples(cond.g_ema, cond.discriminator, brightness_head(0.0), 0, 1)
    assert "\n" not in str(err.value)
    fm = contrad_config()
    fm.data.source = "fashion_mnist:train"
    assert sc.parse_class("7", fm) == 7 and sc.parse_class("sneaker", fm) == 7 and sc.parse_class(0) == 0
    with pytest.raises(ValueError, match="use 0-9 or one of T-shirt/top") as err:
        sc.parse_class("cat", fm)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- the head: fit and cache
def test_fit_head_is_deterministic_and_cached(trainer, tmp_path, monkeypatch):
    D, config = trainer.discriminator, contrad_config()
    rs = np.random.RandomState(1)
    images = rs.randint(0, 256, (24, 8, 8, 1)).astype(np.uint8)
    data = ([images[:16], images[16:]], (brightness(images) > np.median(brightness(images))).astype(np.int64))
    first, second = sc.fit_head(config, D, 24, data=data), sc.fit_head(config, D, 24, data=data)
    for name in ("mean", "std", "w", "b"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert first.num_classes == 2

    path = str(tmp_path / "head.npz")
    fitted = sc.fit_head(config, D, 24, path=path, data=data)
    np.testing.assert_array_equal(fitted.w, first.w)
    calls = []
    real_fit = lineval.fit_linear_head
    monkeypatch.setattr(lineval, "fit_linear_head", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    cached = sc.fit_head(config, D, 24, path=path, data=data)
    assert calls == [] and np.array_equal(cached.w, first.w)
    sc.fit_head(config, D, 23, path=path, data=data)  # other settings: refitted and saved over the cache
    assert calls == [1] and sc.load_head(path)[1]["num_train"] == 23


def fashion_mnist_workdir(tmp_path):
    """A run directory (config.json + one checkpoint) of an untrained tiny ContraD on Fashion-MNIST."""
    from keras_attngan.training.checkpoint import Checkpointer

    config = contrad_config()
    config.data.source = "fashion_mnist:train"
    (tmp_path / "config.json").write_text(config.to_json_best_effort())
    Checkpointer(str(tmp_path), build_trainer(config)).save()


def test_sample_workdir_fits_once_on_fashion_mnist(tmp_path, monkeypatch):
    if not os.path.isdir(FASHION_MNIST):
        pytest.skip("dataset-fashion-mnist is not installed")
    fashion_mnist_workdir(tmp_path)
    s, path, _ = sc.sample_workdir(str(tmp_path), "trouser", 4, seed=0, num_train=300, steps=2)
    head_file = sc.default_head_path(str(tmp_path), path, 300)
    assert os.path.isfile(head_file) and s.images.shape == (4, 8, 8, 1) and s.classes.shape == (4,)
    assert sc.load_head(head_file)[0].num_classes == 10
    monkeypatch.setattr(lineval, "labelled_images", lambda *a, **k: pytest.fail("the cached head was refitted"))
    again, _, _ = sc.sample_workdir(str(tmp_path), 1, 4, seed=0, num_train=300, steps=2)
    np.testing.assert_array_equal(again.images, s.images)


def test_gen_acc_with_a_pixel_judge(trainer, split):
    rs = np.random.RandomState(2)
    levels = rs.randint(0, 2, 64)
    images = np.clip(levels[:, None, None, None] * 120 + 60 + rs.randint(-40, 40, (64, 8, 8, 1)), 0, 255)
    judge = sc.pixel_judge(None, 64, size=4, data=([images[:32].astype(np.uint8), images[32:].astype(np.uint8)],
                                                   levels))
    assert sc.gen_acc(judge, images.astype(np.uint8), 1) == pytest.approx(np.mean(levels == 1))
    bright = sc.self_conditional_samples(trainer.g_ema, MeanD(), brightness_head(split), 1, 4, method="rejection")
    assert sc.gen_acc(lambda x: (brightness(x) > split).astype(np.int64), bright.images, 1) == 1.0


def test_generate_main_self_conditional(tmp_path):
    """generate_main.py --self_conditional=<name>: one PNG of the class's samples; refusals in one line."""
    from tests.test_generate import read_png, run_generate

    if not os.path.isdir(FASHION_MNIST):
        pytest.skip("dataset-fashion-mnist is not installed")
    fashion_mnist_workdir(tmp_path)
    out = run_generate(f"--workdir={tmp_path}", "--self_conditional=trouser", "--self_conditional_steps=2",
                   "--seeds=0-3", f"--outdir={tmp_path / 'gen'}")
    assert out.returncode == 0, out.stderr[-2000:]
    image = read_png(tmp_path / "gen" / "self_conditional_1.png")
    assert image.shape == (16, 16, 1)  # 4 samples of 8x8 in a 2x2 grid
    bad = run_generate("--saved_model=x", "--self_conditional=1")
    assert bad.returncode != 0 and "--self_conditional needs a run's discriminator" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
