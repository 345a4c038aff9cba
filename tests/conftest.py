"""Splits the host CPU into 2 logical devices before TensorFlow initialises, so MirroredStrategy tests
run across two real replicas on a CPU-only machine. Single-device code still runs on /CPU:0.

Tests run with ``KERAS_ATTNGAN_FAST_START=1`` (the slow passes of TensorFlow's graph optimizer off, here and in the
entry points the tests start): the suite's time is mostly spent building the graphs of tiny models, not
running them. ``KERAS_ATTNGAN_FAST_START=0 python -m pytest tests`` runs it with the optimizer on."""

import os
import shutil

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_ATTNGAN_FAST_START", "1")
# XLA's CPU backend without LLVM's optimisations: the XLA tests compile about a fifth sooner.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import tensorflow as tf  # noqa: E402

from keras_attngan.cli import fast_start  # noqa: E402
from keras_attngan.training.strategy import split_cpu  # noqa: E402

fast_start(tf)
split_cpu(2)


# ---------------------------------------------------------------------------------------- shared runs
@pytest.fixture(scope="session")
def _finished_run(tmp_path_factory):
    from keras_attngan.training import loop
    from tests.helpers import FAST, tiny_config

    workdir = tmp_path_factory.mktemp("shared") / "run"
    loop.train(tiny_config(8, **FAST), str(workdir), verbose=0)
    return workdir


@pytest.fixture
def finished_run(_finished_run, tmp_path):
    """A copy of one finished ``tiny_config(8, **FAST)`` run (checkpoints at steps 2 and 4): trained once per
    test worker, so a test of what a later start does with a run's files does not train the run itself."""
    workdir = tmp_path / "run"
    shutil.copytree(_finished_run, workdir)
    return workdir


# --------------------------------------------------------------------------------------- file order
# The files that take longest are handed out first: xdist gives each worker whole files in collection order,
# and a heavy file collected last leaves the other worker idle at the end (largest first, from --durations;
# pyproject.toml turns xdist's own reordering off).
HEAVY_FIRST = ("test_xla_menu.py", "test_extensions.py", "test_distribute.py", "test_conditional.py",
               "test_robustness.py", "test_multi_worker.py", "test_training.py", "test_experiments.py",
               "test_attention_networks.py", "test_faults.py", "test_main.py", "test_contrad.py",
               "test_conditional_generation.py", "test_bench.py", "test_project.py", "test_evaluate.py",
               "test_self_conditional.py", "test_ggdr.py", "test_dataset_tool.py", "test_export.py")


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core plus one on machines of up to 4 cores. A test spends part of its time
    in single-threaded Python (tracing) and part waiting on the subprocesses it starts, so on 2 cores a third
    worker fills those gaps; on larger machines one per core already keeps every core busy."""
    cores = os.cpu_count() or 1
    return cores + 1 if cores <= 4 else cores


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))  # stable
