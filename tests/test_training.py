"""The training step, schedules, checkpoint/resume continuity and the losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.training.checkpoint import CheckpointError, Checkpointer
from keras_attngan.training.schedule import ema_beta, lazy_reg_ratio, make_adam
from keras_attngan.training.setup import build_trainer
from tests.helpers import all_weights, fixed_batches, tiny_config


def run_steps(trainer, dataset, n, skip=0):
    """Runs ``n`` training steps on ``dataset`` after skipping ``skip`` batches; returns the last logs."""
    iterator = iter(trainer.distribute_strategy.experimental_distribute_dataset(dataset.skip(skip)))
    fn = trainer.make_train_function()
    logs = None
    for _ in range(n):
        logs = fn(iterator)
    return {k: float(v) for k, v in logs.items()}


def test_train_step_changes_weights_and_keeps_losses_finite():
    config = tiny_config(r1_interval=2, pl_interval=2)
    trainer = build_trainer(config)
    before = all_weights(trainer.generator, trainer.discriminator, trainer.g_ema)
    logs = run_steps(trainer, fixed_batches(config), 3)
    after = all_weights(trainer.generator, trainer.discriminator, trainer.g_ema)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["r1_penalty"] > 0  # the lazy R1 phase ran (steps 0 and 2 with interval 2)
    assert int(trainer.step.numpy()) == 3
    G, D, E = trainer.generator, trainer.discriminator, trainer.g_ema
    n_g, n_d = len(G.weights), len(D.weights)
    changed = [not np.allclose(a, b) for a, b in zip(before, after)]
    trainable = [w.trainable for w in G.weights + D.weights + E.weights]
    # Every trainable G and D weight moves except those with no gradient at init (noise strengths
    # start at zero and only move once noise has an effect).
    assert sum(c for c, t in zip(changed[:n_g + n_d], trainable) if t) > 0.9 * sum(trainable[:n_g + n_d])
    assert any(changed[n_g + n_d:])  # EMA moved
    assert not np.allclose(G.mapping.w_avg.numpy(), 0)  # w_avg tracked


def test_lazy_regularization_correction_and_ema_schedule():
    assert lazy_reg_ratio(16) == pytest.approx(16 / 17)
    opt = make_adam(0.002, 0.0, 0.99, reg_interval=16)
    assert float(opt.learning_rate) == pytest.approx(0.002 * 16 / 17)
    assert float(opt.beta_2) == pytest.approx(0.99 ** (16 / 17))
    # Half-life of ema_kimg thousand images: beta ** (ema_nimg / batch) == 0.5.
    beta = float(ema_beta(1e9, 32, ema_kimg=10.0))
    assert beta ** (10_000 / 32) == pytest.approx(0.5, rel=1e-5)
    # With ramp-up, early in training the half-life is cur_nimg * rampup.
    assert float(ema_beta(1000, 32, 10.0, 0.05)) == pytest.approx(0.5 ** (32 / 50), rel=1e-5)


def straight_and_resumed(config, data, workdir):
    """Two trainers of ``config`` on ``data``: one trained 4 steps straight (checkpointed in ``workdir`` after
    step 2, which changes nothing in it), and a new one restored from that checkpoint and trained 2 more."""
    straight = build_trainer(config)
    run_steps(straight, data, 2)
    Checkpointer(str(workdir), straight).save()
    run_steps(straight, data, 2, skip=2)
    second = build_trainer(config)
    assert Checkpointer(str(workdir), second).restore() == 2
    run_steps(second, data, 2, skip=2)
    return straight, second


def test_resume_continuity(tmp_path):
    """4 steps straight == 2 steps, checkpoint, restore into a new model, 2 more steps."""
    config = tiny_config(8)
    straight, second = straight_and_resumed(config, fixed_batches(config), tmp_path)

    names = [w.path for m in (straight.generator, straight.discriminator, straight.g_ema) for w in m.weights]
    for name, a, b in zip(names, all_weights(straight.generator, straight.discriminator, straight.g_ema),
                          all_weights(second.generator, second.discriminator, second.g_ema)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    for a, b in zip(straight.d_optimizer.variables, second.d_optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_incompatible_checkpoint_is_a_clear_error(tmp_path):
    trainer = build_trainer(tiny_config())
    Checkpointer(str(tmp_path), trainer).save()
    other = build_trainer(tiny_config(resolution=8))
    with pytest.raises(CheckpointError, match="different model config"):
        Checkpointer(str(tmp_path), other).restore()


def test_path_length_regularization_runs_and_tracks_its_mean():
    config = tiny_config(pl_weight=2.0, pl_interval=1, r1_interval=0)
    trainer = build_trainer(config)
    logs = run_steps(trainer, fixed_batches(config), 2)
    assert logs["pl_penalty"] > 0 and np.isfinite(logs["pl_penalty"])
    assert float(trainer.pl_mean.numpy()) > 0  # the running mean of path lengths moved from 0


def test_path_lengths_match_finite_differences():
    """|J_w^T y| from the tape equals the directional derivative computed numerically."""
    from keras_attngan.training.regularizers import path_lengths
    from keras_attngan.training.setup import build_generator
    keras.utils.set_random_seed(0)
    G = build_generator(tiny_config().model)
    z = tf.random.normal([2, 16])
    seed = tf.constant([5, 6], tf.int64)
    ws = G.map(z)
    lengths = path_lengths(G, ws, seed=seed).numpy()
    s_img = tf.random.experimental.stateless_fold_in(seed, 0)
    s_noise = tf.random.experimental.stateless_fold_in(seed, 1)
    img = G.synthesis(ws, seed=s_img)
    y = tf.random.stateless_normal(tf.shape(img), s_noise) / 16.0  # sqrt(16 * 16)
    np.testing.assert_allclose(path_lengths(G, ws, G.synthesis.draw_noise(2, s_img), y * 16.0).numpy(),
                               lengths, rtol=1e-6)  # given random inputs == drawn from the seed
    with tf.GradientTape() as tape:
        tape.watch(ws)
        proj = tf.reduce_sum(G.synthesis(ws, seed=s_img) * y)
    jty = tape.gradient(proj, ws).numpy()
    want = np.sqrt((jty ** 2).sum(axis=2).mean(axis=1))
    np.testing.assert_allclose(lengths, want, rtol=1e-4)
    # The directional derivative along a random direction u, against a central finite difference.
    u = tf.random.normal(ws.shape, seed=1)
    f = lambda d: float(tf.reduce_sum(tf.cast(G.synthesis(ws + d, seed=s_img) * y, tf.float64)))  # noqa: E731
    numeric = (f(1e-2 * u) - f(-1e-2 * u)) / 2e-2
    assert numeric == pytest.approx(float(tf.reduce_sum(jty * u)), rel=2e-2)


def test_warmup_uses_ns_then_switches_and_survives_resume(tmp_path):
    base = tiny_config(pl_weight=0.0)
    ns = build_trainer(base)
    run_steps(ns, fixed_batches(base), 1)
    contr_cfg = tiny_config(pl_weight=0.0)
    contr_cfg.loss.update(name="dual_contrastive", warmup_kimg=2 * 4 / 1000)  # two steps of batch 4
    contr = build_trainer(contr_cfg)
    assert [contr.schedule(s, 4)[2] for s in range(4)] == [True, True, False, False]
    run_steps(contr, fixed_batches(contr_cfg), 1)
    for a, b in zip(all_weights(ns.generator, ns.discriminator), all_weights(contr.generator, contr.discriminator)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # step 0 used the ns loss
    run_steps(contr, fixed_batches(contr_cfg), 2, skip=1)
    Checkpointer(str(tmp_path), contr).save()
    resumed = build_trainer(contr_cfg)
    Checkpointer(str(tmp_path), resumed).restore()
    assert int(resumed.step.numpy()) == 3 and resumed.schedule(3, 4)[2] is False


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    trainer = build_trainer(tiny_config())
    path = Checkpointer(str(tmp_path), trainer).save()
    data_file = next(p for p in tmp_path.glob("checkpoints/*.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # truncated, as after a full disk
    with pytest.raises(CheckpointError, match="corrupt"):
        Checkpointer(str(tmp_path), build_trainer(tiny_config())).restore(path)


def test_fused_adam_follows_adams_formula_and_round_trips():
    """FusedAdam (TF's ResourceApplyAdam per variable) against Adam written out in NumPy, 5 steps."""
    from keras_attngan.training.schedule import FusedAdam

    rng = np.random.RandomState(0)
    w0, grads = rng.randn(3, 4).astype(np.float32), rng.randn(5, 3, 4).astype(np.float32)
    lr, b1, b2, eps = 0.01, 0.5, 0.99, 1e-8
    opt = FusedAdam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    var = tf.Variable(w0)
    w, m, v = w0.astype(np.float64), np.zeros_like(w0, np.float64), np.zeros_like(w0, np.float64)
    for t, g in enumerate(grads, start=1):
        opt.apply_gradients([(tf.constant(g), var)])
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g.astype(np.float64) ** 2
        w = w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(var.numpy(), w, rtol=1e-5, atol=1e-6)
    again = FusedAdam.from_config(opt.get_config())
    assert isinstance(again, FusedAdam) and again.get_config() == opt.get_config()
