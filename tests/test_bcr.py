"""bCR (Zhao et al. 2020): the penalty against NumPy, zero when T is the identity, D-only gradient, the
training step (Mirrored == one device), config checks."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.config import validate
from keras_attngan.methods.base import StepContext
from keras_attngan.methods.bcr import BCR, consistency
from keras_attngan.rng import fold
from keras_attngan.training.setup import build_trainer
from tests.helpers import all_weights, fixed_batches, mirrored, tiny_config
from tests.test_distribute import assert_same_run
from tests.test_training import run_steps

SEED = tf.constant([3, 5], tf.int64)


def bcr_config(**augment_fields):
    config = tiny_config(resolution=8, batch_size=8, r1_interval=1, pl_weight=0.0)
    config.augment.update(name="diffaugment", policy="translation,cutout", **augment_fields)
    config.bcr.update(enabled=True, lambda_real=10.0, lambda_fake=5.0)
    return validate(config)


def images(seed, n=8):
    return tf.constant(np.random.RandomState(seed).uniform(-1, 1, (n, 8, 8, 1)).astype(np.float32))


def context(trainer, real, fake, aug=None):
    """A D-step context on this trainer with ``aug`` as T (default: the trainer's augmentation)."""
    T = aug or trainer.augment

    def draw_aug(batch, seed):
        return None if T.is_identity else {"x": T.draw(batch, fold(seed, 0)), "ref": None}

    def run_D(x, ref, params, outputs=(), labels=None):
        return trainer.discriminator(x if params is None else T.apply(x, params["x"])), {}

    return StepContext(discriminator=trainer.discriminator, augment=T, gather=None, real=real, fake=fake,
                       random={"bcr": SEED}, run_D=run_D, draw_aug=draw_aug)


@pytest.fixture(scope="module")
def trainer():
    return build_trainer(bcr_config())


def test_penalty_matches_numpy(trainer):
    """lambda_real * mean (D(x) - D(T(x)))^2 + lambda_fake * the same on fakes, with T's draws re-made in
    NumPy-visible form: D and T applied by hand here, compared with the term's loss and stats."""
    term = next(t for t in trainer.terms if isinstance(t, BCR))
    real, fake = images(0), images(1)
    loss, stats = term.d_loss(context(trainer, real, fake))
    D, T = trainer.discriminator, trainer.augment
    expected = {}
    for i, (name, x) in enumerate((("real", real), ("fake", fake))):
        params = T.draw(8, fold(fold(SEED, i), 0))
        d_plain, d_aug = D(x).numpy()[:, 0], D(T.apply(x, params)).numpy()[:, 0]
        assert not np.allclose(d_plain, d_aug)  # T changed what D sees
        expected[name] = np.mean((d_plain.astype(np.float64) - d_aug) ** 2)
    assert float(stats["bcr_real"]) == pytest.approx(expected["real"], rel=1e-5)
    assert float(stats["bcr_fake"]) == pytest.approx(expected["fake"], rel=1e-5)
    assert float(loss) == pytest.approx(10.0 * expected["real"] + 5.0 * expected["fake"], rel=1e-5)
    a, b = np.random.RandomState(2).randn(5, 1), np.random.RandomState(3).randn(5, 1)
    assert float(consistency(a, b)) == pytest.approx(np.mean((a - b) ** 2), rel=1e-6)


def test_zero_when_t_is_the_identity(trainer):
    term = next(t for t in trainer.terms if isinstance(t, BCR))
    loss, stats = term.d_loss(context(trainer, images(0), images(1), aug=augment.get("none")))
    assert float(loss) == 0.0 and float(stats["bcr_real"]) == 0.0 and float(stats["bcr_fake"]) == 0.0
    empty = augment.get("diffaugment", policy="")  # an empty DiffAugment policy is the identity too
    assert float(term.d_loss(context(trainer, images(0), images(1), aug=empty))[0]) == 0.0


def test_gradient_reaches_d_only(trainer):
    """Through the trainer's D step: the penalty moves D's weights and never G's (the fakes are constants)."""
    G, D, term = trainer.generator, trainer.discriminator, next(t for t in trainer.terms if isinstance(t, BCR))
    z = tf.random.stateless_normal([8, G.z_dim], SEED)
    with tf.GradientTape(persistent=True) as tape:
        fake = G(z, training=True)
        loss = term.d_loss(context(trainer, images(0), tf.stop_gradient(fake)))[0]
    assert all(g is None or not np.any(g.numpy()) for g in tape.gradient(loss, G.trainable_variables))
    assert any(g is not None and np.any(g.numpy()) for g in tape.gradient(loss, D.trainable_variables))
    stats = {}
    with tf.GradientTape() as tape:
        trainer._d_main(images(0), None, z, fold(SEED, 1), trainer.loss_pair, stats)
        inside = stats["bcr_real"] + stats["bcr_fake"]
    assert all(g is None or not np.any(g.numpy()) for g in tape.gradient(inside, G.trainable_variables))


def run_state(config, strategy=None, steps=2):
    trainer = build_trainer(config, strategy)
    logs = run_steps(trainer, fixed_batches(config), steps)
    models = (trainer.generator, trainer.discriminator, trainer.g_ema)
    return logs, all_weights(*models), [w.path for m in models for w in m.weights]


def test_training_step_logs_it_and_mirrored_equals_one_device():
    """Two steps (R1 every step): bcr_real/bcr_fake logged and finite; global batch 8 on 2 replicas equals
    one device (per-replica means scaled by 1/replicas, each replica's rows of T's draw)."""
    config = bcr_config()
    single = run_state(config)
    assert single[0]["bcr_real"] > 0 and single[0]["bcr_fake"] > 0 and np.isfinite(single[0]["d_loss"])
    assert_same_run(single, run_state(config, mirrored()))


def test_off_by_default_and_bad_config_values_are_one_line_errors():
    config = tiny_config()
    assert config.bcr.enabled is False and not [t for t in build_trainer(config).terms if isinstance(t, BCR)]
    config.bcr.enabled = True
    with pytest.raises(ValueError, match=r"^bcr.enabled needs an augmentation T: set augment.name"):
        validate(config)
    bad = bcr_config()
    bad.bcr.lambda_fake = -1.0
    with pytest.raises(ValueError, match=r"^bcr.lambda_fake must be >= 0"):
        validate(bad)
