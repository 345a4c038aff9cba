"""Self-conditional sampling: class-conditional images from an *unconditional* run, steered by a linear
classifier on its discriminator's features (Jeong & Shin 2021, "Training GANs with Stronger Augmentations
via Contrastive Discriminator", ICLR, the application "self-conditional sampling" / cDDLS; jh-jeong/ContraD
``test_gan_sample_cddls.py`` with the head of ``test_lineval.py``).

1. The head: the ``lineval`` classifier (:mod:`keras_attngan.metrics.lineval`: multinomial logistic
   regression on D's frozen *penultimate* features, not the projection heads) fitted on N labelled real
   images, once per D; :func:`fit_head` caches it (an ``.npz`` keyed by D's weights and the settings).
2. The sampler, ``method="cddls"`` (the authors'): conditional Discriminator Driven Latent Sampling (DDLS,
   Che et al. 2020), Langevin dynamics on (z, e) per chain, with images in [0, 1] as the authors' G emits:

       x = G01(z) + eps * e,    E(z, e) = -(d(x) + lbd * logit_y(x)) + 1/2 |e|^2
       z <- clip(z - eps/2 dE/dz + sigma sqrt(eps) n, -1, 1),   e <- e - eps/2 dE/de + sigma sqrt(eps) n'

   d: the critic (ContraD's h_d head; D's own logit for a D without it), logit_y: the head's raw logit of
   class y (no softmax, no temperature); the authors' defaults lbd 1, 1000 steps, eps 0.01, sigma 0.1; the
   final x is clamped to [0, 1]. Every chain is kept (no acceptance test): images are pushed towards class y,
   not guaranteed to be classified as y.
   ``method="rejection"`` (not in the paper, an addition): draw z from seeds ``seed, seed + 1, ...``, keep
   the images the head classifies as y (softmax confidence >= ``threshold``) until ``num`` are kept; every
   kept image is exactly ``generate_main.py --seeds=<its seed>``'s.

Departures: the head is lineval's (z-scored features, full-batch Adam; the authors': SGD for 100 epochs),
so its logits have another scale; the authors clamp z to [-1, 1] with no prior term even for their
Gaussian-z StyleGAN2, kept as ``prior="clamp"``; ``prior="normal"`` is DDLS's energy (+ 1/2 |z|^2, no
clamp). D sees each batch's chains together (minibatch-stddev), so samples depend on ``batch_size``.
"""

import collections
import hashlib
import io
import json
import math
import os

import numpy as np
import tensorflow as tf

from keras_attngan.data.sources import FASHION_MNIST_CLASSES, parse_source
from keras_attngan.export import latents_from_seeds, to_uint8_tensor
from keras_attngan.generation.sources import KerasSource
from keras_attngan.metrics import lineval
from keras_attngan.rng import ALG, fold

NUM_TRAIN = 10_000  # labelled images the head is fitted on (lineval's default)
CDDLS = dict(steps=1000, eps=0.01, sigma=0.1, lbd=1.0)  # test_gan_sample_cddls.py's defaults
METHODS = ("cddls", "rejection")
HEAD_DIR = "self_conditional"  # <workdir>/self_conditional/head-<checkpoint>-<N>.npz

Samples = collections.namedtuple("Samples", "images seeds z classes confidence")
Samples.__doc__ = """What the samplers return (numpy, ``num`` rows):

images      uint8 [num, H, W, C]
seeds       int64 [num]: rejection: the kept seeds (render again with --seeds); cddls: each chain's start
z           float32 [num, z_dim]: rejection: the seeds' latents; cddls: the chains' final z
classes     int64 [num]: the head's class of each image as returned (cddls: not always the class asked for)
confidence  float32 [num]: the head's softmax probability of the class asked for"""


# ----------------------------------------------------------------------------- the head
def check_networks(generator, discriminator):
    """One-line errors for networks self-conditional sampling cannot steer."""
    if getattr(generator, "num_classes", 0) or getattr(discriminator, "num_classes", 0):
        raise ValueError("self-conditional sampling is for unconditional runs, but this run is class-conditional "
                         "(model.num_classes > 0): sample its classes through its labels instead")
    if getattr(discriminator, "uses_reference", False):
        raise ValueError("this discriminator uses reference attention, which needs real references: "
                         "self-conditional sampling needs a run with model.d_attention.type 'self' or 'none'")


def _pad_to_groups(x, group):
    """``x`` repeated in ``np.resize`` order up to a multiple of D's minibatch-stddev group."""
    n = len(x)
    return np.resize(x, (-(-n // group) * group,) + x.shape[1:]) if n % group else x


def d_features(discriminator, images):
    """D's penultimate features [n, d] (float32) of uint8 images [n, H, W, C], as lineval reads them."""
    images = np.asarray(images)
    x = _pad_to_groups(images, discriminator.mbstd_group).astype(np.float32) / 127.5 - 1.0
    _, out = discriminator(tf.constant(x), outputs=("penultimate",))
    return tf.cast(out["penultimate"], tf.float32).numpy()[:len(images)]


def _fingerprint(discriminator, data):
    digest = hashlib.sha1()
    for w in discriminator.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    if data is not None:
        for part in (*data[0], data[1]):
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def save_head(path, head, meta):
    """Writes the head and its ``meta`` (dict) to ``path`` (.npz), atomically."""
    buf = io.BytesIO()
    np.savez(buf, mean=head.mean, std=head.std, w=head.w, b=head.b, meta=json.dumps(meta, sort_keys=True))
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(buf.getvalue())
    tf.io.gfile.rename(tmp, path, overwrite=True)


def load_head(path):
    """(LinearHead, meta dict) of a file :func:`save_head` wrote."""
    with tf.io.gfile.GFile(path, "rb") as f:
        npz = np.load(io.BytesIO(f.read()))
        return lineval.LinearHead(npz["mean"], npz["std"], npz["w"], npz["b"]), json.loads(str(npz["meta"]))


def default_head_path(workdir, checkpoint, num_train=NUM_TRAIN):
    """``<workdir>/self_conditional/head-<checkpoint name>-<num_train>.npz``."""
    return os.path.join(workdir, HEAD_DIR, f"head-{os.path.basename(str(checkpoint))}-{num_train}.npz")


def fit_head(config, discriminator, num_train=NUM_TRAIN, path=None, data=None, batch_size=256):
    """The lineval head (a :class:`~keras_attngan.metrics.lineval.LinearHead`) on ``discriminator``'s
    penultimate features of the first ``num_train`` labelled training images of the run's source
    (``lineval.labelled_images``: Fashion-MNIST), or of ``data`` = (uint8 batches, int labels) when given.

    Deterministic (the first N images; lineval's fit starts from zeros, full batch). With ``path``, a head
    saved there for the same D weights and settings is loaded instead of refitted; otherwise the new head
    is saved there."""
    meta = dict(num_train=int(num_train), steps=lineval.STEPS, lr=lineval.LR, l2=lineval.L2,
                source=None if data is not None else str(config.data.source), fit=str(config.data.fit),
                d=_fingerprint(discriminator, data))
    if path and tf.io.gfile.exists(path):
        head, saved = load_head(path)
        if saved == meta:
            return head
    batches, labels = data if data is not None else lineval.labelled_images(config, "train", num_train, batch_size)
    labels = np.asarray(labels, np.int64)
    features = lineval.features_of(lambda b: d_features(discriminator, b), batches)
    head = lineval.fit_linear_head(features, labels, int(labels.max()) + 1)
    if path:
        save_head(path, head, meta)
    return head


def class_names(config):
    """The run's class names: ``data.class_names`` if it has them, Fashion-MNIST's for that source, else ()."""
    names = config.data.get("class_names") if hasattr(config.data, "get") else None
    if names:
        return tuple(names)
    try:
        kind = parse_source(str(config.data.source)).kind
        return FASHION_MNIST_CLASSES if kind in ("fashion_mnist", "embedded") else ()
    except Exception:  # an unparsable source has no names; the class must then be a number
        return ()


def parse_class(value, config=None):
    """A class id from an int, a digit string or a class name (case-insensitive, from :func:`class_names`)."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    names = class_names(config) if config is not None else ()
    lower = [n.lower() for n in names]
    if text.lower() in lower:
        return lower.index(text.lower())
    known = f": use 0-{len(names) - 1} or one of {', '.join(names)}" if names else ": use the class's number"
    raise ValueError(f"self-conditional class {value!r} is not a class id or name{known}")


# ----------------------------------------------------------------------------- samplers
def _softmax(logits):
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def classify(discriminator, head, images, batch_size=256):
    """(classes int64 [n], softmax probabilities [n, K]) of uint8 images by the head on D's features."""
    logits = np.concatenate([head.logits(d_features(discriminator, images[i:i + batch_size]))
                             for i in range(0, len(images), batch_size)])
    return np.argmax(logits, axis=1).astype(np.int64), _softmax(logits)


def _round_up(n, group):
    return -(-int(n) // group) * group


def _check_args(head, class_id, num, seed, method, threshold):
    if method not in METHODS:
        raise ValueError(f"self-conditional method {method!r} is unknown: use one of {', '.join(METHODS)}")
    if not 0 <= int(class_id) < head.num_classes:
        raise ValueError(f"class {class_id} is not one of the head's {head.num_classes} classes: use "
                         f"0-{head.num_classes - 1}")
    if int(num) < 1 or int(seed) < 0:
        raise ValueError(f"num must be >= 1 and seed >= 0, got num={num}, seed={seed}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold is a softmax probability in [0, 1), got {threshold}")


def _rejection(generator, discriminator, head, class_id, num, seed, psi, batch, threshold, max_candidates):
    source = KerasSource(generator)
    limit = _round_up(max_candidates or 100 * num, batch)
    found = []  # (seeds, z, images, classes, confidence) of kept rows, per batch
    kept = 0
    for start in range(seed, seed + limit, batch):
        seeds = np.arange(start, start + batch, dtype=np.int64)
        z = source.latents(seeds)
        images = source.images(z, psi)
        classes, probs = classify(discriminator, head, images)
        ok = (classes == class_id) & (probs[:, class_id] >= threshold)
        found.append((seeds[ok], z[ok], images[ok], classes[ok], probs[ok, class_id]))
        kept += int(ok.sum())
        if kept >= num:
            break
    if kept < num:
        at_least = f" with confidence >= {threshold}" if threshold else ""
        raise ValueError(f"self-conditional sampling kept {kept} of {num} images of class {class_id}{at_least} "
                         f"among {limit} candidates (seeds {seed}-{seed + limit - 1}): the head rarely predicts "
                         f"this class for this generator; raise max_candidates, lower the threshold or use cddls")
    seeds, z, images, classes, confidence = (np.concatenate(part)[:num] for part in zip(*found))
    return Samples(images, seeds, z.astype(np.float32), classes, confidence.astype(np.float32))


def _cddls_fn(generator, discriminator, head, class_id, psi, eps, sigma, lbd, prior):
    """(images(z), the compiled Langevin step (z, e, key) -> (z, e), final(z, e) -> uint8) for a batch of
    chains (the module docstring's equations)."""
    std = tf.constant(head.std, tf.float32)
    mean = tf.constant(head.mean, tf.float32)
    w_y = tf.constant(head.w[:, class_id:class_id + 1], tf.float32)
    b_y = float(head.b[class_id])
    has_hd = "contrad_dis" in discriminator.heads
    noise_scale = sigma * math.sqrt(eps)

    def images(z):  # G(z) in [-1, 1], fixed noise, as KerasSource renders
        return tf.cast(generator.synthesis(generator.map(z, psi), noise_mode="const"), tf.float32)

    def energy(z, e):
        x = images(z) + 2.0 * eps * e  # 2 (G01(z) + eps e) - 1: the authors' [0, 1] image in D's [-1, 1]
        logits, out = discriminator(x, outputs=("penultimate",))
        f = tf.cast(out["penultimate"], tf.float32)
        critic = discriminator.heads["contrad_dis"](f) if has_hd else logits
        logit_y = tf.matmul((f - mean) / std, w_y) + b_y
        e_term = 0.5 * tf.reduce_sum(tf.square(e), axis=[1, 2, 3])
        z_term = 0.5 * tf.reduce_sum(tf.square(z), axis=1) if prior == "normal" else 0.0
        return -(tf.cast(critic, tf.float32)[:, 0] + lbd * logit_y[:, 0]) + e_term + z_term

    @tf.function(reduce_retracing=True)
    def step(z, e, key):
        with tf.GradientTape() as tape:
            tape.watch([z, e])
            total = tf.reduce_sum(energy(z, e))
        g_z, g_e = tape.gradient(total, [z, e])
        z = z - 0.5 * eps * g_z + noise_scale * tf.random.stateless_normal(tf.shape(z), fold(key, 0), alg=ALG)
        e = e - 0.5 * eps * g_e + noise_scale * tf.random.stateless_normal(tf.shape(e), fold(key, 1), alg=ALG)
        return (tf.clip_by_value(z, -1.0, 1.0) if prior == "clamp" else z), e

    @tf.function(reduce_retracing=True)
    def final(z, e):
        return to_uint8_tensor(2.0 * tf.clip_by_value((images(z) + 1.0) / 2.0 + eps * e, 0.0, 1.0) - 1.0)

    return images, step, final


def _cddls(generator, discriminator, head, class_id, num, seed, psi, batch, steps, eps, sigma, lbd, prior):
    if prior not in ("clamp", "normal"):
        raise ValueError(f"prior {prior!r} is unknown: use 'clamp' (the authors' code) or 'normal' (DDLS's energy)")
    if int(steps) < 0 or eps <= 0 or sigma < 0:
        raise ValueError(f"cddls needs steps >= 0, eps > 0 and sigma >= 0, got {steps}, {eps}, {sigma}")
    images, step, final = _cddls_fn(generator, discriminator, head, class_id, psi, eps, sigma, lbd, prior)
    out_z, out_images = [], []
    for b, start in enumerate(range(0, num, batch)):
        seeds = np.arange(seed + start, seed + start + batch, dtype=np.int64)
        key = fold(tf.constant([seed, b], tf.int64), int(class_id))
        z = latents_from_seeds(tf.constant(seeds), generator.z_dim)
        shape = [batch, generator.resolution, generator.resolution, generator.img_channels]
        e = tf.random.stateless_normal(shape, fold(key, 0), alg=ALG)  # the authors' randn_like(G(z))
        for t in range(int(steps)):
            z, e = step(z, e, fold(fold(key, 1), t))
        out_z.append(z.numpy())
        out_images.append(final(z, e).numpy())
    imgs = np.concatenate(out_images)[:num]
    classes, probs = classify(discriminator, head, imgs)
    return Samples(imgs, np.arange(seed, seed + num, dtype=np.int64), np.concatenate(out_z)[:num].astype(np.float32),
                   classes, probs[:, class_id].astype(np.float32))


def self_conditional_samples(generator, discriminator, head, class_id, num, seed=0, method="cddls", psi=1.0,
                             batch_size=64, steps=CDDLS["steps"], eps=CDDLS["eps"], sigma=CDDLS["sigma"],
                             lbd=CDDLS["lbd"], prior="clamp", threshold=0.0, max_candidates=None):
    """``num`` images of class ``class_id`` (the head's) from the unconditional ``generator`` (a run's EMA G)
    steered by ``discriminator`` and ``head`` (:func:`fit_head`); a :class:`Samples`. Deterministic for
    (seed, num, batch_size, settings).

    ``method="cddls"`` (the authors'): ``steps`` Langevin steps per chain (``eps``, ``sigma``, ``lbd``,
    ``prior``; module docstring), chains start at the latents of seeds ``seed .. seed + num - 1``.
    ``method="rejection"``: candidates are seeds ``seed, seed + 1, ...`` (``psi`` truncation), kept when the
    head's class is ``class_id`` with softmax probability >= ``threshold``; at most ``max_candidates``
    (default 100 * num) are drawn, then ValueError (one line). ``batch_size`` is rounded up to D's
    minibatch-stddev group."""
    check_networks(generator, discriminator)
    _check_args(head, class_id, num, seed, method, threshold)
    class_id, num, seed = int(class_id), int(num), int(seed)
    group = discriminator.mbstd_group
    if method == "rejection":
        return _rejection(generator, discriminator, head, class_id, num, seed, psi, _round_up(batch_size, group),
                          float(threshold), max_candidates)
    batch = _round_up(min(int(batch_size), num), group)
    return _cddls(generator, discriminator, head, class_id, num, seed, psi, batch, int(steps), float(eps),
                  float(sigma), float(lbd), prior)


# ----------------------------------------------------------------------------- gen_acc
def _pixels(images, size):
    x = tf.image.resize(tf.cast(np.asarray(images), tf.float32) / 255.0, [size, size], method="area")
    return tf.reshape(x, [len(images), -1]).numpy()


def pixel_judge(config, num_train=NUM_TRAIN, size=16, data=None, batch_size=256):
    """A classifier of uint8 images that shares nothing with D (the judge of :func:`gen_acc`): lineval's
    logistic regression on the raw pixels (area-resized to ``size`` x ``size``) of the first ``num_train``
    labelled training images (or ``data`` = (uint8 batches, labels)). Returns ``predict(images) -> classes``."""
    batches, labels = data if data is not None else lineval.labelled_images(config, "train", num_train, batch_size)
    labels = np.asarray(labels, np.int64)
    head = lineval.fit_linear_head(lineval.features_of(lambda b: _pixels(b, size), batches), labels,
                                   int(labels.max()) + 1)
    return lambda images: head.predict(_pixels(images, size))


def gen_acc(predict, images, class_id):
    """The fraction of ``images`` that ``predict`` (a judge trained on real images) puts in ``class_id``."""
    return float(np.mean(predict(images) == int(class_id)))


# ----------------------------------------------------------------------------- for generate_main.py
def sample_run(config, trainer, class_id, num, seed=0, workdir=None, checkpoint=None, head_path=None,
               num_train=NUM_TRAIN, **sampler):
    """:func:`self_conditional_samples` for a restored run (``trainer`` of ``restore_run``): ``class_id`` an
    id or a class name (:func:`parse_class`); the head is fitted on ``num_train`` labelled images and cached
    at ``head_path`` or, with ``workdir`` and ``checkpoint`` (the restored path), at
    :func:`default_head_path`; ``sampler``: the sampler's keyword arguments (method, psi, steps, ...)."""
    check_networks(trainer.g_ema, trainer.discriminator)
    class_id = parse_class(class_id, config)
    if head_path is None and workdir and checkpoint:
        head_path = default_head_path(workdir, checkpoint, num_train)
    head = fit_head(config, trainer.discriminator, num_train, path=head_path)
    return self_conditional_samples(trainer.g_ema, trainer.discriminator, head, class_id, num, seed, **sampler)


def sample_workdir(workdir, class_id, num, seed=0, checkpoint=None, **kwargs):
    """Restores ``workdir`` (``checkpoint``: default the latest) and runs :func:`sample_run`; returns
    (Samples, checkpoint path, step)."""
    from keras_attngan.training.restore import restore_run  # training/ is heavy; only this entry point needs it
    config, trainer, path, step = restore_run(workdir, checkpoint)
    return sample_run(config, trainer, class_id, num, seed, workdir=workdir, checkpoint=path, **kwargs), path, step
