"""Per-sample affine matrices and the one bilinear warp that applies them.

Homogeneous 2-D matrices act on *centred pixel coordinates* (x = column - (W - 1) / 2, y = row - (H - 1) / 2,
y pointing down). A warp takes the inverse transform ``g_inv`` (output pixel -> input pixel), as ADA does
(Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", Appendix B.1), and
samples the input there bilinearly with mirror borders (numpy/torch 'reflect': ``d c b | a b c d | c b a``).

Simplification of the reference: stylegan2-ada-pytorch pads by reflection, up-samples 2x with a sym6
wavelet filter, samples with ``grid_sample`` and down-samples again, which suppresses aliasing of the
non-integer transforms. Here the input is sampled once, bilinearly, at the output pixels, with the mirror
continued indefinitely (the reference reflects once and fills zeros beyond). Integer transforms (flips,
90-degree rotations, integer shifts) hit pixel centres exactly, so they equal the numpy result bit for bit.
It is built from gathers: XLA compiles it on CPU, unlike ImageProjectiveTransformV3
(``keras.ops.image.affine_transform``).
"""

import tensorflow as tf


def matrix(rows):
    """[B, n, m] from ``rows`` of entries that are [B] tensors or Python numbers (at least one tensor)."""
    like = next(e for row in rows for e in row if isinstance(e, tf.Tensor))
    entries = [tf.broadcast_to(tf.cast(e, tf.float32), tf.shape(like)) for row in rows for e in row]
    return tf.reshape(tf.stack(entries, axis=-1), [-1, len(rows), len(rows[0])])


def matmul(a, b):
    """Batched product of small matrices as a sum of products: exact in float32 on every device (a GPU
    matmul may round through TF32), and cheap at 3x3/4x4."""
    return tf.reduce_sum(a[:, :, :, None] * b[:, None, :, :], axis=2)


# ------------------------------------------------------------------ 2-D (3x3) geometric matrices
def translate2d(tx, ty):
    return matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def scale2d(sx, sy):
    return matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(cos, sin):
    """Rotation by the angle with this cosine and sine (given, so 90-degree steps stay exact)."""
    return matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])


def rotate2d_angle(theta):
    return rotate2d(tf.cos(theta), tf.sin(theta))


def rotate2d_quarter(k):
    """Rotation by k * 90 degrees, k in {0, 1, 2, 3} ([B] float or int), with exact 0/1/-1 entries."""
    k = tf.math.floormod(tf.cast(k, tf.int32), 4)
    return rotate2d(tf.gather([1.0, 0.0, -1.0, 0.0], k), tf.gather([0.0, 1.0, 0.0, -1.0], k))


# ------------------------------------------------------------------ the warp
def _mirror(i, n):
    """Indices folded into [0, n) by mirror reflection about the border pixels (no repeated edge)."""
    if n == 1:
        return tf.zeros_like(i)
    period = 2 * (n - 1)
    i = tf.math.floormod(i, period)
    return tf.where(i >= n, period - i, i)


def bilinear_sample(images, sx, sy):
    """``images`` [B, H, W, C] sampled at pixel coordinates ``sx``, ``sy`` [B, N] -> [B, N, C]."""
    h, w = images.shape[1], images.shape[2]
    flat = tf.reshape(images, [tf.shape(images)[0], h * w, images.shape[3]])
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    cols = (_mirror(x0, w), _mirror(x0 + 1, w))
    rows = (_mirror(y0, h) * w, _mirror(y0 + 1, h) * w)

    def at(r, c):
        return tf.gather(flat, r + c, batch_dims=1)

    top = at(rows[0], cols[0]) * (1 - fx) + at(rows[0], cols[1]) * fx
    bottom = at(rows[1], cols[0]) * (1 - fx) + at(rows[1], cols[1]) * fx
    return top * (1 - fy) + bottom * fy


def warp(images, g_inv):
    """Warps [B, H, W, C] by the per-sample inverse transforms ``g_inv`` [B, 3, 3] (output -> input)."""
    h, w = images.shape[1], images.shape[2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32) - cy, tf.range(w, dtype=tf.float32) - cx, indexing="ij")
    xs, ys = tf.reshape(xs, [1, -1]), tf.reshape(ys, [1, -1])
    g = tf.cast(g_inv, tf.float32)
    sx = g[:, 0, 0:1] * xs + g[:, 0, 1:2] * ys + g[:, 0, 2:3] + cx
    sy = g[:, 1, 0:1] * xs + g[:, 1, 1:2] * ys + g[:, 1, 2:3] + cy
    return tf.reshape(bilinear_sample(images, sx, sy), tf.shape(images))
