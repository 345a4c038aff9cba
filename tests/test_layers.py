"""StyleGAN2 layers against independent NumPy formulas, plus invariances and get_config round trips."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers import (Downsample2D, EqualizedConv2D, EqualizedDense, MinibatchStdDev,
                                  ModulatedConv2D, NoiseInjection, ToRGB, Upsample2D, fir)
from keras_attngan.layers.fir import fir_filter


def np_correlate(x, w, pad):
    """Cross-correlation (what tf.nn.conv2d computes) of x [B,H,W,I] with w [k,k,I,O], zero pad."""
    k = w.shape[0]
    xp = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    H, W = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    out = np.zeros((x.shape[0], H, W, w.shape[-1]))
    for a in range(k):
        for b in range(k):
            out += np.einsum("bhwi,io->bhwo", xp[:, a:a + H, b:b + W], w[a, b])
    return out


def np_blur(x, pad0, pad1, gain=1.0):
    f = fir_filter(gain=gain).astype(np.float64)
    c = x.shape[-1]
    w = np.zeros((4, 4, c, c))
    for i in range(c):
        w[:, :, i, i] = f
    xp = np.pad(x, [(0, 0), (pad0, pad1), (pad0, pad1), (0, 0)])
    return np_correlate(xp, w, 0)


def modconv_reference(layer, x, wlat, up=False):
    """StyleGAN2 Eq. 1-3 literally: per-sample modulated (and demodulated) weights, no bias/noise."""
    s = wlat @ (layer.affine.kernel.numpy() * layer.affine.weight_gain) + layer.affine.bias.numpy()
    base = layer.kernel.numpy().astype(np.float64) * layer.weight_gain
    outs = []
    for b in range(x.shape[0]):
        wb = base * s[b][None, None, :, None]
        if layer.demodulate:
            wb = wb / np.sqrt((wb ** 2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
        xb = x[b:b + 1]
        if up:  # zero insertion, full correlation, FIR with gain 4
            z = np.zeros((1, 2 * xb.shape[1] - 1, 2 * xb.shape[2] - 1, xb.shape[3]))
            z[:, ::2, ::2] = xb
            y = np_blur(np_correlate(z, wb, wb.shape[0] - 1), 1, 1, gain=4.0)
        else:
            y = np_correlate(xb, wb, wb.shape[0] // 2)
        outs.append(y)
    return np.concatenate(outs)


@pytest.mark.parametrize("demodulate,up", [(True, False), (False, False), (True, True)])
def test_modulated_conv_matches_numpy(demodulate, up):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 5, 5, 3).astype(np.float32)
    wlat = rng.randn(2, 6).astype(np.float32)
    layer = ModulatedConv2D(4, 3, demodulate=demodulate, up=up, use_noise=False)
    layer(x, wlat)
    layer.affine.bias.assign(rng.randn(3).astype(np.float32))  # non-trivial styles
    got = layer.modulated_conv(tf.constant(x), layer.styles(wlat)).numpy()
    want = modconv_reference(layer, x.astype(np.float64), wlat.astype(np.float64), up=up)
    assert got.shape == want.shape == (2, 10 if up else 5, 10 if up else 5, 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_demodulated_weights_have_unit_norm():
    """Recover each sample's effective weights with impulse inputs (the conv is linear in x)."""
    rng = np.random.RandomState(1)
    cin, cout, k = 5, 7, 3
    layer = ModulatedConv2D(cout, k, use_noise=False)
    layer(np.zeros((1, 5, 5, cin), np.float32), np.zeros((1, 8), np.float32))
    wlat = np.repeat(rng.randn(1, 8).astype(np.float32), cin, axis=0)
    impulses = np.zeros((cin, 5, 5, cin), np.float32)
    impulses[np.arange(cin), 2, 2, np.arange(cin)] = 1.0
    y = layer.modulated_conv(tf.constant(impulses), layer.styles(wlat)).numpy()
    norms = (y ** 2).sum(axis=(0, 1, 2))  # sum over input channels and taps, per output channel
    np.testing.assert_allclose(norms, np.ones(cout), rtol=1e-4)
    # Without demodulation the norm follows the style and is not 1.
    layer2 = ModulatedConv2D(cout, k, demodulate=False, use_noise=False)
    layer2(impulses, wlat)
    y2 = layer2.modulated_conv(tf.constant(impulses), layer2.styles(wlat)).numpy()
    assert not np.allclose((y2 ** 2).sum(axis=(0, 1, 2)), 1.0, rtol=1e-2)


def test_fir_keeps_constant_image_constant_away_from_border():
    c = np.full((2, 16, 16, 3), 0.7, np.float32)
    up = fir.upsample2d(c).numpy()
    down = fir.downsample2d(c).numpy()
    assert up.shape == (2, 32, 32, 3) and down.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 0.7, rtol=1e-6)
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 0.7, rtol=1e-6)
    np.testing.assert_allclose(Upsample2D()(c).numpy(), up)
    np.testing.assert_allclose(Downsample2D()(c).numpy(), down)


def test_fir_down_matches_numpy():
    x = np.random.RandomState(2).randn(1, 8, 8, 2)
    want = np_blur(x, 1, 1)[:, ::2, ::2]
    np.testing.assert_allclose(fir.downsample2d(tf.constant(x, tf.float32)).numpy(), want, atol=1e-5)


def test_equalized_dense_matches_numpy():
    x = np.random.RandomState(3).randn(4, 6).astype(np.float32)
    layer = EqualizedDense(5, activation="lrelu", lr_mul=0.01, bias_init=0.5)
    y = layer(x).numpy()
    h = x @ (layer.kernel.numpy() * 0.01 / np.sqrt(6)) + layer.bias.numpy() * 0.01
    np.testing.assert_allclose(y, np.where(h > 0, h, 0.2 * h) * np.sqrt(2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy() * 0.01, 0.5, rtol=1e-6)  # effective bias init


def test_equalized_conv_down_shape_and_gain():
    x = np.random.RandomState(4).randn(2, 8, 8, 3).astype(np.float32)
    layer = EqualizedConv2D(4, 3, down=True, use_bias=False)
    y = layer(x).numpy()
    assert y.shape == (2, 4, 4, 4)
    w = layer.kernel.numpy() / np.sqrt(27)
    want = np_correlate(np_blur(x, 2, 2), w, 0)[:, ::2, ::2]
    np.testing.assert_allclose(y, want, atol=1e-4)


def test_minibatch_stddev_matches_numpy():
    x = np.random.RandomState(5).randn(8, 4, 4, 6).astype(np.float32)
    y = MinibatchStdDev(group_size=4, num_features=1)(x).numpy()
    assert y.shape == (8, 4, 4, 7)
    np.testing.assert_allclose(y[..., :6], x)
    for m in range(2):  # group m = samples 4m .. 4m+3 (contiguous: the same groups however the batch
        group = x[4 * m:4 * m + 4]  # is split across replicas of 4)
        want = np.sqrt(group.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[4 * m:4 * m + 4, :, :, 6], want, rtol=1e-5)


def test_noise_modes():
    x = np.zeros((2, 4, 4, 3), np.float32)
    layer = NoiseInjection()
    layer(x)
    layer.strength.assign([1.0, 2.0, 0.0])
    seed = tf.constant([1, 2])
    a = layer(x, noise_mode="random", seed=seed).numpy()
    np.testing.assert_allclose(a, layer(x, noise_mode="random", seed=seed).numpy())  # stateless
    np.testing.assert_allclose(a[..., 1], 2 * a[..., 0], rtol=1e-6)  # one noise image, per-channel strength
    assert not np.allclose(a[0], a[1])  # per-sample noise
    c = layer(x, noise_mode="const").numpy()
    np.testing.assert_allclose(c[0], c[1])
    np.testing.assert_allclose(layer(x, noise_mode="none").numpy(), x)
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, noise_mode="loud")


@pytest.mark.parametrize("layer", [
    EqualizedDense(3, activation="lrelu", lr_mul=0.1, bias_init=1.0),
    EqualizedConv2D(4, 1, down=True, use_bias=False),
    ModulatedConv2D(4, 3, demodulate=False, up=True, use_noise=False),
    ToRGB(3), MinibatchStdDev(2, 1), NoiseInjection(), Upsample2D(), Downsample2D(),
])
def test_layer_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
