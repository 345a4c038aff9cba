"""Named intermediate outputs of D and G and heads on D, the hooks ContraD (Jeong & Shin 2021: D's penultimate
feature and projection heads) and GGDR (Lee et al. 2022: D's block maps, a decoder in D, G's block features) use."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers.modulated_conv import ToRGB
from keras_attngan.networks import Discriminator, Generator, num_channels

SMALL = dict(fmap_base=64, fmap_max=16)


def nf(res):
    return num_channels(res, **SMALL)


def images(n=4, res=32, channels=3, seed=0):
    return tf.constant(np.random.RandomState(seed).uniform(-1, 1, (n, res, res, channels)), tf.float32)


def test_discriminator_outputs_have_their_shapes_and_leave_logits_unchanged():
    D = Discriminator(32, 3, **SMALL)
    x = images()
    assert D.output_names() == ["x16", "x8", "x4", "penultimate", "fc"]
    logits, out = D(x, outputs=D.output_names())
    assert list(out) == D.output_names()
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "x16": (4, 16, 16, nf(16)), "x8": (4, 8, 8, nf(8)), "x4": (4, 4, 4, nf(4)),
        "penultimate": (4, 16 * nf(4)), "fc": (4, nf(4))}
    np.testing.assert_array_equal(logits.numpy(), D(x).numpy())
    # x4 feeds the epilogue, penultimate the fc layer, fc the output layer; return_features is unchanged.
    conv = D.conv(D.mbstd(out["x4"]))
    np.testing.assert_allclose(tf.reshape(conv, [4, -1]).numpy(), out["penultimate"].numpy(), atol=1e-6)
    np.testing.assert_allclose(D.out(out["fc"]).numpy(), logits.numpy(), atol=1e-6)
    np.testing.assert_array_equal(D(x, return_features=True)[1].numpy(), out["fc"].numpy())
    only, picked = D(x, outputs="x8")  # one name alone is a tuple of one
    assert list(picked) == ["x8"] and only.shape == (4, 1)


def test_unknown_output_name_is_one_line_listing_the_valid_names():
    D = Discriminator(16, 1, **SMALL)
    with pytest.raises(ValueError, match=r"^unknown discriminator output 'x2': use x8, x4, penultimate, fc$"):
        D(images(res=16, channels=1), outputs=("fc", "x2"))
    with pytest.raises(ValueError, match="not both"):
        D(images(res=16, channels=1), outputs=("fc",), return_features=True)


def test_reference_discriminator_returns_the_primary_branch():
    D = Discriminator(16, 1, **SMALL, attention=dict(type="reference", module="san", variant="eq8", resolution=8,
                                                      patch_size=3, share_planes=4))
    x, r = images(3, 16, 1, seed=1), images(3, 16, 1, seed=2)
    logits, out = D(x, reference=r, outputs=D.output_names())
    np.testing.assert_array_equal(logits.numpy(), D(x, reference=r).numpy())
    assert {k: v.shape[0] for k, v in out.items()} == {"x8": 3, "x4": 3, "penultimate": 3, "fc": 3}
    # x8 comes before the attention block: the primary half of the Siamese batch.
    np.testing.assert_allclose(out["x8"].numpy(), D.blocks[0](D.fromrgb(x)).numpy(), atol=1e-5)


def test_discriminator_outputs_compile_with_xla():
    D = Discriminator(16, 1, **SMALL)
    x = images(res=16, channels=1)
    names = ("x8", "penultimate")
    want_logits, want = D(x, outputs=names)
    got_logits, got = tf.function(lambda t: D(t, outputs=names), jit_compile=True)(x)
    np.testing.assert_allclose(got_logits.numpy(), want_logits.numpy(), atol=1e-5)
    for name in names:
        np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), atol=1e-5)


def make_generator(res=32, channels=3, **kwargs):
    return Generator(res, channels, z_dim=8, w_dim=8, mapping_layers=2, **SMALL, **kwargs)


def test_synthesis_features_are_the_block_outputs_torgb_sees(monkeypatch):
    G = make_generator()
    ws = G.map(tf.random.normal([2, 8], seed=1))
    plain = G.synthesis(ws, noise_mode="const")  # builds the layer first: its build traces symbolically
    seen = []
    original = ToRGB.call
    monkeypatch.setattr(ToRGB, "call", lambda self, x, *a, **k: (seen.append(x), original(self, x, *a, **k))[1])
    img, feats = G.synthesis(ws, noise_mode="const", return_features=True)
    monkeypatch.undo()
    assert {r: tuple(f.shape) for r, f in feats.items()} == {r: (2, r, r, nf(r)) for r in (4, 8, 16, 32)}
    for f, x in zip(feats.values(), seen):
        np.testing.assert_array_equal(f.numpy(), x.numpy())
    np.testing.assert_array_equal(img.numpy(), plain.numpy())
    _, inputs = G.synthesis(ws, noise_mode="const", return_features="conv1_input")
    assert {r: tuple(f.shape) for r, f in inputs.items()} == {r: (2, r, r, nf(r)) for r in (4, 8, 16, 32)}
    np.testing.assert_array_equal(inputs[4].numpy()[1], G.synthesis.blocks[0].const.numpy())
    with pytest.raises(ValueError, match="conv1_input"):
        G.synthesis(ws, return_features="rgb")


def test_generator_passes_return_features_through_and_compiles_with_xla():
    G = make_generator(16, 1)
    z, seed = tf.random.normal([2, 8], seed=2), tf.constant([5, 6])
    img, feats = G(z, seed=seed, training=True, return_features=True)
    np.testing.assert_array_equal(img.numpy(), G(z, seed=seed, training=True).numpy())
    assert sorted(feats) == [4, 8, 16]
    ws = G.map(z)
    jit_img, jit_feats = tf.function(lambda w: G.synthesis(w, noise_mode="const", return_features=True),
                                     jit_compile=True)(ws)
    want_img, want = G.synthesis(ws, noise_mode="const", return_features=True)
    np.testing.assert_allclose(jit_img.numpy(), want_img.numpy(), atol=1e-4)
    np.testing.assert_allclose(jit_feats[16].numpy(), want[16].numpy(), atol=1e-4)


def test_a_head_joins_d_weights_after_the_existing_ones_and_gets_gradients():
    D = Discriminator(16, 1, **SMALL)
    before, paths = list(D.weights), [w.path for w in D.weights]
    n_trainable = len(D.trainable_variables)
    head = keras.Sequential([keras.layers.Dense(8), keras.layers.LeakyReLU(0.1), keras.layers.Dense(4)], name="proj")
    assert D.add_head("proj", head, (None, 16 * nf(4))) is head
    assert D.heads["proj"] is head and list(D.heads) == ["proj"]
    assert all(a is b for a, b in zip(D.weights, before)) and [w.path for w in D.weights][:len(paths)] == paths
    assert D.weights[len(before):] == head.weights and len(head.weights) == 4
    assert D.trainable_variables[n_trainable:] == head.trainable_variables
    with pytest.raises(ValueError, match="already has a head 'proj'"):
        D.add_head("proj", keras.layers.Dense(2), (None, 4))
    with pytest.raises(TypeError):
        D.heads["other"] = keras.layers.Dense(2)  # read-only: add_head builds and tracks
    D._tracker.lock()  # a D whose build() locked its state still takes heads, and stays locked
    D.add_head("decoder", keras.layers.Conv2D(3, 1), (None, 4, 4, nf(4)))
    assert D._tracker.locked and D.weights[-2:] == D.heads["decoder"].weights

    with tf.GradientTape() as tape:
        logits, out = D(images(res=16, channels=1), outputs=("penultimate",))
        loss = tf.reduce_sum(D.heads["proj"](out["penultimate"]) ** 2) + tf.reduce_sum(logits)
    grads = dict(zip([id(v) for v in D.trainable_variables], tape.gradient(loss, D.trainable_variables)))
    assert all(grads[id(v)] is not None and np.abs(grads[id(v)].numpy()).sum() > 0 for v in head.trainable_variables)
    assert grads[id(D.fromrgb.kernel)] is not None
    assert all(grads[id(v)] is None for v in D.heads["decoder"].trainable_variables)  # not run by call()
