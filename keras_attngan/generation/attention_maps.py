"""Self-attention maps of the generator's SAN layer (Yu et al. 2021, Fig. 5 and Fig. 13-16).

SAN computes, for every position (i, j), a weight kernel w in R^{s x s x c} over the s x s window
around it (Eq. 4-5; ``SANAttention.attention_kernel``). The attention map of a query position is the
norm over channels of w at each window offset, placed at the window's positions of the feature map
(zero elsewhere), then up-sampled to the image and drawn as a heat overlay with the query marked.
"""

import numpy as np
import tensorflow as tf

from keras_attngan.export import to_uint8_tensor
from keras_attngan.layers.attention.san import SANAttention, window_offsets
from keras_attngan.utils.images import make_grid


def find_san_block(generator):
    """The synthesis block whose convolution SAN replaces; ValueError if there is none."""
    for block in generator.synthesis.blocks:
        if block.attention:
            if not isinstance(block.conv1, SANAttention):
                raise ValueError(f"attention maps need SAN attention; this generator has "
                                 f"{block.attention.get('type')!r} at {block.resolution}x{block.resolution}")
            return block
    raise ValueError("attention maps need a generator with SAN attention (model.g_attention.type='san'); "
                     "this one has no attention layer")


def attention_input(generator, ws, with_images=False):
    """The input of the attention layer for ws [B, num_ws, w_dim] with the fixed ('const') noise: the
    ``conv1_input`` feature of its synthesis block (the layer replaces conv1). With ``with_images``,
    ``(images, input)`` of that same pass."""
    block = next((b for b in generator.synthesis.blocks if b.attention), None)
    if block is None:
        raise ValueError("this generator has no attention layer")
    images, inputs = generator.synthesis(tf.convert_to_tensor(ws, tf.float32), noise_mode="const",
                                         return_features="conv1_input")
    return (images, inputs[block.resolution]) if with_images else inputs[block.resolution]


def kernel_norm_maps(layer, x, positions):
    """Attention maps [B, P, H, W] at the feature resolution for query ``positions`` [(row, col), ...]:
    map[b, p, i + dm, j + dn] = || w_b(i, j)[dm, dn, :] ||_2 over the kernel channels (the norm the paper
    visualises), for the window offsets (dm, dn) of ``window_offsets(s)`` that fall inside the map; 0
    outside the s x s window."""
    norms = tf.norm(layer.attention_kernel(x), axis=-1).numpy()  # [B, H, W, s*s]
    b, h, w, _ = norms.shape
    s = layer.patch_size
    offsets = window_offsets(s)
    maps = np.zeros((b, len(positions), h, w), np.float32)
    for p, (i, j) in enumerate(positions):
        if not (0 <= i < h and 0 <= j < w):
            raise ValueError(f"position {(i, j)} is outside the {h}x{w} attention feature map")
        for m, dm in enumerate(offsets):
            for n, dn in enumerate(offsets):
                if 0 <= i + dm < h and 0 <= j + dn < w:
                    maps[:, p, i + dm, j + dn] = norms[:, i, j, m * s + n]
    return maps


def pixel_to_feature(xy, image_size, feature_size):
    """Image pixel (x, y) -> (row, col) of the feature map it falls in."""
    x, y = xy
    if not (0 <= x < image_size and 0 <= y < image_size):
        raise ValueError(f"position x={x}, y={y} is outside the {image_size}x{image_size} image")
    return y * feature_size // image_size, x * feature_size // image_size


def heat_overlay(image, amap, xy=None, alpha=0.65):
    """uint8 image [R, R, C] + a map [h, w] -> uint8 RGB [R, R, 3]: the map bilinearly up-sampled, scaled
    to [0, 1] by its maximum, coloured black-red-yellow-white and blended in with opacity alpha * value;
    ``xy`` (pixel x, y) is marked with a cyan cross."""
    r = image.shape[0]
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    v = tf.image.resize(np.asarray(amap, np.float32)[..., None], [r, r], method="bilinear").numpy()
    v = np.clip(v / v.max(), 0, 1) if v.max() > 0 else np.zeros_like(v)
    heat = np.concatenate([np.clip(3 * v - k, 0, 1) for k in range(3)], axis=-1) * 255.0
    out = rgb.astype(np.float32) * (1 - alpha * v) + heat * alpha * v
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if xy is not None:
        mark_position(out, xy)
    return out


def mark_position(image, xy, color=(0, 255, 255)):
    """Draws a small cross at pixel (x, y) in place (arms of max(1, R // 32) pixels)."""
    x, y = xy
    r = image.shape[0]
    arm = max(1, r // 32)
    image[max(0, y - arm):y + arm + 1, x] = color
    image[y, max(0, x - arm):x + arm + 1] = color
    return image


def attention_figure(generator, ws, positions_xy):
    """Rows = the images of ws (with every query position marked), then one heat overlay per position.
    Returns (uint8 RGB grid, maps [B, P, h, w])."""
    block = find_san_block(generator)
    images, x = attention_input(generator, ws, with_images=True)
    images = to_uint8_tensor(images).numpy()
    h = int(x.shape[1])
    positions = [pixel_to_feature(xy, generator.resolution, h) for xy in positions_xy]
    maps = kernel_norm_maps(block.conv1, x, positions)
    cells = []
    for b, image in enumerate(images):
        marked = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image.copy()
        for xy in positions_xy:
            mark_position(marked, xy)
        cells.append(marked)
        cells.extend(heat_overlay(image, maps[b, p], xy) for p, xy in enumerate(positions_xy))
    return make_grid(np.stack(cells), cols=len(positions_xy) + 1), maps
