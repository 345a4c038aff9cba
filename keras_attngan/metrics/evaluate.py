"""The evaluation loop: generate images, run the feature networks, compute the registry's metrics.

Protocol (as NVlabs): the EMA generator, no truncation unless asked, fakes quantized to uint8 before the
feature network, reals read from the training data source at the model's resolution and channels;
real-data statistics cached on disk keyed by dataset, resolution, channels, count and feature network.

The feature networks (Inception, the discriminator for FDDF, LPIPS for PPL) run batched inside a
``tf.function`` under a ``tf.distribute`` strategy (the one passed, else the current one): each batch is
split across the replicas and the per-replica features are concatenated back in order (``ReplicaMap``).
"""

import functools
import time

import numpy as np
import tensorflow as tf

from keras_attngan.data import build_dataset
from keras_attngan.metrics import registry
from keras_attngan.metrics.distributed import ReplicaMap
from keras_attngan.metrics.stats import FeatureStats, cached_stats
from keras_attngan.utils.images import to_uint8


class Evaluator:
    """Computes metrics for one generator (and discriminator, for FDDF) of a run.

    ``feature_net``: a callable uint8/float [0, 255] NHWC images -> [N, F] features (the Inception
    network of ``keras_attngan.metrics.inception``, loaded lazily when None).
    ``strategy``: the ``tf.distribute`` strategy the feature networks run under (None: the one the generator's
    variables were created under, as during training, else the current one, ``tf.distribute.get_strategy()``).
    ``ppl_distance``: (img0, img1) -> [N] perceptual distances for PPL; None builds LPIPS-VGG16 from
    ``lpips_weights`` (paths, or a comma-separated string; None: $KERAS_ATTNGAN_LPIPS / the lpips package,
    see ``keras_attngan.metrics.lpips``) when a PPL metric is first asked for. ``ppl_num_samples`` overrides
    the protocol's 50k PPL samples (for quick checks only; published numbers use 50k).
    """

    def __init__(self, config, generator, discriminator=None, feature_net=None, cache_dir=None, batch_size=50,
                 psi=1.0, seed=0, feature_net_id="inception-2015-12-05", ppl_distance=None, strategy=None,
                 lpips_weights=None, ppl_num_samples=None):
        self.config, self.generator, self.discriminator = config, generator, discriminator
        self._feature_net, self.feature_net_id = feature_net, feature_net_id
        self.cache_dir, self.batch_size, self.psi, self.seed = cache_dir, int(batch_size), float(psi), int(seed)
        self.strategy = strategy or _variables_strategy(generator) or tf.distribute.get_strategy()
        self.ppl_distance = ppl_distance  # (img0, img1) -> [N] perceptual distances (LPIPS in the protocol)
        self.lpips_weights, self.ppl_num_samples = lpips_weights, ppl_num_samples
        self._maps = {}

    @property
    def feature_net(self):
        if self._feature_net is None:
            from keras_attngan.metrics.inception import load_inception
            with self.strategy.scope():
                self._feature_net = load_inception()
        return self._feature_net

    def _replica_map(self, name, fn, multiple=1):
        if name not in self._maps:
            self._maps[name] = ReplicaMap(fn, self.strategy, multiple)
        return self._maps[name]

    def _ppl_distance(self):
        if self.ppl_distance is None:
            from keras_attngan.metrics.lpips import load_lpips
            from keras_attngan.metrics.ppl import LPIPSDistance
            with self.strategy.scope():
                self.ppl_distance = LPIPSDistance(load_lpips(self.lpips_weights), self.strategy)
        return self.ppl_distance

    # ------------------------------------------------------------------ images
    def fake_labels(self, num):
        """The labels of the first ``num`` fakes of a class-conditional G (None otherwise): drawn from the
        training data's class frequencies with the evaluation seed, as StyleGAN2-ADA's metrics draw c."""
        k = getattr(self.generator, "num_classes", 0)
        if not k:
            return None
        if getattr(self, "_label_probs", None) is None:
            from keras_attngan.data.pipeline import class_frequencies
            d = self.config.data
            self._label_probs = class_frequencies(d.source, d.tfds_data_dir or None, d.subset)
        return np.random.RandomState([self.seed, 1]).choice(k, size=num, p=self._label_probs).astype(np.int32)

    def fake_batches(self, num, labels=None):
        """uint8 batches of ``num`` generated images (fixed latents per evaluation seed); a conditional G
        draws ``labels`` (default :meth:`fake_labels`)."""
        rng = np.random.RandomState(self.seed)
        labels = self.fake_labels(num) if labels is None else np.asarray(labels, np.int32)
        for start in range(0, num, self.batch_size):
            n = min(self.batch_size, num - start)
            z = tf.constant(rng.randn(n, self.generator.z_dim).astype(np.float32))
            extra = {} if labels is None else {"labels": tf.constant(labels[start:start + n])}
            img = self.generator(z, psi=self.psi, seed=tf.constant([self.seed, start], tf.int64), **extra)
            yield to_uint8(img.numpy())

    def real_batches(self, num=None):
        """uint8 batches of the first ``num`` real images (all when None), in a fixed order."""
        d, m = self.config.data, self.config.model
        ds = build_dataset(d.source, m.resolution, m.img_channels, self.batch_size, fit=d.fit, subset=d.subset,
                           skip_bad=d.skip_bad, shuffle=False, repeat=False, drop_remainder=False)
        seen = 0
        for batch in ds:
            x = to_uint8(batch.numpy())[: None if num is None else num - seen]
            seen += len(x)
            yield x
            if num is not None and seen >= num:
                return
        if num is not None and seen < num:
            raise ValueError(f"the data source {d.source!r} has only {seen} images but the metric needs {num}: "
                             "use a metric with fewer images (e.g. fid10k) or the _full variant")

    # ------------------------------------------------------------------ features
    def _accumulate(self, batches, fn, capture_all):
        stats = FeatureStats(capture_all=capture_all)
        for batch in batches:
            stats.append(np.asarray(fn(batch)))
        return stats

    def _inception(self, batch):
        return self._replica_map("inception", self.feature_net)(batch)

    def _d_features(self, batch, output="fc"):
        """The discriminator's last hidden layer (FDDF), or another of its named outputs (``penultimate``:
        lineval); reference attention gets real references.

        Each replica gets whole minibatch-stddev groups (the batch is padded in ``np.resize`` order, as on one
        device), so the features do not depend on the number of replicas."""
        group = self.discriminator.mbstd_group
        fn = functools.partial(self._d_replica, output=output)
        if getattr(self.discriminator, "uses_reference", False):
            step = self._replica_map(f"d_ref_{output}", fn, group)
            return step(batch, self._reference_batch(len(batch)))
        return self._replica_map(f"d_{output}", fn, group)(batch)

    def _d_replica(self, x, reference=None, output="fc"):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        kwargs = {} if reference is None else {"reference": reference}
        if getattr(self.discriminator, "num_classes", 0):  # the features read here do not depend on the label
            kwargs["labels"] = tf.zeros([tf.shape(x)[0]], tf.int32)
        if output == "fc":
            return self.discriminator(x, return_features=True, **kwargs)[1]
        return self.discriminator(x, outputs=(output,), **kwargs)[1][output]

    def _reference_batch(self, n):
        """References for n images (a real batch repeated); each image's reference is fixed by its position."""
        if not hasattr(self, "_references"):
            self._references = np.concatenate(list(self.real_batches(self.batch_size)))
        ref = self._references
        return tf.constant(np.resize(ref, (n,) + ref.shape[1:]), tf.float32) / 127.5 - 1.0

    def real_stats(self, num, fn, name, capture_all=False):
        d, m = self.config.data, self.config.model
        key = {"dataset": d.source, "subset": d.subset, "fit": d.fit, "resolution": m.resolution,
               "channels": m.img_channels, "count": "all" if num is None else num, "net": name,
               "capture_all": capture_all}
        cache = self.cache_dir if name == self.feature_net_id else None  # D features change with training
        return cached_stats(cache, key, lambda: self._accumulate(self.real_batches(num), fn, capture_all))

    # ------------------------------------------------------------------ metrics
    def compute(self, name):
        """Runs one metric by name; returns ``{"metric": name, "results": {...}, "seconds": t}``."""
        spec = registry.parse_metric(name)
        t0 = time.time()
        results = registry.compute(self, spec)
        return {"metric": spec.name, "results": {k: float(v) for k, v in results.items()},
                "seconds": round(time.time() - t0, 2)}


def _variables_strategy(model):
    """The strategy a Keras model's variables were created under (a MirroredVariable's), else None."""
    for w in getattr(model, "weights", [])[:1]:
        strategy = getattr(getattr(w, "value", w), "distribute_strategy", None)
        if isinstance(strategy, tf.distribute.Strategy):
            return strategy
    return None
