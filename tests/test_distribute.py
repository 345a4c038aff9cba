"""The training step under tf.distribute (2 logical CPUs, tests/conftest.py), XLA and mixed precision:
the distributed step computes what the single-device step computes for the same global batch."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import rng
from keras_attngan.training import strategy as st
from keras_attngan.training.setup import build_trainer
from tests.helpers import all_weights, fixed_batches, mirrored, tiny_config
from tests.test_training import run_steps


def train_state(config, strategy=None, steps=3):
    trainer = build_trainer(config, strategy)
    logs = run_steps(trainer, fixed_batches(config), steps)
    state = all_weights(trainer.generator, trainer.discriminator, trainer.g_ema)
    state += [trainer.pl_mean.numpy(), trainer.generator.mapping.w_avg.numpy()]
    names = [w.path for m in (trainer.generator, trainer.discriminator, trainer.g_ema) for w in m.weights]
    return logs, state, names + ["pl_mean", "w_avg"]


def assert_same_run(a, b, atol=1e-5):
    (logs_a, state_a, names), (logs_b, state_b, _) = a, b
    for key in logs_a:
        assert logs_a[key] == pytest.approx(logs_b[key], rel=1e-5, abs=1e-6), key
    for name, x, y in zip(names, state_a, state_b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=name)


def test_mirrored_equals_single_device():
    """Global batch 8 on 2 replicas == batch 8 on one device after 3 steps of the dual contrastive loss (its
    softmax spans the global batch) with R1 and path-length reg, EMA, style mixing and noise, ADA (its
    parameters drawn for the global batch and sliced per replica) and spectral normalization in G and D (every
    replica runs the same power iteration). Both regularizers run every step (interval 1), so each trainer
    traces one step variant that holds every phase; the lazy schedule's scaling is a host-side choice, the
    same on one device or many (test_training). The per-sample losses of the menu reduce like any mean;
    DiffAugment's and ADA's per-replica draws are slices of the global draw (test_augment_state)."""
    # The dual contrastive loss is invariant to adding one constant to every logit, so some D biases
    # get gradients that are zero up to float rounding; Adam divides by sqrt(v) + eps and would turn
    # that rounding noise into full-size steps. A larger eps keeps the comparison about the math.
    config = tiny_config(resolution=8, batch_size=8, pl_weight=2.0, adam_epsilon=1e-4, g_lr=1e-3, d_lr=1e-3)
    config.loss.name = "dual_contrastive"
    config.model.update(g_weight_norm="spectral", d_weight_norm="spectral")
    config.augment.update(name="ada", p=0.5, target=0.0)
    single = train_state(config)
    assert single[0]["r1_penalty"] > 0 and single[0]["pl_penalty"] > 0  # the regularization phases ran
    assert single[0]["augment_p"] == 0.5 and all(np.isfinite(v) for v in single[0].values())
    assert_same_run(single, train_state(config, mirrored()))


def test_replicas_draw_distinct_slices_of_the_global_draw():
    strategy = mirrored()
    seed = tf.constant([3, 4], tf.int64)
    per_replica = strategy.run(tf.function(lambda: rng.batch_normal([2, 5], seed)))
    a, b = (t.numpy() for t in strategy.experimental_local_results(per_replica))
    assert not np.allclose(a, b)  # distinct latents per replica
    np.testing.assert_array_equal(np.concatenate([a, b]), rng.batch_normal([4, 5], seed).numpy())


def test_xla_equals_no_xla():
    config = tiny_config(resolution=8, batch_size=4, adam_epsilon=1e-4)
    config.loss.name = "dual_contrastive"
    plain = train_state(config, steps=2)
    config.train.xla = "on"
    assert_same_run(plain, train_state(config, steps=2), atol=1e-4)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains(precision):
    import keras
    config = tiny_config(resolution=8, batch_size=8, precision=precision)
    config.loss.name = "dual_contrastive"
    trainer = build_trainer(config, mirrored())  # loss scaling and the gathers across 2 replicas too
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    G, D = trainer.generator, trainer.discriminator
    assert G.synthesis.blocks[1].conv1.compute_dtype == precision.split("_")[1]
    assert all(w.dtype == "float32" for w in G.weights + D.weights)  # master weights stay float32
    assert D(tf.zeros([4, 8, 8, 1])).dtype == tf.float32  # logits (and so losses) in float32
    logs = run_steps(trainer, fixed_batches(config), 3)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["r1_penalty"] > 0
    if precision == "mixed_float16":
        assert isinstance(trainer.d_optimizer, keras.optimizers.LossScaleOptimizer)


# ----------------------------------------------------------------- strategy selection
class FakeResolver:
    def cluster_spec(self):
        return tf.train.ClusterSpec({"worker": ["10.0.0.2:8470"]})


def test_tpu_strategy_from_a_resolver(monkeypatch):
    calls = []
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append(("connect", r)))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append(("init", r)))

    class FakeTPUStrategy:
        num_replicas_in_sync = 8

        def __init__(self, resolver):
            calls.append(("strategy", resolver))

    monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
    resolver = FakeResolver()
    for name in ("auto", "tpu"):
        calls.clear()
        strategy = st.make_strategy(name, resolver_fn=lambda tpu: resolver)
        assert isinstance(strategy, FakeTPUStrategy)
        assert calls == [("connect", resolver), ("init", resolver), ("strategy", resolver)]
        assert st.use_xla("on", strategy) is False  # TPU steps are compiled whole: no inner jit
    assert st.check_batch(64, strategy, 4) == 8


def test_strategy_fallbacks_and_errors():
    none = lambda tpu: None  # noqa: E731 - no TPU here
    assert st.make_strategy("auto", resolver_fn=none) is tf.distribute.get_strategy()  # CPU only
    assert st.make_strategy("default") is tf.distribute.get_strategy()
    m = st.make_strategy("mirrored")  # CPU-only: one replica per logical CPU (never run: see helpers)
    assert isinstance(m, tf.distribute.MirroredStrategy) and m.num_replicas_in_sync == 2
    with pytest.raises(ValueError, match="no TPU was found"):
        st.make_strategy("tpu", resolver_fn=none)
    with pytest.raises(ValueError, match="not one of"):
        st.make_strategy("gpus")
    with pytest.raises(ValueError, match="divisible by the 2 replicas"):
        st.check_batch(7, m, 4)
    with pytest.raises(ValueError, match="per-replica batch 6"):
        st.check_batch(12, m, 4)  # 6 images per replica do not split into groups of 4
    assert st.check_batch(4, m, 4) == 2  # smaller than a group: the group is the replica's batch
    assert st.use_xla("auto", m) is False and st.use_xla("on", m) is True
    with pytest.raises(ValueError, match="auto, on, off"):
        st.parse_xla("maybe")
    assert st.tpu_resolver() is None  # no TPU on this machine: auto falls back
