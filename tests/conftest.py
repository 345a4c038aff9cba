"""Splits the host CPU into 2 logical devices before TensorFlow initialises, so MirroredStrategy tests
run across two real replicas on a CPU-only machine. Single-device code still runs on /CPU:0.

Tests run with ``KERAS_ATTNGAN_FAST_START=1`` (TensorFlow's graph optimizer off, in this process and in the
entry points the tests start): the suite's time is mostly spent building the graphs of tiny models, not
running them. ``KERAS_ATTNGAN_FAST_START=0 python -m pytest tests`` runs it with the optimizer on."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_ATTNGAN_FAST_START", "1")

import tensorflow as tf  # noqa: E402

from keras_attngan.cli import fast_start  # noqa: E402
from keras_attngan.training.strategy import split_cpu  # noqa: E402

fast_start(tf)
split_cpu(2)
