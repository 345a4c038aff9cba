"""Spectral normalization (Miyato et al. 2018) as the ``weight_norm="spectral"`` parameterization:
sigma against NumPy, unit spectral norm after power iterations, purity of the forward, XLA, gradients,
configs, networks, and MirroredStrategy against one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers import EqualizedConv2D, EqualizedDense, ModulatedConv2D, ToRGB, spectral_update
from keras_attngan.layers.spectral import check_weight_norm, spectral_layers
from keras_attngan.networks import Discriminator, Generator
from tests.helpers import mirrored

TINY = dict(fmap_base=64, fmap_max=16)


def built(layer, *shapes):
    layer.build(*shapes)
    return layer


def dense():
    return built(EqualizedDense(5, weight_norm="spectral"), (None, 7))


def conv():
    return built(EqualizedConv2D(6, 3, down=True, weight_norm="spectral"), (None, 8, 8, 4))


def modconv():
    return built(ModulatedConv2D(6, 3, weight_norm="spectral"), (None, 8, 8, 4), (None, 5))


def np_power_iteration(kernel, u):
    """Algorithm 1 of Miyato et al. with W = reshape(K, [fan_in, out])^T, in float64."""
    W = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64).T   # [out, fan_in]
    v = W.T @ u
    v /= np.linalg.norm(v)
    u2 = W @ v
    u2 /= np.linalg.norm(u2)
    return u2 @ W @ v, u2


def normalized_matrix(layer):
    w = layer.runtime_kernel(tf.float32).numpy()
    return w.reshape(-1, w.shape[-1])


@pytest.mark.parametrize("make", [dense, conv, modconv], ids=["dense", "conv", "modconv"])
def test_unit_spectral_norm_after_power_iterations(make):
    # Seeded: how fast the power iteration converges depends on the gap between the top two singular values
    # of the random kernel (an unseeded modconv kernel once needed more than 50 iterations).
    keras.utils.set_random_seed(0)
    layer = make()
    for _ in range(200):
        layer.power_iterate()
    assert abs(np.linalg.svd(normalized_matrix(layer), compute_uv=False)[0] - 1.0) < 1e-3


@pytest.mark.parametrize("make", [dense, conv, modconv], ids=["dense", "conv", "modconv"])
def test_sigma_matches_numpy(make):
    layer = make()
    layer.sn_u.assign(np.random.RandomState(1).normal(size=layer.sn_u.shape).astype(np.float32))
    sigma, u2 = np_power_iteration(layer.kernel.numpy(), layer.sn_u.numpy().astype(np.float64))
    np.testing.assert_allclose(float(layer.sigma()), sigma, rtol=1e-5)
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(normalized_matrix(layer), kernel.reshape(-1, kernel.shape[-1]) / sigma,
                               rtol=1e-5, atol=1e-7)
    layer.power_iterate()
    np.testing.assert_allclose(layer.sn_u.numpy(), u2, rtol=1e-5, atol=1e-7)


def test_modulated_affine_stays_equalized():
    # SN would cap the spread of the styles over w: the SAGAN recipe mode-collapsed that way (Generator).
    layer = modconv()
    assert layer.affine.weight_norm == "equalized"
    assert [id(l) for l in spectral_layers(layer)] == [id(layer)]


def test_forward_is_pure_and_u_not_trainable():
    layer = conv()
    x = tf.random.normal([2, 8, 8, 4])
    u0 = layer.sn_u.numpy().copy()
    assert not layer.sn_u.trainable
    ids = lambda variables: {id(v) for v in variables}  # noqa: E731 -- `in` would compare tensors
    assert id(layer.sn_u) not in ids(layer.trainable_variables)
    assert id(layer.sn_u) in ids(layer.non_trainable_variables)
    np.testing.assert_allclose(np.linalg.norm(u0), 1.0, rtol=1e-6)
    y1 = layer(x)
    with tf.GradientTape():
        layer(x)
    tf.function(layer, jit_compile=True)(x)
    np.testing.assert_array_equal(layer.sn_u.numpy(), u0)  # no forward assigns u
    np.testing.assert_array_equal(layer(x).numpy(), y1.numpy())
    layer.power_iterate()
    assert not np.array_equal(layer.sn_u.numpy(), u0)


@pytest.mark.parametrize("make", [dense, conv, modconv], ids=["dense", "conv", "modconv"])
def test_gradients_reach_the_kernel(make):
    layer = make()
    if isinstance(layer, ModulatedConv2D):
        args = (tf.random.normal([2, 8, 8, 4]), tf.random.normal([2, 5]))
    else:
        args = (tf.random.normal([2, 8, 8, 4] if isinstance(layer, EqualizedConv2D) else [2, 7]),)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(*args)))
    grads = tape.gradient(loss, layer.trainable_variables)
    names = [v.name for v in layer.trainable_variables]
    g = grads[names.index("kernel")].numpy()
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    assert "sn_u" not in names


def test_gradient_is_the_papers_formula():
    """d/dK <C, K/sigma> = (C - <C, K_SN> v u'^T) / sigma with u', v the constant singular vectors."""
    layer = dense()
    c = np.random.RandomState(2).normal(size=layer.kernel.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        k_sn = layer.runtime_kernel(tf.float32)
        loss = tf.reduce_sum(c * k_sn)
    got = tape.gradient(loss, layer.kernel).numpy()
    sigma, u2 = np_power_iteration(layer.kernel.numpy(), layer.sn_u.numpy().astype(np.float64))
    k = layer.kernel.numpy().astype(np.float64)
    v = k @ layer.sn_u.numpy()
    v /= np.linalg.norm(v)
    want = (c - np.sum(c * k / sigma) * np.outer(v, u2)) / sigma
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_forward_compiles_with_xla():
    layer = conv()
    x = tf.random.normal([2, 8, 8, 4])
    np.testing.assert_allclose(tf.function(layer, jit_compile=True)(x).numpy(), layer(x).numpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls,args", [(EqualizedDense, (5,)), (EqualizedConv2D, (6,)),
                                      (ModulatedConv2D, (6,)), (ToRGB, (3,))])
def test_layer_config_round_trip(cls, args):
    layer = cls(*args, weight_norm="spectral")
    config = layer.get_config()
    assert config["weight_norm"] == "spectral"
    assert cls.from_config(config).get_config() == config


def test_bad_weight_norm_is_one_line():
    with pytest.raises(ValueError, match=r"^weight_norm='x' is not one of equalized, spectral$"):
        EqualizedDense(4, weight_norm="x")
    with pytest.raises(ValueError, match="weight_norm='x' is not one of equalized, spectral"):
        Discriminator(8, 1, weight_norm="x", **TINY)
    with pytest.raises(ValueError, match=r"^MinibatchStdDev: weight_norm='spectral' is not one of equalized$"):
        check_weight_norm("spectral", ("equalized",), owner="MinibatchStdDev")


@pytest.mark.parametrize("cls,args,kwargs", [
    (EqualizedDense, ((None, 7),), dict(units=5, lr_mul=0.01, bias_init=1.0)),
    (EqualizedConv2D, ((None, 8, 8, 4),), dict(filters=6, down=True, activation="lrelu")),
    (ModulatedConv2D, ((None, 8, 8, 4), (None, 5)), dict(filters=6, up=True, use_noise=False)),
])
def test_equalized_is_bit_identical_to_the_default(cls, args, kwargs):
    outs = []
    for extra in ({}, {"weight_norm": "equalized"}):
        tf.keras.utils.set_random_seed(3)
        layer = built(cls(**kwargs, **extra), *args)
        inputs = [tf.random.normal([2] + list(s[1:]), seed=1) for s in args]
        outs.append((layer(*inputs).numpy(), [w.numpy() for w in layer.weights]))
        assert not spectral_layers(layer)
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_init_is_lecun_over_lr_mul_and_lr_mul_changes_storage_not_function():
    outs = []
    for lr_mul in (1.0, 0.01):
        tf.keras.utils.set_random_seed(5)
        layer = built(EqualizedDense(64, lr_mul=lr_mul, bias_init=0.5, weight_norm="spectral"), (None, 256))
        np.testing.assert_allclose(layer.kernel.numpy().std() * lr_mul, 1 / np.sqrt(256), rtol=0.03)
        outs.append(layer(tf.random.normal([3, 256], seed=2)).numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)  # W / sigma(W) is scale-free


def test_u_is_deterministic_from_the_keras_seed():
    us = []
    for _ in range(2):
        tf.keras.utils.set_random_seed(7)
        us.append(dense().sn_u.numpy())
    np.testing.assert_array_equal(us[0], us[1])


def tiny_g(**kw):
    return Generator(8, 1, z_dim=8, w_dim=8, mapping_layers=2, weight_norm="spectral", **TINY, **kw)


def test_spectral_networks_forward_update_and_round_trip():
    G, D = tiny_g(), Discriminator(8, 1, weight_norm="spectral", **TINY)
    img = G(tf.random.normal([4, 8]), training=True, seed=tf.constant([0, 1]))
    logits = D(img)
    assert img.shape == (4, 8, 8, 1) and logits.shape == (4, 1)
    assert np.isfinite(img.numpy()).all() and np.isfinite(logits.numpy()).all()
    # b4: conv1 + torgb, b8: conv0, conv1, torgb; the style path (mapping FCs, affines) stays equalized
    assert spectral_update(G) == 5
    assert not spectral_layers(G.mapping)
    # fromrgb, b8 (conv0, conv1, skip), conv, fc, out
    assert spectral_update(D) == 7
    for net, cls in ((G, Generator), (D, Discriminator)):
        config = net.get_config()
        assert config["weight_norm"] == "spectral"
        clone = cls.from_config(config)
        assert clone.get_config() == config
        assert len(clone.weights) == len(net.weights)
    assert Generator.from_config(G.get_config()).synthesis.blocks[-1].torgb.weight_norm == "spectral"
    plain = Discriminator(8, 1, **TINY)
    assert plain.get_config()["weight_norm"] == "equalized" and spectral_update(plain) == 0


def test_mirrored_forward_and_power_iterate_match_one_device():
    tf.keras.utils.set_random_seed(11)
    D1 = Discriminator(8, 1, mbstd_group=2, weight_norm="spectral", **TINY)
    strategy = mirrored()
    with strategy.scope():
        D2 = Discriminator(8, 1, mbstd_group=2, weight_norm="spectral", **TINY)
    for src, dst in zip(D1.weights, D2.weights):
        dst.assign(src.numpy())
    img = np.random.RandomState(0).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)

    def step(x):
        logits = tf.function(D2, jit_compile=True)(x)  # the per-replica XLA forward, as in the trainer
        spectral_update(D2)                             # assigns outside XLA, in replica context
        return logits

    dist = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(img))
    for _ in range(2):
        want = D1(img).numpy()
        spectral_update(D1)
        per_replica = tf.function(lambda x: strategy.run(step, args=(x,)))(next(iter(dist)))
        got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for a, b in zip(D1.weights, D2.weights):
        for replica_value in strategy.experimental_local_results(b):
            np.testing.assert_allclose(replica_value.numpy(), a.numpy(), rtol=1e-5, atol=1e-7)
