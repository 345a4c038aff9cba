"""What run.py and report.py share: grids, their runs, and the results file. No TensorFlow here, so the
report and the grid bookkeeping start in a blink."""

import ctypes
import dataclasses
import hashlib
import importlib.util
import json
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRIDS_DIR = os.path.join(ROOT, "experiments", "grids")
RESULTS = "results.jsonl"
DEFAULT_METRICS = {"num_fakes": 5000, "num_reals": 5000, "reference": "fashion_mnist:train"}
REQUIRED = ("base", "runs", "kimg")


class GridError(ValueError):
    """A grid that cannot be read or run; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Run:
    grid: str
    label: str
    seed: int
    overrides: tuple   # ((dotted field, value), ...) sorted: the grid's overrides, then the run's
    id: str            # <hash of base + overrides>-s<seed>: the run directory's name
    pinned: tuple = ()  # the grid's ``pinned`` settings: applied under the overrides, not part of the id


ORDER = ("losses", "g_attention", "d_attention", "combined", "seed_methods")  # the paper's order


def grid_names():
    names = [f[:-3] for f in os.listdir(GRIDS_DIR) if f.endswith(".py") and not f.startswith("_")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def load_grid(name_or_path):
    """The GRID dict of ``experiments/grids/<name>.py`` or of a .py file, checked, with defaults filled in."""
    path = name_or_path if name_or_path.endswith(".py") else os.path.join(GRIDS_DIR, name_or_path + ".py")
    if not os.path.isfile(path):
        raise GridError(f"no grid {name_or_path!r}: pass one of {', '.join(grid_names())} or a .py file "
                        "that defines GRID")
    spec = importlib.util.spec_from_file_location("grid_" + os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a syntax error or a bad import in a grid file
        raise GridError(f"{path}: cannot load: {type(e).__name__}: {e}") from None
    grid = getattr(module, "GRID", None)
    if not isinstance(grid, dict):
        raise GridError(f"{path} does not define GRID = dict(...)")
    missing = [k for k in REQUIRED if k not in grid]
    if missing:
        raise GridError(f"{path}: GRID lacks {', '.join(missing)}")
    grid = dict(grid)
    grid.setdefault("name", os.path.basename(path)[:-3])
    grid.setdefault("title", grid["name"])
    grid.setdefault("seeds", [0])
    grid.setdefault("overrides", {})
    # Base-config values a grid fixes after its runs started (the base's defaults changed): applied like
    # overrides but left out of the run ids, so finished runs keep their directories and results.
    grid.setdefault("pinned", {})
    grid.setdefault("tick_kimg", 4)
    grid["metrics"] = {**DEFAULT_METRICS, **grid.get("metrics", {})}
    grid["path"] = path
    grid["eval_kimg"] = sorted({float(k) for k in grid.get("eval_kimg", ()) if 0 < k < grid["kimg"]})
    labels = [r.get("label") for r in grid["runs"]]
    if None in labels or len(set(labels)) != len(labels):
        raise GridError(f"{path}: every run needs a unique label, got {labels}")
    for c in grid.setdefault("compare", []):
        if not isinstance(c, dict) or not {"name", "baseline", "method"} <= set(c) or \
                not {c["baseline"], c["method"]} <= set(labels):
            raise GridError(f"{path}: each compare entry needs name, baseline and method, two of the labels {labels}; "
                            f"got {c!r}")
    for k in grid["eval_kimg"] + [float(grid["kimg"])]:
        if abs(k / grid["tick_kimg"] - round(k / grid["tick_kimg"])) > 1e-6:
            raise GridError(f"{path}: evaluation point {k} kimg is not a multiple of tick_kimg {grid['tick_kimg']}")
    return grid


def load_config(path):
    """``get_config()`` of a config file (a path relative to the repository or absolute); importing it is
    what brings in TensorFlow, so only the processes that train or evaluate call this."""
    spec = importlib.util.spec_from_file_location("base_config", os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def fake_counts(grid, kimg):
    """The numbers of fakes evaluated at point ``kimg``: the grid's ``num_fakes``, plus ``final_num_fakes`` at
    the budget."""
    m = grid["metrics"]
    final = m.get("final_num_fakes") if float(kimg) >= float(grid["kimg"]) else None
    return sorted({int(m["num_fakes"]), *([int(final)] if final else [])})


def run_config(grid, run):
    """The base config file with the grid's and run's overrides, the seed and the harness's intervals."""
    config = load_config(grid["base"])
    from keras_attngan.config import apply_overrides

    try:
        apply_overrides(config, {**dict(run.pinned), **dict(run.overrides)})
    except ValueError as e:
        raise GridError(f"grid {grid['name']}, run {run.label}: {e}") from None
    tick = float(grid["tick_kimg"])
    config.seed = run.seed
    config.train.update(tick_kimg=tick, ckpt_kimg=tick, sample_kimg=tick, keep_checkpoints=2, metrics="",
                        metrics_kimg=0.0)
    return config


def child_preexec(death_signal=signal.SIGINT):
    """A ``preexec_fn`` for the harness's training children: SIGINT back to its default (a job started in the
    background inherits it ignored; then Python installs no KeyboardInterrupt handler and a Ctrl-C would be lost),
    and on Linux ``death_signal`` when the harness dies, so a killed harness leaves no orphan training on."""
    def preexec():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(death_signal))  # 1 = PR_SET_PDEATHSIG
    return preexec


def run_id(base, overrides, seed):
    blob = json.dumps({"base": base, "overrides": [list(kv) for kv in overrides]}, sort_keys=True)
    return f"{hashlib.sha1(blob.encode()).hexdigest()[:10]}-s{int(seed)}"


def expand(grid, only=None, seeds=None):
    """The grid's runs (label order, then seed; seed first with ``order="seed"``), optionally only some labels
    and/or seeds."""
    if only:
        unknown = sorted(set(only) - {r["label"] for r in grid["runs"]})
        if unknown:
            raise GridError(f"grid {grid['name']} has no run labelled {', '.join(unknown)}: its labels are "
                            + ", ".join(r["label"] for r in grid["runs"]))
    runs = []
    for r in grid["runs"]:
        if only and r["label"] not in only:
            continue
        merged = {**grid["overrides"], **r.get("overrides", {})}
        overrides = tuple(sorted(merged.items()))
        for seed in r.get("seeds", grid["seeds"]):
            if seeds is not None and seed not in seeds:
                continue
            runs.append(Run(grid["name"], r["label"], int(seed), overrides, run_id(grid["base"], overrides, seed),
                            tuple(sorted(grid.get("pinned", {}).items()))))
    if grid.get("order") == "seed":  # every arm of seed 0, then of seed 1, ...: pairs complete as a grid goes
        runs.sort(key=lambda run: run.seed)  # stable: labels keep the grid's order within a seed
    return runs


def signature(metrics, feature_net):
    """What makes two evaluations comparable: the feature network, the counts and the reference set."""
    return {"feature_net": feature_net, "num_fakes": int(metrics["num_fakes"]), "num_reals": int(metrics["num_reals"]),
            "reference": metrics["reference"]}


def read_results(root):
    """The rows of ``<root>/results.jsonl`` (a line cut short by a kill is skipped)."""
    path = os.path.join(root, RESULTS)
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    return rows


def rows_of(rows, rid, sig):
    """The evaluations of run ``rid`` with signature ``sig``, by kimg."""
    out = [r for r in rows if r.get("run") == rid and all(r.get(k) == v for k, v in sig.items())]
    return sorted(out, key=lambda r: r["kimg"])


def nominal_kimg(row, tick_kimg):
    """The evaluation point a row belongs to: its ``target_kimg``, else its kimg rounded to whole ticks (a tick
    is a whole number of steps, so 2 kimg at batch 32 are 62 steps = 1.984 kimg)."""
    if "target_kimg" in row:
        return float(row["target_kimg"])
    return round(row["kimg"] / tick_kimg) * tick_kimg


def last_kimg(rows, rid, sig, tick_kimg):
    """The largest evaluation point done for the run (a failed run: inf), 0 when none."""
    done = rows_of(rows, rid, sig)
    if any(r.get("error") for r in done):
        return float("inf")
    return max((nominal_kimg(r, tick_kimg) for r in done), default=0.0)
