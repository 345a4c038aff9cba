"""The ``augment`` section of a run's config, and its validation.

One ``augment`` ConfigDict names the augmentation that everything D sees goes through (reals and fakes in
the D step, fakes in the G step, R1's reals, ADA's statistic): see :mod:`keras_attngan.augment`.

    augment.name        none | diffaugment | ada | simclr | simclr_hq | simclr_hq_cutout (ContraD)
    augment.policy      DiffAugment ops, comma-separated, applied in this order: color, translation, cutout
    augment.p           ADA: -1 adapts p (starting at 0); a value in [0, 1] is a fixed p
    augment.target      ADA with adaptive p: the target of E[sign(D(x_real))] (0.6); 0 with a fixed p
    augment.speed_kimg  ADA: p can go from 0 to 1 in this many thousand images (500)
    augment.interval    ADA: p is adjusted every this many steps (4)

Every check raises a one-line ``ValueError`` naming the field and the allowed values.
"""

import ml_collections

NAMES = ("none", "diffaugment", "ada", "simclr", "simclr_hq", "simclr_hq_cutout")  # simclr*: ContraD's T
POLICY_OPS = ("color", "translation", "cutout")
ADAPTIVE = -1.0


def default_augment_config():
    """No augmentation; the other fields hold the papers' defaults for when a name is set."""
    c = ml_collections.ConfigDict()
    c.name = "none"                 # none | diffaugment | ada
    c.policy = "color,translation,cutout"  # diffaugment: Zhao et al. 2020's policy for limited data
    c.p = ADAPTIVE                  # ada: -1 adaptive (from 0), or a fixed p in [0, 1]
    c.target = 0.6                  # ada, adaptive p: target of E[sign(D(real))]; 0 with a fixed p
    c.speed_kimg = 500.0            # ada: kimg for p to go from 0 to 1 at most
    c.interval = 4                  # ada: steps between adjustments of p
    return c


def check_name(name, field="augment.name"):
    if name not in NAMES:
        raise ValueError(f"{field}={name!r} is not one of: {', '.join(NAMES)}")
    return name


def parse_policy(policy, field="augment.policy"):
    """'color,translation,cutout' -> ('color', 'translation', 'cutout'); '' -> () (the identity)."""
    if not isinstance(policy, str):
        raise ValueError(f"{field}={policy!r} must be a comma-separated string of: {', '.join(POLICY_OPS)}")
    ops = tuple(op.strip() for op in policy.split(",") if op.strip())
    for op in ops:
        if op not in POLICY_OPS:
            raise ValueError(f"{field}={policy!r} has an unknown op {op!r}: use a comma-separated subset of "
                             f"{', '.join(POLICY_OPS)}")
    if len(set(ops)) != len(ops):
        raise ValueError(f"{field}={policy!r} repeats an op: use each of {', '.join(POLICY_OPS)} at most once")
    return ops


def check_ada(p, target, speed_kimg, interval, prefix="augment."):
    """ADA's fields: p is -1 (adaptive, then target in (0, 1)) or fixed in [0, 1] (then target 0)."""
    p, target = float(p), float(target)
    if p != ADAPTIVE and not 0.0 <= p <= 1.0:
        raise ValueError(f"{prefix}p={p} must be in [0, 1] (a fixed p) or -1 (adaptive)")
    if p == ADAPTIVE and not 0.0 < target < 1.0:
        raise ValueError(f"{prefix}target={target} must be in (0, 1) for an adaptive p ({prefix}p=-1)")
    if p != ADAPTIVE and target != 0.0:
        raise ValueError(f"{prefix}p={p} is fixed but {prefix}target={target} is set: use {prefix}target=0 with a "
                         f"fixed p, or {prefix}p=-1 to adapt p towards the target")
    if not float(speed_kimg) > 0:
        raise ValueError(f"{prefix}speed_kimg={speed_kimg} must be > 0")
    if int(interval) != interval or interval < 1:
        raise ValueError(f"{prefix}interval={interval} must be an integer >= 1")


def validate_augment_config(cfg):
    """Checks an ``augment`` ConfigDict (see :func:`default_augment_config`); returns it."""
    check_name(cfg.name)
    if cfg.name == "diffaugment":
        parse_policy(cfg.policy)
    if cfg.name == "ada":
        check_ada(cfg.p, cfg.target, cfg.speed_kimg, cfg.interval)
    return cfg
