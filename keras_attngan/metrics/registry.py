"""Metric names in the NVlabs (StyleGAN2-ADA) style, parsed into MetricSpec.

This module only parses and describes; the evaluation loop decides how to
generate images and which network produces the features for each ``kind``.

Known forms (N is a positive integer count of thousands):

=================  ====  =========  ===================  ==========================
name               kind  num_fakes  num_reals            params
=================  ====  =========  ===================  ==========================
fid50k_full        fid   50000      None (all reals)
fid<N>k            fid   N*1000     N*1000
fid<N>k_full       fid   N*1000     None
kid<N>k            kid   N*1000     N*1000               num_subsets=100, subset_size=1000
kid<N>k_full       kid   N*1000     None                 (same)
pr<N>k<K>          pr    N*1000     N*1000               k=K, row_batch=256
pr<N>k<K>_full     pr    N*1000     200000 (NVlabs cap)  (same)
is<N>k             is    N*1000     0                    num_splits=10
ppl_{z,w}{full,end} ppl  50000      0                    space, sampling, epsilon=1e-4, crop=False
fddf               fddf  50000      50000                (the paper's 50k real vs 50k fake)
fddf<N>k           fddf  N*1000     N*1000
lineval            lineval 0        10000 labelled train  num_test=10000 (ContraD's linear evaluation)
lineval<N>k        lineval 0        N*1000 labelled train (same)
=================  ====  =========  ===================  ==========================
"""

import dataclasses
import re

__all__ = ["MetricSpec", "parse_metric", "parse_metrics", "KNOWN_FORMS"]

KNOWN_FORMS = ("fid50k_full", "fid<N>k", "fid<N>k_full", "kid<N>k", "kid<N>k_full", "pr<N>k<K>",
               "pr<N>k<K>_full", "is<N>k", "ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend", "fddf", "fddf<N>k", "lineval", "lineval<N>k")

# NVlabs' pr50k3_full compares against at most 200k reals (k-NN cost is quadratic).
PR_FULL_MAX_REALS = 200_000


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """What a metric needs: ``num_reals=None`` means all real images, 0 means none."""

    name: str
    kind: str            # "fid" | "kid" | "pr" | "is" | "ppl" | "fddf" | "lineval"
    num_fakes: int
    num_reals: object    # int or None
    params: dict = dataclasses.field(default_factory=dict, hash=False)

    def describe(self):
        """One human-readable line, e.g. for logs."""
        reals = "all reals" if self.num_reals is None else (f"{self.num_reals} reals" if self.num_reals else "no reals")
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}: {self.kind} on {self.num_fakes} fakes vs {reals}" + (f" ({extra})" if extra else "")


_COUNT = r"([1-9][0-9]*)k"  # no leading zeros, so each count has one spelling
_PATTERNS = [
    (re.compile(rf"fid{_COUNT}(_full)?"), "fid"),
    (re.compile(rf"kid{_COUNT}(_full)?"), "kid"),
    (re.compile(rf"pr{_COUNT}([1-9][0-9]*)(_full)?"), "pr"),
    (re.compile(rf"is{_COUNT}"), "is"),
    (re.compile(r"ppl_([zw])(full|end)"), "ppl"),
    (re.compile(rf"fddf(?:{_COUNT})?"), "fddf"),
    (re.compile(rf"lineval(?:{_COUNT})?"), "lineval"),
]


def _unknown(name):
    return ValueError(f"unknown metric {name!r}; known forms: {', '.join(KNOWN_FORMS)} "
                      "(N = positive integer thousands, K = k-NN size)")


def parse_metric(name):
    """Parse one metric name into a :class:`MetricSpec`; ValueError if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {type(name).__name__}")
    s = name.strip().lower()
    for pattern, kind in _PATTERNS:
        m = pattern.fullmatch(s)
        if m is None:
            continue
        if kind in ("fid", "kid"):
            n = int(m.group(1)) * 1000
            params = {"num_subsets": 100, "subset_size": 1000} if kind == "kid" else {}
            return MetricSpec(s, kind, n, None if m.group(2) else n, params)
        if kind == "pr":
            n, k = int(m.group(1)) * 1000, int(m.group(2))
            return MetricSpec(s, kind, n, PR_FULL_MAX_REALS if m.group(3) else n, {"k": k, "row_batch": 256})
        if kind == "is":
            return MetricSpec(s, kind, int(m.group(1)) * 1000, 0, {"num_splits": 10})
        if kind == "ppl":
            # Same sampling parameters as NVlabs: 50k pairs, epsilon 1e-4, no face crop.
            return MetricSpec(s, kind, 50_000, 0, {"space": m.group(1), "sampling": m.group(2),
                                                   "epsilon": 1e-4, "crop": False})
        if kind == "lineval":  # no fakes: labelled reals for training, the test split for testing
            return MetricSpec(s, kind, 0, int(m.group(1)) * 1000 if m.group(1) else 10_000, {"num_test": 10_000})
        n = int(m.group(1)) * 1000 if m.group(1) else 50_000
        return MetricSpec(s, kind, n, n, {})
    raise _unknown(name)


def parse_metrics(names):
    """Parse a comma-separated string or an iterable of names, dropping
    duplicates and empty entries while keeping order."""
    if isinstance(names, str):
        names = names.split(",")
    specs, seen = [], set()
    for n in names:
        if not n.strip():
            continue
        spec = parse_metric(n)
        if spec.name not in seen:
            seen.add(spec.name)
            specs.append(spec)
    return specs
