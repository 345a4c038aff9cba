"""Channel widths of StyleGAN2 from fmap_base / fmap_max, shared by G and D."""

import math


def check_resolution(resolution):
    r = int(resolution)
    if r < 8 or r > 1024 or r & (r - 1):
        raise ValueError(f"resolution must be a power of two from 8 to 1024, got {resolution}")
    return r


def num_channels(resolution, fmap_base, fmap_max, fmap_min=1):
    """Feature maps at a resolution: 2 * fmap_base / res, clipped (StyleGAN2's nf(log2(res) - 1))."""
    return int(min(max(2 * fmap_base // resolution, fmap_min), fmap_max))


def block_resolutions(resolution):
    """8, 16, ..., resolution (the blocks above the 4x4 base)."""
    return [2 ** i for i in range(3, int(math.log2(check_resolution(resolution))) + 1)]


def num_ws(resolution):
    """Number of per-layer w vectors the synthesis network consumes: 2 log2(R) - 2."""
    return 2 * int(math.log2(check_resolution(resolution))) - 2
