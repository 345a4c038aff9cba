"""train_main.py end to end in subprocesses: flags, dry run, a tiny run, resume, clear errors."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config=configs/demo.py", "--config.model.resolution=8", "--config.model.z_dim=16",
        "--config.model.w_dim=16", "--config.model.mapping_layers=2", "--config.model.fmap_base=64",
        "--config.model.fmap_max=16", "--config.train.batch_size=4", "--config.train.tick_kimg=0.008",
        "--config.train.ckpt_kimg=0.008", "--config.train.sample_kimg=0.008", "--config.train.grid_size=4",
        "--config.train.r1_interval=1"]  # R1 every step: one traced step variant


def run_main(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "train_main.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_dry_run_prints_resolved_config_with_overrides():
    r = run_main("--config=configs/fashion_mnist.py", "--config.train.batch_size=8", "--dry_run")
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)
    assert config["train"]["batch_size"] == 8
    assert config["data"]["source"] == "fashion_mnist:train"


@pytest.mark.parametrize("flag,message", [
    ("--config.train.batch_size=6", "divisible by model.mbstd_group"),
    ("--config.model.resolution=48", "power of two"),
    ("--config.loss.name=nope", "loss.name='nope' is not one of"),
    ("--config.data.source=/no/such/dir", "/no/such/dir"),
    ("--config.train.strategy=gpus", "train.strategy='gpus' is not one of"),
    ("--config.train.precision=fp8", "train.precision='fp8' is not one of"),
    ("--config.train.xla=maybe", "must be one of auto, on, off"),
    ("--config.train.strategy=tpu", "no TPU was found"),
])
def test_bad_config_is_one_clear_line(tmp_path, flag, message):
    r = run_main(*TINY, flag, f"--workdir={tmp_path / 'w'}")
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr


MIRRORED = ["--config.train.batch_size=8", "--config.train.strategy=mirrored", "--logical_cpus=2"]


def test_train_writes_run_files_and_resumes_under_mirrored_strategy(tmp_path):
    """The whole loop (fit on a distributed dataset, callbacks, checkpoints, samples) with 2 replicas of 4
    images on 2 logical CPUs (one step per tick and per checkpoint), then a resume. Single-device runs of
    train_main.py: test_robustness, test_faults."""
    workdir = tmp_path / "run"
    r = run_main(*TINY, *MIRRORED, "--config.train.total_kimg=0.016", f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "MirroredStrategy: 2 replicas x 4 images" in r.stdout
    files = set(os.listdir(workdir))
    assert {"config.json", "checkpoints", "samples", "logs", "stats.jsonl"} <= files
    samples = set(os.listdir(workdir / "samples"))
    assert {"reals.png", "fakes000000.png"} <= samples
    with open(workdir / "samples" / "reals.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    ticks = [json.loads(line) for line in open(workdir / "stats.jsonl")]
    assert [t["step"] for t in ticks] == [1, 2]
    assert all(t["kimg"] > 0 and t["d_loss"] == t["d_loss"] for t in ticks)
    assert any(name.startswith("ckpt-2") for name in os.listdir(workdir / "checkpoints"))

    # Same command with a longer schedule resumes from step 2 instead of starting over.
    r = run_main(*TINY, *MIRRORED, "--config.train.total_kimg=0.024", f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming" in r.stdout and "from step 2" in r.stdout
    ticks = [json.loads(line) for line in open(workdir / "stats.jsonl")]
    assert [t["step"] for t in ticks] == [1, 2, 3]

    # A different model in the same workdir is refused, naming the field.
    r = run_main(*TINY, *MIRRORED, "--config.model.fmap_max=8", f"--workdir={workdir}")
    assert r.returncode == 2
    assert "model.fmap_max=16" in r.stderr and "--workdir" in r.stderr
    # A global batch the replicas cannot share.
    r = run_main(*TINY, *MIRRORED, "--config.train.batch_size=7", "--config.model.mbstd_group=1",
                 f"--workdir={tmp_path / 'odd'}")
    assert r.returncode == 2 and "divisible by the 2 replicas" in r.stderr, r.stderr[-2000:]
