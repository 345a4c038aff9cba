"""Bad input to export_main.py, generate_main.py and eval_main.py: exit code 2, exactly one ``error: ...``
line naming the problem and the fix, no traceback, no TensorFlow start-up chatter.

One run directory serves every case: a good checkpoint ``ckpt-0`` and a latest ``ckpt-9`` whose EMA
generator holds NaN (a diverged run). Each entry point runs all its cases in one process (``main`` after a
fresh flag parse, as ``app.run`` calls it), so the file costs a few interpreter start-ups, not one per case.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs ``main`` of the entry point argv[1] once per argument list in argv[2] (JSON); prints one JSON line.
RUN_CASES = """
import contextlib, io, json, sys, traceback
name, cases = sys.argv[1], json.loads(sys.argv[2])
sys.argv = [name + ".py"]
module = __import__(name)
from absl import flags
results = []
for args in cases:
    flags.FLAGS.unparse_flags()
    flags.FLAGS([name + ".py", *args])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = module.main([name + ".py"])
        except BaseException:
            traceback.print_exc()
            rc = None
    results.append({"rc": rc, "stderr": err.getvalue()})
print("RESULTS " + json.dumps(results))
"""

CASES = {  # id: (entry point, arguments ({run}: the run directory, {out}: a scratch directory), words of the line)
    "export: missing checkpoint": ("export_main", ["--workdir={run}", "--name=x", "--saved_models={out}",
                                                   "--checkpoint=ckpt-5"], ["ckpt-5 does not exist", "ckpt-0"]),
    "export: no workdir": ("export_main", ["--name=x"], ["--workdir and --name are required"]),
    "generate: non-finite checkpoint": ("generate_main", ["--workdir={run}", "--outdir={out}"],
                                        ["ckpt-9", "non-finite", "--checkpoint", "ckpt-0"]),
    "generate: negative cols": ("generate_main", ["--workdir={run}", "--cols=-1"],
                                ["--cols must be >= 0 (0 = about square)"]),
    "generate: NaN psi": ("generate_main", ["--workdir={run}", "--psi=nan"], ["--psi must be a finite number"]),
    "generate: inf truncation psi": ("generate_main", ["--workdir={run}", "--truncation_psis=1,inf"],
                                     ["--truncation_psis", "finite numbers"]),
    "generate: huge seed range": ("generate_main", ["--workdir={run}", "--seeds=0-10000000"],
                                  ["--seeds", "10000001 seeds, more than 10000", "split"]),
    "generate: huge mixing grid": ("generate_main", ["--workdir={run}", "--seeds=0-199", "--modes=mixing"],
                                   ["--modes=mixing", "40401 images", "more than 10000", "split --seeds"]),
    "generate: negative seed": ("generate_main", ["--workdir={run}", "--col_seeds=-3"],
                                ["--col_seeds", "non-negative"]),
    "eval: empty metrics": ("eval_main", ["--workdir={run}", "--metrics="],
                            ["--metrics is empty", "nothing to compute", "fid50k_full", "kid<N>k"]),
    "eval: non-finite checkpoint": ("eval_main", ["--workdir={run}", "--metrics=fid1k"], ["ckpt-9", "non-finite"]),
    "eval: missing checkpoint": ("eval_main", ["--workdir={run}", "--metrics=fid1k", "--checkpoint={run}/nope"],
                                 ["nope does not exist", "ckpt-9, ckpt-0"]),
    "eval: NaN psi": ("eval_main", ["--workdir={run}", "--psi=nan"], ["--psi must be a finite number"]),
}


def env(quiet=False):
    """The subprocess environment; ``quiet``: without TF_CPP_MIN_LOG_LEVEL, as a user's shell has it."""
    e = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_ATTNGAN_VERBOSE")}
    return e if quiet else dict(e, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run with a good ``ckpt-0`` and a latest ``ckpt-9`` with a NaN in the EMA generator."""
    from keras_attngan.training.checkpoint import Checkpointer
    from tests.helpers import tiny_config
    from tests.test_generate import make_run

    path = str(tmp_path_factory.mktemp("run"))
    trainer = make_run(path, tiny_config())
    checkpointer = Checkpointer(path, trainer)
    checkpointer.save()
    weight = trainer.g_ema.weights[3]
    weight.assign(np.where(np.arange(weight.shape[-1]) == 1, np.nan, weight.numpy()).astype(np.float32))
    trainer.step.assign(9)
    checkpointer.manager.save(checkpoint_number=9)  # past Checkpointer.save, which refuses NaN
    return path


@pytest.fixture(scope="module")
def outcomes(run, tmp_path_factory):
    """{case id: (exit code, stderr)}, one process per entry point."""
    out, results = str(tmp_path_factory.mktemp("out")), {}
    for script in sorted({script for script, _, _ in CASES.values()}):
        ids = [i for i, (s, _, _) in CASES.items() if s == script]
        argvs = [[a.format(run=run, out=out) for a in CASES[i][1]] for i in ids]
        r = subprocess.run([sys.executable, "-c", RUN_CASES, script, json.dumps(argvs)], cwd=ROOT, env=env(),
                           capture_output=True, text=True, timeout=600)
        lines = [line for line in r.stdout.splitlines() if line.startswith("RESULTS ")]
        assert r.returncode == 0 and lines, r.stderr[-3000:]
        results.update({i: (o["rc"], o["stderr"]) for i, o in zip(ids, json.loads(lines[0][len("RESULTS "):]))})
    return results


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_line(outcomes, case):
    rc, stderr = outcomes[case]
    errors = error_lines(stderr)
    assert rc == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    missing = [word for word in CASES[case][2] if word not in errors[0]]
    assert not missing, (missing, errors[0])


def test_console_is_quiet_without_arguments():
    """No TensorFlow start-up banner (oneDNN, cuda drivers, absl's pre-init notice): only the error."""
    r = subprocess.run([sys.executable, "export_main.py"], cwd=ROOT, env=env(quiet=True), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()] == error_lines(r.stderr), r.stderr
    assert len(error_lines(r.stderr)) == 1 and "--workdir" in r.stderr
    assert "onednn" not in r.stderr.lower() and "cuda" not in r.stderr.lower()


def test_export_refuses_a_non_finite_checkpoint(run, tmp_path):
    """End to end in its own process, with a user's environment: one line, no banner, nothing exported."""
    r = subprocess.run([sys.executable, "export_main.py", f"--workdir={run}", "--name=x",
                        f"--saved_models={tmp_path}"], cwd=ROOT, env=env(quiet=True), capture_output=True, text=True,
                       timeout=300)
    errors = error_lines(r.stderr)
    assert r.returncode == 2 and len(errors) == 1, r.stderr
    assert "ckpt-9" in errors[0] and "non-finite" in errors[0] and "--checkpoint" in errors[0]
    assert "Traceback" not in r.stderr and "onednn" not in r.stderr.lower() and "cuda" not in r.stderr.lower()
    assert not os.listdir(tmp_path)


def test_restore_run_takes_a_checkpoint_name_from_the_listing(run):
    """The names the errors list (ckpt-0) work as --checkpoint; the good checkpoint restores."""
    from keras_attngan.training.restore import restore_run

    _, trainer, path, step = restore_run(run, "ckpt-0")
    assert path == os.path.join(run, "checkpoints", "ckpt-0") and step == 0
    assert all(np.isfinite(w.numpy()).all() for w in trainer.g_ema.weights)
