"""Numpy-only math of KID, precision/recall, Inception Score and FDDF.

The functions take precomputed features (or class probabilities); running the
networks that produce them is the evaluation loop's job. FID itself is
``stats.frechet_distance`` on two ``FeatureStats``.
"""

import numpy as np

from keras_attngan.metrics.stats import FeatureStats, frechet_distance

__all__ = ["kid", "precision_recall", "knn_radii", "inception_score", "fddf"]


def _as_features(x, name):
    if isinstance(x, FeatureStats):
        x = x.get_all()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    return x


# --------------------------------------------------------------------------- KID
def kid(real_features, fake_features, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance (Binkowski et al. 2018) as a float.

    Unbiased estimate of MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3, averaged over ``num_subsets`` random subsets of
    ``m = min(subset_size, n_real, n_fake)`` items drawn without replacement
    from each set (defaults as in NVlabs' kid50k: 100 subsets of 1000).
    Per subset: mean off-diagonal k(x, x') + mean off-diagonal k(y, y')
    - 2 mean k(x, y). The estimate can be slightly negative when the two
    distributions are equal; it is returned as is (clipping would bias it).
    Inputs may be arrays or FeatureStats with ``capture_all=True``.
    """
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dims differ: {real.shape[1]} vs {fake.shape[1]}")
    d = real.shape[1]
    m = min(int(subset_size), real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 items in each set")
    if num_subsets < 1:
        raise ValueError("num_subsets must be >= 1")
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(int(num_subsets)):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        # Dropping the diagonals (k(x, x)) is what makes the estimate unbiased.
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total += within - 2.0 * kxy.mean()
    return float(total / num_subsets)


# ---------------------------------------------------------- precision / recall
def _sq_dists(a, b, b_sq):
    """Squared Euclidean distances [len(a), len(b)] via the dot-product expansion
    (never materialises [n, m, D]); clipped at 0 against round-off."""
    d = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def knn_radii(features, k=3, row_batch=256):
    """Squared distance from each point to its k-th nearest *other* point.

    Distances are computed one block of ``row_batch`` rows at a time, so peak
    memory is O(row_batch * N) instead of O(N^2): with the default 256 and
    N = 50k that is ~100 MB per float64 temporary.
    """
    x = _as_features(features, "features")
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} points, got {k}")
    x_sq = (x * x).sum(axis=1)
    out = np.empty(n)
    for i in range(0, n, row_batch):
        blk = _sq_dists(x[i:i + row_batch], x, x_sq)
        # Each point is its own 0-th neighbour: force that so round-off in the
        # expansion cannot make another point count as "self".
        rows = np.arange(blk.shape[0])
        blk[rows, i + rows] = -1.0
        out[i:i + row_batch] = np.partition(blk, k, axis=1)[:, k]
    return out


def _fraction_covered(queries, centers, radii_sq, row_batch):
    """Fraction of ``queries`` within distance radius_j of some center j."""
    c_sq = (centers * centers).sum(axis=1)
    hits = 0
    for i in range(0, queries.shape[0], row_batch):
        blk = _sq_dists(queries[i:i + row_batch], centers, c_sq)
        hits += int(np.any(blk <= radii_sq[None, :], axis=1).sum())
    return hits / queries.shape[0]


def precision_recall(real_features, fake_features, k=3, row_batch=256):
    """Improved precision and recall (Kynkäänniemi et al. 2019), as floats.

    Each real point gets a ball whose radius is the distance to its k-th
    nearest real neighbour; precision is the fraction of fakes inside at least
    one real ball. Recall is the same with the roles swapped (fake balls,
    fraction of reals covered). Balls are closed (distance <= radius).
    Inputs may be arrays or FeatureStats with ``capture_all=True``.
    """
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dims differ: {real.shape[1]} vs {fake.shape[1]}")
    precision = _fraction_covered(fake, real, knn_radii(real, k, row_batch), row_batch)
    recall = _fraction_covered(real, fake, knn_radii(fake, k, row_batch), row_batch)
    return float(precision), float(recall)


# ------------------------------------------------------------- Inception Score
def inception_score(probs, num_splits=10, from_logits=False):
    """Inception Score exp(E_x KL(p(y|x) || p(y))) as (mean, std) over splits.

    ``probs`` is [N, C] class probabilities (or logits with ``from_logits``).
    The N items are cut into ``num_splits`` contiguous, nearly equal parts;
    p(y) is the marginal of each part, as in the original protocol.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must be a non-empty [N, C] array, got shape {p.shape}")
    if from_logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))  # shift keeps exp from overflowing
        p /= p.sum(axis=1, keepdims=True)
    elif np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be non-negative and sum to 1 (pass from_logits=True for logits)")
    if not 1 <= num_splits <= p.shape[0]:
        raise ValueError(f"num_splits must be in [1, {p.shape[0]}], got {num_splits}")
    scores = []
    for part in np.array_split(p, num_splits):
        py = part.mean(axis=0, keepdims=True)
        # 0 * log 0 = 0: only terms with p(y|x) > 0 contribute (then p(y) > 0 too).
        safe = part > 0
        terms = np.where(safe, part * (np.log(np.where(safe, part, 1.0)) - np.log(np.where(safe, py, 1.0))), 0.0)
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ------------------------------------------------------------------------ FDDF
def fddf(real_features, fake_features):
    """Fréchet distance of discriminator last-layer features (Yu et al. 2021).

    FDDF measures how distinguishable the discriminator's representations of
    real and generated images are (the paper uses 50k of each; larger means
    more distinguishable). The math is FID's, applied to D features.
    Inputs are [N, D] arrays or FeatureStats.
    """
    stats = []
    for x, name in ((real_features, "real_features"), (fake_features, "fake_features")):
        if not isinstance(x, FeatureStats):
            s = FeatureStats()
            s.append(_as_features(x, name))
            x = s
        stats.append(x)
    (r, f) = stats
    return frechet_distance(r.mean, r.cov, f.mean, f.cov)
