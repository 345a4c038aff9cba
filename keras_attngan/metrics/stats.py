"""Feature statistics for distribution metrics (FID, KID, precision/recall, FDDF).

Everything here is plain numpy so it can be tested without networks and reused
for any feature extractor (Inception pool3, discriminator features, ...).

* :class:`FeatureStats` accumulates features batch by batch in float64.
* :func:`frechet_distance` is the FID formula, computed without scipy.
* :func:`cached_stats` memoises statistics of real data on disk.
"""

import hashlib
import json
import os
import tempfile
import warnings

import numpy as np

__all__ = ["FeatureStats", "frechet_distance", "cached_stats", "stats_cache_path"]

_FORMAT_VERSION = 1


class FeatureStats:
    """Streaming mean/covariance (and optionally raw features) of [N, D] batches.

    Sums are kept in float64: float32 accumulation over tens of thousands of
    2048-d features moves FID visibly. Features are shifted by the mean of the
    first batch before summing so that ``sum(x x^T) - n mu mu^T`` does not lose
    precision to cancellation when the mean is large relative to the spread.

    Args:
        max_items: stop accepting items after this many (extra rows of a batch
            are dropped); ``None`` means unlimited.
        capture_all: also keep the raw features (needed by KID and
            precision/recall, which are not functions of mean/cov alone).
    """

    def __init__(self, max_items=None, capture_all=False):
        if max_items is not None and int(max_items) < 1:
            raise ValueError(f"max_items must be positive or None, got {max_items}")
        self.max_items = None if max_items is None else int(max_items)
        self.capture_all = bool(capture_all)
        self.num_items = 0
        self.num_features = None
        self._shift = None       # [D] reference point the sums are taken around
        self._sum = None         # [D]    sum of (x - shift)
        self._sum_outer = None   # [D, D] sum of (x - shift)(x - shift)^T
        self._all = []           # list of float64 [n, D] blocks when capture_all

    # ------------------------------------------------------------------ input
    def is_full(self):
        """True once ``max_items`` items have been accumulated."""
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, batch):
        """Add a [N, D] batch (any real dtype; a 1-D array is one item)."""
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {x.shape}")
        if self.num_features is None:
            self._init_dims(x.shape[1])
        elif x.shape[1] != self.num_features:
            raise ValueError(f"feature dim {x.shape[1]} != accumulated dim {self.num_features}")
        if self.max_items is not None:
            x = x[: max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        # A NaN would silently poison every later statistic; fail where it enters.
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or Inf")
        if self.num_items == 0:
            self._shift = x.mean(axis=0)
        xc = x - self._shift
        self._sum += xc.sum(axis=0)
        self._sum_outer += xc.T @ xc
        self.num_items += x.shape[0]
        if self.capture_all:
            self._all.append(x.copy())

    def _init_dims(self, d):
        self.num_features = int(d)
        self._shift = np.zeros(d)
        self._sum = np.zeros(d)
        self._sum_outer = np.zeros((d, d))

    # ----------------------------------------------------------------- output
    @property
    def mean(self):
        """Mean feature vector, float64 [D]."""
        if self.num_items < 1:
            raise ValueError("no items accumulated")
        return self._shift + self._sum / self.num_items

    @property
    def cov(self):
        """Unbiased (N - 1) covariance, float64 [D, D], exactly symmetric."""
        n = self.num_items
        if n < 2:
            raise ValueError(f"covariance needs at least 2 items, have {n}")
        m = self._sum / n
        c = (self._sum_outer - n * np.outer(m, m)) / (n - 1)
        return (c + c.T) / 2

    def get_all(self):
        """All captured features as float64 [N, D] (requires ``capture_all``)."""
        if not self.capture_all:
            raise ValueError("raw features were not captured (capture_all=False)")
        if not self._all:
            return np.zeros((0, self.num_features or 0))
        if len(self._all) > 1:  # consolidate so repeated calls are cheap
            self._all = [np.concatenate(self._all, axis=0)]
        return self._all[0]

    # ---------------------------------------------------------------- combine
    def _sums_around(self, c):
        """(sum, sum_outer) of this object's items re-centred on point ``c``."""
        d = self._shift - c
        s = self._sum + self.num_items * d
        so = self._sum_outer + np.outer(d, self._sum) + np.outer(self._sum, d) \
            + self.num_items * np.outer(d, d)
        return s, so

    def merge(self, other):
        """Return a new FeatureStats holding the items of both (inputs unchanged).

        The result has ``max_items=None`` (the union can exceed either limit) and
        captures raw features only if both inputs did.
        """
        if not isinstance(other, FeatureStats):
            raise TypeError(f"can only merge FeatureStats, got {type(other).__name__}")
        if self.num_items and other.num_items and self.num_features != other.num_features:
            raise ValueError(f"feature dims differ: {self.num_features} vs {other.num_features}")
        out = FeatureStats(capture_all=self.capture_all and other.capture_all)
        parts = [s for s in (self, other) if s.num_items > 0]
        if not parts:
            return out
        out._init_dims(parts[0].num_features)
        out._shift = parts[0]._shift.copy()
        for s in parts:
            ds, dso = s._sums_around(out._shift)
            out._sum += ds
            out._sum_outer += dso
            out.num_items += s.num_items
            if out.capture_all:
                out._all.append(s.get_all().copy())
        return out

    # ------------------------------------------------------------ persistence
    def save(self, path, key=None):
        """Write to ``path`` as .npz (written to a temp file, then renamed, so a
        crash or a concurrent reader never sees a half-written file)."""
        path = os.fspath(path)
        d = self.num_features or 0
        arrays = dict(
            format_version=np.int64(_FORMAT_VERSION),
            num_items=np.int64(self.num_items),
            num_features=np.int64(d),
            max_items=np.int64(-1 if self.max_items is None else self.max_items),
            capture_all=np.bool_(self.capture_all),
            shift=self._shift if self._shift is not None else np.zeros(0),
            sum=self._sum if self._sum is not None else np.zeros(0),
            sum_outer=self._sum_outer if self._sum_outer is not None else np.zeros((0, 0)),
            key=np.str_("" if key is None else key),
        )
        if self.capture_all:
            arrays["features"] = self.get_all()
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path, expect_key=None):
        """Read a file written by :meth:`save`. Raises on any inconsistency."""
        with np.load(os.fspath(path), allow_pickle=False) as z:
            if int(z["format_version"]) != _FORMAT_VERSION:
                raise ValueError(f"unsupported stats format {int(z['format_version'])}")
            if expect_key is not None and str(z["key"]) != expect_key:
                raise ValueError("stats file was written for a different key")
            max_items = int(z["max_items"])
            out = cls(max_items=None if max_items < 0 else max_items, capture_all=bool(z["capture_all"]))
            out.num_items = int(z["num_items"])
            d = int(z["num_features"])
            if out.num_items > 0:
                out.num_features = d
                out._shift = np.asarray(z["shift"], np.float64)
                out._sum = np.asarray(z["sum"], np.float64)
                out._sum_outer = np.asarray(z["sum_outer"], np.float64)
                if out._shift.shape != (d,) or out._sum.shape != (d,) or out._sum_outer.shape != (d, d):
                    raise ValueError("stats file arrays have inconsistent shapes")
                if out.capture_all:
                    feats = np.asarray(z["features"], np.float64)
                    if feats.shape != (out.num_items, d):
                        raise ValueError("stats file features have inconsistent shape")
                    out._all = [feats]
        return out


def _sqrtm_psd(a):
    """Square root of a symmetric PSD matrix via eigh; tiny negative
    eigenvalues (round-off on singular matrices) are clipped to 0."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) as a float.

    d = ||mu1 - mu2||^2 + tr(s1) + tr(s2) - 2 tr sqrt(s1 s2).

    ``s1 s2`` is not symmetric, so instead of a general matrix square root
    (scipy's ``sqrtm``, which can return complex values or NaN for singular
    covariances) we use the similar matrix ``sqrt(s1) s2 sqrt(s1)``: it is
    symmetric PSD and has the same eigenvalues as ``s1 s2``, so
    ``tr sqrt(s1 s2) = sum sqrt(eig(sqrt(s1) s2 sqrt(s1)))``. Both steps are
    symmetric eigendecompositions, so the result is always real and finite for
    symmetric PSD inputs, including singular ones (fewer samples than dims).
    Inputs are symmetrised (round-off) and the result is clipped at 0.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu {mu1.shape}, {mu2.shape}; sigma {s1.shape}, {s2.shape}")
    for a in (mu1, mu2, s1, s2):
        if not np.all(np.isfinite(a)):
            raise ValueError("frechet_distance inputs contain NaN or Inf")
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    r1 = _sqrtm_psd(s1)
    m = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    dist = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean
    return float(max(dist, 0.0))


def _key_string(key_parts):
    """Canonical JSON of the key dict: order-independent and stable across runs."""
    if not isinstance(key_parts, dict) or not key_parts:
        raise ValueError("key_parts must be a non-empty dict")
    return json.dumps(key_parts, sort_keys=True, default=str, separators=(",", ":"))


def stats_cache_path(cache_dir, key_parts):
    """File path :func:`cached_stats` uses for ``key_parts``.

    The name is a readable prefix (the ``dataset`` entry, sanitised) plus a
    SHA-256 of the canonical key, so any change of dataset, resolution, count
    or feature-network id yields a different file.
    """
    key = _key_string(key_parts)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    prefix = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(key_parts.get("dataset", "stats")))[:40]
    return os.path.join(os.fspath(cache_dir), f"{prefix or 'stats'}-{digest}.npz")


def cached_stats(cache_dir, key_parts, compute_fn):
    """Return FeatureStats for ``key_parts``, computing them at most once.

    Looks for the file named by :func:`stats_cache_path`; if it is missing,
    unreadable or was written for another key, calls ``compute_fn()`` (which
    must return a FeatureStats), saves the result and returns it. A corrupt
    cache only costs a recomputation (with a warning), never an exception.
    ``cache_dir=None`` disables caching.
    """
    if cache_dir is None:
        return compute_fn()
    key = _key_string(key_parts)
    path = stats_cache_path(cache_dir, key_parts)
    if os.path.exists(path):
        try:
            return FeatureStats.load(path, expect_key=key)
        except Exception as e:  # any read failure means "recompute", by design
            warnings.warn(f"ignoring unreadable stats cache {path} ({type(e).__name__}: {e}); recomputing",
                          RuntimeWarning, stacklevel=2)
    stats = compute_fn()
    if not isinstance(stats, FeatureStats):
        raise TypeError(f"compute_fn must return FeatureStats, got {type(stats).__name__}")
    try:
        stats.save(path, key=key)
    except OSError as e:  # a read-only cache dir should not lose the computed result
        warnings.warn(f"could not write stats cache {path}: {e}", RuntimeWarning, stacklevel=2)
    return stats
