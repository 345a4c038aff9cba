"""SANAttention (Eq. 4-10 of Yu et al. 2021) and SAGANAttention (SAGAN Eq. 1-3) against literal NumPy loops."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers.attention.sagan import SAGANAttention
from keras_attngan.layers.attention.san import (SANAttention, conv3x3_cost, reference_sources, san_cost,
                                                window_offsets)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * math.sqrt(2.0)


def np_conv1x1(conv, x, act):
    y = x.astype(np.float64) @ (conv.kernel.numpy()[0, 0].astype(np.float64) * conv.weight_gain)
    if conv.use_bias:
        y = y + conv.bias.numpy() * conv.lr_mul
    return lrelu(y) if act else y


def np_dense(dense, x, act):
    y = x @ (dense.kernel.numpy().astype(np.float64) * dense.weight_gain) + dense.bias.numpy() * dense.lr_mul
    return lrelu(y) if act else y


def np_san(layer, k_in, q_in, v_in, res):
    """Eq. 4-7 position by position: explicit zero-padded patches, two FCs, weighted window sum."""
    s, sp = layer.patch_size, layer.share_planes
    K, Q, V = (np_conv1x1(layer.key_conv, k_in, True), np_conv1x1(layer.query_conv, q_in, True),
               np_conv1x1(layer.value_conv, v_in, True))
    B, H, W, C = v_in.shape
    G = C // sp
    offs = window_offsets(s)
    out = np.zeros((B, H, W, C))
    kernels = np.zeros((B, H, W, s * s, G))
    for b in range(B):
        for i in range(H):
            for j in range(W):
                kp = np.zeros((s, s, K.shape[-1]))
                vp = np.zeros((s, s, C))
                for a, di in enumerate(offs):
                    for c, dj in enumerate(offs):
                        if 0 <= i + di < H and 0 <= j + dj < W:
                            kp[a, c] = K[b, i + di, j + dj]
                            vp[a, c] = V[b, i + di, j + dj]
                p = np.concatenate([kp.reshape(-1), Q[b, i, j]])  # Eq. 4
                w = np_dense(layer.fc2, np_dense(layer.fc1, p, True), False) * layer.gain  # Eq. 5
                w = w.reshape(s * s, G)
                kernels[b, i, j] = w
                for a in range(s):
                    for c in range(s):  # Eq. 6; channel ch uses kernel channel ch % G
                        out[b, i, j] += np.tile(w[a * s + c], sp) * vp[a, c]
    return out + res, kernels


def test_window_offsets_and_sources():
    assert window_offsets(3) == [-1, 0, 1]
    assert window_offsets(4) == [-2, -1, 0, 1]  # i - s/2 ... i + s/2 - 1, as Eq. 4 writes it
    assert window_offsets(7) == [-3, -2, -1, 0, 1, 2, 3]
    assert reference_sources("eq8", "P", "R") == ("R", "R", "P", "P")
    assert reference_sources("eq9", "P", "R") == ("P", "R", "R", "P")
    assert reference_sources("eq10", "P", "R") == ("P", "R", "P", "P")
    with pytest.raises(ValueError):
        reference_sources("eq7", "P", "R")


@pytest.mark.parametrize("s,sp", [(3, 1), (3, 2), (5, 1), (5, 2), (4, 2)])
def test_san_self_attention_matches_numpy(s, sp):
    x = rand(2, 6, 6, 8)
    layer = SANAttention(patch_size=s, share_planes=sp, hidden_channels=12)
    y = layer(x).numpy()
    ref, kernels = np_san(layer, x, x, x, x)
    np.testing.assert_allclose(y, ref, atol=1e-4, rtol=1e-4)
    w = layer.attention_kernel(x).numpy()
    assert w.shape == (2, 6, 6, s * s, 8 // sp)
    np.testing.assert_allclose(w, kernels, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("variant", ["eq8", "eq9", "eq10"])
def test_san_reference_attention_matches_numpy(variant):
    t_pri, t_ref = rand(2, 6, 6, 8, seed=1), rand(2, 6, 6, 8, seed=2)
    layer = SANAttention(patch_size=3, share_planes=2)
    k_in, q_in, v_in, res = reference_sources(variant, t_pri, t_ref)
    y = layer(k_in, q_in, v_in, residual=res).numpy()
    ref, kernels = np_san(layer, k_in, q_in, v_in, res)
    np.testing.assert_allclose(y, ref, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(layer.attention_kernel(k_in, q_in).numpy(), kernels, atol=1e-4, rtol=1e-4)
    # A missing residual defaults to key_input (so layer(T) is Eq. 7).
    np.testing.assert_allclose(layer(k_in, q_in, v_in).numpy(), ref - res + k_in, atol=1e-4, rtol=1e-4)
    # The sources really differ: swapping them (e.g. the literal self-attention of T_pri) changes the output.
    assert not np.allclose(y, np_san(layer, t_pri, t_pri, t_pri, t_pri)[0], atol=1e-3)


def test_san_reference_output_changes_with_either_source():
    t_pri, t_ref = rand(1, 6, 6, 8, seed=1), rand(1, 6, 6, 8, seed=2)
    layer = SANAttention(patch_size=3, share_planes=2)
    run = lambda p, r: layer(*reference_sources("eq8", p, r)[:3], residual=p).numpy()
    y = run(t_pri, t_ref)
    assert np.abs(run(t_pri, t_ref + 1.0) - y).max() > 1e-3  # Eq. 8: only the reference changed
    assert np.abs(run(t_pri + 1.0, t_ref) - (y + 1.0)).max() > 1e-3  # value path, not just the residual


@pytest.mark.parametrize("s", [3, 4])
def test_san_locality(s):
    x = rand(1, 8, 8, 8)
    layer = SANAttention(patch_size=s, share_planes=2)
    y = layer(x).numpy()
    i = j = 4
    lo, hi = window_offsets(s)[0], window_offsets(s)[-1]
    for di, dj, inside in [(lo, 0, True), (hi, hi, True), (0, hi + 1, False), (lo - 1, 0, False),
                           (hi + 1, lo, False)]:
        x2 = x.copy()
        x2[0, i + di, j + dj] += 3.0
        changed = np.abs(layer(x2).numpy()[0, i, j] - y[0, i, j]).max()
        if inside:
            assert changed > 1e-4, (di, dj)
        else:
            assert changed == 0.0, (di, dj)


@pytest.mark.parametrize("c", [128, 512])
def test_san_cost_not_above_3x3_conv(c):
    """Defaults, s=7: C=128: 122,864 params, 128,128 MACs/position vs the 3x3 conv's 147,584 / 147,456;
    C=512: 1,953,728 / 1,974,784 vs 2,359,808 / 2,359,296 (about 7.44 C^2 vs 9 C^2, cf. Table 4)."""
    layer = SANAttention()
    layer.build((None, 4, 4, c))
    params, macs = san_cost(c)
    assert layer.count_params() == params
    conv_params, conv_macs = conv3x3_cost(c)
    assert params <= conv_params == 9 * c * c + c
    assert macs <= conv_macs
    if c == 128:
        assert layer(rand(1, 4, 4, c)).shape == (1, 4, 4, c)


def test_san_xla_and_gradients():
    t_pri, t_ref = tf.constant(rand(2, 5, 5, 16, seed=3)), tf.constant(rand(2, 5, 5, 16, seed=4))
    layer = SANAttention(patch_size=4)

    def loss_and_grads(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            y = layer(*reference_sources("eq8", a, b))
            loss = tf.reduce_sum(tf.square(y))
        return y, tape.gradient(loss, [a, b] + layer.trainable_weights)

    y_eager, g_eager = loss_and_grads(t_pri, t_ref)
    y_xla, g_xla = tf.function(loss_and_grads, jit_compile=True)(t_pri, t_ref)
    np.testing.assert_allclose(y_xla.numpy(), y_eager.numpy(), atol=1e-4, rtol=1e-4)
    assert len(g_xla) == 2 + 10
    for ge, gx in zip(g_eager, g_xla):
        assert gx is not None and np.abs(gx.numpy()).max() > 0
        np.testing.assert_allclose(gx.numpy(), ge.numpy(), atol=1e-3, rtol=1e-3)


def literal_san(layer, k_in, q_in, v_in, res):
    """The layer computed literally: Eq. 4 and Eq. 6 with tf.image.extract_patches of K and V."""
    w = layer.kernel_from_patches(k_in, q_in)
    return layer.aggregate_from_patches(w, layer.value_conv(v_in)) + res


@pytest.mark.parametrize("s,sp,c", [(3, 2, 8), (4, 1, 8), (7, 8, 16)])
def test_san_fast_path_matches_extract_patches_with_gradients(s, sp, c):
    """The s x s convolution form of FC1 and the XLA aggregation with its hand-written backward give the
    literal extract_patches computation, its gradients and its gradients of gradients (R1, path length)."""
    t_pri, t_ref = tf.constant(rand(2, 9, 9, c, seed=8)), tf.constant(rand(2, 9, 9, c, seed=9))
    layer = SANAttention(patch_size=s, share_planes=sp)
    srcs = reference_sources("eq10", t_pri, t_ref)
    layer(*srcs[:3], residual=srcs[3])
    np.testing.assert_allclose(layer.attention_kernel(*srcs[:2]).numpy(),
                               layer.kernel_from_patches(*srcs[:2]).numpy(), atol=1e-5, rtol=1e-4)

    def grads(fn, a, b):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch([a, b])
                k, q, v, r = reference_sources("eq10", a, b)
                y = fn(layer, k, q, v, r)
                loss = tf.reduce_sum(tf.square(y) * tf.sin(y))
            g = inner.gradient(loss, [a, b] + layer.trainable_weights)
            penalty = tf.reduce_sum(tf.square(g[0])) + tf.reduce_sum(tf.square(g[1]))
        return [y] + g + outer.gradient(penalty, layer.trainable_weights)

    fast = grads(lambda lyr, *xs: lyr(*xs[:3], residual=xs[3]), t_pri, t_ref)
    literal = grads(literal_san, t_pri, t_ref)
    assert len(fast) == 1 + 2 + 10 + 10
    for f, l in zip(fast, literal):
        assert f is not None and np.abs(f.numpy()).max() > 0
        np.testing.assert_allclose(f.numpy(), l.numpy(), atol=1e-3 * np.abs(l.numpy()).max(), rtol=1e-3)


def test_san_get_config_round_trip():
    layer = SANAttention(patch_size=5, kq_channels=3, hidden_channels=10, share_planes=4, kernel_gain=0.5,
                         name="san")
    x = rand(2, 6, 6, 8)
    y = layer(x).numpy()
    clone = SANAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y, atol=1e-6)
    with pytest.raises(ValueError):
        SANAttention(share_planes=3).build((None, 4, 4, 8))


def np_sagan(layer, k_in, q_in, v_in, res):
    """SAGAN Eq. 1-3 with the layer's weights, on flattened positions."""
    B, H, W, C = q_in.shape
    flat = lambda t: t.reshape(t.shape[0], -1, t.shape[-1])
    f = flat(np_conv1x1(layer.f_conv, k_in, False))
    g = flat(np_conv1x1(layer.g_conv, q_in, False))
    h = flat(np_conv1x1(layer.h_conv, v_in, False))
    s = np.einsum("bjc,bic->bji", g, f)  # s_ij = f(x_i)^T g(x_j), indexed [j, i]
    beta = np.exp(s - s.max(-1, keepdims=True))
    beta /= beta.sum(-1, keepdims=True)  # Eq. 1: softmax over i
    o = np_conv1x1(layer.v_conv, np.einsum("bji,bid->bjd", beta, h), False)  # Eq. 2
    return float(layer.gamma.numpy()) * o.reshape(B, H, W, C) + res, beta  # Eq. 3


def test_sagan_identity_at_init_and_matches_numpy():
    x = rand(2, 4, 5, 16, seed=5)
    layer = SAGANAttention()
    np.testing.assert_array_equal(layer(x).numpy(), x)  # gamma = 0
    layer.gamma.assign(1.0)
    y = layer(x).numpy()
    ref, beta = np_sagan(layer, x, x, x, x)
    assert np.abs(y - x).max() > 1e-2
    np.testing.assert_allclose(y, ref, atol=1e-4, rtol=1e-4)
    att = layer.attention_map(x).numpy()
    assert att.shape == (2, 20, 20)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(att, beta, atol=1e-5)


def test_sagan_reference_form_and_config():
    t_pri, t_ref = rand(1, 4, 4, 16, seed=6), rand(1, 4, 4, 16, seed=7)
    layer = SAGANAttention(kq_channels=4, value_channels=6, name="sagan")
    layer(t_pri)
    layer.gamma.assign(0.7)
    args = reference_sources("eq9", t_pri, t_ref)  # f and residual from T_pri, g and h from T_ref
    y = layer(*args[:3], residual=args[3]).numpy()
    np.testing.assert_allclose(y, np_sagan(layer, *args)[0], atol=1e-4, rtol=1e-4)
    clone = SAGANAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build(t_pri.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(*args[:3], residual=args[3]).numpy(), y, atol=1e-6)
