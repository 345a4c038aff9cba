"""DFN and VT generator attention modules (Table 3 of Yu et al., ICCV 2021) against NumPy references,
plus locality / permutation invariances, shapes, XLA, gradients, configs and parameter counts."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers.attention.dfn import DynamicFilterAttention
from keras_attngan.layers.attention.vt import VisualTransformerAttention


def rand(*shape, seed=0):
    return np.random.RandomState(seed).normal(size=shape).astype(np.float32)


def built(layer, shape, seed=0):
    x = rand(*shape, seed=seed)
    layer(x)
    return layer, x


# ---------------------------------------------------------------- DFN

def numpy_dynamic_filter(x, filters, k):
    """Explicit loop over positions: zero-padded k x k neighbourhood sum with per-position filters."""
    b, h, w, c = x.shape
    g = filters.shape[3]
    r = k // 2
    out = np.zeros_like(x, dtype=np.float64)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                for gi in range(g):
                    chans = slice(gi * c // g, (gi + 1) * c // g)
                    for u in range(-r, r + 1):
                        for v in range(-r, r + 1):
                            if 0 <= i + u < h and 0 <= j + v < w:  # zero padding outside the image
                                tap = filters[n, i, j, gi, (u + r) * k + (v + r)]
                                out[n, i, j, chans] += tap * x[n, i + u, j + v, chans]
    return out


@pytest.mark.parametrize("k,groups,normalize", [(3, 1, "softmax"), (3, 2, "none"), (5, 4, "softmax")])
def test_dfn_matches_numpy_loop(k, groups, normalize):
    layer, x = built(DynamicFilterAttention(k, groups, normalize, hidden_channels=6), (2, 5, 4, 4))
    filters = layer.generate_filters(x).numpy()
    assert filters.shape == (2, 5, 4, groups, k * k)
    if normalize == "softmax":
        np.testing.assert_allclose(filters.sum(-1), 1.0, atol=1e-5)
        assert (filters > 0).all()
    expected = numpy_dynamic_filter(x, filters, k) + x
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)


def test_dfn_locality_with_fixed_filters():
    layer, x = built(DynamicFilterAttention(kernel_size=3, normalize="none"), (1, 7, 7, 3))
    filters = layer.generate_filters(x)
    base = layer.dynamic_filter(x, filters).numpy()[0, 3, 3]
    outside, inside = x.copy(), x.copy()
    outside[0, 5, 3] += 10.0  # row distance 2 > r = 1
    outside[0, 0, 6] += 10.0
    inside[0, 4, 2] += 10.0  # within the 3x3 window of (3, 3)
    np.testing.assert_allclose(layer.dynamic_filter(outside, filters).numpy()[0, 3, 3], base, atol=1e-6)
    assert np.abs(layer.dynamic_filter(inside, filters).numpy()[0, 3, 3] - base).max() > 1e-3


@pytest.mark.parametrize("k,normalize", [(1, "none"), (3, "softmax"), (5, "softmax")])
def test_dfn_full_layer_receptive_field(k, normalize):
    # filter at p comes from the filter net's 3x3 conv (radius 1) then a 1x1 conv; the filter then reads
    # radius r = k // 2, so the whole layer's receptive field has radius max(1, r)
    layer, x = built(DynamicFilterAttention(kernel_size=k, normalize=normalize), (1, 11, 11, 4))
    radius, p = max(1, k // 2), (5, 5)
    base = layer(x).numpy()[0, p[0], p[1]]
    far, near = x.copy(), x.copy()
    far[0, p[0] + radius + 1, p[1] - radius] += 5.0
    far[0, 0, 10] += 5.0
    near[0, p[0] - radius, p[1] + radius] += 5.0  # corner of the receptive field
    np.testing.assert_allclose(layer(far).numpy()[0, p[0], p[1]], base, atol=1e-6)
    assert np.abs(layer(near).numpy()[0, p[0], p[1]] - base).max() > 1e-4


def test_dfn_rejects_bad_arguments():
    with pytest.raises(ValueError):
        DynamicFilterAttention(kernel_size=4)
    with pytest.raises(ValueError):
        DynamicFilterAttention(normalize="sigmoid")
    with pytest.raises(ValueError):
        DynamicFilterAttention(groups=3)(rand(1, 4, 4, 8))


# ---------------------------------------------------------------- VT

def eq_dense(layer):
    w = layer.kernel.numpy() * layer.weight_gain
    b = layer.bias.numpy() * layer.lr_mul if layer.use_bias else 0.0
    return w, b


def softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(t, ln):
    mu, var = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
    return (t - mu) / np.sqrt(var + ln.epsilon) * ln.gamma.numpy() + ln.beta.numpy()


def numpy_block(t, block):
    weights = {w.path.split("/attn/")[-1]: w.numpy() for w in block.attn.weights}
    h = layer_norm(t, block.norm_attn)
    q = np.einsum("bld,dhk->blhk", h, weights["query/kernel"]) + weights["query/bias"]
    k = np.einsum("bld,dhk->blhk", h, weights["key/kernel"]) + weights["key/bias"]
    v = np.einsum("bld,dhk->blhk", h, weights["value/kernel"]) + weights["value/bias"]
    att = softmax(np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1]), axis=-1)
    o = np.einsum("bhqs,bshk->bqhk", att, v)
    t = t + np.einsum("bqhk,hkd->bqd", o, weights["attention_output/kernel"]) + weights["attention_output/bias"]
    m = layer_norm(t, block.norm_mlp)
    m = np.maximum(m @ block.mlp_in.kernel.numpy() + block.mlp_in.bias.numpy(), 0.0)
    return t + m @ block.mlp_out.kernel.numpy() + block.mlp_out.bias.numpy()


def numpy_vt(layer, x):
    b, h, w, c = x.shape
    xf = x.reshape(b, h * w, c).astype(np.float64)
    wa, _ = eq_dense(layer.token_logits)
    wv, bv = eq_dense(layer.token_values)
    a = softmax(xf @ wa, axis=1)  # over positions
    tokens = np.einsum("bnl,bnd->bld", a, xf @ wv + bv)
    for block in layer.blocks:
        tokens = numpy_block(tokens, block)
    wq, _ = eq_dense(layer.proj_query)
    wk, _ = eq_dense(layer.proj_key)
    wo, bo = eq_dense(layer.proj_value)
    q, k = xf @ wq, tokens @ wk
    p = softmax(np.einsum("bnk,blk->bnl", q, k) / np.sqrt(wq.shape[1]), axis=-1)  # over tokens
    out = np.einsum("bnl,blc->bnc", p, tokens @ wo + bo)
    return (out + xf).reshape(b, h, w, c), a


def test_vt_matches_numpy_reference():
    layer, x = built(VisualTransformerAttention(num_tokens=5, token_channels=6, num_heads=2, num_layers=2,
                                                mlp_ratio=1.5, key_channels=3), (2, 4, 3, 8))
    expected, attention = numpy_vt(layer, x)
    np.testing.assert_allclose(layer.token_attention(x).numpy(), attention, atol=1e-5)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)


def test_vt_token_attention_sums_to_one_over_positions():
    layer, x = built(VisualTransformerAttention(num_tokens=7), (2, 6, 5, 8))
    a = layer.token_attention(x).numpy()
    assert a.shape == (2, 30, 7)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)


def test_vt_spatial_permutation_equivariance():
    layer, x = built(VisualTransformerAttention(num_tokens=4, num_heads=2), (2, 4, 5, 8))
    perm = np.random.RandomState(1).permutation(20)
    xp = x.reshape(2, 20, 8)[:, perm].reshape(x.shape)
    np.testing.assert_allclose(layer.tokenize(xp).numpy(), layer.tokenize(x).numpy(), atol=1e-5)
    expected = layer(x).numpy().reshape(2, 20, 8)[:, perm].reshape(x.shape)
    np.testing.assert_allclose(layer(xp).numpy(), expected, atol=1e-5)


# ---------------------------------------------------------------- both

MAKERS = {
    "dfn": lambda: DynamicFilterAttention(),
    "dfn_groups": lambda: DynamicFilterAttention(kernel_size=5, groups=4, normalize="none"),
    "vt": lambda: VisualTransformerAttention(num_tokens=4, num_heads=2),
}


@pytest.mark.parametrize("name", ["dfn", "vt"])
@pytest.mark.parametrize("c", [8, 16])
@pytest.mark.parametrize("h", [4, 8])
def test_shapes(name, c, h):
    layer = MAKERS[name]()
    y = layer(rand(2, h, h, c))
    assert y.shape == (2, h, h, c)
    assert layer.compute_output_shape((2, h, h, c)) == (2, h, h, c)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_xla_equals_eager(name):
    layer, x = built(MAKERS[name](), (2, 8, 8, 8))
    xla = tf.function(layer.__call__, jit_compile=True)(tf.constant(x))
    np.testing.assert_allclose(xla.numpy(), layer(x).numpy(), atol=1e-4)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_gradients_reach_input_and_weights(name):
    layer, x = built(MAKERS[name](), (2, 4, 4, 8))
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.sin(layer(x)))
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert len(layer.trainable_weights) > 0
    for var, g in zip(["input"] + [w.path for w in layer.trainable_weights], grads):
        assert g is not None, var
        assert np.isfinite(g.numpy()).all(), var
        # MHA's key bias shifts all logits of a query equally, so softmax makes its gradient exactly zero
        if not var.endswith("key/bias"):
            assert np.abs(g.numpy()).max() > 0, var


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_get_config_round_trip(name):
    layer, x = built(MAKERS[name](), (1, 4, 4, 8))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy(), atol=1e-6)


def test_parameter_counts_at_c128():
    c = 128
    conv = 9 * c * c + c
    dfn = DynamicFilterAttention()
    dfn_dw = DynamicFilterAttention(groups=c)
    vt = VisualTransformerAttention()
    for layer in (dfn, dfn_dw, vt):
        layer.build((None, 8, 8, c))
    # filter net: 3x3 conv C->C (+bias) and 1x1 conv C->G*9 (+bias)
    assert dfn.count_params() == (9 * c * c + c) + (c * 9 + 9)
    assert dfn_dw.count_params() == (9 * c * c + c) + (c * 9 * c + 9 * c)
    d, hidden, tokens = c, 4 * c, 16
    transformer = 4 * (d * d + d) + 2 * 2 * d + (d * hidden + hidden) + (hidden * d + d)
    assert vt.count_params() == c * tokens + (c * d + d) + transformer + c * d + d * d + (d * c + c)
    counts = {"conv3x3": conv, "dfn": dfn.count_params(), "dfn_groups=C": dfn_dw.count_params(),
              "vt": vt.count_params()}
    print({k: f"{v} ({v / conv:.2f}x)" for k, v in counts.items()})
    assert 1.0 < counts["dfn"] / conv < 1.1 and 1.5 < counts["vt"] / conv < 2.5
