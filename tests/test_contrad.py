"""ContraD (Jeong & Shin 2021): its losses against NumPy, where gradients flow, the SimCLR T, training
(step, resume, distributed), the lineval metric and config errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.augment.simclr import LUMA, grayscale
from keras_attngan.config import validate
from keras_attngan.methods.contrad import nt_xent, supcon_fakes
from keras_attngan.metrics import lineval, registry
from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.training.setup import build_trainer
from tests.helpers import all_weights, fixed_batches, mirrored, tiny_config
from tests.test_distribute import assert_same_run, train_state
from tests.test_training import run_steps

SEED = tf.constant([5, 6], tf.int64)


@pytest.fixture(scope="module")
def trained():
    """One tiny ContraD trainer after 2 steps (R1 at step 0): (trainer, weights before, last logs). The
    tests that read it share its build and trace."""
    config = contrad_config()
    trainer = build_trainer(config)
    before = all_weights(trainer.generator, trainer.discriminator)
    return trainer, before, run_steps(trainer, fixed_batches(config), 2)


def contrad_config(**train):
    config = tiny_config(resolution=8, batch_size=8, pl_weight=0.0, **train)
    config.contrad.update(enabled=True, hidden=16, proj_dim=8)
    return config


def unit(rows, seed):
    x = np.random.RandomState(seed).randn(rows, 5)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ----------------------------------------------------------------------------- losses vs NumPy
def np_log_softmax_excluding_self(sim, i):
    others = [k for k in range(len(sim)) if k != i]  # the masked diagonal: never in the denominator
    return sim[i] - np.log(np.sum(np.exp(sim[i, others])))


def test_nt_xent_matches_numpy():
    n, tau = 4, 0.1
    z1, z2 = unit(n, 0), unit(n, 1)
    z = np.concatenate([z1, z2]).astype(np.float64)
    sim = z @ z.T / tau
    expected = -np.mean([np_log_softmax_excluding_self(sim, i)[(i + n) % (2 * n)] for i in range(2 * n)])
    assert float(nt_xent(z1, z2, tau)) == pytest.approx(expected, rel=1e-4)


def test_supcon_of_fakes_matches_numpy():
    """Fake anchors only; the other N - 1 fakes are positives weighted 1/(N-1); all 3N - 1 non-self
    entries in the denominator."""
    n, tau = 4, 0.1
    v1, v2, vf = unit(n, 2), unit(n, 3), unit(n, 4)
    v = np.concatenate([v1, v2, vf]).astype(np.float64)
    sim = v @ v.T / tau
    per_anchor = []
    for i in range(2 * n, 3 * n):
        log_p = np_log_softmax_excluding_self(sim, i)
        per_anchor.append(sum(log_p[j] / (n - 1) for j in range(2 * n, 3 * n) if j != i))
    assert float(supcon_fakes(v1, v2, vf, tau)) == pytest.approx(-np.mean(per_anchor), rel=1e-4)


# ----------------------------------------------------------------------------- gradients
def test_l_dis_trains_only_h_d_while_g_loss_reaches_the_encoder(trained):
    config, trainer = contrad_config(), trained[0]
    term, D = trainer.adversarial.term, trainer.discriminator
    heads = {id(v) for h in D.heads.values() for v in h.trainable_variables}
    h_d = {id(v) for v in D.heads["contrad_dis"].trainable_variables}
    encoder = [v for v in D.trainable_variables if id(v) not in heads and "fc" not in v.path and "out" not in v.path]
    real = next(iter(fixed_batches(config)))
    fake = tf.constant(np.random.RandomState(1).uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32))
    random = term.draw(8, SEED)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fake)
        out = term._d_forward(trainer.run_D, real, fake, random)
        l_dis = term.pair.d_loss(out[5], out[6])
        l_g = term.pair.g_loss(None, term._g_forward(trainer.run_D, fake, random))
    for v in encoder + [v for v in D.trainable_variables if id(v) in heads - h_d]:
        g = tape.gradient(l_dis, v)
        assert g is None or not np.any(g.numpy()), v.path  # stop-gradient: h_d's input is a constant
    assert all(np.any(tape.gradient(l_dis, v).numpy()) for v in D.heads["contrad_dis"].trainable_variables[:1])
    g_encoder = [tape.gradient(l_g, v) for v in encoder]
    assert any(g is not None and np.any(g.numpy()) for g in g_encoder)  # L_G goes through the encoder
    assert np.any(tape.gradient(l_g, fake).numpy())  # and on to G's images


# ----------------------------------------------------------------------------- SimCLR T
def identity_params(b, **values):
    p = dict(crop_w=1.0, crop_h=1.0, crop_tx=0.0, crop_ty=0.0, flip=0.0, jitter=0.0, brightness=1.0, contrast=1.0,
             saturation=1.0, hue=0.0, contrast_first=0.0, gray=0.0, blur=0.0, blur_sigma=1.0, cutout=0.0,
             cutout_x=0.5, cutout_y=0.5)
    p.update(values)
    return {k: tf.fill([b], float(v)) for k, v in p.items()}


def rgb(b=3, size=16, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (b, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("name", ["simclr", "simclr_hq_cutout"])
def test_full_crop_no_flip_no_jitter_is_the_identity(name):
    x = rgb()
    np.testing.assert_allclose(augment.get(name).apply(tf.constant(x), identity_params(3)).numpy(), x, atol=1e-6)


@pytest.mark.parametrize("contrast_first", [0.0, 1.0])
def test_jitter_factors_of_one_are_the_identity(contrast_first):
    x = rgb()
    params = identity_params(3, jitter=1.0, contrast_first=contrast_first)
    np.testing.assert_allclose(augment.get("simclr").apply(tf.constant(x), params).numpy(), x, atol=2e-5)


def test_grayscale_uses_luma_weights_and_flip_mirrors():
    x = rgb()
    luma = (x * 0.5 + 0.5) @ np.float32(LUMA)
    got = augment.get("simclr").apply(tf.constant(x), identity_params(3, gray=1.0)).numpy()
    np.testing.assert_allclose(got, np.repeat(luma[..., None], 3, -1) * 2 - 1, atol=1e-5)
    assert LUMA == (0.299, 0.587, 0.114) and grayscale(tf.ones([1, 2, 2, 1])).shape[-1] == 1
    flipped = augment.get("simclr").apply(tf.constant(x), identity_params(3, flip=1.0)).numpy()
    np.testing.assert_allclose(flipped, x[:, :, ::-1], atol=1e-6)


@pytest.mark.parametrize("name,channels", [("simclr_hq_cutout", 3), ("simclr", 1)])
def test_gradients_reach_the_input_with_and_without_xla(name, channels):
    aug = augment.get(name)
    x = tf.constant(rgb(b=4, size=32)[..., :channels])
    params = aug.draw(4, SEED)
    crop_area = (params["crop_w"] * params["crop_h"]).numpy()
    assert np.all((crop_area >= 0.2 - 1e-6) & (crop_area <= 1 + 1e-6))
    for fn in (aug.apply, tf.function(aug.apply, jit_compile=True)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, params)
            loss = tf.reduce_sum(y * tf.constant(rgb(b=4, size=32, seed=1)[..., :channels]))
        grad = tape.gradient(loss, x).numpy()
        assert y.shape == x.shape and np.isfinite(grad).all() and np.abs(grad).sum() > 0


# ----------------------------------------------------------------------------- training
def test_steps_are_finite_and_change_weights(trained):
    trainer, before, logs = trained
    D = trainer.discriminator
    assert set(D.heads) == {"contrad_real", "contrad_fake", "contrad_dis"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["contrad_real"] > 0 and logs["contrad_fake"] > 0 and logs["r1_penalty"] > 0
    after = all_weights(trainer.generator, D)
    changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
    assert sum(changed) > len(changed) // 2 and all(changed[-12:])  # the heads (last in D) train


def test_resume_continuity(trained, tmp_path):
    """2 steps, checkpoint, 2 more in memory == restore into a new trainer, the same 2 steps (R1 at
    step 2 included)."""
    config, first = contrad_config(), trained[0]
    Checkpointer(str(tmp_path), first).save()
    second = build_trainer(config)
    assert Checkpointer(str(tmp_path), second).restore() == 2
    for t in (first, second):
        run_steps(t, fixed_batches(config), 2, skip=2)
    for a, b in zip(all_weights(first.generator, first.discriminator),
                    all_weights(second.generator, second.discriminator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mirrored_equals_single_device():
    """Global negatives (all_gather) and per-view draws sliced per replica: 2 replicas == 1 device."""
    config = contrad_config(adam_epsilon=1e-4)
    single = train_state(config, steps=2)
    assert single[0]["r1_penalty"] > 0
    assert_same_run(single, train_state(config, mirrored(), steps=2))


# ----------------------------------------------------------------------------- lineval
def test_logistic_regression_separates_an_easy_problem():
    rs = np.random.RandomState(0)
    centres = rs.randn(4, 20) * 3
    y_train, y_test = rs.randint(0, 4, 400), rs.randint(0, 4, 200)
    x_train, x_test = centres[y_train] + rs.randn(400, 20), centres[y_test] + rs.randn(200, 20)
    as_batches = lambda x: [x[i:i + 64] for i in range(0, len(x), 64)]  # noqa: E731
    acc, train_acc = lineval.linear_evaluation(lambda b: b, (as_batches(x_train), y_train),
                                               (as_batches(x_test), y_test))
    assert acc > 0.9 and train_acc > 0.9  # chance: 0.25


def test_lineval_metric_names():
    spec = registry.parse_metric("lineval")
    assert (spec.kind, spec.num_reals, spec.params["num_test"]) == ("lineval", 10_000, 10_000)
    assert registry.parse_metric("lineval2k").num_reals == 2000


def test_lineval_needs_labels_and_runs_on_labelled_sources(trained, tmp_path):
    from keras_attngan.metrics.evaluate import Evaluator
    config, trainer = contrad_config(), trained[0]
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=np.zeros((40, 8, 8, 1), np.uint8))
    config.data.source = f"npz:{unlabelled}"
    with pytest.raises(ValueError) as err:
        Evaluator(config, trainer.g_ema, trainer.discriminator).compute("lineval1k")
    assert "has no labels" in str(err.value) and "\n" not in str(err.value)
    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        pytest.skip("dataset-fashion-mnist is not installed")
    for source in ("fashion_mnist:train", "embedded"):  # embedded: tested on Fashion-MNIST's test split
        config.data.source = source
        row = Evaluator(config, trainer.g_ema, trainer.discriminator, batch_size=500).compute("lineval1k")
        assert 0.1 < row["results"]["lineval1k"] <= 1.0 and "lineval1k_train" in row["results"]


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("fields,field", [
    (dict(temperature=0.0), "contrad.temperature"),
    (dict(enabled=True, augment="ada"), "contrad.augment"),
    (dict(enabled=True, proj_dim=0), "contrad.proj_dim"),
    (dict(enabled=True, loss="dual_contrastive"), "loss.name"),
    (dict(enabled=True, augment_name="diffaugment"), "augment.name"),
    (dict(enabled=True, reference=True), "model.d_attention.type"),
])
def test_bad_config_is_a_one_line_error(fields, field):
    config = tiny_config()
    if fields.pop("reference", False):
        config.model.d_attention.update(type="reference", resolution=8)
    config.loss.name = fields.pop("loss", "ns")
    config.augment.name = fields.pop("augment_name", "none")
    config.contrad.update(fields)
    with pytest.raises(ValueError) as err:
        validate(config)
    assert field in str(err.value) and "\n" not in str(err.value)
