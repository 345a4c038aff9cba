"""SavedModel export: a fresh process reproduces the EMA generator; signatures check their inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.export import export_generator, next_version_dir
from keras_attngan.networks import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOAD_AND_RUN = """
import json, sys, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
z = np.load(sys.argv[2])["z"]
out = m.signatures["serving_default"](z=tf.constant(z), psi=tf.constant([1.0, 0.5, 0.0]))["images"].numpy()
seeds = m.signatures["from_seeds"](seeds=tf.constant([7, 8], tf.int64))["images"].numpy()
np.savez(sys.argv[3], images=out, seeds=seeds, sigs=np.array(sorted(m.signatures.keys())))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tf.random.set_seed(1)
    G = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16)
    G.mapping.w_avg.assign(np.linspace(-1, 1, 8).astype(np.float32))
    base = str(tmp_path_factory.mktemp("saved_models") / "tiny")
    return G, export_generator(G, base), base


def test_versions_and_fresh_process_matches_generator(exported, tmp_path):
    G, path, base = exported
    assert path.endswith(os.sep + "1") and next_version_dir(base).endswith(os.sep + "2")
    z = np.random.RandomState(0).randn(3, 8).astype(np.float32)
    np.savez(tmp_path / "in.npz", z=z)
    r = subprocess.run([sys.executable, "-c", LOAD_AND_RUN, path, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    assert sorted(out["sigs"]) == ["from_seeds", "mapping", "serving_default", "synthesis"]
    ws = G.mapping.truncate(G.map(tf.constant(z)), tf.constant([1.0, 0.5, 0.0]))
    want = np.clip(G.synthesis(ws, noise_mode="const").numpy() * 127.5 + 128, 0, 255).astype(np.uint8)
    assert out["images"].dtype == np.uint8 and out["images"].shape == (3, 16, 16, 1)
    assert np.abs(out["images"].astype(int) - want).max() <= 1  # rounding at .5 boundaries only
    loaded = tf.saved_model.load(path)
    again = loaded.signatures["from_seeds"](seeds=tf.constant([8], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(out["seeds"][1], again[0])  # a seed's image does not depend on its batch


def test_wrong_shapes_are_rejected_clearly(exported):
    _, path, _ = exported
    m = tf.saved_model.load(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must be float32 \[batch, 8\]"):
        m.signatures["serving_default"](z=tf.zeros([2, 5]), psi=tf.ones([2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="psi must be"):
        m.signatures["serving_default"](z=tf.zeros([2, 8]), psi=tf.ones([3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="ws must be"):
        m.signatures["synthesis"](ws=tf.zeros([1, 3, 8]))
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        m.signatures["from_seeds"](seeds=tf.constant([1.5]))


def test_rest_instances_body_is_accepted(exported):
    """TF Serving's row format: one {"z": [...], "psi": p} object per example, stacked per input."""
    _, path, _ = exported
    body = json.loads(json.dumps({"instances": [{"z": [0.1] * 8, "psi": 0.7}, {"z": [-0.2] * 8, "psi": 1.0}]}))
    columns = {k: np.array([row[k] for row in body["instances"]], np.float32) for k in body["instances"][0]}
    images = tf.saved_model.load(path).signatures["serving_default"](**{k: tf.constant(v) for k, v in columns.items()})
    assert images["images"].shape == (2, 16, 16, 1)


def test_export_main_writes_next_version(tmp_path):
    from tests.test_main import TINY
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "train_main.py", *TINY, "--config.train.total_kimg=0.008", f"--workdir={run}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    for version in ("1", "2"):
        r = subprocess.run([sys.executable, "export_main.py", f"--workdir={run}", "--name=tiny",
                            f"--saved_models={tmp_path / 'sm'}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert os.path.isfile(tmp_path / "sm" / "tiny" / version / "saved_model.pb")
