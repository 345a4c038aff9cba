"""GGDR (Lee et al. 2022, keras_attngan.methods.ggdr): the cosine loss against NumPy, no gradient into G,
the decoder's shape, stage form and config round trip, the target moved exactly like the fake image, a
training step, resume continuity, two replicas and config errors."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.config import validate
from keras_attngan.layers import upsample2d
from keras_attngan.methods.ggdr import HEAD, GGDRDecoder, GGDRTerm, cosine_distance
from keras_attngan.rng import fold as fold_seed
from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.methods.base import StepContext
from keras_attngan.training.setup import build_terms
from keras_attngan.training.setup import build_trainer
from tests.helpers import all_weights, fixed_batches, mirrored, tiny_config
from tests.test_distribute import assert_same_run
from tests.test_training import run_steps

SEED = tf.constant([3, 5], tf.int64)


def ggdr_config(resolution=16, ggdr_resolution=8, **augment_fields):
    config = tiny_config(resolution=resolution)
    config.ggdr.update(weight=10.0, resolution=ggdr_resolution)
    if augment_fields:
        config.augment.update(**augment_fields)
    return validate(config)


@pytest.fixture(scope="module")
def trainer():
    """A tiny trainer with GGDR that the tests below only read (no training step)."""
    return build_trainer(ggdr_config())


def ggdr_term(trainer):
    return next(t for t in trainer.terms if isinstance(t, GGDRTerm))


def np_cosine_distance(x, y):
    """Independent formula: 1 - mean over (b, h, w) of x.y / (|x| |y|) along channels."""
    x, y = np.float64(x), np.float64(y)
    cos = (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))
    return 1.0 - cos.mean()


def fakes_and_features(trainer, batch=4):
    G = trainer.generator
    z = tf.random.stateless_normal([batch, G.z_dim], SEED)
    return G(z, training=True, random=G.draw_random(batch, SEED), return_features=True)


# ----------------------------------------------------------------------------- the loss
def test_cosine_loss_matches_numpy(trainer):
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(3, 4, 4, 5)).astype(np.float32), rng.normal(size=(3, 4, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(float(cosine_distance(x, y)), np_cosine_distance(x, y), rtol=1e-5)
    assert float(cosine_distance(x, 2.5 * x)) == pytest.approx(0.0, abs=1e-6)
    assert float(cosine_distance(x, -x)) == pytest.approx(2.0, abs=1e-6)
    # zero vectors: finite loss and gradient (tf.norm would give NaN)
    with tf.GradientTape() as tape:
        zero = tf.zeros([1, 2, 2, 3])
        tape.watch(zero)
        value = cosine_distance(zero, y[:1, :2, :2, :3])
    assert np.isfinite(float(value)) and np.isfinite(tape.gradient(value, zero).numpy()).all()

    # the term: weight x cosine distance between the decoder's output and G's features, on the fakes
    term, D = ggdr_term(trainer), trainer.discriminator
    fake, features = fakes_and_features(trainer)
    fake_out = D(fake, outputs=term.d_outputs)
    ctx = StepContext(discriminator=D, augment=trainer.augment, gather=None, fake_out=fake_out, g_features=features)
    loss, stats = term.d_loss(ctx)
    decoded = D.heads[HEAD](fake_out[1]).numpy()
    assert float(loss) == pytest.approx(10.0 * np_cosine_distance(decoded, features[8].numpy()), rel=1e-5)
    assert set(stats) == {"ggdr_loss"} and float(stats["ggdr_loss"]) == float(loss)
    assert term.g_loss(ctx) is None  # G's objective is unchanged


def test_no_gradient_into_the_generator(trainer):
    """Through the trainer's D step (features and fakes stop-gradient) and through the term alone (its
    target stops the gradient itself): the GGDR loss never reaches G's weights, and does reach D's."""
    G, D, term = trainer.generator, trainer.discriminator, ggdr_term(trainer)
    real = next(iter(fixed_batches(ggdr_config())))
    z = tf.random.stateless_normal([real.shape[0], G.z_dim], SEED)
    stats = {}
    with tf.GradientTape(persistent=True) as tape:
        trainer._d_main(real, None, z, fold_seed(SEED, 1), trainer.loss_pair, stats)
        fake, features = fakes_and_features(trainer)  # not stopped: the term must stop the target itself
        ctx = StepContext(discriminator=D, augment=trainer.augment, gather=None,
                          fake_out=D(tf.stop_gradient(fake), outputs=term.d_outputs), g_features=features)
        direct = term.d_loss(ctx)[0]
    for loss in (stats["ggdr_loss"], direct):
        grads = tape.gradient(loss, G.trainable_variables)
        assert all(g is None or not np.any(g.numpy()) for g in grads)
        head_grads = tape.gradient(loss, D.heads[HEAD].trainable_variables)
        assert all(g is not None and np.any(g.numpy()) for g in head_grads)


# ----------------------------------------------------------------------------- the decoder
def test_decoder_shape_stages_and_config_round_trip():
    """32 px, decoder to 16x16 (two stages, one U-Net skip), D wider than G: the output has G's feature
    shape at 16, and each stage is the reference's 1x1 Conv2dLayer(up=2): up-sample, conv, then bias."""
    config = tiny_config(resolution=32)
    config.model.update(d_fmap_base=128, d_fmap_max=32)
    config.ggdr.update(weight=10.0, resolution=16)
    trainer = build_trainer(validate(config))
    D, term = trainer.discriminator, ggdr_term(trainer)
    decoder = D.heads[HEAD]
    assert term.d_outputs == ("x4", "x8") and decoder.stages == [8, 16]
    assert all(any(w is v for v in D.trainable_variables) for w in decoder.trainable_variables)
    fake, features = fakes_and_features(trainer)
    maps = D(fake, outputs=term.d_outputs)[1]
    out = decoder(maps)
    assert out.shape == features[16].shape == (4, 16, 16, 8)

    for bias in decoder.biases:  # non-zero biases, to see where they are added
        bias.assign(tf.random.stateless_normal(bias.shape, SEED))
    y = None
    for r, conv, bias in zip(decoder.stages, decoder.convs, decoder.biases):
        x = maps[f"x{r // 2}"] if y is None else tf.concat([y, maps[f"x{r // 2}"]], -1)
        y = tf.nn.conv2d(upsample2d(x), conv.kernel * conv.weight_gain, 1, "SAME") + bias
    np.testing.assert_allclose(decoder(maps).numpy(), y.numpy(), rtol=1e-4, atol=1e-5)

    clone = GGDRDecoder.from_config(decoder.get_config())
    assert clone.get_config() == decoder.get_config()
    clone.build({n: m.shape for n, m in maps.items()})
    assert [w.shape for w in clone.weights] == [w.shape for w in decoder.weights]


# ----------------------------------------------------------------------------- the target under augmentation
def test_target_moves_exactly_like_the_image():
    """ADA params set by hand: G's 8x8 features are flipped, rotated and shifted (at their own size) exactly
    as NumPy does; colour ops leave them alone; no augmentation leaves them as they are."""
    term, aug = GGDRTerm(10.0, 8), augment.get("ada", p=1.0)
    x = np.random.RandomState(1).normal(size=(4, 8, 8, 5)).astype(np.float32)

    def target(**values):
        params = augment.identity_params(4)
        params.update({k: tf.constant(np.broadcast_to(np.float32(v), params[k].shape)) for k, v in values.items()})
        ctx = StepContext(discriminator=None, augment=aug, gather=None, g_features={8: tf.constant(x)},
                          aug_params={"x": params, "ref": None})
        return term.target(ctx).numpy()

    np.testing.assert_array_equal(target(), x)
    np.testing.assert_array_equal(target(xflip=1.0), x[:, :, ::-1])
    for k in range(1, 4):
        np.testing.assert_array_equal(target(rot90=float(k)), np.rot90(x, k, axes=(1, 2)))
    # a 2-pixel shift of a 16 px image is a 1-pixel shift of the 8x8 map; borders mirror as for the image
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(target(xint=np.float32([2 / 16, -2 / 16])), padded[:, 3:11, 1:9])
    np.testing.assert_array_equal(target(brightness=0.5, contrast=2.0, hue=1.0, saturation=0.1), x)
    plain = StepContext(discriminator=None, augment=aug, gather=None, g_features={8: tf.constant(x)})
    np.testing.assert_array_equal(term.target(plain).numpy(), x)


# ----------------------------------------------------------------------------- training
def run_state(trainer, config, steps=2):
    """(logs, weights, names) of G, D (with the decoder) and G_ema after ``steps`` steps, for assert_same_run."""
    logs = run_steps(trainer, fixed_batches(config), steps)
    models = (trainer.generator, trainer.discriminator, trainer.g_ema)
    return logs, all_weights(*models), [w.path for m in models for w in m.weights]


@pytest.fixture(scope="module")
def trained():
    """ADA (p = 0.5) moving the targets; R1 every step and no path-length phase, so that every step runs the
    same trace. (config, trainer after 2 steps, its run_state, the decoder's weights before training)."""
    config = ggdr_config(name="ada", p=0.5, target=0.0)
    config.train.update(batch_size=8, r1_interval=1, pl_weight=0.0)
    trainer = build_trainer(config)
    before = [w.numpy().copy() for w in trainer.discriminator.heads[HEAD].weights]
    return config, trainer, run_state(trainer, config), before


def test_training_step_trains_the_decoder_and_logs_ggdr_loss(trained, tmp_path):
    """Finite losses, the decoder moves with D's optimizer and ggdr_loss is logged; resume continuity:
    checkpoint after 2 steps, restore into a new trainer: the decoder's weights are the saved ones."""
    config, first, (logs, _, _), before = trained
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert 0 < logs["ggdr_loss"] <= 20.0  # weight 10 x (1 - cos) with cos in [-1, 1]
    after = [w.numpy().copy() for w in first.discriminator.heads[HEAD].weights]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))

    Checkpointer(str(tmp_path), first).save()
    second = build_trainer(config)
    assert Checkpointer(str(tmp_path), second).restore() == 2
    for a, b in zip(after, second.discriminator.heads[HEAD].weights):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(first.d_optimizer.variables, second.d_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mirrored_equals_single_device(trained):
    """Global batch 8 on 2 replicas == one device: the term's per-replica mean (scaled by 1/replicas like
    the adversarial loss) gives the global batch's gradient, with each replica's rows of the ADA draw."""
    config, _, single, _ = trained
    assert_same_run(single, run_state(build_trainer(config, mirrored()), config))


def test_off_by_default_and_bad_config_values_are_one_line_errors():
    assert validate(tiny_config()).ggdr.weight == 0.0
    assert not build_terms(tiny_config())
    for fields, message in [
        (dict(weight=-1.0), "ggdr.weight must be >= 0"),
        (dict(weight=10.0, resolution=12),
         "ggdr.resolution=12 must be a power of two from 8 to model.resolution / 2 = 8"),
        (dict(weight=10.0, resolution=4), "ggdr.resolution=4 must be"),
        (dict(weight=10.0, resolution=16), "ggdr.resolution=16 must be"),
        (dict(weight=10.0, resolution=0), "ggdr.resolution=0 (model.resolution // 4 = 4) must be"),
        (dict(weight=0.0, resolution=12), "ggdr.resolution=12 must be"),
    ]:
        config = tiny_config()
        config.ggdr.update(**fields)
        with pytest.raises(ValueError) as err:
            validate(config)
        assert message in str(err.value) and "\n" not in str(err.value)
    config = tiny_config(resolution=32)
    config.ggdr.update(weight=10.0)
    assert [(t.name, t.resolution) for t in build_terms(validate(config))] == [("ggdr", 8)]  # 0: 32 // 4

