"""keras_attngan.augment's state and configuration: ADA's p schedule (formula, clamping, mirrored variable),
per-replica draws as slices of the global draw, config validation, and the trainer's draw-then-XLA-apply
pattern under MirroredStrategy."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.augment.config import check_ada, parse_policy
from tests.helpers import mirrored

SEED = tf.constant([7, 11], tf.int64)


# ----------------------------------------------------------------------------- ADA's p
def test_adjust_p_follows_the_formula_and_clamps():
    aug = augment.get("ada", target=0.6, speed_kimg=0.5, interval=4)  # step = 32 * 4 / 500 = 0.256
    step, expected = 32 * 4 / 500, 0.0
    for r in [0.9, 0.9, 0.0, 0.7, 0.6, 0.1, 0.2, 0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        expected = min(max(expected + np.sign(r - 0.6) * step, 0.0), 1.0)
        got = aug.update(tf.constant(r), 32)
        assert float(aug.p.numpy()) == pytest.approx(expected, abs=1e-6) == float(got)
    assert expected == 1.0
    slow = augment.get("ada")  # defaults: 500 kimg, interval 4
    slow.update(0.9, 64)
    assert float(slow.p.numpy()) == pytest.approx(64 * 4 / 500000)
    assert float(augment.adjust_p(0.0, -1.0, 64, 4, 0.6, 500).numpy()) == 0.0


def test_fixed_p_never_changes_and_state_is_p():
    aug = augment.get("ada", p=0.3)
    for r in (1.0, -1.0, 1.0):
        aug.update(r, 64)
    assert float(aug.p.numpy()) == pytest.approx(0.3) and not aug.adaptive
    assert list(aug.state_variables().values()) == [aug.p] and not aug.p.trainable
    adaptive = augment.get("ada")
    assert adaptive.adaptive and adaptive.interval == 4
    assert list(adaptive.state_variables().values()) == [adaptive.p, adaptive.sign_sum]
    assert augment.get("diffaugment").state_variables() == {} and augment.get("none").observe(1.0, 0, 8) is None


def test_draw_reads_p_as_a_tensor_inside_a_function():
    aug = augment.get("ada")
    drawn = tf.function(lambda: aug.draw(64, SEED)["scale"])
    assert np.all(drawn().numpy() == 1.0)  # p = 0
    aug.p.assign(1.0)
    assert np.all(drawn().numpy() != 1.0)  # same trace, new p
    assert drawn.experimental_get_tracing_count() == 1


def test_p_is_mirrored_and_updates_in_cross_replica_context():
    strategy = mirrored()
    with strategy.scope():
        aug = augment.get("ada", speed_kimg=0.001, interval=1)
    aug.update(1.0, 1)  # p += 1 / 1 -> clamped at 1
    values = strategy.experimental_local_results(strategy.run(tf.function(lambda: tf.identity(aug.p))))
    assert [float(v.numpy()) for v in values] == [1.0, 1.0]


# ----------------------------------------------------------------------------- per-replica draws
@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_per_replica_draws_are_slices_of_the_global_draw(name):
    strategy = mirrored()
    with strategy.scope():
        aug = augment.get("ada", p=0.5) if name == "ada" else augment.get(name)
    per_replica = strategy.run(tf.function(lambda: aug.draw(2, SEED)))
    full = aug.draw(4, SEED)
    for key, value in full.items():
        a, b = (t.numpy() for t in strategy.experimental_local_results(per_replica[key]))
        np.testing.assert_array_equal(np.concatenate([a, b]), value.numpy(), err_msg=key)


# ----------------------------------------------------------------------------- config
def cfg(**fields):
    c = augment.default_augment_config()
    c.update(fields)
    return c


def test_default_config_and_build():
    assert isinstance(augment.build(augment.default_augment_config()), augment.Identity)
    assert augment.build(cfg(name="diffaugment", policy="color,cutout")).policy == ("color", "cutout")
    adaptive = augment.build(cfg(name="ada"))
    assert adaptive.adaptive and adaptive.target == 0.6 and adaptive.speed_kimg == 500 and adaptive.interval == 4
    fixed = augment.build(cfg(name="ada", p=0.25, target=0.0))
    assert not fixed.adaptive and float(fixed.p.numpy()) == 0.25
    assert augment.get("ada", p=0.25).target == 0.0  # a fixed p given without a target
    assert parse_policy(" color , cutout ,") == ("color", "cutout")
    assert "policy='color,cutout'" in repr(augment.get("diffaugment", policy="color,cutout"))


@pytest.mark.parametrize("fields,field", [
    (dict(name="simclr_v2"), "augment.name"),
    (dict(name="diffaugment", policy="color,rotate"), "augment.policy"),
    (dict(name="diffaugment", policy="color,cutout,color"), "augment.policy"),
    (dict(name="ada", p=1.5, target=0.0), "augment.p"),
    (dict(name="ada", p=-0.5, target=0.0), "augment.p"),
    (dict(name="ada", target=0.0), "augment.target"),
    (dict(name="ada", target=1.0), "augment.target"),
    (dict(name="ada", p=0.2), "augment.target"),  # fixed p and a target
    (dict(name="ada", speed_kimg=0.0), "augment.speed_kimg"),
    (dict(name="ada", interval=0), "augment.interval"),
])
def test_config_errors_are_one_line_naming_the_field(fields, field):
    for call in (lambda: augment.validate_augment_config(cfg(**fields)), lambda: augment.build(cfg(**fields))):
        with pytest.raises(ValueError) as err:
            call()
        assert field in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name,kwargs,field", [
    ("cutmix", {}, "augment.name"),
    ("diffaugment", dict(policy="colour"), "augment.policy"),
    ("ada", dict(p=2.0), "augment.p"),
    ("ada", dict(p=0.5, target=0.6), "augment.target"),
    ("ada", dict(target=1.2), "augment.target"),
])
def test_get_rejects_bad_arguments(name, kwargs, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        augment.get(name, **kwargs)
    with pytest.raises(ValueError):
        check_ada(0.5, 0.5, 500, 1.5)


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_mirrored_draw_then_jitted_apply_equals_single_device(name):
    """The trainer's pattern: params drawn per replica outside XLA, applied inside a per-replica XLA function."""
    strategy = mirrored()
    with strategy.scope():
        aug = augment.get("ada", p=0.7) if name == "ada" else augment.get(name)
    x = np.random.RandomState(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    apply = tf.function(aug.apply, jit_compile=True)

    def step(local):
        return apply(local, aug.draw(tf.shape(local)[0], SEED))

    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))
    per_replica = strategy.run(tf.function(step), args=(next(iter(dataset)),))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_allclose(got, aug.apply(tf.constant(x), aug.draw(4, SEED)).numpy(), atol=1e-5)
