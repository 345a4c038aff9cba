"""ADA: adaptive discriminator augmentation, the ``bgc`` pipeline.

Karras, Aittala, Hellsten, Laine, Lehtinen, Aila 2020, "Training Generative Adversarial Networks with
Limited Data" (NeurIPS), Sec. 2-3 and Appendix B; stylegan2-ada-pytorch ``training/augment.py``.

Each op is applied to a sample with probability p (the rotation twice, before and after the anisotropic
scaling, each with p_rot = 1 - sqrt(1 - p) so that P(any rotation) = p), with the reference's default
strengths:

- geometric ("blit" + "geom"): x-flip; rotation by k * 90 degrees; integer translation uniform in
  +-0.125 of the size (rounded to pixels of the tensor being warped); isotropic scaling 2^N(0, 0.2^2);
  rotation uniform in [-pi, pi); anisotropic scaling 2^N(0, 0.2^2); fractional translation N(0, 0.125^2)
  of the size. All compose into one inverse matrix per sample and one bilinear warp with mirror borders
  (:mod:`keras_attngan.augment.warp`; simplified from the reference's wavelet up/down-sampled warp);
- colour: brightness N(0, 0.2^2); contrast 2^N(0, 0.5^2); luma flip; hue rotation uniform in [-pi, pi);
  saturation 2^N(0, 1). All compose into one 4x4 matrix per sample (:mod:`keras_attngan.augment.color`).

The reference's image-space filtering, noise and cutout (not in ``bgc``) are left out.

p is a non-trainable float32 variable (aggregation 'mean', so assigning the same value on every replica is
safe), checkpointed through :meth:`ADA.state_variables`. :meth:`ADA.draw` reads it as a tensor (no
retracing when it changes) and folds it into the params, so :meth:`ADA.apply` never touches a variable
and compiles under XLA. With ``p=-1`` it starts at 0 and :meth:`ADA.update` adapts it (Sec. 3).
"""

import math

import keras
import tensorflow as tf

from keras_attngan import rng
from keras_attngan.augment.base import Augment, compute_dtype
from keras_attngan.augment.color import apply_color_matrix, color_matrix
from keras_attngan.augment.config import ADAPTIVE, check_ada
from keras_attngan.augment.warp import matmul, rotate2d_angle, rotate2d_quarter, scale2d, translate2d, warp
from keras_attngan.registry import AUGMENTATIONS
from keras_attngan.replicas import global_mean

# bgc strengths (stylegan2-ada-pytorch AugmentPipe defaults)
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0        # 1 = the full circle
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0
SATURATION_STD = 1.0

# Per-sample params and their identity values ([B] each; xint and xfrac are [B, 2] fractions of the size).
IDENTITY = {"xflip": 0.0, "rot90": 0.0, "xint": (0.0, 0.0), "scale": 1.0, "rotate_pre": 0.0, "aniso": 1.0,
            "rotate_post": 0.0, "xfrac": (0.0, 0.0),
            "brightness": 0.0, "contrast": 1.0, "lumaflip": 0.0, "hue": 0.0, "saturation": 1.0}


def identity_params(batch):
    """Params that leave every sample unchanged (a base for tests and for building params by hand)."""
    return {k: tf.fill([batch, 2] if isinstance(v, tuple) else [batch], v[0] if isinstance(v, tuple) else v)
            for k, v in IDENTITY.items()}


def adjust_p(p, mean_sign, batch_size, interval, target, speed_kimg):
    """ADA's p update (Sec. 3): p + sign(r_t - target) * batch * interval / (speed_kimg * 1000), in [0, 1].

    ``mean_sign`` is r_t = E[sign(D(x_real))] over the last ``interval`` steps of the global batch
    ``batch_size``; so p can cross [0, 1] in ``speed_kimg`` thousand images at the fastest. The reference
    clamps at 0 only; the clamp at 1 here keeps p a probability.
    """
    # The step's global batch is a tensor (float() of it is AutoGraph's cast, and the step has no AutoGraph).
    batch = tf.cast(batch_size, tf.float32) if tf.is_tensor(batch_size) else float(batch_size)
    step = batch * float(interval) / (float(speed_kimg) * 1000.0)
    r = tf.cast(mean_sign, tf.float32)
    return tf.clip_by_value(tf.cast(p, tf.float32) + tf.sign(r - target) * step, 0.0, 1.0)


def geometric_matrix(params, height, width):
    """The per-sample inverse transform [B, 3, 3] (output -> input pixel) at this tensor's size."""
    tint = tf.round(params["xint"] * [[width, height]])
    tfrac = params["xfrac"] * [[width, height]]
    aniso = params["aniso"]
    g = scale2d(1 - 2 * params["xflip"], 1.0)
    for m in (rotate2d_quarter(params["rot90"]),
              translate2d(-tint[:, 0], -tint[:, 1]),
              scale2d(1 / params["scale"], 1 / params["scale"]),
              rotate2d_angle(params["rotate_pre"]),
              scale2d(1 / aniso, aniso),
              rotate2d_angle(params["rotate_post"]),
              translate2d(-tfrac[:, 0], -tfrac[:, 1])):
        g = matmul(g, m)
    return g


def _check(cfg):
    check_ada(cfg.p, cfg.target, cfg.speed_kimg, cfg.interval)


@AUGMENTATIONS.register("ada", config=dict(p=ADAPTIVE, target=0.6, speed_kimg=500.0, interval=4), validate=_check)
class ADA(Augment):
    """``augment.name='ada'``: the bgc pipeline with a fixed (``p`` in [0, 1]) or adaptive (``p=-1``) p.

    Create it inside ``strategy.scope()`` so that p is mirrored.
    """

    name = "ada"

    def __init__(self, p=ADAPTIVE, target=None, speed_kimg=500.0, interval=4):
        if target is None:  # not given: the paper's 0.6 for an adaptive p, none for a fixed one
            target = 0.6 if float(p) == ADAPTIVE else 0.0
        check_ada(p, target, speed_kimg, interval)
        self.fixed_p = None if float(p) == ADAPTIVE else float(p)
        self.target, self.speed_kimg, self.interval = float(target), float(speed_kimg), int(interval)
        self.p = keras.Variable(0.0 if self.fixed_p is None else self.fixed_p, dtype="float32", trainable=False,
                                aggregation="mean", name="augment_p")
        # Adaptive p: the sum of E[sign(D(real))] since p was last adjusted.
        self.sign_sum = (keras.Variable(0.0, dtype="float32", trainable=False, aggregation="mean",
                                        name="ada_sign_sum") if self.adaptive else None)

    @classmethod
    def from_config(cls, cfg):
        return cls(p=cfg.p, target=cfg.target, speed_kimg=cfg.speed_kimg, interval=cfg.interval)

    @property
    def is_identity(self):
        return self.fixed_p == 0.0

    @property
    def adaptive(self):
        return self.fixed_p is None

    def get_config(self):
        return {"name": self.name, "p": ADAPTIVE if self.adaptive else self.fixed_p, "target": self.target,
                "speed_kimg": self.speed_kimg, "interval": self.interval}

    def state_variables(self):
        # The names earlier checkpoints hold (p under its index, the sum under the trainer's old name).
        named = {"0.augment_p": self.p}
        if self.adaptive:
            named["sign_sum"] = self.sign_sum
        return named

    def update(self, mean_sign, batch_size):
        """Every ``interval`` steps: adapts p from r_t = E[sign(D(real))] over them (global batch of
        ``batch_size``); returns the new p. A fixed p never changes. Call it in cross-replica context (or
        with the same value on every replica)."""
        if not self.adaptive:
            return tf.convert_to_tensor(self.p)
        p = adjust_p(self.p, mean_sign, batch_size, self.interval, self.target, self.speed_kimg)
        self.p.assign(p)
        return p

    def observe(self, real_logits, step, global_batch):
        """The training step's in-graph form of :meth:`update` (Sec. 3): adds this step's E[sign(D(real))]
        over the global batch to :attr:`sign_sum` and, every ``interval`` steps (by the step counter
        ``step``, before its increment), adjusts p from the interval's mean and resets the sum. Both are
        written every step (unchanged between adjustments), so no host-side flag or tf.cond is needed."""
        if not self.adaptive:
            return
        mean_sign = global_mean(tf.reduce_mean(tf.sign(tf.cast(real_logits, tf.float32))))
        sign_sum, batch_size = self.sign_sum, global_batch
        total = sign_sum + mean_sign
        due = tf.equal((step + 1) % self.interval, 0)
        new_p = adjust_p(self.p, total / self.interval, batch_size, self.interval, self.target, self.speed_kimg)
        self.p.assign(tf.where(due, new_p, tf.convert_to_tensor(self.p)))
        sign_sum.assign(tf.where(due, tf.zeros_like(total), total))

    def log_values(self):
        return {"augment_p": tf.convert_to_tensor(self.p)}

    def draw(self, batch, seed):
        """Values of every op, each replaced by its identity value unless its gate u < p (p_rot for the two
        rotations); reads p as a tensor."""
        p = tf.convert_to_tensor(self.p)
        p_rot = 1.0 - tf.sqrt(tf.clip_by_value(1.0 - p, 0.0, 1.0))
        gate = rng.batch_uniform([batch, 13], rng.fold(seed, 0))
        u = rng.batch_uniform([batch, 8], rng.fold(seed, 1))
        n = rng.batch_normal([batch, 7], rng.fold(seed, 2))

        def gated(j, value, identity, prob=p):
            on = gate[:, j] < prob
            if value.shape.rank == 2:
                on = on[:, None]
            return tf.where(on, value, tf.cast(identity, tf.float32))

        turn = math.pi * ROTATE_MAX
        return {
            "xflip": gated(0, tf.floor(u[:, 0] * 2), 0.0),
            "rot90": gated(1, tf.floor(u[:, 1] * 4), 0.0),
            "xint": gated(2, (u[:, 2:4] * 2 - 1) * XINT_MAX, 0.0),
            "scale": gated(3, tf.pow(2.0, n[:, 0] * SCALE_STD), 1.0),
            "rotate_pre": gated(4, (u[:, 4] * 2 - 1) * turn, 0.0, p_rot),
            "aniso": gated(5, tf.pow(2.0, n[:, 1] * ANISO_STD), 1.0),
            "rotate_post": gated(6, (u[:, 5] * 2 - 1) * turn, 0.0, p_rot),
            "xfrac": gated(7, n[:, 2:4] * XFRAC_STD, 0.0),
            "brightness": gated(8, n[:, 4] * BRIGHTNESS_STD, 0.0),
            "contrast": gated(9, tf.pow(2.0, n[:, 5] * CONTRAST_STD), 1.0),
            "lumaflip": gated(10, tf.floor(u[:, 6] * 2), 0.0),
            "hue": gated(11, (u[:, 7] * 2 - 1) * math.pi * HUE_MAX, 0.0),
            "saturation": gated(12, tf.pow(2.0, n[:, 6] * SATURATION_STD), 1.0),
        }

    def apply(self, images, params):
        x, dtype = compute_dtype(images)
        x = warp(x, geometric_matrix(params, x.shape[1], x.shape[2]))
        x = apply_color_matrix(x, color_matrix(params))
        return tf.cast(x, dtype)

    def apply_geometric(self, feature_map, params):
        x, dtype = compute_dtype(feature_map)
        x = warp(x, geometric_matrix(params, x.shape[1], x.shape[2]))
        return tf.cast(x, dtype)
