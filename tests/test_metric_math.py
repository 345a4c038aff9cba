"""Metric math without networks: Fréchet distance, FeatureStats, cache, KID, PR, IS, FDDF, registry.

scipy is used here only as an independent reference (it is not a library dependency).
"""

import os
import warnings

import numpy as np
import pytest
import scipy.linalg

from keras_attngan.metrics.metric_math import fddf, inception_score, kid, knn_radii, precision_recall
from keras_attngan.metrics.registry import MetricSpec, known_forms, parse_metric, parse_metrics
from keras_attngan.metrics.stats import FeatureStats, cached_stats, frechet_distance, stats_cache_path


def _random_spd(rng, d):
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d) + 0.1 * np.eye(d)


def _scipy_fd(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


# ------------------------------------------------------------------ Fréchet distance
def test_fd_self_is_zero_and_symmetric():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 16)), rng.normal(1.0, 2.0, size=(200, 16))
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert abs(frechet_distance(m1, s1, m1, s1)) < 1e-6
    d12, d21 = frechet_distance(m1, s1, m2, s2), frechet_distance(m2, s2, m1, s1)
    assert isinstance(d12, float) and d12 > 1.0
    np.testing.assert_allclose(d12, d21, rtol=1e-9)


def test_fd_mean_shift_adds_squared_norm():
    rng = np.random.default_rng(1)
    s, mu, shift = _random_spd(rng, 10), rng.normal(size=10), rng.normal(size=10)
    np.testing.assert_allclose(frechet_distance(mu, s, mu + shift, s), shift @ shift, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("d", [1, 2, 5, 32, 128])
def test_fd_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), _scipy_fd(mu1, s1, mu2, s2), rtol=1e-6)


def test_fd_singular_covariances_are_real_and_finite():
    rng = np.random.default_rng(2)
    d = 64
    x, y = rng.normal(size=(20, d)), rng.normal(0.5, 1.0, size=(30, d))  # N < D: rank-deficient covariances
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    v = frechet_distance(x.mean(0), s1, y.mean(0), s2)
    assert isinstance(v, float) and np.isfinite(v) and v > 0
    np.testing.assert_allclose(v, _scipy_fd(x.mean(0), s1, y.mean(0), s2), rtol=1e-3)
    assert abs(frechet_distance(x.mean(0), s1, x.mean(0), s1)) < 1e-6
    zero = np.zeros((d, d))  # fully degenerate: distance is just the mean/trace terms
    np.testing.assert_allclose(frechet_distance(np.zeros(d), zero, np.ones(d), zero), d)


def test_fd_rejects_bad_shapes():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------------ FeatureStats
def _uneven_batches(x, sizes):
    out, i = [], 0
    for s in sizes:
        out.append(x[i:i + s])
        i += s
    return out


def test_feature_stats_streaming_equals_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 0.5, size=(257, 12)).astype(np.float32)  # large mean: stresses cancellation
    st = FeatureStats(capture_all=True)
    for b in _uneven_batches(x, [1, 100, 7, 0, 149]):
        st.append(b)
    ref = x.astype(np.float64)
    assert st.num_items == 257 and st.num_features == 12
    np.testing.assert_allclose(st.mean, ref.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.cov, np.cov(ref, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(st.get_all(), ref)


def test_feature_stats_max_items_and_errors():
    st = FeatureStats(max_items=10)
    st.append(np.ones((6, 3)))
    st.append(np.arange(18.0).reshape(6, 3))
    assert st.num_items == 10 and st.is_full()
    st.append(np.ones((4, 3)))  # ignored once full
    assert st.num_items == 10
    with pytest.raises(ValueError):
        st.append(np.ones((2, 4)))
    with pytest.raises(ValueError):
        FeatureStats().append(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        FeatureStats(capture_all=False).get_all()


def test_feature_stats_save_load_merge(tmp_path):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(40, 6)), rng.normal(3.0, 1.0, size=(25, 6))
    sa, sb = FeatureStats(capture_all=True), FeatureStats(capture_all=True)
    sa.append(a)
    sb.append(b)
    path = tmp_path / "s.npz"
    sa.save(path)
    la = FeatureStats.load(path)
    np.testing.assert_allclose(la.mean, sa.mean)
    np.testing.assert_allclose(la.cov, sa.cov)
    np.testing.assert_array_equal(la.get_all(), a)
    both = np.concatenate([a, b])
    m = la.merge(sb)
    assert m.num_items == 65 and sa.num_items == 40
    np.testing.assert_allclose(m.mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.cov, np.cov(both, rowvar=False), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(m.get_all(), both)
    np.testing.assert_allclose(FeatureStats().merge(sb).cov, sb.cov)


# ------------------------------------------------------------------ cache
def test_cached_stats_hit_miss_corrupt(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        s = FeatureStats()
        s.append(np.arange(12.0).reshape(4, 3))
        return s

    key = {"dataset": "fashion/mnist", "resolution": 32, "count": 4, "net": "inception-pool3"}
    s1 = cached_stats(tmp_path, key, compute)
    s2 = cached_stats(tmp_path, dict(reversed(list(key.items()))), compute)  # key order irrelevant
    assert len(calls) == 1
    np.testing.assert_allclose(s2.cov, s1.cov)
    cached_stats(tmp_path, {**key, "resolution": 64}, compute)  # different key -> miss
    assert len(calls) == 2
    path = stats_cache_path(tmp_path, key)
    assert os.path.basename(path).startswith("fashion_mnist-")
    with open(path, "wb") as f:
        f.write(b"not an npz file")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        s3 = cached_stats(tmp_path, key, compute)
    assert len(calls) == 3
    np.testing.assert_allclose(s3.mean, s1.mean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten file is a clean hit again
        cached_stats(tmp_path, key, compute)
    assert len(calls) == 3


# ------------------------------------------------------------------ KID
def _kid_direct(x, y):
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    total = 0.0
    for i in range(m):
        for j in range(m):
            if i != j:
                total += (k(x[i:i + 1], x[j:j + 1]) + k(y[i:i + 1], y[j:j + 1]))[0, 0] / (m * (m - 1))
            total -= 2 * k(x[i:i + 1], y[j:j + 1])[0, 0] / m ** 2
    return total


def test_kid_same_vs_shifted_and_direct_formula():
    rng = np.random.default_rng(5)
    r, f = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    same = kid(r, f, num_subsets=20, subset_size=300, seed=1)
    shifted = kid(r, f + 1.0, num_subsets=20, subset_size=300, seed=1)
    assert abs(same) < 0.02 and shifted > 0.5
    assert kid(r, f, num_subsets=20, subset_size=300, seed=1) == same  # seeded
    x, y = rng.normal(size=(7, 3)), rng.normal(0.3, 1.0, size=(7, 3))
    np.testing.assert_allclose(kid(y, x, num_subsets=1, subset_size=7), _kid_direct(x, y), rtol=1e-10)
    st = FeatureStats(capture_all=True)
    st.append(y)
    np.testing.assert_allclose(kid(st, x, num_subsets=1, subset_size=7), _kid_direct(x, y), rtol=1e-10)


# ------------------------------------------------------------------ precision / recall
def test_pr_identical_and_far_apart():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 5))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    p, r = precision_recall(x, x + 100.0)
    assert p == 0.0 and r == 0.0


def test_pr_hand_computed_1d():
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[0.5], [2.5], [10.0]])
    # k=1 real radii: 0->1, 1->1, 3->2; fakes 0.5 (ball of 0) and 2.5 (ball of 3) covered, 10 not.
    np.testing.assert_allclose(knn_radii(real, k=1), [1.0, 1.0, 4.0])  # squared radii
    # fake radii: 0.5->2, 2.5->2, 10->7.5; real 0 (|0-0.5|=.5), 1, 3 all covered.
    assert precision_recall(real, fake, k=1) == pytest.approx((2 / 3, 1.0))
    # k=2 real radii: 0->3, 1->2, 3->3 => 10 still outside; fake radii 0.5->9.5 covers everything.
    assert precision_recall(real, fake, k=2) == pytest.approx((2 / 3, 1.0))
    # Swapping roles swaps the two numbers.
    assert precision_recall(fake, real, k=1) == pytest.approx((1.0, 2 / 3))


def test_pr_row_batching_does_not_change_result():
    rng = np.random.default_rng(7)
    r, f = rng.normal(size=(150, 4)), rng.normal(0.5, 1.0, size=(120, 4))
    full = precision_recall(r, f, k=3, row_batch=10_000)
    assert precision_recall(r, f, k=3, row_batch=7) == full
    assert 0.0 < full[0] < 1.0 and 0.0 < full[1] < 1.0


# ------------------------------------------------------------------ Inception Score
def test_inception_score_extremes():
    c = 10
    one_hot = np.tile(np.eye(c), (5, 1))  # 50 confident predictions, each split sees every class
    mean, std = inception_score(one_hot, num_splits=5)
    np.testing.assert_allclose([mean, std], [c, 0.0], atol=1e-9)
    same = np.tile(np.random.default_rng(8).dirichlet(np.ones(c)), (40, 1))
    np.testing.assert_allclose(inception_score(same, num_splits=4)[0], 1.0, atol=1e-9)
    logits = np.log(np.clip(one_hot, 1e-30, None))
    np.testing.assert_allclose(inception_score(logits, num_splits=5, from_logits=True)[0], c, rtol=1e-6)
    with pytest.raises(ValueError):
        inception_score(np.ones((4, 3)))  # rows do not sum to 1


# ------------------------------------------------------------------ FDDF
def test_fddf_equals_frechet_distance():
    rng = np.random.default_rng(9)
    r, f = rng.normal(size=(80, 6)), rng.normal(0.7, 1.5, size=(90, 6))
    ref = frechet_distance(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))
    np.testing.assert_allclose(fddf(r, f), ref, rtol=1e-9)
    sr = FeatureStats()
    sr.append(r)
    np.testing.assert_allclose(fddf(sr, f), ref, rtol=1e-9)


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize("name, kind, fakes, reals, params", [
    ("fid50k_full", "fid", 50000, None, {}),
    ("fid10k", "fid", 10000, 10000, {}),
    ("fid5k", "fid", 5000, 5000, {}),
    ("kid50k", "kid", 50000, 50000, {"num_subsets": 100, "subset_size": 1000}),
    ("kid2k", "kid", 2000, 2000, {"num_subsets": 100, "subset_size": 1000}),
    ("pr50k3", "pr", 50000, 50000, {"k": 3}),
    ("pr10k3", "pr", 10000, 10000, {"k": 3}),
    ("is50k", "is", 50000, 0, {"num_splits": 10}),
    ("ppl_wend", "ppl", 50000, 0, {"space": "w", "sampling": "end"}),
    ("fddf", "fddf", 50000, 50000, {}),
    ("fddf10k", "fddf", 10000, 10000, {}),
])
def test_registry_parses(name, kind, fakes, reals, params):
    spec = parse_metric(name)
    assert isinstance(spec, MetricSpec)
    assert (spec.name, spec.kind, spec.num_fakes, spec.num_reals) == (name, kind, fakes, reals)
    assert params.items() <= spec.params.items()
    assert name in spec.describe()


@pytest.mark.parametrize("bad", ["", "fid", "fid0k", "fid10", "fid1.5k", "fid050k", "kid50k_half", "pr50k",
                                 "is50k_full", "ppl_xend", "fddf0k", "fddfk", "precision"])
def test_registry_rejects(bad):
    with pytest.raises(ValueError, match="known forms"):
        parse_metric(bad)


def test_parse_metrics_list():
    specs = parse_metrics("fid50k_full, kid50k,fid50k_full,,pr50k3")
    assert [s.name for s in specs] == ["fid50k_full", "kid50k", "pr50k3"]
    assert "fddf<N>k" in known_forms()
