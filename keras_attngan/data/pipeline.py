"""build_dataset: source -> shuffled, repeated, converted float32 NHWC batches in [-1, 1].

Order of operations: items (uint8 arrays, file names or tfds images) are shuffled and repeated while still
small, then decoded, converted to the wanted channel count, fitted to a square of `resolution`,
scaled to [-1, 1], optionally flipped, batched and prefetched.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_attngan.data import arrays
from keras_attngan.data.sources import FITS, DataError, SourceSpec, check_subset, parse_source
from keras_attngan.utils.console import warn

DEFAULT_SOURCE = "embedded"
_MAX_EMBEDDED_BYTES = 1 << 30  # arrays above this go through a generator instead of a constant
FEW_BATCHES = 10  # a repeated source with fewer images than this many batches gets a warning (check_count)


def check_options(resolution: int, channels: int, batch_size: int = 1, fit: str = "resize", subset: int = 0) -> None:
    """Validates the numeric/string options with one-line DataErrors (before any data is read)."""

    def is_int(v):
        """True for Python/numpy integers but not bools."""
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(resolution) or not 8 <= resolution <= 1024 or resolution & (resolution - 1):
        raise DataError(f"data.resolution={resolution!r} must be a power of two in [8, 1024], e.g. 32 or 256")
    if channels not in (1, 3) or not is_int(channels):
        raise DataError(f"data.channels={channels!r} must be 1 (grayscale) or 3 (RGB)")
    if not is_int(batch_size) or batch_size < 1:
        raise DataError(f"batch_size={batch_size!r} must be a positive integer")
    if fit not in FITS:
        raise DataError(f"data.fit={fit!r} must be one of {', '.join(FITS)}")
    if not is_int(subset) or subset < 0:
        raise DataError(f"data.subset={subset!r} must be 0 (all images) or a positive number of images")


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Converts float [H, W, C] (C in 1..4) to `channels` (1 or 3): alpha dropped, gray repeated, RGB to luma."""
    c = image.shape[-1]
    if c is not None:  # static channel count (arrays, tfds): decide in Python, no tf.cond in the graph
        if c in (2, 4):
            image, c = image[..., : c - 1], c - 1
        if c == channels:
            return image
        if channels == 3:
            return tf.repeat(image, 3, axis=-1)
        return tf.image.rgb_to_grayscale(image)
    has_color = tf.shape(image)[-1] >= 3  # decoded files: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    if channels == 3:
        out = tf.cond(has_color, lambda: image[..., :3], lambda: tf.repeat(image[..., :1], 3, axis=-1))
    else:
        out = tf.cond(has_color, lambda: tf.image.rgb_to_grayscale(image[..., :3]), lambda: image[..., :1])
    out.set_shape([None, None, channels])
    return out


def _dims(image: tf.Tensor) -> tuple:
    """Height and width as Python ints when static, else as scalar tensors."""
    static, dynamic = image.shape, tf.shape(image)
    return tuple(static[i] if static[i] is not None else dynamic[i] for i in (0, 1))


def fit_square(image: tf.Tensor, resolution: int, fit: str) -> tf.Tensor:
    """Center-crops float [H, W, C] to a square, then resizes or zero-pads it to resolution x resolution.

    fit="pad" pads (black, symmetric, extra pixel at bottom/right) only when the square is smaller than
    `resolution`, so pixels stay exact (Fashion-MNIST 28 -> 32); larger squares are resized as for
    fit="resize". fit="crop" cuts the central resolution x resolution window (no resizing; smaller squares
    are padded). Resizing is bilinear with antialiasing, which averages properly when downscaling.
    """
    h, w = _dims(image)
    side = tf.minimum(h, w) if tf.is_tensor(h) or tf.is_tensor(w) else min(h, w)
    if fit == "crop":  # the center window of the resolution: no scaling at all (smaller images are padded)
        side = tf.minimum(side, resolution) if tf.is_tensor(side) else min(side, resolution)
        fit = "pad"
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side, :]

    def resize():
        """Resizes the square to resolution (antialiased bilinear)."""
        return tf.image.resize(image, [resolution, resolution], method="bilinear", antialias=True)

    def pad():
        """Pads the square symmetrically with black to resolution."""
        extra = resolution - side
        before = extra // 2
        return tf.pad(image, [[before, extra - before], [before, extra - before], [0, 0]])

    if not tf.is_tensor(side):
        if side == resolution:
            out = image
        else:
            out = pad() if fit == "pad" and side < resolution else resize()
    else:
        out = tf.cond(
            tf.equal(side, resolution),
            lambda: image,
            (lambda: tf.cond(side < resolution, pad, resize)) if fit == "pad" else resize,
        )
    out.set_shape([resolution, resolution, image.shape[-1]])
    return out


def prepare_image(image: tf.Tensor, resolution: int, channels: int, fit: str) -> tf.Tensor:
    """uint8 [H, W, C] -> float32 [resolution, resolution, channels] in [-1, 1] (0 -> -1, 255 -> +1)."""
    x = tf.cast(image, tf.float32)
    x = to_channels(x, channels)
    x = fit_square(x, resolution, fit)
    return tf.clip_by_value(x / 127.5 - 1.0, -1.0, 1.0)  # clip guards against resize overshoot/rounding


def _array_dataset(images: np.ndarray) -> tf.data.Dataset:
    """Dataset of the rows of a uint8 array; a generator for arrays too big to embed as one tensor."""
    if images.nbytes < _MAX_EMBEDDED_BYTES:
        return tf.data.Dataset.from_tensor_slices(images)
    # Beyond ~2 GB a graph constant cannot be serialized (tensor protos are limited to 2 GB).
    return tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec(images.shape[1:], tf.uint8)
    )


def open_items(spec: SourceSpec, *, subset: int, skip_bad: bool, shuffle: bool, seed: int, tfds_data_dir,
               labels: bool = False, input_context=None):
    """Opens a source as (dataset of small items, decode fn item -> uint8 image, item count or None).

    Items are uint8 images for array and tfds sources and file names for folders, so shuffling and
    repeating them before decoding stays cheap; with ``labels``, (item, label) pairs. Arrays are handled here;
    other kinds open themselves (:class:`~keras_attngan.data.sources.SourceKind`).
    """
    kind = spec.reader
    if kind.in_memory:
        images = kind.load_array(spec)
        check_subset(subset, len(images), spec)
        images = images[:subset] if subset else images
        # uint8 in the dataset; the float conversion happens per element, keeping memory at 1 byte/pixel.
        items = _array_dataset(images)
        if labels:
            ids = kind.load_labels(spec)[0][: len(images)].astype(np.int32)
            items = tf.data.Dataset.zip((items, tf.data.Dataset.from_tensor_slices(ids)))
        return items, (lambda x: x), len(images)
    return kind.open(spec, subset=subset, skip_bad=skip_bad, shuffle=shuffle, seed=seed, tfds_data_dir=tfds_data_dir,
                     labels=labels, input_context=input_context)


def label_info(source: str, tfds_data_dir: str | None = None):
    """The :class:`~keras_attngan.data.sources.LabelInfo` (class count and names) of a labelled source; a
    source without labels is refused in one line."""
    spec = parse_source(source)
    return spec.reader.label_info(spec, tfds_data_dir)


def class_frequencies(source: str, tfds_data_dir: str | None = None, subset: int = 0):
    """The fraction of a labelled source's images (its first ``subset`` when > 0) in each class [num_classes]:
    the distribution a class-conditional model draws its fakes' labels from."""
    spec = parse_source(source)
    counts = np.asarray(spec.reader.class_counts(spec, tfds_data_dir, subset), np.float64)
    if counts.sum() <= 0:
        raise DataError(f"source {source!r} has no labelled images; check data.source and data.subset")
    return counts / counts.sum()


def file_shards(source: str, tfds_data_dir: str | None = None) -> int:
    """How many record files the source is sharded into (0 for sources not read by file)."""
    spec = parse_source(source)
    return spec.reader.file_shards(spec, tfds_data_dir)


def check_count(
    count: int | None, batch_size: int, spec: SourceSpec, *, subset: int, repeat: bool, drop_remainder: bool
) -> None:
    """Refuses sources too small for one batch and warns about sources with few batches.

    Rule: a source that must fill whole batches (repeat=True for training, or drop_remainder=True) with
    fewer than `batch_size` images raises a DataError, since every batch would hold the same images
    several times (or, without repeat, there would be no batch at all). A repeated source with fewer
    than FEW_BATCHES (10) batches' worth of images trains, but logs one warning: batches straddling
    the end of the shuffled source repeat images and the discriminator sees each image very often.
    Finite, partial-batch reads (repeat=False, drop_remainder=False: evaluation, load_array) of any
    size pass silently. Unknown counts (some tfds sources) are not checked.
    """
    if count is None or not (repeat or drop_remainder):
        return
    more = f"raise data.subset={subset} or use more images" if subset else "use a source with more images"
    if count < batch_size:
        consequence = "every batch would repeat images" if repeat else "drop_remainder=True leaves no batch"
        raise DataError(
            f"data source {spec.raw!r} has {count} image(s), fewer than batch_size={batch_size}, so {consequence}; "
            f"lower --config.train.batch_size to at most {count} or {more}"
        )
    if repeat and count < FEW_BATCHES * batch_size:
        warn(
            f"data source {spec.raw!r} has only {count} images for batch_size={batch_size} (fewer than {FEW_BATCHES} "
            f"batches' worth): each image comes back every {count / batch_size:.1f} steps and may appear twice in a "
            f"batch that spans two passes (D may overfit); {more} or lower --config.train.batch_size if that is not "
            "intended"
        )


def build_dataset(
    source: str,
    resolution: int,
    channels: int,
    batch_size: int,
    *,
    xflip: bool = False,
    subset: int = 0,
    fit: str = "resize",
    skip_bad: bool = False,
    shuffle: bool = True,
    repeat: bool = True,
    seed: int = 0,
    drop_remainder: bool = True,
    tfds_data_dir: str | None = None,
    labels: bool = False,
    input_context=None,
) -> tf.data.Dataset:
    """Returns a tf.data.Dataset of float32 batches [batch_size, resolution, resolution, channels] in [-1, 1];
    with ``labels``, (images, int32 labels [batch_size]) (the source must have labels: :func:`label_info`).
    ``input_context`` (sharded record sources) reads only this input pipeline's files.

    See keras_attngan.data.sources for the source string forms (default "embedded"). subset=N uses the
    first N images (deterministic order); xflip mirrors each image with probability 1/2 (stateless, from
    `seed`); shuffle uses a seeded buffer covering the whole source (10k images for tfds). Bad data raises
    DataError (a ValueError) naming the file and the fix; skip_bad=True skips undecodable image files.
    Sources smaller than one batch are refused and sources under 10 batches warned about (check_count).
    """
    check_options(resolution, channels, batch_size, fit, subset)
    spec = parse_source(source)
    items, decode, count = open_items(
        spec, subset=subset, skip_bad=skip_bad, shuffle=shuffle, seed=seed, tfds_data_dir=tfds_data_dir,
        labels=labels, input_context=input_context,
    )
    check_count(count, batch_size, spec, subset=subset, repeat=repeat, drop_remainder=drop_remainder)
    if shuffle:
        cap = spec.reader.shuffle_buffer_max
        buffer = count if cap is None else min(count or cap, cap)
        items = items.shuffle(max(1, buffer), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        items = items.repeat()

    def convert(index, item):
        """Decodes, converts and (maybe) flips one element; index seeds the stateless flip."""
        item, label = item if labels else (item, None)
        x = prepare_image(decode(item), resolution, channels, fit)
        if xflip:
            x = tf.image.stateless_random_flip_left_right(x, seed=tf.stack([tf.cast(seed, tf.int64), index]))
        return (x, label) if labels else x

    ds = items.enumerate().map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def count_images(source: str, subset: int = 0, *, tfds_data_dir: str | None = None) -> int | None:
    """Number of images build_dataset would cycle through (subset if given and valid).

    Cheap: arrays are read (they are small), folders are only listed (bad files are still counted),
    tfds uses the dataset metadata; returns None if tfds does not know the size.
    """
    check_options(8, 1, 1, "resize", subset)
    spec = parse_source(source)
    total = spec.reader.count(spec, tfds_data_dir)
    check_subset(subset, total, spec)
    return subset or total


def load_array(
    source: str,
    resolution: int | None = None,
    channels: int | None = None,
    *,
    fit: str = "pad",
    subset: int = 0,
    skip_bad: bool = False,
    tfds_data_dir: str | None = None,
) -> np.ndarray:
    """Loads a whole source into memory as uint8 [N, H, W, C] in source order (e.g. real images for FID).

    resolution=None returns the stored pixels unchanged (array sources only; channels must be None).
    With a resolution, images go through the same crop/pad/resize and channel conversion as training
    and are rounded back to uint8 (exact for fit="pad" without resizing); channels=None keeps the
    array's own channel count (alpha dropped) and means RGB for folder and tfds sources.
    """
    spec = parse_source(source)
    if resolution is None:
        if channels is not None or not spec.in_memory:
            raise DataError(
                f"load_array({source!r}): resolution=None (raw pixels) needs an array source and channels=None; "
                "pass a resolution"
            )
        check_options(8, 1, 1, "resize", subset)
        images = arrays.load_array_source(spec)
        check_subset(subset, len(images), spec)
        return images[:subset] if subset else images
    if channels is None:
        native = arrays.load_array_source(spec).shape[-1] if spec.in_memory else 3
        channels = 1 if native in (1, 2) else 3
    ds = build_dataset(
        source, resolution, channels, 256, fit=fit, subset=subset, skip_bad=skip_bad, shuffle=False,
        repeat=False, drop_remainder=False, tfds_data_dir=tfds_data_dir,
    )
    batches = [np.round((b + 1.0) * 127.5) for b in ds.as_numpy_iterator()]
    return np.clip(np.concatenate(batches), 0, 255).astype(np.uint8)
