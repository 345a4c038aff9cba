"""FDDF, the Fréchet distance in the discriminator's feature space (Sec. 4.1 of Yu et al. 2021), registered
in :data:`keras_attngan.registry.METRICS`."""

from keras_attngan.metrics import metric_math
from keras_attngan.metrics.registry import COUNT
from keras_attngan.registry import METRICS


def _parse(m):
    n = int(m.group(1)) * 1000 if m.group(1) else 50_000  # the paper's 50k real vs 50k fake
    return n, n, {}


@METRICS.register("fddf", forms=("fddf", "fddf<N>k"), pattern=rf"fddf(?:{COUNT})?", parse=_parse, order=5)
def fddf(evaluator, spec):
    if evaluator.discriminator is None:
        raise ValueError("fddf needs the discriminator: evaluate a training checkpoint, not a SavedModel")
    real = evaluator.real_stats(spec.num_reals, evaluator._d_features, "discriminator")
    fake = evaluator._accumulate(evaluator.fake_batches(spec.num_fakes), evaluator._d_features, False)
    return {spec.name: metric_math.fddf(real, fake)}
