"""Nothing lost, nothing silent: divergence guard and rollback, safe config.json, learning rates on
resume, checkpoint fallback, Ctrl-C, unwritable workdirs, one-line config errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from experiments import common
from keras_attngan.config import apply_overrides, validate
from keras_attngan.training import loop
from keras_attngan.training.callbacks import sample_name
from keras_attngan.training.checkpoint import Checkpointer, CheckpointError, DivergenceError
from keras_attngan.training.files import trim_jsonl
from keras_attngan.training.schedule import lazy_reg_ratio
from tests.helpers import FAST, tiny_config
from tests.test_main import ROOT, TINY, run_main


def ckpt_steps(workdir):
    return sorted(int(p.name[len("ckpt-"):-len(".index")]) for p in (workdir / "checkpoints").glob("ckpt-*.index"))


def assert_all_checkpoints_finite(workdir):
    for step in ckpt_steps(workdir):
        reader = tf.train.load_checkpoint(str(workdir / "checkpoints" / f"ckpt-{step}"))
        for name, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating:
                assert np.isfinite(reader.get_tensor(name)).all(), (step, name)


def test_divergence_stops_keeps_the_finite_checkpoint_and_lr_change_takes_effect(finished_run):
    """A finite run, then a resume with a learning rate of 100: the new rate is used (it diverges),
    the run stops with one line naming the step, and no non-finite checkpoint pushes the finite ones out
    under keep_checkpoints=1."""
    workdir = finished_run
    assert ckpt_steps(workdir) == [2, 4]
    diverging = tiny_config(8, keep_checkpoints=1, **dict(FAST, total_kimg=0.032), g_lr=100.0, d_lr=100.0)
    with pytest.raises(DivergenceError, match=r"non-finite .* step 6.*ckpt-4 \(step 4\).*nan_policy=rollback"):
        loop.train(diverging, str(workdir), verbose=0)
    assert ckpt_steps(workdir) == [2, 4]
    assert_all_checkpoints_finite(workdir)
    rows = [json.loads(line) for line in open(workdir / "stats.jsonl")]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["d_loss"]) for r in rows)
    # The config is the one of the last successful start; the run resumes from ckpt-4 with it.
    trainer = loop.train(tiny_config(8, keep_checkpoints=1, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0)
    assert int(trainer.step.numpy()) == 6


def test_learning_rates_and_betas_follow_the_config_on_resume(finished_run, capsys):
    workdir = str(finished_run)
    config = tiny_config(8, **dict(FAST, total_kimg=0.024), g_lr=0.0005, d_lr=0.0007, beta2=0.9)
    trainer = loop.train(config, workdir, verbose=0)
    out = capsys.readouterr().out
    assert "changed on resume:" in out and "train.g_lr 0.002 -> 0.0005" in out and "train.beta2" in out
    c_g, c_d = lazy_reg_ratio(config.train.pl_interval), lazy_reg_ratio(config.train.r1_interval)
    assert float(trainer.g_optimizer.learning_rate.numpy()) == pytest.approx(0.0005 * c_g)
    assert float(trainer.d_optimizer.learning_rate.numpy()) == pytest.approx(0.0007 * c_d)
    assert trainer.d_optimizer.beta_2 == pytest.approx(0.9 ** c_d)
    assert json.load(open(os.path.join(workdir, "config.json")))["train"]["g_lr"] == 0.0005


def test_rollback_policy_retries_then_stops_without_writing_nan(tmp_path, capsys):
    workdir = tmp_path / "run"
    config = tiny_config(8, **FAST, g_lr=100.0, d_lr=100.0, nan_policy="rollback", nan_retries=2)
    with pytest.raises(DivergenceError, match="after 2 rollbacks"):
        loop.train(config, str(workdir), verbose=0)
    out = capsys.readouterr().out
    assert out.count("rolled back to") == 2 and "retry 2 of 2" in out
    assert ckpt_steps(workdir) == [0]  # the start-of-run state rollback needs; nothing non-finite
    assert_all_checkpoints_finite(workdir)


def test_failed_start_leaves_no_config_json(tmp_path, finished_run):
    with pytest.raises(ValueError, match="g_attention.type='nope'"):
        loop.train(apply_overrides(tiny_config(8, **FAST), {"model.g_attention.type": "nope"}), str(tmp_path / "new"), verbose=0)
    assert not (tmp_path / "new" / "config.json").exists()
    # A run whose config.json was lost: restoring into another model fails and writes no config.
    workdir = finished_run  # tiny_config(8, **FAST), checkpoints at steps 2 and 4
    os.remove(workdir / "config.json")
    other = apply_overrides(tiny_config(8, **FAST), {"model.fmap_max": 8})
    with pytest.raises(CheckpointError):
        loop.train(other, str(workdir), verbose=0)
    assert not (workdir / "config.json").exists()
    trainer = loop.train(tiny_config(8, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0)
    assert int(trainer.step.numpy()) == 6 and (workdir / "config.json").exists()


def test_corrupt_latest_checkpoint_falls_back_and_temp_dirs_are_removed(finished_run, capsys):
    workdir = finished_run
    assert ckpt_steps(workdir) == [2, 4]
    data = next((workdir / "checkpoints").glob("ckpt-4.data-*"))
    data.write_bytes(data.read_bytes()[:64])  # truncated, as after a kill or a full disk
    (workdir / "checkpoints" / "ckpt-6_temp").mkdir()
    trainer = loop.train(tiny_config(8, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0)
    out = capsys.readouterr().out
    assert "skipping" in out and "ckpt-4" in out and "resuming from" in out and "ckpt-2 instead" in out
    assert "removed" in out and not (workdir / "checkpoints" / "ckpt-6_temp").exists()
    assert int(trainer.step.numpy()) == 6
    # stats.jsonl: the ticks after the restored step 2 were run again, each is logged once.
    assert [json.loads(line)["step"] for line in open(workdir / "stats.jsonl")] == [2, 4, 6]


def test_explicit_checkpoint_and_missing_checkpoint(finished_run):
    workdir = finished_run
    trainer = loop.train(tiny_config(8, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0,
                         checkpoint=str(workdir / "checkpoints" / "ckpt-2"))
    assert int(trainer.step.numpy()) == 6
    assert [json.loads(line)["step"] for line in open(workdir / "stats.jsonl")] == [2, 4, 6]
    with pytest.raises(CheckpointError, match="ckpt-3 does not exist.*available"):
        loop.train(tiny_config(8, **FAST), str(workdir), verbose=0, checkpoint=str(workdir / "checkpoints" / "ckpt-3"))


def test_save_refuses_non_finite_weights(tmp_path):
    from keras_attngan.training.setup import build_trainer

    trainer = build_trainer(tiny_config(8))
    checkpointer = Checkpointer(str(tmp_path), trainer)
    checkpointer.save()
    trainer.g_ema.weights[0].assign(np.full(trainer.g_ema.weights[0].shape, np.nan, np.float32))
    with pytest.raises(DivergenceError, match="non-finite weights at step 0 .*g_ema"):
        checkpointer.save()
    # A non-finite checkpoint written by other means (an older version) is refused on restore, and the
    # fallback goes to the finite one.
    trainer.step.assign(1)
    checkpointer.manager.save(checkpoint_number=1)
    fresh = build_trainer(tiny_config(8))
    with pytest.raises(CheckpointError, match="ckpt-1 holds non-finite values"):
        Checkpointer(str(tmp_path), fresh).restore(str(tmp_path / "checkpoints" / "ckpt-1"))
    assert Checkpointer(str(tmp_path), fresh).restore(fallback=True) == 0
    assert np.isfinite(fresh.g_ema.weights[0].numpy()).all()


def test_sample_names_do_not_collide_below_one_kimg():
    names = [sample_name(n) for n in (0, 8, 16, 1000, 1008, 40000)]
    assert names == ["fakes000000.png", "fakes000000.008.png", "fakes000000.016.png", "fakes000001.png",
                     "fakes000001.008.png", "fakes000040.png"]


def test_trim_jsonl_drops_rows_after_the_step_and_broken_lines(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_text('{"step": 2}\n{"step": 4}\n{"step": 6}\n{"ste')
    assert trim_jsonl(str(path), 4) == 2
    assert path.read_text() == '{"step": 2}\n{"step": 4}\n'


@pytest.mark.parametrize("field,value,message", [
    ("model.mbstd_group", 0, "model.mbstd_group must be a positive integer"),
    ("model.z_dim", 0, "model.z_dim must be a positive integer"),
    ("train.tick_kimg", 0, "train.tick_kimg must be positive"),
    ("train.tick_kimg", -1, "train.tick_kimg must be positive"),
    ("train.grid_size", 0, "train.grid_size must be a positive integer"),
    ("train.g_lr", -0.1, "train.g_lr must be positive"),
    ("train.d_lr", 0.0, "train.d_lr must be positive"),
    ("train.r1_interval", 0, "train.r1_interval=0 must be >= 1 when train.r1_gamma > 0"),
    ("train.keep_checkpoints", 0, "train.keep_checkpoints must be a positive integer"),
    ("train.beta2", 1.0, "train.beta2 must be in [0, 1)"),
    ("train.nan_policy", "ignore", "train.nan_policy='ignore' is not one of stop, rollback"),
    ("model.g_attention.type", "nope", "model.g_attention.type='nope' is not one of"),
    ("model.d_attention.type", "cross", "model.d_attention.type='cross' is not one of"),
    ("data.subset", -5, "data.subset must be >= 0"),
])
def test_bad_config_values_are_one_line(field, value, message):
    with pytest.raises(ValueError) as e:
        validate(apply_overrides(tiny_config(8), {field: value}))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_reference_variant_is_refused_with_the_config():
    config = tiny_config(8)
    config.model.d_attention.update(type="reference", variant="eq99", resolution=8)
    with pytest.raises(ValueError, match="variant='eq99' is not one of eq8, eq9, eq10"):
        validate(config)


@pytest.mark.parametrize("args,message", [
    (["--config.train.nope=1"], "unknown config field 'train.nope'"),
    (["--config=/no/such/config.py"], "cannot load --config: [Errno 2] No such file"),
    (["--config.train.g_lr=abc"], "could not convert string to float"),
    (["--nope"], "unknown flag --nope"),
    (["--config=configs/demo.py", "--config.train.nope=1"], "unknown config field 'train.nope'"),
])
def test_bad_flags_are_one_line(tmp_path, args, message):
    r = run_main(*args, f"--workdir={tmp_path / 'w'}")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert not (tmp_path / "w").exists()


def test_unwritable_workdir_and_truncated_config_json(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = run_main(*TINY, f"--workdir={blocker / 'run'}")
    assert r.returncode == 2 and r.stderr.count("error: ") == 1 and "cannot write" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text('{"model": {"resolution": 1')
    r = run_main(*TINY, f"--workdir={workdir}")
    assert r.returncode == 2 and "config.json is not valid JSON" in r.stderr and "Traceback" not in r.stderr


def test_interrupt_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    """Ctrl-C (SIGINT) in the middle of a run: one checkpoint at the current step, exit 130, one line."""
    workdir = tmp_path / "run"
    # PYTHONFAULTHANDLER: a SIGABRT makes the child print every thread's Python stack (see the timeout below).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([sys.executable, "train_main.py", *TINY, "--config.train.total_kimg=100",
                             "--config.train.ckpt_kimg=80", "--config.train.sample_kimg=80", f"--workdir={workdir}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=common.child_preexec())  # SIGINT works even if pytest runs in the background
    deadline = time.time() + 240
    while time.time() < deadline and not (workdir / "stats.jsonl").exists():
        time.sleep(0.5)
    assert (workdir / "stats.jsonl").exists(), "training did not start"
    # One run per workdir: the lock names this process, and a second start is refused in one line.
    assert json.load(open(workdir / "train.lock"))["pid"] == proc.pid
    second = run_main(*TINY, f"--workdir={workdir}")
    assert second.returncode == 2 and second.stderr.strip().startswith(
        f"error: {workdir} is in use by another training run (pid {proc.pid} on host "), second.stderr
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # show where the child is instead of a bare timeout
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"no exit within 120 s of Ctrl-C; stdout tail:\n{out[-2000:]}\nstderr (stacks):\n{err[-8000:]}")
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted at step" in lines[0] and "resume" in lines[0], err
    step = int(lines[0].split("interrupted at step ")[1].split(":")[0])
    assert step > 0 and ckpt_steps(workdir) == [step]
    assert not (workdir / "train.lock").exists()
    assert_all_checkpoints_finite(workdir)
