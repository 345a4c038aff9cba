"""Small seeded CNN classifiers and the labelled real images of the class-conditional metrics.

The Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional
Generative Models") trains a classifier on generated images and tests it on real ones; GAN-test accuracy
(Shmelkov et al. 2018, "How good is my GAN?") applies a classifier trained on real images to generated
ones. Both papers train ResNets for many epochs; here a small CNN trained for a few epochs, fast on a CPU:

* input uint8 [S, S, C] scaled to [-1, 1]; images above ``MAX_SIDE`` (64) are average-pooled down by an
  integer factor first (:func:`pool_images`, 128 -> 64, 256 -> 64);
* one block per halving from S down to 4x4 (1 block at 8x8, 3 at 32x32, 4 at 64x64): a 3x3 convolution
  (ReLU; ``width``, ``2 width``, ``4 width``, ``4 width`` channels) then 2x2 max pooling; the 4x4 maps
  flattened into a dense layer to the logits; no batch norm or dropout (training and test mode agree);
* Adam (lr ``LR``), minibatches of ``BATCH``, ``epochs`` passes over the data, no augmentation. With the
  defaults (10 epochs, width 16) it reaches ~87 % on Fashion-MNIST's test split from 10k training images at
  32x32 (the paper's ResNet-50 setting is out of reach of a CPU), in ~30 s on 2 CPU cores.

Training is seeded: the initializers take seeds derived from ``seed`` and each epoch visits the images in a
permutation drawn from (``seed``, epoch), so the same seed gives the same weights and accuracy (bit-identical
on a CPU; on a GPU cuDNN's convolution gradients are deterministic only under TF_DETERMINISTIC_OPS=1).
A classifier of real data depends on the data alone: :func:`cached_classifier` keeps its weights on disk.
"""

import dataclasses
import math
import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_attngan.data import DataError, build_dataset, count_images, parse_source
from keras_attngan.metrics.stats import _key_string, stats_cache_path
from keras_attngan.utils.images import to_uint8

MAX_SIDE = 64                      # larger inputs are average-pooled down to this side (or just under)
LR, BATCH, PREDICT_BATCH = 1e-3, 128, 500
EPOCHS, WIDTH = 10, 16             # the metrics' defaults (name suffixes _e<E>, _w<W>)
HELD_OUT_MAX = 10_000              # held-out test images of a source without a test split: its last 10%, at most this
VERSION = 1                        # of the architecture and training recipe, part of the weight cache key


# ----------------------------------------------------------------------------- images
def pool_factor(resolution):
    """The integer average-pooling factor that brings ``resolution`` to at most ``MAX_SIDE``."""
    return max(1, math.ceil(int(resolution) / MAX_SIDE))


def pool_images(images, factor):
    """uint8 [n, R, R, C] -> uint8 [n, R // factor, R // factor, C] by average pooling (rounded)."""
    images = np.asarray(images)
    if factor == 1:
        return images
    n, r, _, c = images.shape
    side = r // factor
    x = images[:, :side * factor, :side * factor].reshape(n, side, factor, side, factor, c)
    return np.round(x.mean(axis=(2, 4), dtype=np.float32)).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Split:
    """Images ``start`` .. ``start + count`` (``count=None``: to the end) of ``source`` read with ``subset``."""

    source: str
    subset: int = 0
    start: int = 0
    count: object = None
    note: str = ""


def test_split(config):
    """Where the classifiers are tested: ``data.test_source`` when set; Fashion-MNIST's test split for
    ``embedded`` (5k images of its train split) and ``fashion_mnist[:/dir][:train]``; the ``test`` split of a
    ``tfds:<name>[:train]`` dataset that has one; otherwise the source's last 10% (at most 10,000 images),
    held out: the real-data classifiers never train on them (:func:`train_split`)."""
    d = config.data
    explicit = d.get("test_source", "") if hasattr(d, "get") else getattr(d, "test_source", "")
    if explicit:
        return Split(explicit, note="data.test_source")
    spec = parse_source(d.source)
    if spec.kind == "embedded":
        return Split("fashion_mnist:test", note="Fashion-MNIST's test split")
    if spec.kind == "fashion_mnist" and spec.split == "train":
        return Split(f"fashion_mnist:{spec.path}:test", note="Fashion-MNIST's test split")
    if spec.kind == "tfds" and spec.split == "train":
        from keras_attngan.data.tfds_source import tfds_builder
        if "test" in tfds_builder(spec, d.tfds_data_dir or None).info.splits.keys():
            return Split(f"tfds:{spec.name}:test", note=f"the test split of {spec.name}")
    total = count_images(d.source, tfds_data_dir=d.tfds_data_dir or None)
    if total is None:
        raise DataError(f"data.source={d.source!r} has no test split and an unknown size, so no images can be held "
                        "out for testing: set data.test_source to a labelled test split")
    held = min(HELD_OUT_MAX, total // 10)
    return Split(d.source, start=total - held, count=held, note=f"the last {held} images of the source, held out")


def train_split(config):
    """The labelled training images of the real-data classifiers: the run's data (``data.subset``), less a
    held-out test part (:func:`test_split`)."""
    d, test = config.data, test_split(config)
    limit = test.start if test.source == d.source and test.count else None
    if limit is not None and d.subset:
        limit = min(limit, d.subset)
    return Split(d.source, subset=d.subset, count=limit, note="the training data")


def read_split(config, split, num=None, batch_size=256, pool=True):
    """(uint8 images [n, S, S, C] at the model's resolution and channels, pooled for the classifier unless
    ``pool=False``, int32 labels [n]) of the first ``num`` images of ``split`` (fewer when it has fewer)."""
    d, m = config.data, config.model
    count = split.count if num is None else (num if split.count is None else min(num, split.count))
    ds = build_dataset(split.source, m.resolution, m.img_channels, batch_size, fit=d.fit, subset=split.subset,
                       skip_bad=d.skip_bad, shuffle=False, repeat=False, drop_remainder=False,
                       tfds_data_dir=d.tfds_data_dir or None, labels=True)
    if split.start or count is not None:
        ds = ds.unbatch().skip(split.start).take(-1 if count is None else count).batch(batch_size)
    factor, images, labels = pool_factor(m.resolution) if pool else 1, [], []
    for x, y in ds.as_numpy_iterator():
        images.append(pool_images(to_uint8(x), factor))
        labels.append(y.astype(np.int32))
    if not images:
        raise DataError(f"{split.source!r} ({split.note}) holds no labelled images; check data.source and "
                        "data.test_source")
    return np.concatenate(images), np.concatenate(labels)


# ----------------------------------------------------------------------------- the network
def build_classifier(side, channels, num_classes, width=WIDTH, seed=0):
    """The CNN, its initial weights fixed by ``seed``: float [-1, 1] [b, side, side, channels] -> logits."""
    seeds = iter(np.random.RandomState([int(seed), 17]).randint(0, 2**31 - 1, size=64).tolist())
    layers = [keras.Input((side, side, channels), dtype="float32")]
    for i in range(max(1, int(math.log2(max(side, 8) // 4)))):
        layers += [keras.layers.Conv2D(width * min(2 ** i, 4), 3, padding="same", activation="relu", dtype="float32",
                                       kernel_initializer=keras.initializers.HeNormal(seed=next(seeds))),
                   keras.layers.MaxPooling2D(2, padding="same", dtype="float32")]
    layers += [keras.layers.Flatten(dtype="float32"),
               keras.layers.Dense(num_classes, dtype="float32",
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))]
    return keras.Sequential(layers)


def _scaled(x):
    return tf.cast(x, tf.float32) / 127.5 - 1.0


def train_classifier(images, labels, num_classes, epochs=EPOCHS, width=WIDTH, seed=0):
    """A classifier trained on uint8 ``images`` [n, S, S, C] with int ``labels`` [n] (see the module doc)."""
    images, labels = np.asarray(images), np.asarray(labels, np.int32)
    n, side, _, channels = images.shape
    if n < 1 or labels.shape != (n,):
        raise ValueError(f"train_classifier: need images [n, S, S, C] and labels [n], got {images.shape} and "
                         f"{labels.shape}")
    model = build_classifier(side, channels, num_classes, width, seed)
    optimizer = keras.optimizers.Adam(LR)
    optimizer.build(model.trainable_variables)

    @tf.function(input_signature=[tf.TensorSpec([None, side, side, channels], tf.uint8),
                                  tf.TensorSpec([None], tf.int32)])
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(_scaled(x), training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for epoch in range(int(epochs)):
        order = np.random.RandomState([int(seed), 29, epoch]).permutation(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            step(images[idx], labels[idx])
    return model


def predict(model, images):
    """Predicted class ids [n] of uint8 ``images`` (an array or an iterable of batches)."""
    batches = [images[i:i + PREDICT_BATCH] for i in range(0, len(images), PREDICT_BATCH)] \
        if isinstance(images, np.ndarray) else images
    fn = _predict_fn(model)
    return np.concatenate([fn(tf.constant(b)).numpy() for b in batches]).astype(np.int32)


def _predict_fn(model):
    if not hasattr(model, "_argmax_fn"):  # one trace per model
        model._argmax_fn = tf.function(lambda x: tf.argmax(model(_scaled(x), training=False), axis=-1),
                                       input_signature=[tf.TensorSpec((None,) + tuple(model.input_shape[1:]),
                                                                      tf.uint8)])
    return model._argmax_fn


def accuracy(model, images, labels):
    """Fraction of ``images`` classified as ``labels``, in [0, 1]."""
    return float(np.mean(predict(model, images) == np.asarray(labels)))


# ----------------------------------------------------------------------------- the weight cache
def cached_classifier(cache_dir, key_parts, build_fn, train_fn):
    """A trained classifier for ``key_parts``, trained at most once: its weights are kept in ``cache_dir``
    (a .npz named like the statistics, :func:`~keras_attngan.metrics.stats.stats_cache_path`); ``build_fn()``
    makes the untrained network they load into, ``train_fn()`` trains one. An unreadable file only costs a
    retraining (with a warning); ``cache_dir=None`` disables the cache."""
    if cache_dir is None:
        return train_fn()
    key, path = _key_string(key_parts), stats_cache_path(cache_dir, key_parts)
    if os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    raise ValueError("written for another key")
                weights = [z[f"w{i}"] for i in range(int(z["count"]))]
            model = build_fn()
            model.set_weights(weights)
            return model
        except Exception as e:  # any read failure means "retrain", by design
            warnings.warn(f"ignoring unreadable classifier cache {path} ({type(e).__name__}: {e}); retraining",
                          RuntimeWarning, stacklevel=2)
    model = train_fn()
    weights = model.get_weights()
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.str_(key), count=np.int64(len(weights)), **{f"w{i}": w for i, w in enumerate(weights)})
        os.replace(tmp, path)
    except OSError as e:  # a read-only cache dir should not lose the trained classifier
        warnings.warn(f"could not write classifier cache {path}: {e}", RuntimeWarning, stacklevel=2)
    return model
