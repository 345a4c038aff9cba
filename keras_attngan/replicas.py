"""Cross-replica helpers of the training step (identity on one device). Collectives cannot go inside a
per-replica XLA function (docs/architecture.md): call these outside the compiled forward passes."""

import tensorflow as tf


def replica_scale():
    """1 / replicas: gradients are all-reduced with SUM, so per-replica means are scaled inside the tape."""
    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


def gather(x):
    """The global batch's values of a per-replica tensor, in replica order (differentiable)."""
    ctx = tf.distribute.get_replica_context()
    return x if ctx is None or ctx.num_replicas_in_sync == 1 else ctx.all_gather(x, axis=0)


def global_mean(x):
    """Mean of a per-replica statistic over replicas (equal per-replica batches: the global mean)."""
    ctx = tf.distribute.get_replica_context()
    x = tf.stop_gradient(x)
    return x if ctx is None or ctx.num_replicas_in_sync == 1 else ctx.all_reduce("MEAN", x)
