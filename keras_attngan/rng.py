"""Stateless per-sample random numbers that are the same however the global batch is split.

Every per-sample draw of the training step (latents, style-mixing latents, noise images, path-length
projections, WGAN-GP interpolation weights) is drawn for the *global* batch from a seed that does not
depend on the replica, and each replica keeps its own slice. So replicas draw distinct numbers, a run is
reproducible from its seed, and a step under ``MirroredStrategy``/``TPUStrategy`` computes exactly what
the single-device step computes for the same global batch (tested on 2 logical CPUs). The extra cost is
drawing ``num_replicas`` times more numbers than a replica uses: negligible next to the convolutions.
Outside a replica context (or with one replica) this is a plain stateless draw.

The Philox algorithm is named explicitly and seeds are passed as int32: TF's default algorithm
("auto_select"), and int64 seeds, draw different numbers inside an XLA-compiled function than outside,
which would make XLA and non-XLA runs diverge.
"""

import numpy as np
import tensorflow as tf

ALG = "philox"  # the same numbers with and without XLA, on every device


def fold(seed, index):
    """A new [2] int32 seed from ``seed`` and an integer ``index`` (one stream per call site): the one
    seed-folding function of the package. Philox on the int32 seed of :func:`as_seed`, so it folds
    the same inside and outside XLA."""
    return tf.random.experimental.stateless_fold_in(as_seed(seed), index, alg=ALG)


def maybe_fold(seed, index):
    """:func:`fold`, or None for a None seed (callers whose seed is optional)."""
    return None if seed is None else fold(seed, index)


def as_seed(seed):
    """A [2] int32 seed (the low 32 bits of each element): int64 seeds draw differently under XLA."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype == tf.int32:
        return seed
    low = tf.cast(tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), 0xFFFFFFFF), tf.uint32)
    return tf.bitcast(low, tf.int32)


def _replica():
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None, 1
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def _sliced(draw, shape, seed, dtype):
    shape = tf.convert_to_tensor(shape, tf.int32)
    replica, n = _replica()
    if replica is None:
        return tf.cast(draw(shape, seed), dtype)
    local = shape[0]
    full = draw(tf.concat([[local * n], shape[1:]], axis=0), seed)
    start = tf.cast(replica, tf.int32) * local
    return tf.cast(full[start:start + local], dtype)


def batch_normal(shape, seed, dtype=tf.float32):
    """N(0, 1) of ``shape`` = [local_batch, ...]: this replica's rows of the global draw. Drawn in
    float32 and cast, so bfloat16/float16 runs see the same numbers rounded."""
    return _sliced(lambda s, sd: tf.random.stateless_normal(s, as_seed(sd), alg=ALG), shape, seed, dtype)


def batch_uniform(shape, seed, dtype=tf.float32):
    """U[0, 1) of ``shape`` = [local_batch, ...], sliced from the global draw like :func:`batch_normal`."""
    return _sliced(lambda s, sd: tf.random.stateless_uniform(s, as_seed(sd), alg=ALG), shape, seed, dtype)


def batch_categorical(batch, probs, seed):
    """int32 class ids [batch] drawn with probabilities ``probs`` (a sequence of K floats summing to 1):
    this replica's rows of the global draw, by inverse CDF on :func:`batch_uniform` (Philox, so the same
    labels with and without XLA, on every device)."""
    cdf = np.cumsum(np.asarray(probs, np.float64))
    cdf = tf.constant((cdf / cdf[-1]).astype(np.float32))  # the last entry exactly 1
    u = batch_uniform(tf.reshape(tf.cast(batch, tf.int32), [1]), seed)
    return tf.minimum(tf.searchsorted(cdf, u, side="right", out_type=tf.int32), len(probs) - 1)

