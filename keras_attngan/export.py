"""SavedModel export of the EMA generator for TF Serving.

Signatures (all with the fixed 'const' noise, so equal inputs give equal images):
  serving_default: z [batch, z_dim] float32, psi [batch] float32 -> images uint8 [batch, H, W, C]
  from_seeds:      seeds [batch] int64 >= 0 (z = N(0, I) drawn statelessly from each seed) -> images
  mapping:         z [batch, z_dim] float32 -> ws [batch, num_ws, w_dim]
  synthesis:       ws [batch, num_ws, w_dim] float32 -> images uint8
A class-conditional generator (``num_classes`` K > 0) takes one more input, ``label`` int32 [batch] (a class
id in [0, K) per row), in ``serving_default``, ``from_seeds`` and ``mapping`` (synthesis takes ws, which hold
the class already); truncation moves towards the label's own mean w. Its ``class_names`` (when known) are
saved as a string variable of the SavedModel. An unconditional export is unchanged (no ``label`` input).
psi is per example so TF Serving's REST "instances" rows (one z and one psi each) work. Besides the
signatures, ``synthesis_float`` (ws -> float32 images in [-1, 1], same noise; a function, not a signature)
lets ``project_main.py`` differentiate through the exported generator.

Every input is checked inside the signature, so a bad request fails with a readable message (TF Serving
answers INVALID_ARGUMENT with it) instead of a shape error deep in the graph or black images: a wrong rank
or shape (a rank-1 z, a scalar psi: send one psi per row), an empty batch, NaN or inf in z, psi or ws, and
negative seeds (refused as ``generate_main.py --seeds`` refuses them, so a seed means the same image in both),
and (conditional) a label that is not [batch] (rows missing) or holds a class id outside [0, K). A request
without the ``label`` input at all is refused before the graph runs (TF Serving: "Missing but required:
{label}"; a Python call of the signature: TypeError naming ``label``).
"""

import os
import re

import keras
import tensorflow as tf

from keras_attngan.rng import ALG


def to_uint8_tensor(images):
    """[-1, 1] float -> uint8 as NVlabs (x * 127.5 + 128, clipped)."""
    return tf.cast(tf.clip_by_value(images * 127.5 + 128.0, 0.0, 255.0), tf.uint8)


def require(tensor, *checks):
    """``tensor``, usable only after each ``(condition(tensor) -> bool scalar, message)`` of ``checks`` held,
    in order; else InvalidArgumentError "assertion failed: [message] [got shape] [...]".

    The asserts gate the tensor (control dependencies) because TF runs independent ops in any order: a
    failing strided slice or matmul downstream would otherwise report first. Each condition sees the
    tensor gated by the checks before it, so a check of dimension 1 runs only once the rank is known good.
    """
    for condition, message in checks:
        ok = condition(tensor)
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, "got shape", tf.shape(tensor)])]):
            tensor = tf.identity(tensor)
    return tensor


def shape_is(dims, batch=None):
    """Condition: a tensor is [batch, *dims] (any batch >= 0 unless ``batch`` is given).

    Decided from the values of tf.shape, padded with -1 to a fixed length, never from the rank: inside a
    signature tf.rank and the static shape are the declared ones (grappler folds Rank to a constant), while
    a request can send another rank (a rank-1 z, a scalar psi)."""
    n = len(dims) + 1

    def condition(t):
        got = tf.concat([tf.shape(t), tf.fill([n + 1], -1)], 0)[:n + 1]  # a shorter shape ends in -1 early
        want = tf.concat([got[:1] if batch is None else tf.reshape(batch, [1]), tf.constant(dims, tf.int32),
                          [-1]], 0)
        return tf.logical_and(tf.reduce_all(tf.equal(got, want)), got[0] >= 0)

    return condition


def _finite(t):
    return tf.reduce_all(tf.math.is_finite(t))


def checked_rows(tensor, name, dims, what):
    """``tensor`` checked to be [batch, *dims] with batch >= 1 and (floats) finite values; ``what`` is the
    message for a wrong shape, e.g. "z must be float32 [batch, 512]"."""
    checks = [(shape_is(dims), what), (lambda t: tf.shape(t)[0] > 0, f"{name} is empty: send at least one row")]
    if tensor.dtype.is_floating:
        checks.append((_finite, f"{name} holds NaN or inf: send finite values"))
    return require(tensor, *checks)


def latents_from_seeds(seeds, z_dim):
    """One N(0, I) latent per int64 seed, independent of the batch it comes in. Seeds must be >= 0
    (InvalidArgumentError otherwise), the seeds ``generate_main.py --seeds`` accepts."""
    seeds = require(tf.cast(seeds, tf.int64), (lambda s: tf.reduce_all(s >= 0),
                                                "seeds must be non-negative integers (0, 1, 2, ...)"))
    return tf.map_fn(lambda s: tf.random.stateless_normal([z_dim], tf.stack([s, tf.zeros_like(s)]), alg=ALG),
                     seeds, fn_output_signature=tf.float32)


def checked_labels(label, rows, num_classes, of="z"):
    """``label`` checked to be int32 [rows] with every id in [0, num_classes) (the class-conditional
    signatures' ``label`` input, one class id per row of ``of``)."""
    return require(label, (shape_is([], batch=rows), f"label must be int32 [batch]: one class id per row of {of}"),
                   (lambda t: tf.reduce_all((t >= 0) & (t < num_classes)),
                    f"label holds a class id outside [0, {num_classes}): send class ids 0 .. {num_classes - 1}"))


def build_archive(generator, class_names=None):
    """A ``keras.export.ExportArchive`` with the four signatures for ``generator`` (and, class-conditional,
    ``class_names`` saved as a string variable when given)."""
    z_dim, num_ws, w_dim = generator.z_dim, generator.num_ws, generator.mapping.w_dim
    num_classes = int(getattr(generator, "num_classes", 0))
    z_shape = f"z must be float32 [batch, {z_dim}]: one row of {z_dim} floats per image"

    def labelled(label, rows, of="z"):  # the keyword arguments that pass a checked label to G, if any
        return {} if label is None else {"labels": checked_labels(label, rows, num_classes, of)}

    def images(z, psi, label=None):
        z = checked_rows(z, "z", [z_dim], z_shape)
        psi = require(psi, (shape_is([], batch=tf.shape(z)[0]), "psi must be float32 [batch]: one psi per row of z"),
                      (_finite, "psi holds NaN or inf: send finite values"))
        labels = labelled(label, tf.shape(z)[0])
        ws = generator.mapping.truncate(generator.map(z, **labels), psi, **labels)
        return {"images": to_uint8_tensor(generator.synthesis(ws, noise_mode="const"))}

    def from_seeds(seeds, label=None):
        seeds = checked_rows(seeds, "seeds", [], "seeds must be int64 [batch]")
        if label is not None:
            label = checked_labels(label, tf.shape(seeds)[0], num_classes, "seeds")
        return images(latents_from_seeds(seeds, z_dim), tf.ones(tf.shape(seeds), tf.float32), label)

    def mapping(z, label=None):
        z = checked_rows(z, "z", [z_dim], z_shape)
        return {"ws": generator.map(z, **labelled(label, tf.shape(z)[0]))}

    def synthesis(ws):
        ws = checked_rows(ws, "ws", [num_ws, w_dim], f"ws must be float32 [batch, {num_ws}, {w_dim}]")
        return {"images": to_uint8_tensor(generator.synthesis(ws, noise_mode="const"))}

    z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
    label = [tf.TensorSpec([None], tf.int32, name="label")] if num_classes else []
    archive = keras.export.ExportArchive()
    archive.track(generator)
    if num_classes:  # the same functions with a required label (a signature has no optional inputs)
        endpoints = (lambda z, psi, label: images(z, psi, label), lambda seeds, label: from_seeds(seeds, label),
                     lambda z, label: mapping(z, label))
    else:
        endpoints = (lambda z, psi: images(z, psi), lambda seeds: from_seeds(seeds), lambda z: mapping(z))
    archive.add_endpoint("serving_default", endpoints[0],
                         input_signature=[z_spec, tf.TensorSpec([None], tf.float32, name="psi")] + label)
    archive.add_endpoint("from_seeds", endpoints[1],
                         input_signature=[tf.TensorSpec([None], tf.int64, name="seeds")] + label)
    archive.add_endpoint("mapping", endpoints[2], input_signature=[z_spec] + label)
    archive.add_endpoint("synthesis", synthesis,
                         input_signature=[tf.TensorSpec([None, num_ws, w_dim], tf.float32, name="ws")])
    if num_classes and class_names:
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for a generator of {num_classes} classes: pass one "
                             "name per class")
        archive._tf_trackable.class_names = tf.Variable([str(n) for n in class_names], trainable=False,
                                                        name="class_names")
    # For project_main.py: the same synthesis with float output in [-1, 1] (differentiable: the signature's
    # uint8 cast has no gradient), saved as a function of the SavedModel, not a signature, so what TF Serving
    # offers stays the four signatures above. Keras' ExportArchive turns every endpoint into a signature, so
    # the function is set on the object it saves (``_tf_trackable``, the same place add_endpoint puts them).
    archive._tf_trackable.synthesis_float = tf.function(
        lambda ws: generator.synthesis(ws, noise_mode="const"),
        input_signature=[tf.TensorSpec([None, num_ws, w_dim], tf.float32, name="ws")])
    return archive


def next_version_dir(base):
    """``base/<n>`` with n one more than the largest integer version already there (TF Serving layout)."""
    # tf.io.gfile: base may be a bucket (gs://...) as well as a local folder.
    names = [d.rstrip("/") for d in tf.io.gfile.listdir(base)] if tf.io.gfile.isdir(base) else []
    versions = [int(d) for d in names if re.fullmatch(r"[0-9]+", d)]
    return os.path.join(base, str(max(versions, default=0) + 1))


def export_generator(generator, base_dir, class_names=None):
    """Writes the SavedModel to the next free version under ``base_dir``; returns its path. ``class_names``:
    a class-conditional run's class names (``data.class_names`` of its config.json), saved with the model."""
    path = next_version_dir(base_dir)
    build_archive(generator, class_names).write_out(path, verbose=False)
    return path
