"""Attention wired into the networks: placement in G, self/reference attention in D, the paper configs."""

import importlib

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.layers.attention import SANAttention, make_attention
from keras_attngan.layers.modulated_conv import ModulatedConv2D
from keras_attngan.networks import Discriminator, Generator
from keras_attngan.training.loop import make_dataset
from keras_attngan.training.setup import build_trainer
from tests.test_training import run_steps

SMALL = dict(z_dim=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16)
SAN = dict(type="san", resolution=16, patch_size=3, share_planes=4)


@pytest.mark.parametrize("kind", ["san", "sagan", "dfn", "vt"])
def test_generator_attention_replaces_conv1_at_its_resolution(kind):
    G = Generator(16, 1, attention=dict(SAN, type=kind), **SMALL)
    plain = Generator(16, 1, **SMALL)
    block = G.synthesis.blocks[-1]
    assert block.resolution == 16 and not isinstance(block.conv1, ModulatedConv2D)
    assert isinstance(block.conv0, ModulatedConv2D)  # the up-sampling conv stays
    assert all(isinstance(b.conv1, ModulatedConv2D) for b in G.synthesis.blocks[:-1])
    assert G.num_ws == plain.num_ws
    img = G(tf.random.normal([2, 16]), training=True, seed=tf.constant([1, 2]))
    assert img.shape == (2, 16, 16, 1) and np.isfinite(img.numpy()).all()
    clone = Generator.from_config(G.get_config())
    assert clone.get_config() == G.get_config() and clone.count_params() == G.count_params()


def test_san_generator_has_no_more_parameters_than_the_convolution_it_replaces():
    kw = dict(z_dim=64, w_dim=64, mapping_layers=2, fmap_base=2048, fmap_max=128)
    plain = Generator(32, 3, **kw)
    san = Generator(32, 3, attention=dict(type="san", resolution=32, patch_size=7, share_planes=8), **kw)
    assert san.count_params() <= plain.count_params()


def test_bad_attention_specs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown attention type"):
        make_attention({"type": "transformerz"})
    with pytest.raises(ValueError, match="attention resolution 64"):
        Generator(16, 1, attention=dict(SAN, resolution=64), **SMALL)
    with pytest.raises(ValueError, match="'self' or 'reference'"):
        Discriminator(16, 1, fmap_base=64, fmap_max=16, attention=dict(type="cross", resolution=8))


def reference_d(variant="eq8", module="san"):
    return Discriminator(16, 1, fmap_base=64, fmap_max=16, attention=dict(
        type="reference", module=module, variant=variant, resolution=8, patch_size=3, share_planes=4))


def test_reference_discriminator_depends_on_the_reference():
    D = reference_d()
    assert isinstance(D.attn_layer, SANAttention)
    rng = np.random.RandomState(0)
    x, r1, r2 = (tf.constant(rng.uniform(-1, 1, (4, 16, 16, 1)), tf.float32) for _ in range(3))
    a, b = D(x, reference=r1).numpy(), D(x, reference=r2).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_allclose(D(x, reference=r1).numpy(), a)  # deterministic
    with pytest.raises(ValueError, match="reference="):
        D(x)


@pytest.mark.parametrize("variant", ["eq8", "eq9", "eq10"])
def test_reference_discriminator_matches_manual_siamese_forward(variant):
    """Shared layers on both images, the attention sources of the chosen equation, then the tail."""
    from keras_attngan.layers.attention import reference_sources
    D = reference_d(variant)
    rng = np.random.RandomState(1)
    x, r = (tf.constant(rng.uniform(-1, 1, (4, 16, 16, 1)), tf.float32) for _ in range(2))
    tp, tr = D.fromrgb(x), D.fromrgb(r)
    tp, tr = D.blocks[0](tp), D.blocks[0](tr)  # 16 -> 8, shared weights
    k, q, v, res = reference_sources(variant, tp, tr)
    h = D.blocks[1](tp, hidden=D.attn_layer(k, q, v, residual=res))
    want = D.out(D.fc(tf.reshape(D.conv(D.mbstd(h)), [4, -1]))).numpy()
    np.testing.assert_allclose(D(x, reference=r).numpy(), want, rtol=1e-5, atol=1e-5)


def test_self_attention_discriminator():
    D = Discriminator(16, 1, fmap_base=64, fmap_max=16,
                      attention=dict(type="self", module="san", resolution=8, patch_size=3, share_planes=4))
    x = tf.random.normal([4, 16, 16, 1])
    assert D(x).shape == (4, 1) and not D.uses_reference
    assert Discriminator.from_config(D.get_config()).count_params() == D.count_params()


# Every paper config builds; the two that hold every component of the others (SAN in G with the dual contrastive
# loss; SAN in G with reference attention in D) also train a step with every phase (a step per config would
# repeat the same graphs at ~10 s each).
@pytest.mark.parametrize("name", ["stylegan2", "stylegan2_attn", "stylegan2_contr", "stylegan2_attn_contr",
                                  "stylegan2_attn_refattn", "fashion_mnist_attn_contr", "fashion_mnist_refattn"])
def test_paper_config_builds_and_the_supersets_train_one_step(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    config.data.source = "embedded"
    config.data.subset = 0
    config.model.update(resolution=16, img_channels=1, z_dim=16, w_dim=16, mapping_layers=2, fmap_base=64,
                        fmap_max=16, d_fmap_base=0, d_fmap_max=0)
    config.model.g_attention.update(resolution=16, patch_size=3, share_planes=4)
    config.model.d_attention.update(resolution=8, patch_size=3, share_planes=4)
    config.train.update(batch_size=4, pl_interval=1, r1_interval=1)
    config.loss.warmup_kimg = 0.0
    trainer = build_trainer(config)
    G, D = trainer.generator, trainer.discriminator
    assert D.uses_reference == ("refattn" in name)
    assert (G.get_config()["attention"] or {}).get("type") == ("san" if "attn" in name else None), name
    if name in ("stylegan2_attn_contr", "stylegan2_attn_refattn"):
        dataset = make_dataset(config, 0, references=D.uses_reference)
        logs = run_steps(trainer, dataset, 1)
        assert all(np.isfinite(v) for v in logs.values()), logs
    else:  # one forward of G and D in eager mode: the shapes of this config's networks
        images = G(tf.random.normal([2, 16]))
        assert images.shape == (2, 16, 16, 1)
        extra = dict(reference=images) if D.uses_reference else {}
        assert D(images, **extra).shape == (2, 1)
