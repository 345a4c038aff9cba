"""The ``augment`` section of a run's config, and its validation.

One ``augment`` ConfigDict names the augmentation that everything D sees goes through (reals and fakes in
the D step, fakes in the G step, R1's reals, ADA's statistic): see :mod:`keras_attngan.augment`.

    augment.name        none | diffaugment | ada | simclr | simclr_hq | simclr_hq_cutout (ContraD)
    augment.policy      DiffAugment ops, comma-separated, applied in this order: color, translation, cutout
    augment.p           ADA: -1 adapts p (starting at 0); a value in [0, 1] is a fixed p
    augment.target      ADA with adaptive p: the target of E[sign(D(x_real))] (0.6); 0 with a fixed p
    augment.speed_kimg  ADA: p can go from 0 to 1 in this many thousand images (500)
    augment.interval    ADA: p is adjusted every this many steps (4)

Each augmentation registers itself in :data:`keras_attngan.registry.AUGMENTATIONS` where it is defined,
with the defaults of the fields it reads and their check; this module assembles the section from them and
dispatches the check to the named one. Every check raises a one-line ``ValueError`` naming the field and
the allowed values.
"""

import ml_collections

from keras_attngan.registry import AUGMENTATIONS

POLICY_OPS = ("color", "translation", "cutout")
ADAPTIVE = -1.0


def default_augment_config():
    """No augmentation; the other fields hold each augmentation's defaults (the papers') for when it is named."""
    c = ml_collections.ConfigDict()
    c.name = "none"
    for entry in AUGMENTATIONS.entries():
        for key, value in (entry.config or {}).items():
            c[key] = value
    return c


def check_name(name, field="augment.name"):
    AUGMENTATIONS.entry(name, field)
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
    """Checks an ``augment`` ConfigDict (see :func:`default_augment_config`) with the check the named
    augmentation registered; returns it."""
    entry = AUGMENTATIONS.entry(cfg.name, "augment.name")
    if entry.validate is not None:
        entry.validate(cfg)
    return cfg


def build(cfg):
    """The augmentation an ``augment`` ConfigDict describes: the named class's ``from_config`` (its
    constructor checks its arguments, naming the ``augment.*`` field)."""
    obj = AUGMENTATIONS.get(cfg.name, "augment.name")
    return obj.from_config(cfg) if hasattr(obj, "from_config") else obj()


def get(name, **kwargs):
    """The augmentation ``name`` built with ``kwargs`` (its constructor's arguments). Build ADA inside
    ``strategy.scope()``: it owns a variable."""
    return AUGMENTATIONS.get(name, "augment.name")(**kwargs)
