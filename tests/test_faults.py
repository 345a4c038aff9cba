"""The second fault sweep (issue 23): one run per workdir (the lock), failed and interrupted starts that leave
nothing behind, unknown fields with --config=, a full disk named as such, the project's own warning lines,
rotation that never keeps a skipped checkpoint over a finite one, and a finished run that says so."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from experiments import common
from keras_attngan.training import loop
from keras_attngan.training.checkpoint import Checkpointer
from keras_attngan.training.files import WorkdirError
from keras_attngan.training.lock import LOCK_NAME, WorkdirLock, WorkdirLocked
from keras_attngan.training.setup import build_trainer
from keras_attngan.utils.console import hide_expected_tf_warnings
from tests.helpers import FAST, tiny_config
from tests.test_main import ROOT, TINY, run_main
from tests.test_robustness import ckpt_steps


def _write_lock(workdir, **holder):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, LOCK_NAME), "w") as f:
        json.dump(holder, f)


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    holder = WorkdirLock(workdir)
    os.makedirs(workdir)
    holder.acquire()
    record = json.load(open(os.path.join(workdir, LOCK_NAME)))
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname() and record["started"]
    with pytest.raises(WorkdirLocked, match=rf"{workdir} is in use by another training run \(pid {os.getpid()} on "
                                            rf"host {socket.gethostname()} since .*pass another --workdir"):
        loop.train(tiny_config(8, **FAST), workdir, verbose=0)
    assert sorted(os.listdir(workdir)) == [LOCK_NAME]  # the refused start wrote nothing
    holder.release()
    assert not os.path.exists(os.path.join(workdir, LOCK_NAME))
    # A lock left by a process that is gone (kill -9) on this host: taken over with one line.
    _write_lock(workdir, host=socket.gethostname(), pid=_dead_pid(), started="earlier")
    trainer = loop.train(tiny_config(8, **FAST), workdir, verbose=0)
    out = capsys.readouterr().out
    assert int(trainer.step.numpy()) == 4
    assert out.count("warning: took over") == 1 and "which is no longer running" in out
    assert not os.path.exists(os.path.join(workdir, LOCK_NAME))  # released at the end


def test_lock_of_another_host_and_an_unreadable_lock(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    _write_lock(workdir, host="some-other-host", pid=1, started="2026-12-06T05:00:00")
    with pytest.raises(WorkdirLocked, match=rf"locked by a training run on another host \(pid 1 on host some-other-host"
                                            rf".*if that run is no longer running, delete {workdir}/{LOCK_NAME}"):
        loop.train(tiny_config(8, **FAST), workdir, verbose=0)
    with open(os.path.join(workdir, LOCK_NAME), "w") as f:
        f.write('{"host": "x')  # a kill while the lock was being written
    loop.train(tiny_config(8, **FAST), workdir, verbose=0)
    assert "took over" in capsys.readouterr().out and not os.path.exists(os.path.join(workdir, LOCK_NAME))


def test_a_start_that_fails_on_its_data_leaves_nothing(tmp_path):
    """A source with fewer images than one batch, with another fmap_max: the workdir is not even created,
    so the next, correct start (default fmap_max) is not refused for a config no checkpoint was made with."""
    few = tmp_path / "few.npz"
    np.savez(few, images=np.zeros((3, 16, 16, 1), np.uint8))
    workdir = tmp_path / "run"
    bad = tiny_config(8, **FAST)
    bad.data.source, bad.model.fmap_max = str(few), 32
    with pytest.raises(ValueError, match="fewer than batch_size=4"):
        loop.train(bad, str(workdir), verbose=0)
    assert not workdir.exists()
    # An existing workdir stays, untouched.
    workdir.mkdir()
    with pytest.raises(ValueError, match="fewer than batch_size=4"):
        loop.train(bad, str(workdir), verbose=0)
    assert workdir.exists() and os.listdir(workdir) == []
    trainer = loop.train(tiny_config(8, **FAST), str(workdir), verbose=0)
    assert int(trainer.step.numpy()) == 4


def _start_and_interrupt(tmp_path, when, sig=signal.SIGINT):
    """train_main.py, interrupted by ``sig`` as soon as ``when(workdir, pid)`` is true; returns (rc, stderr lines)."""
    workdir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "train_main.py", *TINY, "--config.train.total_kimg=100",
                             f"--workdir={workdir}"], cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=common.child_preexec())
    deadline = time.time() + 240
    while not when(workdir, proc.pid) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, [line for line in err.splitlines() if line.strip()], workdir


def _maps_tensorflow(pid):
    """Whether process ``pid`` has loaded TensorFlow's framework library (its import is under way)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "libtensorflow_framework" in f.read()
    except OSError:
        return False


@pytest.mark.parametrize("moment", ["importing", "building"])
def test_ctrl_c_during_start_up_is_one_line_and_leaves_nothing(tmp_path, moment):
    """Ctrl-C while TensorFlow is imported (as soon as its library is mapped into the process: a fixed delay
    can fall before Python runs at all on a loaded machine) or while the model is built and the data read
    (right after the lock appears): exit 130, one line, no traceback, no workdir left behind."""
    when = ((lambda w, pid: _maps_tensorflow(pid)) if moment == "importing" else
            (lambda w, pid: (w / LOCK_NAME).exists()))
    rc, lines, workdir = _start_and_interrupt(tmp_path, when)
    assert rc == 130, lines[-20:]
    assert len(lines) == 1 and lines[0].startswith("interrupted during start-up; nothing was written"), lines[-20:]
    assert not workdir.exists()


def test_sigterm_during_training_saves_like_ctrl_c(tmp_path):
    rc, lines, workdir = _start_and_interrupt(tmp_path, lambda w, pid: (w / "stats.jsonl").exists(), signal.SIGTERM)
    assert rc == 143, lines[-20:]
    assert len(lines) == 1 and "interrupted at step" in lines[0] and "saved" in lines[0], lines
    assert ckpt_steps(workdir) and not (workdir / LOCK_NAME).exists()


@pytest.mark.parametrize("override,field", [("--config.train.nope=1", "train.nope"), ("--config.nope.x=1", "nope.x")])
def test_unknown_field_with_a_config_file_is_named(tmp_path, override, field):
    r = run_main("--config=configs/demo.py", override, f"--workdir={tmp_path / 'w'}")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: unknown config field '{field}' ({override.split('=')[0]})"), lines
    assert not (tmp_path / "w").exists()


def _full_disk(*args, **kwargs):
    """A real ENOSPC as TensorFlow reports it (ResourceExhaustedError from the OS): /dev/full is always full."""
    tf.io.write_file("/dev/full", tf.constant("x" * 65536))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_full_disk_names_the_cause_and_the_size(finished_run, monkeypatch):
    workdir = finished_run
    size = sum(p.stat().st_size for p in (workdir / "checkpoints").glob("ckpt-4.*")) / 2**20
    monkeypatch.setattr(tf.train.CheckpointManager, "save", _full_disk)
    with pytest.raises(WorkdirError) as e:
        loop.train(tiny_config(8, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0)
    message = str(e.value)
    assert "\n" not in message and "function_node" not in message
    assert f"cannot write {workdir}/checkpoints: no space left on the device that holds it (ENOSPC; " in message
    assert f"the last checkpoint took {size:.1f} MB" in message and " free" in message and "free disk space" in message
    assert ckpt_steps(workdir) == [2, 4] and not list((workdir / "checkpoints").glob("*_temp"))


def test_warnings_are_the_projects_own_lines_once(tmp_path):
    """A source with few images and skip_bad: each warning once, as a ``warning:`` line, no absl-format lines."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(np.full((16, 16, 1), i * 20, np.uint8)))
    (folder / "bad.png").write_bytes(b"not a png")
    r = run_main(*TINY, f"--config.data.source={folder}", "--config.data.skip_bad=true",
                 "--config.train.total_kimg=0.008", f"--workdir={tmp_path / 'run'}")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, r.stdout
    assert "skipped 1 unreadable images" in warnings[0] and "has only 12 images for batch_size=4" in warnings[1]
    assert [line for line in r.stderr.splitlines() if line.strip()] == [], r.stderr  # no absl W1206 ... lines


def test_tf_retracing_note_is_hidden(caplog):
    hide_expected_tf_warnings()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("tensorflow").warning("5 out of the last 5 calls to <function f> triggered tf.function "
                                                "retracing. Tracing is expensive ...")
        logging.getLogger("tensorflow").warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_corrupt_checkpoint_list_is_one_warning_and_is_rebuilt(finished_run, capsys, caplog):
    workdir = finished_run
    (workdir / "checkpoints" / "checkpoint").write_text('garbage: "x"\n')
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        trainer = loop.train(tiny_config(8, **dict(FAST, total_kimg=0.024)), str(workdir), verbose=0)
    out = capsys.readouterr().out
    assert int(trainer.step.numpy()) == 6
    assert out.count("(the list of checkpoints) is corrupt") == 1
    assert not [r for r in caplog.records if "ParseError" in r.getMessage() or "ignored" in r.getMessage()]
    state = tf.train.get_checkpoint_state(str(workdir / "checkpoints"))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]


def test_rotation_never_keeps_a_skipped_checkpoint_over_a_finite_one(finished_run, capsys):
    """A non-finite ckpt-9 among finite ones (copied in: the run never writes one): resume skips it, moves it
    to checkpoints/skipped/, and keep_checkpoints=3 rotates among the finite checkpoints only."""
    workdir = finished_run
    other = build_trainer(tiny_config(8))
    other.g_ema.weights[0].assign(np.full(other.g_ema.weights[0].shape, np.nan, np.float32))
    other.step.assign(9)
    Checkpointer(str(workdir), other, max_to_keep=3).manager.save(checkpoint_number=9)
    assert ckpt_steps(workdir) == [2, 4, 9]
    capsys.readouterr()
    loop.train(tiny_config(8, keep_checkpoints=3, **dict(FAST, total_kimg=0.032)), str(workdir), verbose=0)
    out = capsys.readouterr().out
    assert "skipping" in out and "ckpt-9" in out and "moved ckpt-9 to" in out
    assert ckpt_steps(workdir) == [4, 6, 8]
    assert sorted(p.name for p in (workdir / "checkpoints" / "skipped").iterdir())[0] == "ckpt-9.data-00000-of-00001"


def test_rerunning_a_finished_run_says_it_is_complete(finished_run, capsys):
    workdir = finished_run
    before = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    capsys.readouterr()
    trainer = loop.train(tiny_config(8, **FAST, g_lr=0.001), str(workdir), verbose=0)
    out = capsys.readouterr().out.strip()
    assert int(trainer.step.numpy()) == 4
    assert out == (f"{workdir} is complete: 0.016 kimg of train.total_kimg=0.016 (step 4); nothing to do: to train "
                   "longer, run again with --config.train.total_kimg=<more>")
    assert {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()} == before  # nothing rewritten
