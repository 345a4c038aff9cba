"""Generation modes over a source (``sources.KerasSource`` or ``sources.SavedModelSource``).

Every function returns uint8 arrays ([H, W, C] grids or [N, H, W, C] frames); writing files is the
caller's business (``keras_attngan.utils.images.save_png``, :func:`save_gif`). With a class-conditional
source every function takes ``labels``: one class id per seed (``row_labels``/``col_labels`` for style
mixing); truncation then moves towards each class's own mean w. ``conditional.py`` lays out one row (or
block) per class.
"""

import io

import numpy as np
import tensorflow as tf

from keras_attngan.utils.interpolation import lerp, slerp
from keras_attngan.utils.images import make_grid


# The most images generate_main.py puts in one file (and seeds one list may name): 10,000 images are
# already a 100 x 100 grid (2 GB in memory at 256x256 RGB); larger sets are made in several runs.
MAX_IMAGES = 10_000


def parse_seeds(text, limit=MAX_IMAGES):
    """'0-7' / '1,5,9' / '0-3,10' -> [0, 1, ...]; ValueError naming the bad part. Seeds are non-negative
    (as the SavedModel's ``from_seeds`` requires); more than ``limit`` are refused before any is listed."""
    seeds, count = [], 0
    for part in (p.strip() for p in str(text).split(",")):
        m = part.split("-")
        try:
            if len(m) == 2 and m[0] and m[1]:
                lo, hi = int(m[0]), int(m[1])
                if hi < lo:
                    raise ValueError
                count += hi - lo + 1
                if count <= limit:
                    seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
                count += 1
        except ValueError:
            raise ValueError(f"bad seed list {text!r} at {part!r}: use e.g. '0-7' or '1,5,9' "
                             "(non-negative integers)") from None
    if count > limit:
        raise ValueError(f"seed list {text!r} names {count} seeds, more than {limit}: split it into several "
                         f"runs, e.g. '0-{limit - 1}' then '{limit}-{2 * limit - 1}'")
    if not seeds or min(seeds) < 0:
        raise ValueError(f"bad seed list {text!r}: use e.g. '0-7' or '1,5,9' (non-negative integers)")
    return seeds


def parse_positions(text):
    """'8,8;16,24' -> [(8, 8), (16, 24)]: (x, y) image pixels; ValueError naming the bad part."""
    out = []
    for part in (p for p in str(text).split(";") if p.strip()):
        xy = part.split(",")
        try:
            if len(xy) != 2:
                raise ValueError
            out.append((int(xy[0]), int(xy[1])))
        except ValueError:
            raise ValueError(f"bad --positions {text!r} at {part!r}: use 'x,y;x,y' in image pixels") from None
    if not out:
        raise ValueError(f"bad --positions {text!r}: use 'x,y;x,y' in image pixels")
    return out


def parse_floats(text, what):
    """'1,0.7,0.5' -> [1.0, 0.7, 0.5]; ValueError naming ``what`` for a bad, empty or non-finite list."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not np.isfinite(values).all():
        raise ValueError(f"bad {what} {text!r}: use comma-separated finite numbers, e.g. '1,0.7,0.5'")
    return values


def _per_row(labels, n, repeat=1):
    """{} (unconditional) or {"labels": each of the n labels repeated ``repeat`` times}."""
    return {} if labels is None else {"labels": np.repeat(np.broadcast_to(np.asarray(labels), [n]), repeat)}


def seed_grid(source, seeds, psi=1.0, cols=None, labels=None):
    """One image per seed (the ``from_seeds`` latents), as a grid."""
    return make_grid(source.images(source.latents(seeds), psi, **_per_row(labels, len(seeds))), cols)


def truncation_sweep(source, seeds, psis, labels=None):
    """Rows = seeds, columns = psi values (the truncation trick, Karras et al. 2019 Fig. 8 layout)."""
    z = np.repeat(source.latents(seeds), len(psis), axis=0)
    psi = np.tile(np.asarray(psis, np.float32), len(seeds))
    return make_grid(source.images(z, psi, **_per_row(labels, len(seeds), len(psis))), cols=len(psis))


def interpolation_frames(source, seeds, steps, space="z", psi=1.0, labels=None):
    """Frames [len(seeds) - 1, steps, H, W, C] along seed0 -> seed1 -> ...: slerp in z (then map and
    truncate) or lerp in w (truncation is affine, so lerp of truncated ws = truncation of the lerp).

    ``labels`` (conditional): the class of each seed along the path. Between two seeds of one class the
    class stays fixed; between two classes (e.g. one seed repeated with labels 0, 3: a class
    interpolation) the two ends' ws are lerped, each mapped and truncated with its own class (in z: the
    slerped z mapped under both classes, then lerped). A conditional mapping takes the label one-hot,
    so a blend of classes is only defined in w."""
    if len(seeds) < 2 or steps < 2:
        raise ValueError(f"interpolation needs at least 2 seeds and 2 steps, got {len(seeds)} and {steps}")
    if space not in ("z", "w"):
        raise ValueError(f"interp_space must be 'z' or 'w', got {space!r}")
    z = source.latents(seeds)
    t = tf.constant(np.tile(np.linspace(0.0, 1.0, steps, dtype=np.float32), len(seeds) - 1))
    a, b = np.repeat(z[:-1], steps, axis=0), np.repeat(z[1:], steps, axis=0)
    la, lb = ({}, {}) if labels is None else (_per_row(labels[:-1], len(seeds) - 1, steps),
                                              _per_row(labels[1:], len(seeds) - 1, steps))
    if space == "z" and (labels is None or np.array_equal(la["labels"], lb["labels"])):
        images = source.images(slerp(tf.constant(a), tf.constant(b), t).numpy(), psi, **la)
    else:
        if space == "z":
            a = b = slerp(tf.constant(a), tf.constant(b), t).numpy()
        wa, wb = source.truncate(source.map(a, **la), psi, **la), source.truncate(source.map(b, **lb), psi, **lb)
        images = source.synthesize(lerp(tf.constant(wa), tf.constant(wb), t).numpy())
    return images.reshape((len(seeds) - 1, steps) + images.shape[1:])


def animation_frames(segments):
    """[S, T, ...] segments -> S*(T-1)+1 frames (each segment's last frame is the next one's first)."""
    return np.concatenate([segments[:, :-1].reshape((-1,) + segments.shape[2:]), segments[-1, -1:]], axis=0)


def mixed_ws(coarse_ws, fine_ws, crossover):
    """Layers [0, crossover) from ``coarse_ws``, [crossover, num_ws) from ``fine_ws`` (StyleGAN's style mixing)."""
    return np.concatenate([coarse_ws[:, :crossover], fine_ws[:, crossover:]], axis=1)


def style_mixing_grid(source, row_seeds, col_seeds, psi=1.0, crossover=4, row_labels=None, col_labels=None):
    """StyleGAN's style-mixing figure (Karras et al. 2019, Fig. 3): the top row shows the column seeds
    (they give the fine styles, ws from ``crossover`` on), the left column the row seeds (coarse styles,
    ws before ``crossover``); cell (i, j) mixes row seed i with column seed j. The top-left cell is black.
    Conditional: each row seed's ws are mapped (and truncated) with its ``row_labels`` class, each column's
    with its ``col_labels`` class."""
    if not 1 <= crossover < source.num_ws:
        raise ValueError(f"crossover must be in [1, {source.num_ws - 1}] for this generator ({source.num_ws} ws), "
                         f"got {crossover}")
    rl, cl = _per_row(row_labels, len(row_seeds)), _per_row(col_labels, len(col_seeds))
    row_ws = source.truncate(source.map(source.latents(row_seeds), **rl), psi, **rl)
    col_ws = source.truncate(source.map(source.latents(col_seeds), **cl), psi, **cl)
    r, c = len(row_seeds), len(col_seeds)
    mixed = mixed_ws(np.repeat(row_ws, c, axis=0), np.tile(col_ws, (r, 1, 1)), crossover)
    images = source.synthesize(np.concatenate([col_ws, row_ws, mixed], axis=0))
    col_img, row_img, cells = images[:c], images[c:c + r], images[c + r:]
    table = [np.zeros_like(images[0])] + list(col_img)
    for i in range(r):
        table += [row_img[i]] + list(cells[i * c:(i + 1) * c])
    return make_grid(np.stack(table), cols=c + 1)


def save_gif(path, frames, duration_ms=80):
    """uint8 frames [N, H, W, C] -> an endlessly looping GIF (Pillow). Identical consecutive frames are
    merged by the encoder (their durations add up)."""
    from PIL import Image

    frames = np.asarray(frames, np.uint8)
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(duration_ms), loop=0)
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0] if "/" in path else ".")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buf.getvalue())
