"""A config's FID by the wall clock: the demo's headline figures (README "Results").

    python -m experiments.clock --config=configs/demo.py --minutes=10,35 --root=/work/exp_root

Runs README command 1 (``train_main.py --config=C --workdir=<root>/clock/<label>``) as a user would, with a
checkpoint every tick kept (a few ms of I/O; nothing else changes), from a cold start: the clock starts
before Python and TensorFlow load. At the last mark the run gets Ctrl-C (it saves and stops) unless it
finished before. Then, for each mark, the newest checkpoint written by then is evaluated with the `demo`
grid's measure (5,000 fakes of the EMA generator against the first 5,000 Fashion-MNIST test images, FID
and unbiased KID; precision/recall k=3) and one JSON line per mark goes to ``<root>/clock.jsonl``.
The figures depend on the machine: run it alone on an idle one (the img/s it reached and the matmul peak
measured just before are in each line). ``--peak=215`` trains inside a CPU quota calibrated so that the matmul
peak there is ~215 GFLOP/s (experiments/throttle.py: a slow sitting emulated on a faster one; needs root).
``--overrides=train.batch_size=4,model.mapping_layers=2`` passes ``--config.<key>=<value>`` to the command.
Rerunning with the same label only re-evaluates (the run is never resumed: that would stop the clock).
"""

import json
import os
import signal
import subprocess
import sys
import time

from keras_attngan.cli import quiet_tensorflow

quiet_tensorflow()  # the config file imports TensorFlow: hide its start-up banner

from absl import app, flags

from experiments import common, throttle
from keras_attngan.cli import fail, parse_flags, quiet_python_logs
from keras_attngan.config import apply_overrides

_CONFIG = flags.DEFINE_string("config", "configs/demo.py", "Config file, as README command 1 passes it.")
_ROOT = flags.DEFINE_string("root", None, "Directory for the run (<root>/clock/<label>), the metric cache and "
                                          "clock.jsonl.")
_LABEL = flags.DEFINE_string("label", None, "Name of this measurement (default: the config file's name).")
_MINUTES = flags.DEFINE_list("minutes", ["10", "35"], "Marks on the clock (minutes since the command started).")
_GRID = flags.DEFINE_string("metrics_of", "demo", "Grid whose metric set is used (a name in experiments/grids or "
                                                   "a .py file).")
_FEATURE_NET = flags.DEFINE_enum("feature_net", "inception", ["inception", "thumbnail"],
                                 "inception: the FID network; thumbnail: a cheap stand-in for smoke tests.")
_PEAK = flags.DEFINE_float("peak", None, "Train inside a CPU quota whose matmul peak is this (GFLOP/s): a slower "
                                         "machine emulated (experiments/throttle.py; needs root).")
_MEASURE_PEAK = flags.DEFINE_bool("measure_peak", True, "Measure the machine's matmul peak first (~20 s) and "
                                                         "record it beside the figures.")
_OVERRIDES = flags.DEFINE_list("overrides", [], "key=value config overrides passed as --config.key=value.")


def checkpoint_times(workdir, start, interrupted=None):
    """[(seconds since start, checkpoint path)] of the run's checkpoints, oldest first (from their mtimes).
    The checkpoint saved on the Ctrl-C at ``interrupted`` seconds holds the state of that moment (training
    stopped there; writing it took a few seconds more), so it counts as written then."""
    ckpt_dir = os.path.join(workdir, "checkpoints")
    names = [f[:-len(".index")] for f in os.listdir(ckpt_dir) if f.endswith(".index")] if os.path.isdir(ckpt_dir) \
        else []
    found = [(os.path.getmtime(os.path.join(ckpt_dir, n + ".index")) - start, os.path.join(ckpt_dir, n))
             for n in names]
    if interrupted is not None:
        found = [(min(t, interrupted), path) for t, path in found]
    return sorted(found)


def at_marks(found, marks):
    """For each mark (seconds): the newest checkpoint written by then, or None."""
    chosen = []
    for mark in marks:
        before = [f for f in found if f[0] <= mark]
        chosen.append(before[-1] if before else None)
    return chosen


def train_on_the_clock(config_path, workdir, seconds, tick_kimg, overrides=(), quota=None):
    """Runs README command 1 until it ends or ``seconds`` pass (then Ctrl-C); returns the start time and the
    second (since the start) of the Ctrl-C, None when the run finished before. ``quota``: a
    ``throttle.CpuQuota`` the command runs in."""
    cmd = [sys.executable, "train_main.py", f"--config={config_path}", f"--workdir={workdir}",
           *[f"--config.{o}" for o in overrides],
           f"--config.train.ckpt_kimg={tick_kimg}", "--config.train.keep_checkpoints=100000"]
    start = time.time()
    log = open(os.path.join(os.path.dirname(workdir), os.path.basename(workdir) + ".log"), "w")
    # The child gets a working Ctrl-C, and a Ctrl-C of its own if this process dies (it saves and stops).
    preexec = common.child_preexec() if quota is None else quota.preexec(common.child_preexec())
    proc = subprocess.Popen(cmd, cwd=common.ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
    while proc.poll() is None and time.time() - start < seconds:
        time.sleep(1.0)
    interrupted = None
    if proc.poll() is None:
        interrupted = seconds  # the mark (the poll above sends the Ctrl-C within a second of it)
        proc.send_signal(signal.SIGINT)  # train_main saves a checkpoint and stops
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise RuntimeError(f"train_main.py did not stop within 300 s of Ctrl-C: killed; see {log.name}") from None
    log.close()
    if proc.returncode not in (0, 130, -signal.SIGINT):
        raise RuntimeError(f"train_main.py exited {proc.returncode}: see {log.name}")
    return start, interrupted


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    quiet_python_logs()
    try:
        if not _ROOT.value:
            raise ValueError("--root is required: e.g. --root=/work/exp_root")
        marks = sorted(float(m) for m in _MINUTES.value)
        if not marks or marks[0] <= 0:
            raise ValueError(f"--minutes must be positive numbers, got {_MINUTES.value}")
        if not os.path.isfile(os.path.join(common.ROOT, _CONFIG.value)):
            raise ValueError(f"--config={_CONFIG.value}: no such config file")
        metrics = common.load_grid(_GRID.value)["metrics"]
        root = os.path.abspath(_ROOT.value)
        label = _LABEL.value or os.path.splitext(os.path.basename(_CONFIG.value))[0]
        workdir = os.path.join(root, "clock", label)
        state_path = workdir + ".json"
        if os.path.exists(state_path):
            with open(state_path) as f:
                state = json.load(f)
            print(f"{label}: trained before (start {time.ctime(state['start'])}); evaluating only", flush=True)
        elif os.path.exists(workdir):
            raise ValueError(f"{workdir} exists without {state_path} (an interrupted measurement): delete it or "
                             "pass another --label")
        else:
            os.makedirs(os.path.dirname(workdir), exist_ok=True)
            for o in _OVERRIDES.value:
                if "=" not in o:
                    raise ValueError(f"--overrides: {o!r} is not key=value (e.g. train.batch_size=4)")
            # The tick the run will have (an override may set it; an unknown field fails here, before training).
            config = apply_overrides(common.load_config(_CONFIG.value), [o.split("=", 1) for o in _OVERRIDES.value])
            tick = config.train.tick_kimg
            machine = {"matmul_peak": round(throttle.measure_peak(), 1)} if _MEASURE_PEAK.value or _PEAK.value else {}
            quota = None
            if _PEAK.value:
                quota = throttle.CpuQuota()
                _, reached = throttle.calibrate(_PEAK.value, quota, full=machine["matmul_peak"],
                                                log=lambda line: print(line, flush=True))
                machine.update(throttled_peak=round(reached, 1), cpus=quota.cpus)
            print(f"{label}: training {_CONFIG.value} {' '.join(_OVERRIDES.value)} for up to {marks[-1]:g} min "
                  f"({machine}), log {workdir}.log", flush=True)
            try:
                start, interrupted = train_on_the_clock(_CONFIG.value, workdir, marks[-1] * 60, tick,
                                                        _OVERRIDES.value, quota)
            finally:
                if quota is not None:
                    quota.close()
            state = {"start": start, "config": _CONFIG.value, "interrupted_s": interrupted,
                     "overrides": _OVERRIDES.value, **machine}
            with open(state_path, "w") as f:
                json.dump(state, f)
        found = checkpoint_times(workdir, state["start"], state.get("interrupted_s"))
        if not found:
            raise ValueError(f"{workdir} has no checkpoint: see {workdir}.log")
        evaluate_marks(label, workdir, root, metrics, marks, found, state)
    except (ValueError, OSError, RuntimeError) as e:
        return fail(e)
    return 0


def evaluate_marks(label, workdir, root, metrics, marks, found, state):
    from experiments import evaluation
    from keras_attngan.training.files import append_jsonl
    from keras_attngan.training.restore import restore_run

    end = found[-1][0]
    for mark, pick in zip(marks, at_marks(found, [m * 60 for m in marks])):
        if pick is None:
            print(f"{label}: no checkpoint by {mark:g} min (the first came at {found[0][0] / 60:.1f} min)")
            continue
        seconds, path = pick
        config, trainer, _, step = restore_run(workdir, path)
        kimg = step * config.train.batch_size / 1000
        t0 = time.time()
        row = evaluation.evaluate(metrics, config, trainer.g_ema, trainer.discriminator,
                                  os.path.join(root, "metric_cache"), _FEATURE_NET.value)[int(metrics["num_fakes"])]
        finished = end < mark * 60 and pick == found[-1]
        row = {"label": label, "config": _CONFIG.value, "minutes": mark, "checkpoint_minutes": round(seconds / 60, 2),
               "finished_before_mark": finished, "feature_net": _FEATURE_NET.value, "step": step, "kimg": round(kimg, 3),
               "img_per_s_incl_startup": round(kimg * 1000 / seconds, 1), **metrics, **row,
               **{k: state[k] for k in ("overrides", "matmul_peak", "throttled_peak", "cpus") if k in state},
               "eval_seconds": round(time.time() - t0, 1), "time": time.time()}
        append_jsonl(os.path.join(root, "clock.jsonl"), row)
        print(f"{label} at {mark:g} min: {os.path.basename(path)} written at {seconds / 60:.2f} min, "
              f"{kimg:g} kimg{' (run finished)' if finished else ''}: fid {row['fid']:.2f} kid {row['kid']:.4f} "
              f"precision {row['precision']:.3f} recall {row['recall']:.3f}", flush=True)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
