"""The training step's extension points: augmentation of everything D sees, ADA's p as training state,
objective terms, method state in the checkpoint, config-driven construction, the SAGAN and limited-data
configs."""

import importlib

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment as augment_lib
from keras_attngan.config import validate
from keras_attngan.training.checkpoint import Checkpointer, CheckpointError
from keras_attngan.methods.base import ObjectiveTerm
from keras_attngan.training.setup import build_trainer
from tests.helpers import fixed_batches, tiny_config
from tests.test_distribute import train_state
from tests.test_training import run_steps


def ada_config(**augment):
    config = tiny_config(resolution=8, batch_size=8, adam_epsilon=1e-4)
    config.augment.update(name="ada", **augment)
    return config


# ADA and spectral normalization under MirroredStrategy: test_distribute.test_mirrored_equals_single_device.


def test_augmentation_changes_what_d_sees():
    plain = train_state(tiny_config(resolution=8, batch_size=8), steps=1)
    config = tiny_config(resolution=8, batch_size=8)
    config.augment.update(name="diffaugment", policy="translation,cutout")
    augmented = train_state(config, steps=1)
    assert plain[0]["real_score"] != pytest.approx(augmented[0]["real_score"], abs=1e-6)


def _steps_p(trainer, config, n):
    iterator = iter(trainer.distribute_strategy.experimental_distribute_dataset(fixed_batches(config)))
    fn = trainer.make_train_function()
    values = []
    for _ in range(n):
        logs = fn(iterator)
        values.append((float(trainer.augment.p.numpy()), float(trainer.augment.sign_sum.numpy()),
                       float(logs["augment_p"])))
    return values


def test_ada_p_follows_the_formula_clamps_and_survives_resume(tmp_path):
    """p moves by sign(r_t - target) * batch * interval / (speed_kimg * 1000) every ``interval`` steps and
    stays in [0, 1]; r_t, the mean of sign(D(real)) over those steps, is accumulated in between. The
    target is set out of range here so the direction is known whatever D outputs."""
    config = ada_config(p=-1.0, target=0.6, speed_kimg=0.04, interval=2)
    step = 8 * 2 / (0.04 * 1000)  # 0.4
    trainer = build_trainer(config)
    trainer.augment.target = -2.0  # r_t - target > 0: p rises every 2 steps
    values = _steps_p(trainer, config, 6)
    assert [v[0] for v in values] == pytest.approx([0.0, step, step, 2 * step, 2 * step, 1.0])  # clamped at 1
    for i, (_, sign_sum, _) in enumerate(values):  # between adjustments: the sum of one step's mean sign
        assert (sign_sum == 0.0) if i % 2 else (-1.0 <= sign_sum <= 1.0)
    Checkpointer(str(tmp_path), trainer).save()
    resumed = build_trainer(config)
    Checkpointer(str(tmp_path), resumed).restore()
    assert float(resumed.augment.p.numpy()) == pytest.approx(1.0)
    resumed.augment.target = 2.0  # now p falls, and is clamped at 0
    values = _steps_p(resumed, config, 6)
    assert [v[0] for v in values] == pytest.approx([1.0, 1 - step, 1 - step, 1 - 2 * step, 1 - 2 * step, 0.0],
                                                   abs=1e-6)
    ps = [v[0] for v in values]  # logged as augment_p: like every tracker, its mean over the tick so far
    assert [v[2] for v in values] == pytest.approx([np.mean(ps[:i + 1]) for i in range(len(ps))], abs=1e-6)


def test_fixed_p_never_changes_and_old_checkpoints_without_ada_state_are_refused(tmp_path):
    config = ada_config(p=0.25, target=0.0)
    trainer = build_trainer(config)
    run_steps(trainer, fixed_batches(config), 2)
    assert float(trainer.augment.p.numpy()) == 0.25
    plain = build_trainer(tiny_config(resolution=8, batch_size=8, adam_epsilon=1e-4))
    Checkpointer(str(tmp_path), plain).save()
    adaptive = build_trainer(ada_config(p=-1.0))
    with pytest.raises(CheckpointError, match="cannot restore"):
        Checkpointer(str(tmp_path), adaptive).restore()


class _FeatureTerm(ObjectiveTerm):
    """A test term: weight * mean(penultimate^2) of the reals, added to D's loss, through a head on D."""

    name = "test_term"
    d_outputs = ("penultimate",)

    def __init__(self, weight):
        self.weight = weight

    def build(self, trainer):
        import keras
        D = trainer.discriminator
        probe = tf.zeros([4, D.resolution, D.resolution, D.img_channels])
        width = D(probe, outputs=("penultimate",))[1]["penultimate"].shape[-1]
        self.head = D.add_head("test_head", keras.layers.Dense(3, name="test_head"), (None, width))
        self.counter = trainer.add_weight(name="test_counter", shape=(), initializer="zeros", trainable=False)

    def d_loss(self, ctx):
        feats = ctx.real_out[1]["penultimate"]
        value = tf.reduce_mean(tf.square(self.head(feats)))
        self.counter.assign_add(1.0)
        return self.weight * value, {"test_value": value}

    def state_variables(self):
        return {"counter": self.counter}

    def stat_names(self):
        return ("test_value",)


def test_objective_term_adds_its_loss_head_and_state(tmp_path, monkeypatch):
    """A term reads a named D output through a head it adds to D: the head trains with D's optimizer, the
    term's loss and stats and state reach the step, the checkpoint and the logs; no trainer change."""
    from keras_attngan.training import setup

    config = tiny_config(resolution=8, batch_size=4)
    term = _FeatureTerm(1.0)
    monkeypatch.setattr(setup, "build_terms", lambda config: [term])
    trainer = setup.build_trainer(config)
    assert trainer.d_output_names == ("penultimate",)
    head_before = [w.numpy().copy() for w in term.head.weights]
    logs = run_steps(trainer, fixed_batches(config), 2)
    assert logs["test_value"] > 0 and float(term.counter.numpy()) == 2.0
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(head_before, term.head.weights))  # D's step trains it
    assert any("test_head" in w.path for w in trainer.discriminator.weights)
    assert "test_term.counter" in trainer.state_variables()
    Checkpointer(str(tmp_path), trainer).save()
    resumed = setup.build_trainer(config)
    Checkpointer(str(tmp_path), resumed).restore()
    assert float(term.counter.numpy()) == 2.0  # (the monkeypatched factory returns the same term object)
    np.testing.assert_array_equal(resumed.discriminator.heads["test_head"].weights[0].numpy(),
                                  trainer.discriminator.heads["test_head"].weights[0].numpy())


def test_drift_penalty_term_from_the_config():
    config = tiny_config(resolution=8, batch_size=4)
    config.loss.drift = 0.001
    trainer = build_trainer(config)
    logs = run_steps(trainer, fixed_batches(config), 1)
    assert logs["drift_penalty"] == pytest.approx(np.float32(logs["drift_penalty"]))
    assert logs["drift_penalty"] > 0


@pytest.mark.parametrize("name", ["sagan_fashion_mnist", "sagan_256", "fashion_mnist_1k_diffaug",
                                  "fashion_mnist_1k_ada", "fashion_mnist_1k_refattn"])
def test_method_configs_validate(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    validate(config)
    if name.startswith("sagan"):
        assert config.loss.name == "hinge" and config.model.g_weight_norm == "spectral"
        assert config.train.r1_gamma == 0 and config.train.pl_weight == 0 and config.model.style_mixing_prob == 0
        assert (config.train.g_lr, config.train.d_lr, config.train.beta2) == (1e-4, 4e-4, 0.9)
    else:
        assert config.data.subset == 1000


def test_sagan_recipe_trains_a_step():
    from keras_attngan.recipes import sagan

    config = sagan(tiny_config(resolution=16, batch_size=4))
    config.model.g_attention.resolution = config.model.d_attention.resolution = 8
    trainer = build_trainer(config)
    logs = run_steps(trainer, fixed_batches(config), 2)
    assert all(np.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("field,value,message", [
    ("augment.name", "mixup", "augment.name='mixup' is not one of"),
    ("augment.policy", "color,zoom", "unknown op 'zoom'"),
    ("model.d_weight_norm", "batch", "model.d_weight_norm='batch' is not one of equalized, spectral"),
    ("loss.drift", -1.0, "loss.drift must be >= 0"),
])
def test_bad_extension_config_is_one_line(field, value, message):
    config = tiny_config()
    section, key = field.split(".")
    if section == "augment" and key == "policy":
        config.augment.name = "diffaugment"
    config[section][key] = value
    with pytest.raises(ValueError) as e:
        validate(config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_ada_with_fixed_p_and_target_is_refused():
    config = tiny_config()
    config.augment.update(name="ada", p=0.5, target=0.6)
    with pytest.raises(ValueError, match="is fixed but augment.target"):
        validate(config)
    assert augment_lib.get("none").is_identity


def spectral_config():
    config = tiny_config(resolution=8, batch_size=8, adam_epsilon=1e-4, g_lr=1e-3, d_lr=1e-3)
    config.model.update(g_weight_norm="spectral", d_weight_norm="spectral")
    return config


def test_spectral_u_vectors_advance_each_step_and_are_restored_on_resume(tmp_path):
    config = spectral_config()
    trainer = build_trainer(config)
    u_vars = [w for w in trainer.discriminator.weights if "sn_u" in w.path]
    assert u_vars and all(not w.trainable for w in u_vars)
    before = [w.numpy().copy() for w in u_vars]
    run_steps(trainer, fixed_batches(config), 2)
    # One power iteration per step moves every u (a 1-d u, the output layer's, is always +-1).
    assert all(not np.allclose(a, w.numpy()) for a, w in zip(before, u_vars) if a.size > 1)
    Checkpointer(str(tmp_path), trainer).save()
    resumed = build_trainer(config)
    Checkpointer(str(tmp_path), resumed).restore()
    for a, b in zip(u_vars, [w for w in resumed.discriminator.weights if "sn_u" in w.path]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Continuing from the checkpoint equals continuing in memory (u included).
    run_steps(trainer, fixed_batches(config), 1, skip=2)
    run_steps(resumed, fixed_batches(config), 1, skip=2)
    for a, b in zip(trainer.discriminator.weights, resumed.discriminator.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
