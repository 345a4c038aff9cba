"""Class-conditional layouts of the generation modes (``generate_main.py --classes``): one row (or block)
per class, each showing the same seeds drawn for that class.

A conditional source (``source.num_classes`` K > 0) needs a class per image. With ``classes`` given, every
mode is repeated per class: grid rows = classes (columns = seeds); truncation rows = the seeds of each class
in turn, truncated towards that class's own mean w; interpolation between consecutive seeds within each class
(``between="seeds"``), or at each seed between consecutive classes (``between="classes"``: the ws of the
seed under the two classes, lerped, since a class blend is only defined in w); style mixing one table per
class. Without ``classes``, image / row / seed i gets class i mod K (:func:`default_labels`).
"""

import numpy as np

from keras_attngan.generation.modes import (MAX_IMAGES, animation_frames, interpolation_frames, parse_seeds,
                                            seed_grid, style_mixing_grid, truncation_sweep)
from keras_attngan.generation.sources import describe_classes
from keras_attngan.utils.images import make_grid


def parse_classes(text):
    """'0,3,7' / '0-9' -> [0, 3, 7]; ValueError naming the bad part (range checks need the model:
    :func:`check_classes`)."""
    try:
        return parse_seeds(text, limit=MAX_IMAGES)
    except ValueError:
        raise ValueError(f"bad --classes {text!r}: use class ids such as '0,3,7' or '0-9' (non-negative "
                         "integers)") from None


def check_classes(source, classes):
    """``classes`` (or None) checked against ``source``: an unconditional model refuses them, an id
    outside [0, K) is refused naming the valid range (and the class names when known)."""
    if classes is None:
        return None
    if not source.num_classes:
        raise ValueError("--classes needs a class-conditional model (model.num_classes > 0): this generator is "
                         "unconditional, drop --classes")
    bad = [c for c in classes if c >= source.num_classes]
    if bad:
        raise ValueError(f"--classes: class {bad[0]} is out of range: this model has {source.num_classes} classes, "
                         f"{describe_classes(source.num_classes, source.class_names)}")
    return list(classes)


def default_labels(source, n):
    """Labels of n images / rows / seeds of a conditional source without --classes: i -> i mod K (None for
    an unconditional source)."""
    return (np.arange(n) % source.num_classes).astype(np.int32) if source.num_classes else None


def flat_classes(seeds, classes):
    """(seeds of every class in turn, the class of each): len(classes) * len(seeds) rows."""
    return list(seeds) * len(classes), np.repeat(np.asarray(classes, np.int32), len(seeds))


def class_grid(source, seeds, classes, psi=1.0):
    """Rows = classes, columns = seeds."""
    flat, labels = flat_classes(seeds, classes)
    return seed_grid(source, flat, psi, cols=len(seeds), labels=labels)


def class_truncation(source, seeds, classes, psis):
    """Rows = the seeds of each class in turn, columns = psi values (towards each class's mean w)."""
    flat, labels = flat_classes(seeds, classes)
    return truncation_sweep(source, flat, psis, labels=labels)


def class_interpolation(source, seeds, classes, steps, space="z", psi=1.0, between="seeds"):
    """Segments [paths, len(path) - 1, steps, H, W, C]: ``between="seeds"``, one path per class through
    the seeds (slerp in z or lerp in w, the class fixed); ``"classes"``, one path per seed through the
    classes (lerp in w of the seed's ws under consecutive classes; ``space`` plays no part)."""
    if between == "seeds":
        paths = [(list(seeds), [c] * len(seeds), space) for c in classes]
    elif between == "classes":
        paths = [([s] * len(classes), list(classes), "w") for s in seeds]
    else:
        raise ValueError(f"--interp_between must be 'seeds' or 'classes', got {between!r}")
    return np.stack([interpolation_frames(source, s, steps, sp, psi, labels=l) for s, l, sp in paths])


def stacked_animation(groups):
    """[paths, segments, steps, H, W, C] -> frames [F, paths * H, W, C]: each path's animation
    (:func:`~keras_attngan.generation.modes.animation_frames`), the paths one above the other."""
    return np.concatenate([animation_frames(g) for g in groups], axis=1)


def class_mixing(source, seeds, col_seeds, classes, psi=1.0, crossover=4):
    """One style-mixing table per class (rows and columns drawn for that class), one below the other."""
    return np.concatenate([style_mixing_grid(source, seeds, col_seeds, psi, crossover, [c] * len(seeds),
                                             [c] * len(col_seeds)) for c in classes], axis=0)


def default_mixing(source, seeds, col_seeds, psi=1.0, crossover=4):
    """Style mixing of a conditional source without --classes: row seed i and column seed j have classes
    i mod K and j mod K (so a cell mixes the coarse styles of one class with the fine styles of another)."""
    return style_mixing_grid(source, seeds, col_seeds, psi, crossover, default_labels(source, len(seeds)),
                             default_labels(source, len(col_seeds)))


def make_rows(segments, steps):
    """[..., steps, H, W, C] segments -> one grid with a row per segment."""
    return make_grid(segments.reshape((-1,) + segments.shape[-3:]), cols=steps)
