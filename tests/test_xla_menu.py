"""Every option of the config menu compiles under XLA (``train.xla="on"`` makes each phase's forward, and so its
backward, a ``tf.function(jit_compile=True)``, docs/scaling.md). A graph op without an XLA kernel fails the
compile with an error naming it.

Two tiny trainers compile a whole training step with every phase (R1 and path length every step):

- the paper's superset: the dual contrastive loss, SAN in G, reference attention in D, ADA with a fixed p,
  spectral normalization in G and D, and GGDR (decoder, cosine loss, target warped by ADA's geometric part);
- ContraD with simclr_hq_cutout, a superset of the other SimCLR variants' ops (its heads, NT-Xent and SupCon
  around the global-batch gathers).

The rest of the menu compiles piece by piece, and each compiled piece must give what the same piece gives run
eagerly, values and gradients: the other losses and WGAN-GP's penalty, the other G attention modules, D
self-attention, DiffAugment and the class-conditional G and D. A whole step took 35-80 s to compile here, a
piece 2-5 s (in one process). Every loss also trains a whole (non-XLA) step in ``test_conditional.py``'s one
step per D option; ``test_losses.py`` checks the formulas."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import losses
from keras_attngan.config import apply_overrides
from keras_attngan.augment.diffaugment import DiffAugment
from keras_attngan.training.loop import make_dataset
from keras_attngan.training.regularizers import wgan_gradient_penalty
from keras_attngan.training.setup import build_discriminator, build_generator, build_trainer
from tests.helpers import tiny_config
from tests.test_conditional import cond_config
from tests.test_training import run_steps

ATTN = dict(patch_size=3, share_planes=4)


def attention(side, **spec):
    """``model.<side>_attention`` fields as dotted overrides, with ATTN's small SAN."""
    return {f"model.{side}_attention.{key}": value for key, value in {**spec, **ATTN}.items()}


WHOLE_STEPS = {  # name: dotted overrides (keras_attngan.config.apply_overrides)
    "dual_contrastive_san_reference_ada_sn_ggdr": {
        "loss.name": "dual_contrastive", "augment.name": "ada", "augment.p": 0.5, "augment.target": 0.0,
        "ggdr.weight": 10.0, "ggdr.resolution": 8, "model.g_weight_norm": "spectral",
        "model.d_weight_norm": "spectral", **attention("g", type="san", resolution=8),
        **attention("d", type="reference", module="san", resolution=8)},
    "contrad_simclr_hq_cutout": {"contrad.enabled": True, "contrad.hidden": 16, "contrad.proj_dim": 8,
                                 "contrad.augment": "simclr_hq_cutout"},
}


@pytest.mark.parametrize("name", list(WHOLE_STEPS))
def test_whole_step_compiles_with_xla(name):
    config = apply_overrides(tiny_config(resolution=8, batch_size=4, xla="on", r1_interval=1, pl_interval=1),
                             WHOLE_STEPS[name])
    trainer = build_trainer(config)
    assert trainer.xla and trainer.terms  # the method's objective term is part of the compiled step
    dataset = make_dataset(config, 0, references=trainer.discriminator.uses_reference)
    logs = run_steps(trainer, dataset, 1)  # r1/pl intervals 1: every phase runs (and compiles) in this step
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["r1_penalty"] > 0
    assert any(k.startswith(("contrad", "ggdr")) for k in logs), logs  # the method's term is in the step


def assert_xla_equals_eager(fn, *args):
    """``fn(*args)`` (a structure of tensors) compiled with XLA equals ``fn(*args)`` run eagerly."""
    compiled, eager = tf.function(fn, jit_compile=True)(*args), fn(*args)
    for a, b in zip(tf.nest.flatten(compiled), tf.nest.flatten(eager)):  # None: a weight the piece does not use
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    return compiled


def test_losses_and_the_gradient_penalty_compile_with_xla():
    """Each loss of the menu (D's and G's, and their gradients with respect to both sides' logits), and WGAN-GP's
    interpolate penalty through D (a gradient of a gradient, with respect to D's weights)."""
    rs = np.random.RandomState(0)
    real, fake = (tf.constant(rs.normal(size=(6, 1)).astype(np.float32)) for _ in range(2))
    for name in losses.names():
        d_loss, g_loss = losses.get(name)

        def both(r, f, d_loss=d_loss, g_loss=g_loss):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([r, f])
                d, g = d_loss(r, f), g_loss(r, f)
            return d, g, tape.gradient(d, [r, f]), tape.gradient(g, [f])

        d, g, d_grads, _ = assert_xla_equals_eager(both, real, fake)
        assert np.isfinite(d.numpy()) and np.isfinite(g.numpy()) and np.abs(d_grads[1].numpy()).sum() > 0, name

    config = tiny_config(resolution=8)
    D = build_discriminator(config.model)
    x_real, x_fake = (tf.constant(rs.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)) for _ in range(2))
    eps = tf.constant(rs.uniform(size=(4, 1, 1, 1)).astype(np.float32))
    D(x_real)

    def penalty(r, f, e):
        with tf.GradientTape() as tape:
            gp = wgan_gradient_penalty(D, r, f, eps=e)
        return gp, tape.gradient(gp, D.trainable_weights)

    gp, grads = assert_xla_equals_eager(penalty, x_real, x_fake, eps)
    assert gp.numpy() > 0 and sum(np.abs(g.numpy()).sum() for g in grads if g is not None) > 0


def network_gradients(model, weights):
    """A function of ``x``: ``model(x)``'s mean square and its gradients with respect to x and ``weights``."""
    def fn(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = tf.reduce_mean(tf.square(tf.cast(model(x), tf.float32)))
        return value, tape.gradient(value, [x, *weights])
    return fn


@pytest.mark.parametrize("kind", ["sagan", "dfn", "vt"])
def test_g_attention_modules_compile_with_xla(kind):
    """G's forward and backward with the module at 8x8 (SAN in G: the whole-step superset)."""
    config = tiny_config(resolution=8)
    config.model.g_attention.update(type=kind, resolution=8, **ATTN)
    G = build_generator(config.model)
    z = tf.constant(np.random.RandomState(1).normal(size=(2, 16)).astype(np.float32))
    G(z, noise_mode="const")
    fn = network_gradients(lambda z: G(z, noise_mode="const"), G.trainable_weights)
    assert_xla_equals_eager(fn, z)
    assert any(w.path.startswith("attention/") for w in G.trainable_weights), [w.path for w in G.trainable_weights]


def test_d_self_attention_and_diffaugment_compile_with_xla():
    """D with SAN self-attention at 8x8 (reference attention: the whole-step superset) on images through
    DiffAugment's color, translation and cutout with fixed draws, gradients through both."""
    config = tiny_config(resolution=8)
    config.model.d_attention.update(type="self", module="san", resolution=8, **ATTN)
    D = build_discriminator(config.model)
    augment = DiffAugment("color,translation,cutout")
    params = augment.draw(4, tf.constant([3, 4], tf.int32))
    x = tf.constant(np.random.RandomState(2).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32))
    D(x)
    assert any(w.path.startswith("attention/") for w in D.trainable_weights), [w.path for w in D.trainable_weights]
    fn = network_gradients(lambda x: D(augment.apply(x, params)), D.trainable_weights)
    value, grads = assert_xla_equals_eager(fn, x)
    assert np.abs(grads[0].numpy()).sum() > 0


def test_conditional_networks_compile_with_xla():
    """A class-conditional G (label embedding into the mapping) and projection D (the label's embedding
    against D's feature, with D's mapping layers), forward and backward."""
    config = cond_config()
    G, D = build_generator(config.model), build_discriminator(config.model)
    rs = np.random.RandomState(3)
    z = tf.constant(rs.normal(size=(4, 16)).astype(np.float32))
    labels = tf.constant([0, 3, 1, 3], tf.int32)
    D(G(z, noise_mode="const", labels=labels), labels=labels)
    fn = network_gradients(lambda z: D(G(z, noise_mode="const", labels=labels), labels=labels),
                           G.trainable_weights + D.trainable_weights)
    value, grads = assert_xla_equals_eager(fn, z)
    embeddings = [g for g, w in zip(grads[1:], G.trainable_weights + D.trainable_weights) if "embed" in w.path]
    assert embeddings and all(g is not None and np.abs(g.numpy()).sum() > 0 for g in embeddings)
