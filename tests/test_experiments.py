"""experiments/run.py and report.py on a tiny grid: 2 runs x 1 seed, 300 embedded images at 16x16, a 16-channel
model, the thumbnail stand-in for Inception. No quality number is asserted: only what the harness promises
(fields of results.jsonl, resume after kill -9, skipping finished runs, a table and a PNG)."""

import glob
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = """
GRID = dict(
    title="tiny", base="configs/demo.py",
    overrides={"data.subset": 300, "model.resolution": 16, "model.z_dim": 16, "model.w_dim": 16,
               "model.mapping_layers": 1, "model.fmap_base": 64, "model.fmap_max": 16, "train.batch_size": 8,
               "train.grid_size": 4, "train.r1_interval": 1, "train.tensorboard_every": 4},
    runs=[{"label": "ns"}, {"label": "hinge", "overrides": {"loss.name": "hinge"}}],
    seeds=[0], kimg=0.128, eval_kimg=[0.064], tick_kimg=0.064,
    metrics={"num_fakes": 200, "final_num_fakes": 300, "num_reals": 300, "reference": "embedded"},
    compare=[{"name": "tiny: ns → hinge", "baseline": "ns", "method": "hinge", "paper": "P"}],
)
"""
FIELDS = ("grid", "label", "seed", "run", "kimg", "step", "fid", "kid", "precision", "recall", "train_seconds",
          "img_per_s", "eval_seconds", "feature_net", "num_fakes", "num_reals", "reference", "overrides")


def cli(script, *args):
    return subprocess.run([sys.executable, "-m", f"experiments.{script.removesuffix('.py')}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return str(path), str(tmp_path / "root")


def test_bad_flags_and_grids_are_one_line(tiny):
    grid, root = tiny
    for args, needle in [((f"--root={root}",), "--grid and --root are required"),
                         (("--grid=nope", f"--root={root}"), "no grid 'nope'"),
                         ((f"--grid={grid}", f"--root={root}", "--only=nope"), "no run labelled nope"),
                         ((f"--grid={grid}", f"--root={root}", "--kimg=0"), "--kimg must be positive")]:
        r = cli("run.py", *args)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and needle in r.stderr, (args, r.stderr)
    r = cli("report.py", f"--root={root}")
    assert r.returncode == 2 and "results.jsonl not found" in r.stderr and r.stderr.strip().count("\n") == 0


def test_a_compare_entry_must_name_two_labels(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(TINY.replace('"method": "hinge"', '"method": "wgan"'))
    with pytest.raises(common.GridError, match=r"compare entry needs name, baseline and method, two of the labels"):
        common.load_grid(str(path))


def test_every_grid_loads_and_shares_its_baselines():
    grids = {name: common.load_grid(name) for name in common.grid_names()}
    assert {"losses", "g_attention", "d_attention", "combined", "seed_methods"} <= set(grids)
    ids = {name: {r.label: r.id for r in common.expand(g, seeds=[0])} for name, g in grids.items()}
    # The same configuration in two grids is one run directory (trained once).
    assert ids["losses"]["ns"] == ids["g_attention"]["none"] == ids["combined"]["ns"] == ids["d_attention"]["none_60k"]
    assert ids["d_attention"]["none_1k"] == ids["seed_methods"]["baseline_1k"]
    assert ids["losses"]["ns"] != ids["losses"]["dual_contrastive"]
    # The headline comparisons have 3 seeds.
    for name, labels in [("losses", ("ns", "dual_contrastive")), ("g_attention", ("none", "san")),
                         ("d_attention", ("none_1k", "reference_1k"))]:
        for label in labels:
            assert len(common.expand(grids[name], only=[label])) >= 3, (name, label)


def test_headline_grid_pairs_six_seeds_in_seed_order():
    grid = common.load_grid("headline")
    runs = common.expand(grid)
    assert [(r.label, r.seed) for r in runs[:6]] == [("ns", 0), ("dual_contrastive", 0), ("san", 0), ("none_1k", 0),
                                                     ("reference_1k", 0), ("dual_contrastive_b32", 0)]
    for c in grid["compare"][:3]:
        for side in ("baseline", "method"):
            assert sorted(r.seed for r in common.expand(grid, only=[c[side]])) == [0, 1, 2, 3, 4, 5], c
    assert grid["metrics"]["final_num_fakes"] == 5000 and grid["kimg"] == 60 and grid["eval_kimg"] == [20.0, 40.0]


def test_pinned_settings_apply_without_changing_run_ids():
    """A grid's ``pinned`` values (the demo's model before #27 changed its defaults) reach the run's config but
    not its id, so the runs and results of the earlier grids stay theirs."""
    grid = common.load_grid("losses")
    ns = common.expand(grid, only=["ns"], seeds=[0])[0]
    with open(os.path.join(ROOT, "docs", "results", "results.jsonl")) as f:
        recorded = {json.loads(line)["run"] for line in f if '"label": "ns"' in line and '"losses"' in line}
    assert ns.id in recorded
    config = common.run_config(grid, ns)
    assert (config.model.fmap_base, config.model.mapping_layers, config.model.style_mixing_prob) == (512, 4, 0.9)
    assert config.train.batch_size == 32  # the grid's own overrides still win
    assert common.load_config(grid["base"]).model.fmap_base == 256  # what the demo uses now


def test_paired_statistics_match_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    from experiments import stats

    for df in (1, 2, 5, 9):
        assert stats.t_ppf(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-9)
        assert stats.t_cdf(-1.7, df) == pytest.approx(scipy_stats.t.cdf(-1.7, df), abs=1e-10)
    diffs = [-3.1, -1.2, 0.4, -2.2, -0.7, -1.9]
    mean, low, high, p = stats.paired_t(diffs)
    ref_low, ref_high = scipy_stats.t.interval(0.95, 5, loc=sum(diffs) / 6, scale=scipy_stats.sem(diffs))
    assert (low, high) == (pytest.approx(ref_low, rel=1e-9), pytest.approx(ref_high, rel=1e-9))
    assert p == pytest.approx(scipy_stats.ttest_1samp(diffs, 0).pvalue, rel=1e-7)
    assert stats.sign_test(diffs) == (5, 1, pytest.approx(scipy_stats.binomtest(1, 6).pvalue))
    assert stats.sign_test([-1] * 6)[2] == pytest.approx(2 / 64) and stats.sign_test([-1] * 5)[2] == 2 / 32
    assert stats.sign_test([0.0, -1, 1]) == (1, 1, 1.0)  # a tie is dropped
    b_low, b_high = stats.bootstrap_interval(diffs)
    assert min(diffs) <= b_low < sum(diffs) / 6 < b_high <= max(diffs)
    # Verdicts: significant both ways, a gain ruled out at the paper's size, and too wide to say.
    assert stats.summary([100] * 6, [98, 97, 99, 98.5, 97.5, 98])["verdict"] == "holds"
    assert stats.summary([100] * 6, [102, 103, 101, 101.5, 102.5, 102])["verdict"].startswith("does not hold")
    assert stats.summary([100] * 6, [99.8, 100.1, 99.9, 100.2, 99.7, 100.0], paper_gain=0.1)["verdict"] == \
        "does not hold (gain below the paper's)"
    assert stats.summary([100] * 6, [80, 120, 90, 110, 99, 101], paper_gain=0.1)["verdict"] == "inconclusive"


def _wait_for(pattern, proc, timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = glob.glob(pattern)
        if found:
            return found
        assert proc.poll() is None, "run.py ended before the first checkpoint"
        time.sleep(0.1)
    raise AssertionError(f"nothing matched {pattern} within {timeout} s")


def test_grid_runs_resumes_after_kill_skips_finished_and_reports(tiny):
    grid_path, root = tiny
    grid = common.load_grid(grid_path)
    ns, hinge = common.expand(grid)
    args = (f"--grid={grid_path}", f"--root={root}", "--feature_net=thumbnail")

    # Sitting 1: kill -9 the harness and its worker as soon as the first run wrote its first checkpoint.
    proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(os.path.join(root, "runs", ns.id, "checkpoints", "ckpt-*.index"), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not os.path.exists(os.path.join(root, "runs", hinge.id))

    # Sitting 2: the interrupted run continues from its checkpoint, the other one starts.
    r = cli("run.py", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    log = open(os.path.join(root, "logs", f"{ns.id}.log")).read()
    assert "resuming" in log and "from step 8" in log, log
    steps = [json.loads(line)["step"] for line in open(os.path.join(root, "runs", ns.id, "stats.jsonl"))]
    assert steps == [8, 16]  # each tick logged once, none trained twice
    rows = common.read_results(root)
    for run in (ns, hinge):
        mine = [row for row in rows if row["run"] == run.id and row["num_fakes"] == 200]
        assert [row["kimg"] for row in mine] == [0.064, 0.128], mine
        # At the budget, final_num_fakes too (one pass of 300 fakes; the first 200 give the row above).
        final = [row for row in rows if row["run"] == run.id and row["num_fakes"] == 300]
        assert [row["kimg"] for row in final] == [0.128] and final[0]["fid"] != mine[-1]["fid"], final
        for row in mine:
            assert set(FIELDS) <= set(row), sorted(set(FIELDS) - set(row))
            assert (row["grid"], row["label"], row["seed"]) == ("tiny", run.label, 0)
            assert row["feature_net"] == "thumbnail" and row["reference"] == "embedded"
            assert row["fid"] >= 0 and math.isfinite(row["kid"]) and 0 <= row["precision"] <= 1
            assert 0 <= row["recall"] <= 1 and row["train_seconds"] > 0 and row["img_per_s"] > 0
            assert row["step"] * 8 / 1000 == row["kimg"]
    # The real statistics were computed once and cached for both runs.
    assert len(os.listdir(os.path.join(root, "metric_cache"))) == 1

    # Sitting 3: nothing left to do: both runs are skipped without starting a worker.
    t0 = time.time()
    r = cli("run.py", *args)
    assert r.returncode == 0 and r.stdout.count("skipped") == 2, r.stdout + r.stderr
    assert len(common.read_results(root)) == len(rows) and time.time() - t0 < 30

    # The report: a table with both configurations and a PNG plot, plus the best run's samples.
    out = os.path.join(root, "report")
    r = cli("report.py", f"--root={root}", f"--out={out}", f"--grids={grid_path}", "--feature_net=thumbnail")
    assert r.returncode == 0, r.stderr
    md = open(os.path.join(out, "results.md")).read()
    assert "| config | seeds | kimg | FID |" in md
    for label in ("ns", "hinge"):
        assert f"| {label} | 0 | 0.128 |" in md, md
    # The compare pair at each point (and with 300 fakes at the budget), with the paired difference computed
    # here from the result lines; one seed: no interval, an even sign test.
    fid = {(r["label"], r["target_kimg"], r["num_fakes"]): r["fid"] for r in common.read_results(root)}
    for i, (k, n) in enumerate(((0.064, 200), (0.128, 200), (0.128, 300))):
        a, b = fid[("ns", k, n)], fid[("hinge", k, n)]
        row = (f"| {'tiny: ns → hinge' if i == 0 else ''} | {'P' if i == 0 else ''} | {k:g} | {n} | 0 | "
               f"{a:.1f} → {b:.1f} | {b - a:+.1f} - | - | {int(b < a)}/{int(b > a)}, p 1.000 | inconclusive |")
        assert row in md, (row, md)
    assert "At the budget with 300 fakes" in md
    from PIL import Image
    with Image.open(os.path.join(out, "tiny.png")) as img:
        assert img.format == "PNG" and img.size[0] == 900
        colors = img.convert("RGB").getcolors(1 << 20)
        assert len(colors) > 10  # lines, text and axes drawn, not a blank canvas
    assert os.path.exists(os.path.join(out, "tiny_best.png"))
    assert os.path.exists(os.path.join(out, "results.jsonl"))

    # Results carried to a machine without the run directories: the table is rebuilt, and the best run's
    # earlier sample grid is kept and said to be kept.
    os.rename(os.path.join(root, "runs"), os.path.join(root, "runs_elsewhere"))
    before = open(os.path.join(out, "tiny_best.png"), "rb").read()
    r = cli("report.py", f"--root={root}", f"--out={out}", f"--grids={grid_path}", "--feature_net=thumbnail")
    assert r.returncode == 0, r.stderr
    md = open(os.path.join(out, "results.md")).read()
    assert "not on this machine" in md and "was left as an earlier report wrote it" in md, md
    assert open(os.path.join(out, "tiny_best.png"), "rb").read() == before


def test_a_killed_harness_interrupts_its_training_child(tmp_path):
    """common.child_preexec: the child gets SIGINT (Ctrl-C: train saves and stops) when the harness dies."""
    flag = tmp_path / "child"
    child = ("import time\n"
             "try:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
             f"    open({str(flag)!r}, 'w').write('interrupted')\n")
    parent = ("import subprocess, sys, time\nfrom experiments import common\n"
              f"subprocess.Popen([sys.executable, '-c', {child!r}], preexec_fn=common.child_preexec())\n"
              "print('started', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    assert sorted(proc.stdout.readline().strip() for _ in range(2)) == ["ready", "started"]  # child in its sleep
    proc.kill()  # SIGKILL: the harness gets no chance to clean up
    proc.wait()
    for _ in range(100):
        if flag.exists():
            break
        time.sleep(0.1)
    assert flag.exists() and flag.read_text() == "interrupted"


def test_a_run_another_sitting_holds_is_skipped(tiny):
    import fcntl

    grid_path, root = tiny
    os.makedirs(os.path.join(root, "logs"))
    held = []
    for run in common.expand(common.load_grid(grid_path)):
        f = open(os.path.join(root, "logs", f"{run.id}.lock"), "w")
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(f)
    r = cli("run.py", f"--grid={grid_path}", f"--root={root}", "--feature_net=thumbnail")
    assert r.returncode == 0 and r.stdout.count("busy in another sitting, skipped") == 2, r.stdout + r.stderr
    assert not os.path.exists(os.path.join(root, "runs")) and not common.read_results(root)
    for f in held:
        f.close()


def test_clock_evaluates_the_checkpoint_of_each_mark(tmp_path):
    """experiments/clock.py: README command 1 on a tiny config, Ctrl-C at the last mark, the newest checkpoint
    written by each mark evaluated (none by a mark before the first checkpoint), rerun = evaluation only."""
    from experiments import clock

    assert clock.at_marks([(5.0, "a"), (9.0, "b"), (20.0, "c")], [1.0, 9.0, 19.9, 99.0]) == \
        [None, (9.0, "b"), (9.0, "b"), (20.0, "c")]
    grid = tmp_path / "tiny.py"
    grid.write_text(TINY)
    config = tmp_path / "tiny_config.py"
    config.write_text(
        "from keras_attngan.config import apply_overrides\n"
        "from configs.demo import get_config as demo\n\n\n"
        "def get_config():\n"
        "    c = demo()\n"
        "    apply_overrides(c, {**%r, 'train.total_kimg': 1000.0, 'train.tick_kimg': 0.064, "
        "'train.ckpt_kimg': 0.064, 'train.sample_kimg': 0.064})\n"
        "    return c\n" % (common.load_grid(str(grid))["overrides"],))
    root = tmp_path / "root"
    args = (f"--config={config}", f"--root={root}", "--label=tiny", "--minutes=0.02,0.35", f"--metrics_of={grid}",
            "--feature_net=thumbnail", "--nomeasure_peak", "--overrides=train.sample_kimg=0.128")
    r = cli("clock.py", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no checkpoint by 0.02 min" in r.stdout
    rows = [json.loads(line) for line in open(root / "clock.jsonl")]
    assert len(rows) == 1
    row = rows[0]
    assert row["minutes"] == 0.35 and row["checkpoint_minutes"] <= 0.35 and not row["finished_before_mark"]
    assert row["kimg"] > 0 and math.isfinite(row["fid"]) and row["num_fakes"] == 200
    log = open(root / "clock" / "tiny.log").read()
    # Stopped with Ctrl-C at the mark, not finished; the checkpoint saved then is the one evaluated for it.
    assert f"interrupted at step {row['step']}: saved" in log and row["checkpoint_minutes"] > 0.3, (row, log[-500:])
    r = cli("clock.py", *args)
    assert r.returncode == 0 and "evaluating only" in r.stdout
    assert len(open(root / "clock.jsonl").read().splitlines()) == 2
    run_config = json.load(open(root / "clock" / "tiny" / "config.json"))
    assert row["overrides"] == ["train.sample_kimg=0.128"] and run_config["train"]["sample_kimg"] == 0.128
    r = cli("clock.py", f"--root={root}", "--minutes=0")
    assert r.returncode == 2 and "--minutes must be positive" in r.stderr
    r = cli("clock.py", f"--root={root}", "--label=other", "--overrides=batch8", "--nomeasure_peak")
    assert r.returncode == 2 and "'batch8' is not key=value" in r.stderr and not (root / "clock" / "other").exists()


def test_throttle_quota_limits_a_childs_cpu_time():
    """experiments/throttle.py: a busy child inside a quota of 0.25 CPUs gets about a quarter of the wall time
    (where this machine lets us make cgroups; elsewhere the refusal is one line)."""
    from experiments import throttle

    try:
        quota = throttle.CpuQuota()
    except throttle.ThrottleError as e:
        assert "\n" not in str(e) and "throttling needs" in str(e)
        return
    try:
        quota.set(0.25)
        assert quota.cpus == 0.25
        busy = "import os, time\nt = time.time()\nwhile time.time() - t < 1.5: pass\nprint(os.times().user)"
        out = subprocess.run([sys.executable, "-c", busy], capture_output=True, text=True, preexec_fn=quota.preexec())
        assert 0.2 < float(out.stdout) < 0.55, out  # 1.5 s of wall time, 0.375 s of CPU allowed
        # A child still inside when the quota closes moves out with it: the cgroup is removed, the child lives on.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], preexec_fn=quota.preexec())
    finally:
        quota.close()
    try:
        assert not os.path.exists(quota.path) and child.poll() is None
    finally:
        child.kill()
        child.wait()
