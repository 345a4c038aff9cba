"""Splits the host CPU into 2 logical devices before TensorFlow initialises, so MirroredStrategy tests
run across two real replicas on a CPU-only machine. Single-device code still runs on /CPU:0."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
