"""Generator/discriminator shapes, truncation, style mixing and config round trips."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.networks import Discriminator, Generator, num_channels
from keras_attngan.networks.widths import num_ws

SMALL = dict(fmap_base=64, fmap_max=16)


@pytest.mark.parametrize("resolution,channels", [(8, 1), (16, 3), (32, 1), (64, 3)])
def test_shapes(resolution, channels):
    G = Generator(resolution, channels, z_dim=8, w_dim=8, mapping_layers=2, **SMALL)
    D = Discriminator(resolution, channels, **SMALL)
    z = tf.random.normal([4, 8])
    img = G(z, training=True, seed=tf.constant([0, 1]))
    assert img.shape == (4, resolution, resolution, channels)
    assert G.num_ws == num_ws(resolution) == 2 * int(np.log2(resolution)) - 2
    logits, features = D(img, return_features=True)
    assert logits.shape == (4, 1) and logits.dtype == tf.float32
    assert features.shape == (4, num_channels(4, **SMALL))
    assert np.isfinite(img.numpy()).all() and np.isfinite(logits.numpy()).all()


def test_channel_widths_follow_fmap_base():
    assert [num_channels(r, 8192, 512) for r in (4, 32, 64, 128, 256, 1024)] == [512, 512, 256, 128, 64, 16]


@pytest.mark.parametrize("bad", [6, 4, 2048, 48])
def test_bad_resolution_is_rejected(bad):
    with pytest.raises(ValueError, match="power of two"):
        Generator(bad, 3, **SMALL)


def test_psi_zero_gives_w_avg_image_for_every_z():
    G = Generator(16, 3, z_dim=8, w_dim=8, mapping_layers=2, **SMALL)
    G.mapping.w_avg.assign(np.random.RandomState(0).randn(8).astype(np.float32))
    z = tf.random.normal([5, 8])
    img = G(z, psi=0.0, noise_mode="const").numpy()
    ws_avg = tf.tile(G.mapping.w_avg[None, None], [1, G.num_ws, 1])
    want = G.synthesis(ws_avg, noise_mode="const").numpy()[0]
    for i in range(5):
        np.testing.assert_allclose(img[i], want, atol=1e-5)
    # psi = 1 keeps the images distinct; a cutoff leaves the later layers untouched.
    assert not np.allclose(G(z, noise_mode="const").numpy()[0], G(z, noise_mode="const").numpy()[1])
    ws = G.map(z)
    cut = G.map(z, psi=0.0, truncation_cutoff=2).numpy()
    np.testing.assert_allclose(cut[:, :2], np.broadcast_to(G.mapping.w_avg.numpy(), (5, 2, 8)), atol=1e-6)
    np.testing.assert_allclose(cut[:, 2:], ws.numpy()[:, 2:], atol=1e-6)


def test_style_mixing_uses_two_latents_from_a_cutoff():
    G = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, style_mixing_prob=1.0, **SMALL)
    z = tf.random.normal([3, 8])
    ws = G.map(z)
    mixed = G.mix_styles(z, ws, seed=tf.constant([3, 4])).numpy()
    same = np.all(np.isclose(mixed, ws.numpy()), axis=(0, 2))  # per layer
    cutoff = int(np.argmin(same))
    assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()
    G.style_mixing_prob = 0.0
    np.testing.assert_allclose(G.mix_styles(z, ws, seed=tf.constant([3, 4])).numpy(), ws.numpy())


def test_update_w_avg_is_an_ema():
    G = Generator(8, 1, z_dim=4, w_dim=4, mapping_layers=1, **SMALL)
    w = np.random.RandomState(1).randn(6, 4).astype(np.float32)
    G.mapping.update_w_avg(w)
    np.testing.assert_allclose(G.mapping.w_avg.numpy(), (1 - 0.995) * w.mean(0), rtol=1e-5)


def test_models_round_trip_get_config():
    G = Generator(16, 3, z_dim=8, w_dim=8, mapping_layers=2, style_mixing_prob=0.5, **SMALL)
    D = Discriminator(16, 3, mbstd_group=2, **SMALL)
    for model in (G, D):
        clone = type(model).from_config(model.get_config())
        assert clone.get_config() == model.get_config()
        assert clone.count_params() == model.count_params()
    for layer in (G.mapping, G.synthesis, G.synthesis.blocks[1], D.blocks[0]):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
