"""The related methods of the seeds (README "Other methods") at 1k and 60k images against the plain
baseline at the same sizes: the SAGAN recipe (keras_attngan.recipes.sagan, spelled out as overrides),
DiffAugment, ADA, ContraD, GGDR."""
from experiments.grids._small import BASE, DEMO_MODEL_BEFORE_27, EVAL_KIMG, KIMG, METRICS, OVERRIDES, TICK_KIMG

METHODS = {
    "baseline": {},
    "sagan": {"loss.name": "hinge", "loss.warmup_kimg": 0.0, "model.g_weight_norm": "spectral",
              "model.d_weight_norm": "spectral", "model.style_mixing_prob": 0.0,
              "model.g_attention.type": "sagan", "model.g_attention.resolution": 16,
              "model.d_attention.type": "self", "model.d_attention.module": "sagan",
              "model.d_attention.resolution": 16, "train.g_lr": 1e-4, "train.d_lr": 4e-4, "train.beta1": 0.0,
              "train.beta2": 0.9, "train.r1_gamma": 0.0, "train.pl_weight": 0.0},
    "diffaugment": {"augment.name": "diffaugment", "augment.policy": "color,translation,cutout"},
    "ada": {"augment.name": "ada", "augment.p": -1.0, "augment.target": 0.6, "augment.speed_kimg": 100.0,
            "augment.interval": 4},
    "contrad": {"contrad.enabled": True, "train.r1_interval": 1},
    "ggdr": {"ggdr.weight": 10.0, "ggdr.resolution": 8},
}


def _runs():
    runs = []
    for size, subset in (("1k", 1000), ("60k", 0)):
        for name, o in METHODS.items():
            o = dict(o) if subset == 0 else {**o, "data.subset": subset}
            runs.append({"label": f"{name}_{size}", "overrides": o})
    return runs


GRID = dict(
    title="Methods of the seeds at 1k and 60k images", paper="(seeds 002-004)",
    base=BASE, overrides=OVERRIDES, pinned=DEMO_MODEL_BEFORE_27,
    metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0], runs=_runs(),
)
