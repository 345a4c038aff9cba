"""The harness's evaluation (experiments/run.py and clock.py): FID, unbiased KID and precision/recall of a
generator against a grid's reference set with the real Inception network, or a cheap stand-in for smoke tests."""

THUMBNAIL_ID = "thumbnail-8x8-proj64"


def thumbnail_features(images):
    """The stand-in feature network: a fixed random projection of 8x8 grayscale thumbnails (64-d)."""
    import numpy as np
    import tensorflow as tf

    x = tf.image.resize(tf.cast(images, tf.float32), [8, 8])
    x = tf.reduce_mean(x, axis=-1)
    x = tf.reshape(x, [tf.shape(x)[0], 64]) / 255.0
    w = tf.constant(np.random.RandomState(0).randn(64, 64).astype(np.float32))
    return tf.matmul(x, w)


def evaluate(metrics, config, g_ema, discriminator, cache_dir, feature_net="inception", counts=None):
    """FID, KID, precision and recall of ``g_ema`` from one pass of the fakes through the network.

    ``metrics``: a grid's metric set (num_fakes, num_reals, reference); the real statistics are cached in
    ``cache_dir``. The reference set is ``metrics["reference"]``, never the run's own (sub)set.
    Returns {count: figures} for each of ``counts`` (default: ``metrics["num_fakes"]``). Several counts, e.g.
    (1000, 5000), are evaluated at once: the fakes are drawn once for the largest and each smaller count takes
    the first of them (the same latents as an evaluation of that count alone), so the figures of a 5k point
    also continue a 1k curve."""
    import numpy as np

    from keras_attngan.metrics import metric_math
    from keras_attngan.metrics.evaluate import Evaluator
    from keras_attngan.metrics.stats import FeatureStats, frechet_distance

    m = metrics
    eval_config = config.copy_and_resolve_references()
    eval_config.data.update(source=m["reference"], subset=0)  # the reference set, not the run's subset
    kwargs = {}
    if feature_net == "thumbnail":
        kwargs = dict(feature_net=thumbnail_features, feature_net_id=THUMBNAIL_ID)
    ev = Evaluator(eval_config, g_ema, discriminator, cache_dir=cache_dir, **kwargs)
    features = ev._inception  # the Evaluator's batched feature pass (under its strategy)
    real = ev.real_stats(int(m["num_reals"]), features, ev.feature_net_id, capture_all=True)
    wanted = sorted({int(n) for n in (counts or [m["num_fakes"]])})
    fake = np.concatenate([np.asarray(features(batch)) for batch in ev.fake_batches(wanted[-1])])
    out = {}
    for n in wanted:
        f = FeatureStats(capture_all=True)
        f.append(fake[:n])
        precision, recall = metric_math.precision_recall(real.get_all()[:n], f, k=3)
        out[n] = {"fid": float(frechet_distance(real.mean, real.cov, f.mean, f.cov)),
                  "kid": float(metric_math.kid(real, f, num_subsets=100, subset_size=min(1000, n))),
                  "precision": float(precision), "recall": float(recall)}
    return out
