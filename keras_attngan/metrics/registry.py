"""Metric names in the NVlabs (StyleGAN2-ADA) style, parsed into MetricSpec.

Each metric kind registers itself in :data:`keras_attngan.registry.METRICS` where its computation is
defined (``forms``, a name ``pattern`` and its ``parse``, and the function ``(evaluator, spec) -> {result:
value}``); this module parses names with the registered patterns. The built-in forms (N is a positive integer count of thousands):

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
ifid               ifid  per class: its reals' count  all reals of each class  fakes_per_class="reals" (StudioGAN)
ifid<N>k           ifid  N*1000 (N*1000/classes each)  (same)            fakes_per_class="equal"
cas<N>k[_e<E>][_w<W>]      cas      N*1000  N*1000 labelled train      epochs=E (10), width=W (16)
gen_acc<N>k[_e<E>][_w<W>]  gen_acc  N*1000  N*1000 labelled train      (same; all reals when fewer)
=================  ====  =========  ===================  ==========================

``ifid``, ``cas`` and ``gen_acc`` (``keras_attngan.metrics.conditional``) need a class-conditional generator.
"""

import dataclasses
import re

from keras_attngan.registry import METRICS

__all__ = ["MetricSpec", "parse_metric", "parse_metrics", "known_forms", "compute", "COUNT"]

COUNT = r"([1-9][0-9]*)k"  # N thousand, no leading zeros, so each count has one spelling


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """What a metric needs: ``num_reals=None`` means all real images, 0 means none."""

    name: str
    kind: str            # a registered kind: "fid" | "kid" | "pr" | "is" | "ppl" | "fddf" | "lineval" | ...
    num_fakes: int
    num_reals: object    # int or None
    params: dict = dataclasses.field(default_factory=dict, hash=False)

    def describe(self):
        """One human-readable line, e.g. for logs."""
        reals = "all reals" if self.num_reals is None else (f"{self.num_reals} reals" if self.num_reals else "no reals")
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}: {self.kind} on {self.num_fakes} fakes vs {reals}" + (f" ({extra})" if extra else "")


def known_forms():
    """Every accepted name form, from the registered kinds (``fid<N>k``, ...)."""
    return tuple(form for entry in METRICS.entries() for form in entry.info["forms"])


def _unknown(name):
    return ValueError(f"unknown metric {name!r}; known forms: {', '.join(known_forms())} "
                      "(N = positive integer thousands, K = k-NN size, E = epochs, W = classifier width)")


def parse_metric(name):
    """Parse one metric name into a :class:`MetricSpec` with the kind whose pattern matches; ValueError if
    none does."""
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {type(name).__name__}")
    s = name.strip().lower()
    for entry in METRICS.entries():
        m = re.fullmatch(entry.info["pattern"], s)
        if m is not None:
            num_fakes, num_reals, params = entry.info["parse"](m)
            return MetricSpec(s, entry.name, num_fakes, num_reals, params)
    raise _unknown(name)


def compute(evaluator, spec):
    """``{result name: value}`` of ``spec``, computed by its kind's registered function."""
    return METRICS.get(spec.kind, "metric kind")(evaluator, spec)


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
