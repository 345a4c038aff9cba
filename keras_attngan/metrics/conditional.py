"""Metrics of class-conditional generators (``model.num_classes > 0``), registered in
:data:`keras_attngan.registry.METRICS`; a generator without classes is refused in one line.

``ifid`` / ``ifid<N>k``: intra-class FID, the FID of each class's fakes against that class's reals averaged
over the classes (Miyato & Koyama 2018, "cGANs with Projection Discriminator", Sec. 5; reported by BigGAN,
Brock et al. 2019, and PyTorch-StudioGAN, Kang et al. 2023, as iFID). Reals: every image of class c in the
training data (``data.source``, ``data.subset``), as StudioGAN. Fakes of class c (generated with label c,
the evaluation's latents): ``ifid`` generates as many as there are reals of the class (StudioGAN's
protocol); ``ifid<N>k`` N*1000 / num_classes (rounded down), N*1000 in all. Results: ``<name>`` (the mean
over classes) and, for up to ``PER_CLASS_MAX`` classes, ``<name>_class<c>``. The per-class real statistics
are cached like the other real statistics, the class in the key.

``cas<N>k[_e<E>][_w<W>]``: Classification Accuracy Score (Ravuri & Vinyals 2019), Shmelkov et al.'s
GAN-train: the CNN of :mod:`keras_attngan.metrics.classifier` (E epochs, width W; default 10, 16) trained on
N*1000 fakes with the labels G was given (drawn from the data's class frequencies), its accuracy on the real
test split (:func:`~keras_attngan.metrics.classifier.test_split`) in ``<name>``; beside it ``<name>_real``,
the same network trained on the first N*1000 real training images (and seed), tested on the same split.

``gen_acc<N>k[_e<E>][_w<W>]``: Shmelkov et al. 2018's GAN-test: the classifier trained on real training
images (the first N*1000, or all when fewer) applied to N*1000 fakes; ``<name>`` is the fraction classified
as the label G was given, ``<name>_real`` that classifier's accuracy on the real test split (its ceiling).

Accuracies are fractions in [0, 1]. The classifiers are trained with the evaluation seed (deterministic);
a real-data classifier's weights are cached in the evaluator's cache directory, keyed by source, subset,
fit, resolution, channels, count, seed, epochs and width (and kept in memory for the evaluator's lifetime);
the CAS classifier is trained afresh each evaluation.
"""

import numpy as np

from keras_attngan.data import DataError, count_images
from keras_attngan.metrics import classifier as clf
from keras_attngan.metrics.registry import COUNT
from keras_attngan.metrics.stats import FeatureStats, cached_stats, frechet_distance
from keras_attngan.registry import METRICS

PER_CLASS_MAX = 100  # per-class iFIDs go into the results up to this many classes (TensorBoard, metrics.jsonl)
CLASSIFIER = rf"{COUNT}(?:_e([1-9][0-9]*))?(?:_w([1-9][0-9]*))?"


def num_classes(evaluator, spec):
    """The generator's class count; a one-line ValueError for a generator without classes."""
    k = int(getattr(evaluator.generator, "num_classes", 0) or 0)
    if k < 1:
        raise ValueError(f"{spec.name} needs a class-conditional generator, but this one has no classes: train with "
                         "model.num_classes > 0 and data.labels=True, or use an unconditional metric (e.g. fid50k)")
    return k


def _memo(evaluator):
    """Per-evaluator memory of this module (real classifiers, test images), alive as long as the evaluator."""
    return vars(evaluator).setdefault("_conditional_memo", {})


def _check_labels(labels, k, where):
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise DataError(f"{where} has label {int(labels.max())} but the generator has {k} classes: evaluate "
                        "with the labelled data the model was trained on")


# ----------------------------------------------------------------------------- intra-class FID
def _inception(evaluator, batch):
    """Features of a batch padded to the evaluator's batch size (``np.resize`` order, padding dropped): each
    class ends in a remainder of its own, which would otherwise trace the feature network once more."""
    n = len(batch)
    if n < evaluator.batch_size:
        batch = np.resize(batch, (evaluator.batch_size,) + batch.shape[1:])
    return np.asarray(evaluator._inception(batch))[:n]


def _class_stats(evaluator, k):
    """Inception statistics [k] of the training data's reals of each class (all of them), cached per class."""
    d, m = evaluator.config.data, evaluator.config.model
    base = {"dataset": d.source, "subset": d.subset, "fit": d.fit, "resolution": m.resolution,
            "channels": m.img_channels, "count": "all", "net": evaluator.feature_net_id, "capture_all": False,
            "labels": True}
    done = []

    def every_class():  # one pass over the reals fills every class; only run when some class is not cached
        if not done:
            from keras_attngan.data import build_dataset
            from keras_attngan.utils.images import to_uint8
            stats = [FeatureStats() for _ in range(k)]
            ds = build_dataset(d.source, m.resolution, m.img_channels, evaluator.batch_size, fit=d.fit,
                               subset=d.subset, skip_bad=d.skip_bad, shuffle=False, repeat=False,
                               drop_remainder=False, tfds_data_dir=d.tfds_data_dir or None, labels=True)
            for x, y in ds.as_numpy_iterator():
                _check_labels(y, k, f"data.source={d.source!r}")
                features = _inception(evaluator, to_uint8(x))
                for c in np.unique(y):
                    stats[c].append(features[y == c])
            done.append(stats)
        return done[0]

    return [cached_stats(evaluator.cache_dir, dict(base, **{"class": c}), lambda c=c: every_class()[c])
            for c in range(k)]


def _parse_ifid(m):
    n = int(m.group(1)) * 1000 if m.group(1) else None  # None: per class, as many fakes as reals (StudioGAN)
    return n or 0, None, {"fakes_per_class": "reals" if n is None else "equal"}


@METRICS.register("ifid", forms=("ifid", "ifid<N>k"), pattern=rf"ifid(?:{COUNT})?", parse=_parse_ifid, order=7)
def intra_fid(evaluator, spec):
    """Intra-class FID (Miyato & Koyama 2018): the mean over classes of FID(fakes of c, reals of c)."""
    k = num_classes(evaluator, spec)
    reals = _class_stats(evaluator, k)
    fids = []
    for c, real in enumerate(reals):
        n = real.num_items if spec.num_fakes == 0 else spec.num_fakes // k
        if real.num_items < 2 or n < 2:
            have = f"{real.num_items} real image(s)" if real.num_items < 2 else f"{n} fake(s) ({spec.num_fakes}/{k})"
            raise ValueError(f"{spec.name}: class {c} has {have}, fewer than the 2 a covariance needs: use more "
                             f"images (a larger data.subset{' or N' if spec.num_fakes else ''})")
        fake = evaluator._accumulate(evaluator.fake_batches(n, labels=np.full(n, c, np.int32)),
                                     lambda b: _inception(evaluator, b), False)
        fids.append(frechet_distance(real.mean, real.cov, fake.mean, fake.cov))
    out = {spec.name: float(np.mean(fids))}
    if k <= PER_CLASS_MAX:
        out.update({f"{spec.name}_class{c}": f for c, f in enumerate(fids)})
    return out


# ----------------------------------------------------------------------------- classifiers
def _parse_classifier(m):
    n = int(m.group(1)) * 1000
    return n, n, {"epochs": int(m.group(2) or clf.EPOCHS), "width": int(m.group(3) or clf.WIDTH)}


def _test_images(evaluator, k):
    """The real test split (pooled uint8 images, labels), read once per evaluator."""
    memo = _memo(evaluator)
    if "test" not in memo:
        split = clf.test_split(evaluator.config)
        try:
            images, labels = clf.read_split(evaluator.config, split, batch_size=max(evaluator.batch_size, 256))
        except DataError as e:
            raise DataError(f"the class-conditional metrics test on {split.source!r} ({split.note}), which cannot "
                            f"be read: {e} (set data.test_source to a labelled test split)") from None
        _check_labels(labels, k, f"the test split {split.source!r}")
        memo["test"] = images, labels
    return memo["test"]


def real_classifier(evaluator, spec, k, count, exact):
    """The classifier trained on the first ``count`` real training images (all when fewer and not ``exact``),
    cached on disk and in memory; returns (model, images trained on). The images are read only to train."""
    config, p = evaluator.config, spec.params
    d, m = config.data, config.model
    split = clf.train_split(config)
    available = split.count if split.count is not None else count_images(d.source, d.subset,
                                                                          tfds_data_dir=d.tfds_data_dir or None)
    data = []

    def read(n):
        if not data:
            images, labels = clf.read_split(config, split, n, batch_size=max(evaluator.batch_size, 256))
            _check_labels(labels, k, f"data.source={d.source!r}")
            data.extend((images, labels))
        return data

    n = count if available is None else min(count, available)
    if available is None:  # an unknown size (some tfds datasets): read to count
        n = len(read(count)[0])
    if exact and n < count:  # before training
        raise ValueError(f"{spec.name} trains its real-data baseline on {count} labelled training images but "
                         f"data.source={d.source!r} has only {n} (less any held-out test images): use a smaller N "
                         f"(e.g. {spec.kind}{max(1, n // 1000)}k) or a larger source")
    memo, memo_key = _memo(evaluator), ("real", n, p["epochs"], p["width"])
    if memo_key not in memo:
        key = {"dataset": d.source, "subset": d.subset, "fit": d.fit, "resolution": m.resolution,
               "channels": m.img_channels, "count": n, "net": "classifier", "version": clf.VERSION,
               "classes": k, "seed": evaluator.seed, "epochs": p["epochs"], "width": p["width"]}
        side = m.resolution // clf.pool_factor(m.resolution)
        seed, width = evaluator.seed, p["width"]
        memo[memo_key] = clf.cached_classifier(
            evaluator.cache_dir, key, lambda: clf.build_classifier(side, m.img_channels, k, width, seed),
            lambda: clf.train_classifier(*read(n), k, p["epochs"], width, seed))
    return memo[memo_key], n


def _fakes(evaluator, n):
    """(pooled uint8 fakes [n, S, S, C], the labels G was given [n])."""
    labels = evaluator.fake_labels(n)
    factor = clf.pool_factor(evaluator.config.model.resolution)
    images = np.concatenate([clf.pool_images(b, factor) for b in evaluator.fake_batches(n, labels=labels)])
    return images, labels


@METRICS.register("cas", forms=("cas<N>k[_e<E>][_w<W>]",), pattern=rf"cas{CLASSIFIER}", parse=_parse_classifier,
                  order=8)
def classification_accuracy_score(evaluator, spec):
    """CAS (Ravuri & Vinyals 2019): test accuracy of a classifier trained on fakes, beside the same trained on
    as many reals."""
    k, p = num_classes(evaluator, spec), spec.params
    test = _test_images(evaluator, k)
    real_model, _ = real_classifier(evaluator, spec, k, spec.num_reals, exact=True)
    images, labels = _fakes(evaluator, spec.num_fakes)
    fake_model = clf.train_classifier(images, labels, k, p["epochs"], p["width"], evaluator.seed)
    return {spec.name: clf.accuracy(fake_model, *test), f"{spec.name}_real": clf.accuracy(real_model, *test)}


@METRICS.register("gen_acc", forms=("gen_acc<N>k[_e<E>][_w<W>]",), pattern=rf"gen_acc{CLASSIFIER}",
                  parse=_parse_classifier, order=9)
def generated_accuracy(evaluator, spec):
    """GAN-test (Shmelkov et al. 2018): the fraction of fakes a real-data classifier assigns their label."""
    k = num_classes(evaluator, spec)
    test = _test_images(evaluator, k)
    model, _ = real_classifier(evaluator, spec, k, spec.num_reals, exact=False)
    labels = evaluator.fake_labels(spec.num_fakes)
    factor = clf.pool_factor(evaluator.config.model.resolution)
    predicted = clf.predict(model, (clf.pool_images(b, factor)
                                    for b in evaluator.fake_batches(spec.num_fakes, labels=labels)))
    return {spec.name: float(np.mean(predicted == labels)), f"{spec.name}_real": clf.accuracy(model, *test)}
