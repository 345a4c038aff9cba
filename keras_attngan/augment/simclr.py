"""The SimCLR augmentation T of ContraD: ``simclr``, ``simclr_hq`` (+ blur), ``simclr_hq_cutout`` (+ cutout).

Jeong & Shin 2021, "Training GANs with Stronger Augmentations via Contrastive Discriminator" (ICLR), Sec. 3
and jh-jeong/ContraD ``augment/`` (docs/methods.md, ContraD), after Chen et al. 2020 (SimCLR).
The reference works on images in [0, 1]; this one takes and returns [-1, 1] and converts in between. In
order, every draw per sample unless said otherwise:

1. random resized crop: area fraction U(0.2, 1), log aspect ratio U(log 3/4, log 4/3), the first of 10
   candidates that fits (none fits: the identity), translation uniform in [w - 1, 1 - w] (normalised
   coordinates); one bilinear warp with mirror borders (:func:`keras_attngan.augment.warp.warp`), output
   size = input size;
2. horizontal flip, p 0.5 (composed into the same warp);
3. colour jitter, p 0.8: brightness, contrast, saturation factors U(0.6, 1.4), hue shift U(-0.1, 0.1);
   contrast ``(x - mean_HW) * c + mean`` clamped to [0, 1]; the HSV step (hue shift of ``f * 255/360``,
   saturation and value scaled, clamped) is **straight-through** as in the reference (its backward is the
   identity); whether contrast or the HSV step comes first is chosen once per batch;
4. grayscale, p 0.2 (luma 0.299 R + 0.587 G + 0.114 B on every channel);
5. ``simclr_hq``: Gaussian blur, p 0.5, sigma U(0.1, 2) once per batch, kernel ``2 * int(H // 10 / 2) + 1``,
   reflect borders;
6. ``simclr_hq_cutout``: cutout, p 0.5, a square set to black (0 in [0, 1]) centred at a uniform pixel,
   side 15 at 32 px scaled with the size (``2 * int(size * 15 / 64) + 1``; the reference fixes 15 px).

Grey (1-channel) images: saturation, hue and grayscale need RGB and are skipped; brightness scales the
grey value (HSV's V of a grey pixel is the pixel), differentiably rather than straight-through.

Departures: hue uses TF's hexcone RGB<->HSV (the reference computes hue with atan2); the translation is
continuous (the reference rounds it to pixels); the per-batch choices are per ``apply`` call (ContraD's
D step applies T per view group; :mod:`keras_attngan.methods.contrad`).
"""

import math

import tensorflow as tf

from keras_attngan import rng
from keras_attngan.augment.base import Augment, compute_dtype
from keras_attngan.augment.warp import matrix, warp
from keras_attngan.registry import AUGMENTATIONS

SCALE = (0.2, 1.0)
LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))
CROP_CANDIDATES = 10
JITTER_P, JITTER = 0.8, (0.4, 0.4, 0.4, 0.1)  # brightness, contrast, saturation, hue
GRAY_P, BLUR_P, BLUR_SIGMA, CUTOUT_P = 0.2, 0.5, (0.1, 2.0), 0.5
LUMA = (0.299, 0.587, 0.114)


def _per_sample(v):
    return tf.reshape(v, [-1, 1, 1, 1])


def crop_flip_matrix(params, height, width):
    """Inverse transform [B, 3, 3] (output -> input, centred pixels): crop of size (w, h) (fractions of the
    image) at offset (tx, ty) (normalised [-1, 1] coordinates), then the flip, at this tensor's size."""
    sx = params["crop_w"] * (1 - 2 * params["flip"])
    return matrix([[sx, 0, params["crop_tx"] * width / 2], [0, params["crop_h"], params["crop_ty"] * height / 2],
                   [0, 0, 1]])


def contrast(x, c):
    """``clamp((x - mean over H, W per channel) * c + mean, 0, 1)`` on [0, 1] images."""
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return tf.clip_by_value((x - mean) * _per_sample(c) + mean, 0.0, 1.0)


def hsv_jitter(x, brightness, saturation, hue):
    """The reference's HSV step on [0, 1] images, straight-through (backward = identity). Grey images:
    only the value (brightness) is scaled, differentiably."""
    if x.shape[-1] == 1:
        return tf.clip_by_value(x * _per_sample(brightness), 0.0, 1.0)
    hsv = tf.image.rgb_to_hsv(tf.stop_gradient(x))
    h = tf.math.floormod(hsv[..., 0:1] + _per_sample(hue) * 255.0 / 360.0, 1.0)
    s = tf.clip_by_value(hsv[..., 1:2] * _per_sample(saturation), 0.0, 1.0)
    v = tf.clip_by_value(hsv[..., 2:3] * _per_sample(brightness), 0.0, 1.0)
    y = tf.image.hsv_to_rgb(tf.concat([h, s, v], axis=-1))
    return x + tf.stop_gradient(y - x)


def grayscale(x):
    """Luma 0.299 R + 0.587 G + 0.114 B replicated on the 3 channels (grey images are returned as they are)."""
    if x.shape[-1] == 1:
        return x
    luma = tf.reduce_sum(x * tf.constant(LUMA, x.dtype), axis=-1, keepdims=True)
    return tf.tile(luma, [1, 1, 1, 3])


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of [0, 1] images with one ``sigma`` (scalar tensor), reflect borders."""
    size = x.shape[1]
    radius = int(size // 10 / 2)
    if radius == 0:
        return x
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-tf.square(taps) / (2 * tf.square(sigma)))
    k = k / tf.reduce_sum(k)
    channels = x.shape[-1]
    x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, channels, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")


def cutout(x, cx, cy):
    """Black square of side ``2 * int(size * 15 / 64) + 1`` centred at pixel (floor(cx W), floor(cy H))."""
    h, w = x.shape[1], x.shape[2]
    half = int(min(h, w) * 15 / 64)
    rows = tf.range(h, dtype=tf.float32)[None, :, None, None]
    cols = tf.range(w, dtype=tf.float32)[None, None, :, None]
    inside = ((tf.abs(rows - _per_sample(tf.floor(cy * h))) <= half)
              & (tf.abs(cols - _per_sample(tf.floor(cx * w))) <= half))
    return tf.where(inside, tf.zeros_like(x), x)


class SimCLR(Augment):
    """``augment.name`` simclr | simclr_hq (``blur``) | simclr_hq_cutout (``blur`` and ``cutout``)."""

    def __init__(self, blur=False, cutout=False):
        self.blur, self.cutout = bool(blur), bool(cutout)
        self.name = "simclr" + ("_hq" if blur else "") + ("_cutout" if cutout else "")

    def draw(self, batch, seed):
        """Per-sample params ([B] float32 each); the per-batch ones (jitter order, blur sigma) are one
        stateless draw from ``seed`` alone, the same on every replica, broadcast to [B]."""
        u = rng.batch_uniform([batch, 12], rng.fold(seed, 0))
        cand = rng.batch_uniform([batch, 2, CROP_CANDIDATES], rng.fold(seed, 1))
        area = SCALE[0] + (SCALE[1] - SCALE[0]) * cand[:, 0]
        ratio = tf.exp(LOG_RATIO[0] + (LOG_RATIO[1] - LOG_RATIO[0]) * cand[:, 1])
        w, h = tf.sqrt(area * ratio), tf.sqrt(area / ratio)
        fits = (w <= 1.0) & (h <= 1.0)
        first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
        found = tf.reduce_any(fits, axis=1)
        w = tf.where(found, tf.gather(w, first, batch_dims=1), 1.0)
        h = tf.where(found, tf.gather(h, first, batch_dims=1), 1.0)
        jitter = tf.cast(u[:, 3] < JITTER_P, tf.float32)

        def factor(j, strength):  # U(1 - s, 1 + s), or 1 when the jitter is off for this sample
            return 1.0 + jitter * strength * (2 * u[:, j] - 1)

        batch_u = tf.random.stateless_uniform([2], rng.as_seed(rng.fold(seed, 2)), alg=rng.ALG)
        fill = lambda v: tf.fill([batch], v)  # noqa: E731
        return {
            "crop_w": w, "crop_h": h, "crop_tx": (2 * u[:, 0] - 1) * (1 - w), "crop_ty": (2 * u[:, 1] - 1) * (1 - h),
            "flip": tf.floor(u[:, 2] * 2), "jitter": jitter,
            "brightness": factor(4, JITTER[0]), "contrast": factor(5, JITTER[1]),
            "saturation": factor(6, JITTER[2]), "hue": jitter * JITTER[3] * (2 * u[:, 7] - 1),
            "contrast_first": fill(tf.floor(batch_u[0] * 2)), "gray": tf.cast(u[:, 8] < GRAY_P, tf.float32),
            "blur": tf.cast(u[:, 9] < BLUR_P, tf.float32),
            "blur_sigma": fill(BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * batch_u[1]),
            "cutout": tf.cast(u[:, 10] < CUTOUT_P, tf.float32), "cutout_x": u[:, 11],
            "cutout_y": rng.batch_uniform([batch], rng.fold(seed, 3)),
        }

    def apply(self, images, params):
        x, dtype = compute_dtype(images)
        x = self.apply_geometric(x, params) * 0.5 + 0.5  # ContraD's T works on [0, 1]

        def jitter(x):
            # Contrast before or after the HSV step: contrast (cheap) on both sides, each kept or not, so
            # the graph has no tf.cond and the HSV step runs once.
            first = _per_sample(params["contrast_first"]) > 0
            x = tf.where(first, contrast(x, params["contrast"]), x)
            x = hsv_jitter(x, params["brightness"], params["saturation"], params["hue"])
            return tf.where(first, x, contrast(x, params["contrast"]))

        # Masks select the untouched input exactly (where) rather than applying identity factors.
        x = tf.where(_per_sample(params["jitter"]) > 0, jitter(x), x)
        x = tf.where(_per_sample(params["gray"]) > 0, grayscale(x), x)
        if self.blur:
            x = tf.where(_per_sample(params["blur"]) > 0, gaussian_blur(x, params["blur_sigma"][0]), x)
        if self.cutout:
            x = tf.where(_per_sample(params["cutout"]) > 0, cutout(x, params["cutout_x"], params["cutout_y"]), x)
        return tf.cast(x * 2 - 1, dtype)

    def apply_geometric(self, feature_map, params):
        x, dtype = compute_dtype(feature_map)
        return tf.cast(warp(x, crop_flip_matrix(params, x.shape[1], x.shape[2])), dtype)

    def get_config(self):
        return {"name": self.name}


# ContraD's T (contrad.augment); usable as augment.name too.
AUGMENTATIONS.register("simclr", order=1)(SimCLR)
AUGMENTATIONS.register("simclr_hq", order=1)(lambda: SimCLR(blur=True))
AUGMENTATIONS.register("simclr_hq_cutout", order=1)(lambda: SimCLR(blur=True, cutout=True))
