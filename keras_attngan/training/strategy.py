"""The ``tf.distribute`` strategy, XLA and precision settings of a run (``train.strategy``,
``train.xla``, ``train.precision``).

``auto`` picks a TPU when a cluster resolver finds one (a Cloud TPU VM, or ``train.tpu`` naming it),
``MirroredStrategy`` over all GPUs when there is more than one, else the default strategy (one device).
``multi_worker`` trains across several machines (``training/cluster.py``).
The global batch (``train.batch_size``) is split evenly across replicas; see ``GANTrainer`` for how the
per-replica losses are scaled so that the update equals the single-device update.
"""

import importlib.util
import os

import keras
import tensorflow as tf
from absl import logging

from keras_attngan.config import check_precision, check_strategy, parse_xla
from keras_attngan.training.cluster import multi_worker_strategy, num_workers



def split_cpu(n):
    """Splits the host CPU into ``n`` logical devices, so ``MirroredStrategy`` runs ``n`` replicas without
    GPUs (for trying distribution out, and in the tests). Must run before TensorFlow initialises its
    devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def tpu_resolver(tpu=""):
    """A connected TPU cluster resolver, or None when no TPU can be found."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        resolver.cluster_spec()  # raises when there is no TPU behind the resolver
    except (ValueError, RuntimeError, tf.errors.NotFoundError) as e:  # no TPU here
        logging.debug("no TPU found: %s", e)
        return None
    return resolver


def has_tpu_support():
    """Whether this TensorFlow can drive TPUs: the ``tensorflow-tpu`` wheel brings the ``libtpu`` runtime
    (and Cloud TPU VM images ship it); plain ``tensorflow`` (every 2.21 build) has none."""
    return importlib.util.find_spec("libtpu") is not None or os.path.exists("/lib/libtpu.so")


def make_strategy(name="auto", tpu="", devices=None, resolver_fn=tpu_resolver, cluster="tf_config",
                  timeout=0):
    """The strategy for ``train.strategy`` = ``name``; ``devices`` restricts ``mirrored`` (e.g. the
    logical CPUs in tests). ``resolver_fn`` is injectable so the TPU path is testable without a TPU.
    ``cluster``/``timeout``: ``train.cluster``/``train.collective_timeout`` for ``multi_worker``."""
    check_strategy(name)
    if name == "multi_worker":
        return multi_worker_strategy(cluster, timeout)
    if name in ("auto", "tpu"):
        resolver = resolver_fn(tpu)
        if resolver is not None:
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        if name == "tpu" and not has_tpu_support():
            raise ValueError(f"train.strategy='tpu' but no TPU was found and this TensorFlow {tf.__version__} has "
                             "no TPU support (no libtpu): on a Cloud TPU VM install requirements-tpu.txt (tensorflow-tpu 2.19.1, "
                             "docs/scaling.md)")
        if name == "tpu":
            raise ValueError("train.strategy='tpu' but no TPU was found: run on a Cloud TPU VM or set "
                             "train.tpu to the TPU's name or grpc:// address")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        if devices is None and not gpus:  # CPU-only: one replica per logical CPU (see --logical_cpus)
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def use_xla(xla, strategy):
    """Whether the per-replica forward/backward passes are XLA-compiled: ``train.xla`` on/off, or auto
    = on where it speeds training up (GPUs), off on CPU, where XLA compiled the convolutions slower
    (docs/benchmarks.md). Under TPUStrategy every step is compiled by XLA anyway: no inner jit."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return False
    value = parse_xla(xla)
    return bool(tf.config.list_logical_devices("GPU")) if value is None else value


class precision_policy:
    """Context manager: layers constructed inside get the ``keras.mixed_precision`` policy (variables
    stay float32, computation in bfloat16/float16); the previous global policy is restored after."""

    def __init__(self, precision):
        self.precision = check_precision(precision)

    def __enter__(self):
        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision)
        return self

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.previous)
        return False


def check_batch(batch_size, strategy, mbstd_group):
    """The global batch must split evenly across replicas (and each replica's batch into
    minibatch-stddev groups)."""
    n, workers = strategy.num_replicas_in_sync, num_workers(strategy)
    if batch_size % n:
        across = f" ({workers} workers x {n // workers})" if workers > 1 else ""
        raise ValueError(f"train.batch_size={batch_size} must be divisible by the {n} replicas{across} of the "
                         f"strategy; change the batch size")
    local = batch_size // n
    if local % min(mbstd_group, local):
        raise ValueError(f"the per-replica batch {local} (= {batch_size} / {n} replicas) must be divisible "
                         f"by model.mbstd_group={mbstd_group}; change one of them")
    return local
