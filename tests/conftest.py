"""Splits the host CPU into 2 logical devices before TensorFlow initialises, so MirroredStrategy tests
run across two real replicas on a CPU-only machine. Single-device code still runs on /CPU:0."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_attngan.training.strategy import split_cpu  # noqa: E402

split_cpu(2)
