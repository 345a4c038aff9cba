"""Train and evaluate the runs of a named grid; one JSON line per evaluation in <root>/results.jsonl.

    python -m experiments.run --grid=losses --root=/work/exp_root
    python -m experiments.run --grid=losses --root=R --only=ns,dual_contrastive --seeds=0,1,2 --kimg=16

Each run trains with ``keras_attngan.training.loop.train`` (train_main.py's machinery: checkpoints,
resume, divergence guard) in its own subprocess (``<root>/runs/<id>/``, log in ``<root>/logs/<id>.log``),
up to each evaluation point in turn; at each point the EMA generator is evaluated with the real Inception
network (FID and unbiased KID against the reference set, precision/recall k=3) and a line is appended.
Rerunning skips finished runs and continues interrupted ones from their newest checkpoint (an evaluation
that was cut off is redone without retraining), so a grid can be completed across several sittings; sittings
may run at the same time (a run another sitting is working on is locked and skipped).
``--kimg`` caps the budget for this sitting (a later sitting with a larger cap continues the same runs).
``--feature_net=thumbnail`` swaps Inception for a fixed random projection of 8x8 thumbnails: for smoke
tests only, its numbers are not FIDs (and the lines say so).
Exit codes: 0 all done, 1 some run failed (named on stderr), 2 bad flags or grid.
"""

import fcntl
import json
import os
import subprocess
import sys
import time

from absl import app, flags

from experiments import common, evaluation
from keras_attngan.cli import fail, parse_flags, quiet_python_logs, quiet_tensorflow

_GRID = flags.DEFINE_string("grid", None, "Grid name (experiments/grids/<name>.py) or a .py file defining GRID.")
_ROOT = flags.DEFINE_string("root", None, "Directory for the runs, logs, metric cache and results.jsonl.")
_ONLY = flags.DEFINE_list("only", None, "Only the runs with these labels.")
_SEEDS = flags.DEFINE_list("seeds", None, "Only these seeds.")
_KIMG = flags.DEFINE_float("kimg", None, "Cap the grid's budget for this sitting (kimg).")
_FEATURE_NET = flags.DEFINE_enum("feature_net", "inception", ["inception", "thumbnail"],
                                 "inception: the FID network; thumbnail: a cheap stand-in for smoke tests.")
_WORKER = flags.DEFINE_string("worker", None, "(internal) train and evaluate this one run id in this process.")
_NICE = flags.DEFINE_integer("nice", 0, "Niceness of the run subprocesses (19: only idle CPU).")

def eval_points(grid, cap=None):
    budget = float(grid["kimg"]) if cap is None else min(float(grid["kimg"]), float(cap))
    return [k for k in grid["eval_kimg"] if k < budget] + [budget]


def selected_runs(grid):
    seeds = None if _SEEDS.value is None else [int(s) for s in _SEEDS.value]
    return common.expand(grid, only=_ONLY.value, seeds=seeds)


# ------------------------------------------------------------------------------------------- one run
def work(grid, run, root, cap, feature_net):
    """Trains run ``run`` to each evaluation point not yet evaluated and evaluates it there."""
    from keras_attngan.training.checkpoint import DivergenceError
    from keras_attngan.training.files import append_jsonl, read_json, write_text_atomic
    from keras_attngan.training.loop import train

    config = common.run_config(grid, run)
    workdir = os.path.join(root, "runs", run.id)
    sig = common.signature(grid["metrics"], feature_net)
    state_path = os.path.join(workdir, "harness.json")
    for point in eval_points(grid, cap):
        rows = common.read_results(root)
        if point <= common.last_kimg(rows, run.id, sig, grid["tick_kimg"]) + 1e-9:
            continue
        config.train.total_kimg = point
        print(f"{run.grid}/{run.label} seed {run.seed} ({run.id}): training to {point:g} kimg", flush=True)
        t0 = time.time()
        base = {"grid": run.grid, "label": run.label, "seed": run.seed, "run": run.id, **sig}
        try:
            trainer = train(config, workdir, verbose=2)
        except DivergenceError as e:
            append_jsonl(os.path.join(root, common.RESULTS), {**base, "kimg": point, "target_kimg": point,
                                                              "error": str(e).split("\n")[0], "time": time.time()})
            raise
        state = read_json(state_path, "harness state") or {"train_seconds": 0.0}
        state["train_seconds"] += time.time() - t0
        write_text_atomic(state_path, json.dumps(state))
        step = int(trainer.step.numpy())
        kimg = round(step * config.train.batch_size / 1000, 6)
        t1 = time.time()
        counts = common.fake_counts(grid, point)
        figures = evaluation.evaluate(grid["metrics"], config, trainer.g_ema, trainer.discriminator,
                                      os.path.join(root, "metric_cache"), feature_net, counts=counts)
        common_fields = {"kimg": kimg, "target_kimg": point, "step": step, "eval_seconds": round(time.time() - t1, 1),
                         "train_seconds": round(state["train_seconds"], 1), "img_per_s": tick_rate(workdir),
                         "overrides": dict(run.overrides), "base": grid["base"]}
        # The larger count first: the run counts as evaluated here once the grid's own count is written.
        for n in sorted(counts, reverse=True):
            row = {**base, "num_fakes": n, **common_fields, **figures[n], "time": time.time()}
            append_jsonl(os.path.join(root, common.RESULTS), row)
            print(f"{run.grid}/{run.label} seed {run.seed} at {kimg:g} kimg ({n} fakes): fid {row['fid']:.2f} kid "
                  f"{row['kid']:.4f} precision {row['precision']:.3f} recall {row['recall']:.3f} "
                  f"({row['eval_seconds']:.0f} s to evaluate)", flush=True)


def tick_rate(workdir):
    """Median training img/s over the run's ticks (stats.jsonl), None when there are none."""
    path = os.path.join(workdir, "stats.jsonl")
    rates = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rates.append(float(json.loads(line)["img_s"]))
                except (ValueError, KeyError):
                    continue
    rates.sort()
    return round(rates[len(rates) // 2], 2) if rates else None


# ------------------------------------------------------------------------------------------- the grid
def run_grid(grid, root):
    runs = selected_runs(grid)
    points = eval_points(grid, _KIMG.value)
    sig = common.signature(grid["metrics"], _FEATURE_NET.value)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    failed = []
    print(f"grid {grid['name']}: {len(runs)} runs, evaluation at {', '.join(f'{k:g}' for k in points)} kimg "
          f"({sig['num_fakes']} fakes vs {sig['num_reals']} reals of {sig['reference']}, {sig['feature_net']})",
          flush=True)
    for i, run in enumerate(runs, 1):
        done = common.last_kimg(common.read_results(root), run.id, sig, grid["tick_kimg"])
        if done >= points[-1] - 1e-9:
            state = "failed" if done == float("inf") else f"{done:g} kimg"
            print(f"[{i}/{len(runs)}] {run.label} seed {run.seed}: done ({state}), skipped", flush=True)
            continue
        lock = open(os.path.join(root, "logs", f"{run.id}.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when this sitting ends or moves on
        except BlockingIOError:
            print(f"[{i}/{len(runs)}] {run.label} seed {run.seed}: busy in another sitting, skipped", flush=True)
            lock.close()
            continue
        print(f"[{i}/{len(runs)}] {run.label} seed {run.seed}: from {done:g} kimg, log {root}/logs/{run.id}.log",
              flush=True)
        cmd = [sys.executable, "-m", "experiments.run", f"--grid={grid['path']}", f"--root={root}",
               f"--worker={run.id}", f"--feature_net={_FEATURE_NET.value}"]
        if _KIMG.value is not None:
            cmd.append(f"--kimg={_KIMG.value}")
        if _NICE.value:
            cmd = ["nice", "-n", str(_NICE.value)] + cmd
        t0 = time.time()
        with open(os.path.join(root, "logs", f"{run.id}.log"), "a") as log:
            # The worker checkpoints and stops if this sitting dies (the run resumes next sitting).
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=common.ROOT,
                                 preexec_fn=common.child_preexec())
        rows = common.rows_of(common.read_results(root), run.id, sig)
        summary = ", ".join(f"{r['kimg']:g} kimg fid {r['fid']:.2f}" for r in rows if "fid" in r)
        print(f"[{i}/{len(runs)}] {run.label} seed {run.seed}: exit {rc} after {time.time() - t0:.0f} s; {summary}",
              flush=True)
        lock.close()
        if rc:
            failed.append(f"{run.label} seed {run.seed} (exit {rc}, see {root}/logs/{run.id}.log)")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    quiet_python_logs()
    try:
        if not _GRID.value or not _ROOT.value:
            raise common.GridError("--grid and --root are required: e.g. --grid=losses --root=/work/exp_root")
        if _KIMG.value is not None and not _KIMG.value > 0:
            raise common.GridError(f"--kimg must be positive, got {_KIMG.value}")
        grid = common.load_grid(_GRID.value)
        root = os.path.abspath(_ROOT.value)
        os.makedirs(root, exist_ok=True)
        if _WORKER.value is None:
            return run_grid(grid, root)
        run = next((r for r in common.expand(grid) if r.id == _WORKER.value), None)
        if run is None:
            raise common.GridError(f"grid {grid['name']} has no run {_WORKER.value}")
        from keras_attngan.data import DataError
        from keras_attngan.training.checkpoint import CheckpointError, DivergenceError
        from keras_attngan.training.files import WorkdirError
        from keras_attngan.training.loop import Interrupted
        try:
            work(grid, run, root, _KIMG.value, _FEATURE_NET.value)
        except (DataError, CheckpointError, DivergenceError, WorkdirError, FileNotFoundError, Interrupted) as e:
            return fail(e)
    except (common.GridError, ValueError, OSError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    if any(a.startswith("--worker") for a in sys.argv):  # the grid loop itself never imports TensorFlow
        quiet_tensorflow()
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
