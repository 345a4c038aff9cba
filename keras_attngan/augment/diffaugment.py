"""DiffAugment: differentiable augmentation applied to everything D sees.

Zhao, Liu, Lin, Zhu, Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training" (NeurIPS),
Sec. 3 and the authors' ``DiffAugment_tf.py`` (mit-han-lab/data-efficient-gans). Images are in [-1, 1];
every random number is per sample. The policy's ops run in the order they are listed:

- ``color``: brightness ``x + (u - 0.5)``; saturation ``(x - mean_c) * 2u + mean_c`` (mean over the
  channels of each pixel); contrast ``(x - mean) * (u + 0.5) + mean`` (mean over the whole image).
- ``translation`` (ratio 1/8): an integer shift ``s`` in [-m, m], m = round(size / 8), drawn independently
  for rows and columns: ``out[i] = x[i + s]``, zero where ``i + s`` leaves the image.
- ``cutout`` (ratio 1/2): a zero square of side ``k = round(size / 2)`` whose centre ``o`` is uniform in
  [0, size + 1 - k % 2), covering rows/columns [o - k // 2, o - k // 2 + k) clipped at the border.

Translation and cutout are geometric: :meth:`DiffAugment.apply_geometric` applies them to a feature map
with m, k and o computed from the map's own size and the same uniform numbers, so a map of the image's
size moves exactly like the image and a smaller map by the image's shift fraction rounded to its grid
(to within one map pixel), as GGDR does for ADA's integer translation.
"""

import tensorflow as tf

from keras_attngan import rng
from keras_attngan.augment.base import Augment, compute_dtype
from keras_attngan.augment.config import parse_policy
from keras_attngan.registry import AUGMENTATIONS

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _per_sample(v):
    return tf.reshape(v, [-1, 1, 1, 1])


# ----------------------------------------------------------------------------- colour
def brightness(x, shift):
    """``x + shift`` per sample; ``shift`` = u - 0.5 in [-0.5, 0.5)."""
    return x + _per_sample(shift)


def saturation(x, factor):
    """``(x - mean over channels) * factor + mean``; ``factor`` = 2u in [0, 2)."""
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_sample(factor) + mean


def contrast(x, factor):
    """``(x - mean over H, W, C) * factor + mean``; ``factor`` = u + 0.5 in [0.5, 1.5)."""
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_sample(factor) + mean


# ----------------------------------------------------------------------------- geometric
def max_shift(size, ratio=TRANSLATION_RATIO):
    """m = round(size * ratio) (the PyTorch version's ``int(size * ratio + 0.5)``)."""
    return int(size * ratio + 0.5)


def translation_shift(u, size, ratio=TRANSLATION_RATIO):
    """Uniform u in [0, 1) -> an integer shift uniform in [-m, m] (int32)."""
    m = max_shift(size, ratio)
    k = tf.minimum(tf.floor(u * (2 * m + 1)), 2 * m)
    return tf.cast(k, tf.int32) - m


def _shift_axis(x, shift, axis):
    """``out[..., i, ...] = x[..., i + shift, ...]`` along ``axis`` (1 or 2), zero outside; shift [B] int32."""
    size = x.shape[axis]
    src = tf.range(size, dtype=tf.int32)[None, :] + shift[:, None]           # [B, size]
    valid = (src >= 0) & (src < size)
    out = tf.gather(x, tf.clip_by_value(src, 0, size - 1), axis=axis, batch_dims=1)
    valid = tf.reshape(valid, [-1, size, 1, 1] if axis == 1 else [-1, 1, size, 1])
    return tf.where(valid, out, tf.zeros_like(out))


def translation(x, u):
    """Integer translation with zero fill; u [B, 2] uniforms for (rows, columns)."""
    x = _shift_axis(x, translation_shift(u[:, 0], x.shape[1]), axis=1)
    return _shift_axis(x, translation_shift(u[:, 1], x.shape[2]), axis=2)


def cutout_window(u, size, ratio=CUTOUT_RATIO):
    """Uniform u in [0, 1) -> (first index [B] int32, side k): [o - k // 2, o - k // 2 + k)."""
    k = int(size * ratio + 0.5)
    span = size + (1 - k % 2)
    o = tf.cast(tf.minimum(tf.floor(u * span), span - 1), tf.int32)
    return o - k // 2, k


def cutout(x, u):
    """Zeroes one square per sample (clipped at the border); u [B, 2] uniforms for (rows, columns)."""
    def inside(size, v):
        start, k = cutout_window(v, size)
        i = tf.range(size, dtype=tf.int32)[None, :]
        return (i >= start[:, None]) & (i < start[:, None] + k)              # [B, size]
    rows = inside(x.shape[1], u[:, 0])[:, :, None, None]
    cols = inside(x.shape[2], u[:, 1])[:, None, :, None]
    return tf.where(rows & cols, tf.zeros_like(x), x)


@AUGMENTATIONS.register("diffaugment", config=dict(policy="color,translation,cutout"),
                         validate=lambda cfg: parse_policy(cfg.policy))
class DiffAugment(Augment):
    """``augment.name='diffaugment'`` with ``augment.policy``; an empty policy is the identity."""

    name = "diffaugment"

    def __init__(self, policy="color,translation,cutout"):
        self.policy = parse_policy(policy)

    @classmethod
    def from_config(cls, cfg):
        return cls(policy=cfg.policy)

    @property
    def is_identity(self):
        return not self.policy

    def get_config(self):
        return {"name": self.name, "policy": ",".join(self.policy)}

    def draw(self, batch, seed):
        params = {}
        for i, op in enumerate(self.policy):
            s = rng.fold(seed, i)
            if op == "color":
                u = rng.batch_uniform([batch, 3], s)
                params.update(brightness=u[:, 0] - 0.5, saturation=u[:, 1] * 2.0, contrast=u[:, 2] + 0.5)
            else:  # translation, cutout: uniforms for (rows, columns), turned into pixels at each size
                params[op] = rng.batch_uniform([batch, 2], s)
        return params

    def _run(self, x, params, geometric_only):
        x, dtype = compute_dtype(x)
        for op in self.policy:
            if op == "color" and not geometric_only:
                x = brightness(x, params["brightness"])
                x = saturation(x, params["saturation"])
                x = contrast(x, params["contrast"])
            elif op == "translation":
                x = translation(x, params["translation"])
            elif op == "cutout":
                x = cutout(x, params["cutout"])
        return tf.cast(x, dtype)

    def apply(self, images, params):
        return self._run(images, params, geometric_only=False)

    def apply_geometric(self, feature_map, params):
        return self._run(feature_map, params, geometric_only=True)
