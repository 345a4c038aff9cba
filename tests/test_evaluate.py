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


def test_unavailable_metric_and_too_few_reals_are_clear(evaluator):
    with pytest.raises(ValueError, match="LPIPS"):
        evaluator.compute("ppl_wend")
    with pytest.raises(ValueError, match="has only 5000 images"):
        evaluator.compute("fid6k")


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

    r = run("eval_main.py", f"--workdir={workdir}", "--metrics=fddf1k")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert len(rows) == 2 and rows[1]["checkpoint"].endswith("ckpt-2")
    assert rows[1]["results"]["fddf1k"] == pytest.approx(rows[0]["results"]["fddf1k"], rel=1e-4)

    r = run("eval_main.py", f"--workdir={workdir}", "--metrics=fid5q")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: unknown metric 'fid5q'")
