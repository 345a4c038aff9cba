"""SavedModel export of the EMA generator for TF Serving.

Signatures (all with the fixed 'const' noise, so equal inputs give equal images):
  serving_default: z [batch, z_dim] float32, psi [batch] float32 -> images uint8 [batch, H, W, C]
  from_seeds:      seeds [batch] int64 (z = N(0, I) drawn statelessly from each seed) -> images
  mapping:         z [batch, z_dim] float32 -> ws [batch, num_ws, w_dim]
  synthesis:       ws [batch, num_ws, w_dim] float32 -> images uint8
psi is per example so TF Serving's REST "instances" rows (one z and one psi each) work.
"""

import os
import re

import keras
import tensorflow as tf

from keras_attngan.rng import ALG


def to_uint8_tensor(images):
    """[-1, 1] float -> uint8 as NVlabs (x * 127.5 + 128, clipped)."""
    return tf.cast(tf.clip_by_value(images * 127.5 + 128.0, 0.0, 255.0), tf.uint8)


def latents_from_seeds(seeds, z_dim):
    """One N(0, I) latent per int64 seed, independent of the batch it comes in."""
    return tf.map_fn(lambda s: tf.random.stateless_normal([z_dim], tf.stack([s, tf.zeros_like(s)]), alg=ALG),
                     tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)


def build_archive(generator):
    """A ``keras.export.ExportArchive`` with the four signatures for ``generator``."""
    z_dim, num_ws, w_dim = generator.z_dim, generator.num_ws, generator.mapping.w_dim

    def check(tensor, last_dims, what):
        # A clear message instead of a matmul shape error deep inside the graph.
        shape = tf.shape(tensor)
        for axis, size in enumerate(last_dims, start=1):
            tf.debugging.assert_equal(shape[axis], size, message=f"{what}: wrong shape, see saved_model_cli")
        return tensor

    def images(z, psi):
        z = check(z, [z_dim], f"z must be float32 [batch, {z_dim}]")
        tf.debugging.assert_equal(tf.shape(psi)[0], tf.shape(z)[0], message="psi must be float32 [batch], one per z")
        ws = generator.mapping.truncate(generator.map(z), psi)
        return {"images": to_uint8_tensor(generator.synthesis(ws, noise_mode="const"))}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", images, input_signature=[
        tf.TensorSpec([None, z_dim], tf.float32, name="z"), tf.TensorSpec([None], tf.float32, name="psi")])
    archive.add_endpoint(
        "from_seeds", lambda seeds: images(latents_from_seeds(seeds, z_dim), tf.ones(tf.shape(seeds), tf.float32)),
        input_signature=[tf.TensorSpec([None], tf.int64, name="seeds")])
    archive.add_endpoint("mapping", lambda z: {"ws": generator.map(check(z, [z_dim], f"z must be [batch, {z_dim}]"))},
                         input_signature=[tf.TensorSpec([None, z_dim], tf.float32, name="z")])
    archive.add_endpoint(
        "synthesis", lambda ws: {"images": to_uint8_tensor(generator.synthesis(
            check(ws, [num_ws, w_dim], f"ws must be float32 [batch, {num_ws}, {w_dim}]"), noise_mode="const"))},
        input_signature=[tf.TensorSpec([None, num_ws, w_dim], tf.float32, name="ws")])
    return archive


def next_version_dir(base):
    """``base/<n>`` with n one more than the largest integer version already there (TF Serving layout)."""
    versions = [int(d) for d in (os.listdir(base) if os.path.isdir(base) else []) if re.fullmatch(r"[0-9]+", d)]
    return os.path.join(base, str(max(versions, default=0) + 1))


def export_generator(generator, base_dir):
    """Writes the SavedModel to the next free version under ``base_dir``; returns its path."""
    path = next_version_dir(base_dir)
    build_archive(generator).write_out(path, verbose=False)
    return path
