"""Step time of configuration variants against a baseline, in interleaved rounds: what a method costs.

    python -m bench.method_cost                                   # bench_32_e: none, DiffAugment, ADA p=0.5, SN
    python -m bench.method_cost --variants="none:;ada:augment.name=ada,augment.p=0.5,augment.target=0"
    python -m bench.method_cost --config=configs/bench_32_e.py --rounds=5 --steps=5

Each variant is ``label:field=value,field=value`` applied to the config (``label:`` alone = the config as
it is); the first variant is the reference of the relative columns. All trainers are built first, then
``--rounds`` rounds time ``--steps`` steps of every variant in turn (A, B, ..., A, B, ...), so that load from
other processes hits all alike. Step times are medians over rounds; the ratio is the median over rounds
of (variant / reference in the same round), the figure to trust on a shared machine. The step is the
full training step of the config (G main, D main, lazy R1 / path-length at their schedule, EMA).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from bench.common import train_step_timer

DEFAULT_VARIANTS = ("none:;"
                    "diffaugment:augment.name=diffaugment;"
                    "ada_p0.5:augment.name=ada,augment.p=0.5,augment.target=0;"
                    "spectral:model.g_weight_norm=spectral,model.d_weight_norm=spectral")

_CONFIG = config_flags.DEFINE_config_file("config", "configs/bench_32_e.py", "Config file (sizes).")
_VARIANTS = flags.DEFINE_string("variants", DEFAULT_VARIANTS, "label:field=value,...;label:...")
_STEPS = flags.DEFINE_integer("steps", 16, "Timed steps per variant and round (16: one R1 period).")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds; medians are reported.")
_WARMUP = flags.DEFINE_integer("warmup", 17, "Untimed steps first: enough for every lazy-regularization "
                               "schedule variant (R1 every 16, path length every 4) to be traced.")


def parse_variants(text):
    """'a:x.y=1,z.w=s;b:' -> [('a', {'x.y': 1, 'z.w': 's'}), ('b', {})] (values parsed as numbers when
    they are numbers)."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        label, _, body = item.partition(":")
        overrides = {}
        for pair in filter(None, (p.strip() for p in body.split(","))):
            key, _, value = pair.partition("=")
            try:
                value = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                pass
            overrides[key.strip()] = value
        out.append((label.strip(), overrides))
    return out


def main(argv):
    del argv
    from keras_attngan.config import apply_overrides, validate
    from keras_attngan.training.setup import build_trainer

    rows, timers = [], []
    for label, overrides in parse_variants(_VARIANTS.value):
        config = validate(apply_overrides(_CONFIG.value.copy_and_resolve_references(), overrides))
        trainer = build_trainer(config)
        rows.append((label, trainer.generator.count_params() + trainer.discriminator.count_params()))
        timers.append(train_step_timer(trainer, config, _WARMUP.value))
    # Lazy R1/PL make some steps dearer: --steps=16 times one whole period of both in every round.
    times = np.array([[timer(_STEPS.value) for timer in timers] for _ in range(_ROUNDS.value)])  # [round, variant]
    step, ratio = np.median(times, axis=0), np.median(times / times[:, :1], axis=0)
    b = _CONFIG.value.train.batch_size
    print(f"{_CONFIG.value.model.resolution}px batch {b}, full training step; {_ROUNDS.value} interleaved rounds "
          f"of {_STEPS.value} steps, medians")
    print(f"{'variant':14s} {'params (M)':>11s} {'step ms':>9s} {'img/s':>7s} {'ratio':>6s} {'d time':>7s}")
    for (label, params), dt, rt in zip(rows, step, ratio):
        print(f"{label:14s} {params / 1e6:11.3f} {dt * 1000:9.1f} {b / dt:7.1f} {rt:6.3f} {100 * (rt - 1):+6.1f}%")
    print("per-round step ms: " + "; ".join(
        f"{label} " + " ".join(f"{1000 * t:.0f}" for t in times[:, i]) for i, (label, _) in enumerate(rows)))


if __name__ == "__main__":
    app.run(main)
