"""Every loss of the menu against an independent NumPy formula, gradient signs, invariances, stability."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import losses


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def np_contrastive(pos, neg):
    """Eq. 1 literally, in float64: -mean_i log(e^{p_i} / (e^{p_i} + sum_j e^{n_j}))."""
    return -np.mean([np.log(np.exp(p) / (np.exp(p) + np.exp(neg).sum())) for p in pos])


NUMPY = {
    "ns": (lambda r, f: softplus(f).mean() + softplus(-r).mean(), lambda r, f: softplus(-f).mean()),
    "saturating": (lambda r, f: softplus(f).mean() + softplus(-r).mean(), lambda r, f: np.mean(np.log(1 - 1 / (1 + np.exp(-f))))),
    "wgan_gp": (lambda r, f: f.mean() - r.mean(), lambda r, f: -f.mean()),
    "hinge": (lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), lambda r, f: -f.mean()),
    "dual_contrastive": (lambda r, f: np_contrastive(r, f) + np_contrastive(-f, -r),
                         lambda r, f: np_contrastive(f, r) + np_contrastive(-r, -f)),
}

RNG = np.random.RandomState(0)
REAL = RNG.uniform(-0.9, 0.9, 6)   # inside the hinge margins, so every loss has a gradient
FAKE = RNG.uniform(-0.9, 0.9, 5)   # a different batch size on purpose


def test_menu_is_complete():
    assert losses.names() == sorted(NUMPY)


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_loss_matches_numpy(name):
    d, g = losses.get(name)
    nd, ng = NUMPY[name]
    assert float(d(REAL, FAKE)) == pytest.approx(nd(REAL, FAKE), rel=1e-5, abs=1e-6)
    assert float(g(REAL, FAKE)) == pytest.approx(ng(REAL, FAKE), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_gradient_signs(name):
    """D pushes real logits up and fake logits down; G pushes every fake logit up."""
    d, g = losses.get(name)
    real, fake = tf.constant(REAL, tf.float32), tf.constant(FAKE, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        ld, lg = d(real, fake), g(real, fake)
    d_real, d_fake = tape.gradient(ld, [real, fake])
    g_fake = tape.gradient(lg, fake)
    assert np.all(d_real.numpy() < 0), d_real
    assert np.all(d_fake.numpy() > 0), d_fake
    assert np.all(g_fake.numpy() < 0), g_fake


def test_dual_contrastive_is_permutation_invariant():
    d, g = losses.get("dual_contrastive")
    pr, pf = RNG.permutation(len(REAL)), RNG.permutation(len(FAKE))
    for fn in (d, g):
        assert float(fn(REAL[pr], FAKE[pf])) == pytest.approx(float(fn(REAL, FAKE)), rel=1e-6)
    # ...but it is not symmetric in real/fake: swapping the batches changes D's loss.
    assert float(d(FAKE, REAL)) != pytest.approx(float(d(REAL, FAKE)), rel=1e-3)


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_finite_at_extreme_logits(name):
    d, g = losses.get(name)
    for real, fake in [([1e4, -1e4, 0.0], [-1e4, 1e4, 2.0]), ([1e4] * 3, [1e4] * 3), ([-1e4] * 3, [-1e4] * 3)]:
        real, fake = tf.constant(real), tf.constant(fake)
        with tf.GradientTape() as tape:
            tape.watch([real, fake])
            total = d(real, fake) + g(real, fake)
        grads = tape.gradient(total, [real, fake])
        assert np.isfinite(float(total)), (name, real, fake)
        assert all(np.isfinite(gr.numpy()).all() for gr in grads)


def test_dual_contrastive_reduces_to_softplus_for_one_negative():
    """With one fake, Case I is softplus(D(G(z)) - D(x)) (second line of Eq. 1)."""
    real, fake = np.array([0.3, -1.2]), np.array([0.7])
    want = softplus(fake[0] - real).mean()
    assert float(losses.one_against_batch(real, fake)) == pytest.approx(want, rel=1e-6)


def test_unknown_loss():
    with pytest.raises(ValueError, match="loss.name=.nope. is not one of: dual_contrastive, hinge, ns, saturating, wgan_gp"):
        losses.get("nope")
