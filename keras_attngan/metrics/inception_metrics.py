"""The metrics on Inception features (registered in :data:`keras_attngan.registry.METRICS`): FID (Heusel et
al. 2017), KID (Binkowski et al. 2018), precision/recall (Kynkaanniemi et al. 2019) and the Inception Score
(Salimans et al. 2016), with NVlabs' names and sample counts."""

import numpy as np

from keras_attngan.metrics import metric_math
from keras_attngan.metrics.registry import COUNT
from keras_attngan.metrics.stats import frechet_distance
from keras_attngan.registry import METRICS

# NVlabs' pr50k3_full compares against at most 200k reals (k-NN cost is quadratic).
PR_FULL_MAX_REALS = 200_000


def _stats(evaluator, spec, capture):
    real = evaluator.real_stats(spec.num_reals, evaluator._inception, evaluator.feature_net_id, capture)
    fake = evaluator._accumulate(evaluator.fake_batches(spec.num_fakes), evaluator._inception, capture)
    return real, fake


def _counts(m):
    n = int(m.group(1)) * 1000
    return n, None if m.group(2) else n


@METRICS.register("fid", forms=("fid50k_full", "fid<N>k", "fid<N>k_full"), pattern=rf"fid{COUNT}(_full)?",
                  parse=lambda m: (*_counts(m), {}), order=0)
def fid(evaluator, spec):
    real, fake = _stats(evaluator, spec, False)
    return {spec.name: frechet_distance(real.mean, real.cov, fake.mean, fake.cov)}


@METRICS.register("kid", forms=("kid<N>k", "kid<N>k_full"), pattern=rf"kid{COUNT}(_full)?",
                  parse=lambda m: (*_counts(m), {"num_subsets": 100, "subset_size": 1000}), order=1)
def kid(evaluator, spec):
    real, fake = _stats(evaluator, spec, True)
    return {spec.name: metric_math.kid(real, fake, **spec.params, seed=evaluator.seed)}


def _parse_pr(m):
    n = int(m.group(1)) * 1000
    return n, PR_FULL_MAX_REALS if m.group(3) else n, {"k": int(m.group(2)), "row_batch": 256}


@METRICS.register("pr", forms=("pr<N>k<K>", "pr<N>k<K>_full"), pattern=rf"pr{COUNT}([1-9][0-9]*)(_full)?",
                  parse=_parse_pr, order=2)
def precision_recall(evaluator, spec):
    p, r = metric_math.precision_recall(*_stats(evaluator, spec, True), **spec.params)
    return {f"{spec.name}_precision": p, f"{spec.name}_recall": r}


@METRICS.register("is", forms=("is<N>k",), pattern=rf"is{COUNT}",
                  parse=lambda m: (int(m.group(1)) * 1000, 0, {"num_splits": 10}), order=3)
def inception_score(evaluator, spec):
    logits_fn = getattr(evaluator.feature_net, "logits", None)
    if logits_fn is None:
        raise ValueError(f"{spec.name} needs the Inception logits, which only the original GraphDef has: "
                         "pass --inception=classify_image_graph_def.pb (or the inception-2015-12-05 .tgz)")
    logits = np.concatenate([np.asarray(logits_fn(b)) for b in evaluator.fake_batches(spec.num_fakes)])
    mean, std = metric_math.inception_score(logits, spec.params.get("num_splits", 10), from_logits=True)
    return {f"{spec.name}_mean": mean, f"{spec.name}_std": std}
