"""Class-conditional G and D (model.num_classes, issue 26): the label embedding at G's mapping input, the
projection discriminator against a NumPy formula, fake labels drawn per (seed, step) and per replica, resume,
the refusal of an unconditional run, and one tiny training step for each D option the conditional configs use."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import rng
from keras_attngan.networks import Discriminator, Generator
from keras_attngan.networks.mapping import normalize_2nd_moment
from keras_attngan.training import loop
from keras_attngan.training.setup import build_trainer
from tests.helpers import FAST, all_weights, mirrored, tiny_config
from tests.test_distribute import assert_same_run
from tests.test_training import run_steps, straight_and_resumed

K = 10  # the embedded Fashion-MNIST subset's classes


def cond_config(resolution=8, batch_size=4, **train):
    c = tiny_config(resolution=resolution, batch_size=batch_size, **train)
    c.model.update(num_classes=K, d_mapping_layers=2)
    c.data.labels = True
    return c


def labelled_batches(config, n_batches=4, seed=0):
    """A repeating dataset of {"image": reals in [-1, 1], "label": int labels} (fixed, unshuffled)."""
    m, b = config.model, config.train.batch_size
    r = np.random.RandomState(seed)
    x = r.uniform(-1, 1, (n_batches * b, m.resolution, m.resolution, m.img_channels)).astype(np.float32)
    y = r.randint(0, m.num_classes, n_batches * b).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices({"image": x, "label": y}).batch(b, drop_remainder=True).repeat()


def test_projection_matches_numpy():
    """Miyato & Koyama's projection in StyleGAN2-ADA's form: D(x, y) = <phi(x), e(y)> / sqrt(cmap_dim)."""
    D = Discriminator(8, 1, 64, 16, num_classes=3, mapping_layers=1, name="d")
    x = tf.random.stateless_normal([4, 8, 8, 1], [1, 2])
    y = np.array([0, 2, 1, 2], np.int32)
    _, fc = D(x, labels=y, return_features=True)
    phi = D.out(fc).numpy()                                    # [B, cmap_dim]
    # e(y): the label mapping by hand: one-hot -> equalized embed -> 2nd-moment norm -> one lrelu FC.
    m = D.label_mapping
    emb_w = m.embed.kernel.numpy() / math.sqrt(3)              # equalized lr: weights scaled by 1/sqrt(fan_in)
    e = np.eye(3)[y] @ emb_w + m.embed.bias.numpy()
    e = e / np.sqrt(np.mean(e ** 2, axis=1, keepdims=True) + 1e-8)
    fc0 = m.fcs[0]
    h = e @ (fc0.kernel.numpy() * fc0.lr_mul / math.sqrt(e.shape[1])) + fc0.bias.numpy() * fc0.lr_mul
    h = np.where(h >= 0, h, 0.2 * h) * math.sqrt(2)            # StyleGAN2's lrelu with gain sqrt(2)
    expected = np.sum(phi * h, axis=1, keepdims=True) / math.sqrt(D.cmap_dim)
    np.testing.assert_allclose(D(x, labels=y).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert D.cmap_dim == 16 and phi.shape == (4, 16)  # cmap_dim 0 -> nf(4)


def test_label_embedding_shapes_and_one_hot_mask():
    """The label enters as a one-hot row of the embedding: changing class 2's row changes only the samples
    of class 2; the embedding is normalised to unit second moment and joined with z at the mapping input."""
    G = Generator(8, 1, 16, 8, 2, fmap_base=64, fmap_max=16, num_classes=4, name="g")
    m = G.mapping
    assert m.embed.kernel.shape == (4, 8) and m.fcs[0].kernel.shape == (16 + 8, 8)
    assert m.class_w_avg.shape == (4, 8)
    z = tf.random.stateless_normal([6, 16], [3, 4])
    y = tf.constant([0, 1, 2, 3, 2, 0])
    w = m(z, y).numpy()
    kernel = m.embed.kernel.numpy()
    m.embed.kernel.assign(kernel + np.eye(4)[2][:, None] * 0.5)
    changed = np.any(np.abs(m(z, y).numpy() - w) > 1e-6, axis=1)
    np.testing.assert_array_equal(changed, y.numpy() == 2)
    emb = normalize_2nd_moment(m.embed(tf.one_hot(y, 4))).numpy()
    np.testing.assert_allclose(np.mean(emb ** 2, axis=1), 1.0, rtol=1e-5)
    assert G(z, labels=y).shape == (6, 8, 8, 1)
    with pytest.raises(ValueError, match="class-conditional .*pass labels"):
        G(z)


def test_truncation_moves_towards_the_class_mean():
    G = Generator(8, 1, 16, 8, 2, fmap_base=64, fmap_max=16, num_classes=3, name="g")
    G.mapping.class_w_avg.assign(np.arange(24, dtype=np.float32).reshape(3, 8))
    y = tf.constant([2, 0])
    ws = G.map(tf.random.stateless_normal([2, 16], [5, 6]), psi=0.0, labels=y).numpy()
    np.testing.assert_allclose(ws[:, 0], G.mapping.class_w_avg.numpy()[[2, 0]])


def test_class_w_avg_tracks_each_class_mean():
    G = Generator(8, 1, 16, 4, 1, fmap_base=64, fmap_max=16, num_classes=3, name="g")
    w = tf.constant([[1.0] * 4, [3.0] * 4, [10.0] * 4])
    G.mapping.update_w_avg(w, tf.constant([0, 0, 2]), w)
    beta = G.mapping.w_avg_beta
    expected = np.array([[2.0 * (1 - beta)] * 4, [0.0] * 4, [10.0 * (1 - beta)] * 4])  # class 1 absent: unchanged
    np.testing.assert_allclose(G.mapping.class_w_avg.numpy(), expected, rtol=1e-5)


def test_fake_labels_follow_the_class_frequencies_and_replicas_slice_the_global_draw():
    probs = np.array([0.5, 0.0, 0.3, 0.2])
    seed = tf.constant([7, 11], tf.int64)
    labels = rng.batch_categorical(20000, probs, seed).numpy()
    np.testing.assert_allclose(np.bincount(labels, minlength=4) / 20000, probs, atol=0.015)
    assert not np.any(labels == 1)  # a class without images is never drawn
    strategy = mirrored()
    per_replica = strategy.run(tf.function(lambda: rng.batch_categorical(4, probs, seed)))
    a, b = (t.numpy() for t in strategy.experimental_local_results(per_replica))
    np.testing.assert_array_equal(np.concatenate([a, b]), rng.batch_categorical(8, probs, seed).numpy())


def test_labels_come_from_the_data_and_mirrored_equals_one_device():
    config = cond_config(batch_size=8, pl_weight=2.0)  # R1 and path length every step: one traced variant
    trainer = build_trainer(config)
    embedded = np.load("keras_attngan/data/embedded/fashion_mnist_5k.npz")["y"]
    np.testing.assert_allclose(trainer.label_probs, np.bincount(embedded, minlength=K) / len(embedded))

    def state(strategy=None):
        t = build_trainer(config, strategy)
        logs = run_steps(t, labelled_batches(config), 3)
        s = all_weights(t.generator, t.discriminator, t.g_ema) + [t.generator.mapping.class_w_avg.numpy()]
        names = [w.path for m in (t.generator, t.discriminator, t.g_ema) for w in m.weights] + ["class_w_avg"]
        return logs, s, names

    single = state()
    assert np.abs(single[1][-1]).sum() > 0  # the per-class means moved
    assert_same_run(single, state(mirrored()))


def test_resume_draws_the_same_labels(tmp_path):
    """4 steps straight == 2 steps, checkpoint, restore, 2 more: the fakes' labels (drawn from (seed, step))
    and so every weight agree."""
    config = cond_config()
    straight, second = straight_and_resumed(config, labelled_batches(config), tmp_path)
    for a, b in zip(all_weights(straight.generator, straight.discriminator, straight.g_ema),
                    all_weights(second.generator, second.discriminator, second.g_ema)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    seed = tf.constant([3, 9], tf.int64)
    np.testing.assert_array_equal(straight.draw_labels(8, seed).numpy(), second.draw_labels(8, seed).numpy())


def test_unconditional_run_refuses_num_classes_on_resume(finished_run):
    config = cond_config(8, **FAST)
    with pytest.raises(ValueError, match=r"unconditional run \(model\.num_classes=0\) and cannot resume with model"):
        loop.train(config, str(finished_run), verbose=0)


def test_bad_settings_are_one_line():
    config = cond_config()
    config.data.labels = False
    from keras_attngan.config import validate
    with pytest.raises(ValueError, match="set data.labels=True"):
        validate(config)
    config = cond_config()
    config.model.num_classes = 7
    with pytest.raises(ValueError, match="has 10 classes: set model.num_classes=10"):
        build_trainer(config)


# Every D option the conditional configs use, and every loss of the menu, in one tiny step each.
COMBOS = {
    "sagan_hinge_sn_self_attention": dict(loss="hinge", d_weight_norm="spectral", d_mapping_layers=0,
                                          d_attention=dict(type="self", module="sagan", resolution=8)),
    "reference_dual_contrastive": dict(loss="dual_contrastive",
                                       d_attention=dict(type="reference", module="san", resolution=8, patch_size=3,
                                                        share_planes=4)),
    "contrad_saturating": dict(loss="saturating", contrad=dict(enabled=True, hidden=16, proj_dim=8)),
    "ggdr_wgan_gp": dict(loss="wgan_gp", ggdr=dict(weight=10.0, resolution=8)),
}  # ns: the demo's step, test_labels_come_from_the_data_and_mirrored_equals_one_device; under XLA: test_xla_menu


@pytest.mark.parametrize("combo", list(COMBOS))
def test_one_conditional_step_per_d_option(combo):
    opts = dict(COMBOS[combo])
    config = cond_config(r1_interval=1, pl_interval=1)
    config.loss.name = opts.pop("loss")
    for key in ("contrad", "ggdr"):
        if key in opts:
            config[key].update(**opts.pop(key))
    if "d_attention" in opts:
        config.model.d_attention.update(**opts.pop("d_attention"))
    config.model.update(**opts)
    trainer = build_trainer(config)
    data = labelled_batches(config)
    if trainer.discriminator.uses_reference:  # (reals, references) with labels: the training pipeline's dict
        data = data.map(lambda b: {**b, "reference": b["image"][::-1]})
    logs = run_steps(trainer, data, 1)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["r1_penalty"] > 0


@pytest.mark.parametrize("name", ["demo_cond", "fashion_mnist_cond", "sagan_fashion_mnist_cond", "sagan_256_cond"])
def test_conditional_configs(name):
    import importlib

    from keras_attngan.config import validate
    c = validate(importlib.import_module(f"configs.{name}").get_config())
    assert c.data.labels and c.model.num_classes == (1000 if name == "sagan_256_cond" else 10)
    if name.startswith("sagan"):  # SAGAN's projection: the label embedding straight into the inner product
        assert c.loss.name == "hinge" and c.model.d_weight_norm == "spectral" and c.model.d_mapping_layers == 0
    else:  # StyleGAN2-ADA's conditioning
        assert c.model.d_mapping_layers == 8


def test_ppl_walks_within_a_class():
    """PPL of a conditional G: both ends of each pair share a label, so at epsilon -> 0 the pair's images agree
    (a label change between the ends would make d / eps^2 explode)."""
    from keras_attngan.metrics.ppl import path_length_samples
    G = Generator(8, 1, 16, 8, 2, fmap_base=64, fmap_max=16, num_classes=3, name="g")

    def distance(a, b):
        return tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])

    values = path_length_samples(G, distance, 8, space="w", sampling="full", batch_size=4)
    assert values.shape == (8,) and np.all(np.isfinite(values)) and values.max() < 1e3


def test_projection_statistics_of_a_conditional_generator():
    """project_main's start (w_avg, w_std) maps samples with every class in turn; the projection then works in
    the W space all classes share."""
    from keras_attngan.generation import KerasSource
    from keras_attngan.generation.projector import w_statistics
    G = Generator(8, 1, 16, 8, 2, fmap_base=64, fmap_max=16, num_classes=3, name="g")
    w_avg, w_std = w_statistics(KerasSource(G), samples=30)
    z = np.random.RandomState(0).randn(30, 16).astype(np.float32)
    expected = G.map(tf.constant(z), labels=tf.constant(np.arange(30) % 3))[:, 0].numpy().mean(0)
    np.testing.assert_allclose(w_avg, expected, rtol=1e-5, atol=1e-6)
    assert w_std > 0


def test_a_conditional_run_trains_end_to_end_with_a_row_per_class(tmp_path):
    """loop.train on the embedded labelled data: config.json records the classes and every sample grid shows
    one class per row (num_images // num_classes columns)."""
    import json

    config = cond_config(8, grid_size=20, **FAST)
    loop.train(config, str(tmp_path), verbose=0)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["num_classes"] == K and saved["data"]["class_names"][7] == "Sneaker"
    grid = tf.io.decode_png(tf.io.read_file(str(tmp_path / "samples" / "fakes000000.png"))).numpy()
    assert grid.shape == (10 * 8, 2 * 8, 1)  # 20 images: 10 rows (one per class) of 2
