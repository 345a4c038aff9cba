"""ADA's colour transforms as one 4x4 matrix per sample, applied in one matrix product.

Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", Appendix B.1 (colour
transformations) and stylegan2-ada-pytorch ``training/augment.py``. Pixels are homogeneous RGB vectors
``[r, g, b, 1]``; the composed matrix is ``C = S @ H @ L @ K @ B`` (brightness first):

- brightness ``B``: adds b to every channel;
- contrast ``K``: multiplies by c;
- luma flip ``L = I - 2 i vv^T`` (Householder reflection about the plane orthogonal to the luma axis
  v = (1, 1, 1) / sqrt(3)), i in {0, 1};
- hue ``H``: rotation by theta about v;
- saturation ``S = vv^T + (I - vv^T) s``: scales the distance from the grey axis by s.

Images with one channel are treated as grey RGB ``[x, x, x]`` and the output's channel mean is kept (as the
reference does): brightness and contrast act as on RGB, luma flip negates (x -> -x), and hue and
saturation leave grey unchanged. Other channel counts are rejected.
"""

import math

import tensorflow as tf

from keras_attngan.augment.warp import matmul, matrix

LUMA_AXIS = (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3))


def luma_projector():
    """vv^T for the luma axis v, as a [4, 4] constant (zero in the homogeneous row and column)."""
    v = tf.constant(list(LUMA_AXIS) + [0.0])
    return v[:, None] * v[None, :]


def translate3d(tx, ty, tz):
    return matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]])


def scale3d(sx, sy, sz):
    return matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]])


def rotate3d(axis, theta):
    """Rotation by ``theta`` about the unit ``axis`` (Rodrigues: cI + s[v]x + (1 - c) vv^T)."""
    vx, vy, vz = axis
    c, s = tf.cos(theta), tf.sin(theta)
    cc = 1 - c
    return matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                   [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                   [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                   [0, 0, 0, 1]])


def brightness_matrix(b):
    return translate3d(b, b, b)


def contrast_matrix(c):
    return scale3d(c, c, c)


def lumaflip_matrix(i):
    """``I - 2 i vv^T``; i in {0, 1} per sample."""
    return tf.eye(4)[None] - 2.0 * luma_projector()[None] * tf.reshape(tf.cast(i, tf.float32), [-1, 1, 1])


def hue_matrix(theta):
    return rotate3d(LUMA_AXIS, theta)


def saturation_matrix(s):
    vv = luma_projector()[None]
    return vv + (tf.eye(4)[None] - vv) * tf.reshape(tf.cast(s, tf.float32), [-1, 1, 1])


def color_matrix(params):
    """The composed [B, 4, 4] matrix from ADA params 'brightness', 'contrast', 'lumaflip', 'hue', 'saturation'."""
    c = brightness_matrix(params["brightness"])
    c = matmul(contrast_matrix(params["contrast"]), c)
    c = matmul(lumaflip_matrix(params["lumaflip"]), c)
    c = matmul(hue_matrix(params["hue"]), c)
    return matmul(saturation_matrix(params["saturation"]), c)


def apply_color_matrix(images, c):
    """``images`` [B, H, W, 3 or 1] (float32) transformed by per-sample homogeneous matrices ``c`` [B, 4, 4]."""
    channels = images.shape[-1]
    if channels == 3:
        linear = c[:, None, None, :3, :3]
        return tf.reduce_sum(linear * images[..., None, :], axis=-1) + c[:, None, None, :3, 3]
    if channels == 1:
        gain = tf.reduce_mean(tf.reduce_sum(c[:, :3, :3], axis=2), axis=1)
        offset = tf.reduce_mean(c[:, :3, 3], axis=1)
        return images * tf.reshape(gain, [-1, 1, 1, 1]) + tf.reshape(offset, [-1, 1, 1, 1])
    raise ValueError(f"ADA's colour transforms need RGB (3 channels) or grey (1 channel) images, got {channels}")
