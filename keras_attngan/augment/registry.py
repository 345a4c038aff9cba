"""Augmentations by name: ``get(name, **kwargs)`` and ``build(config.augment)``."""

from keras_attngan.augment.ada import ADA
from keras_attngan.augment.base import Identity
from keras_attngan.augment.config import NAMES, check_name, validate_augment_config
from keras_attngan.augment.diffaugment import DiffAugment
from keras_attngan.augment.simclr import SimCLR

_CLASSES = {"none": Identity, "diffaugment": DiffAugment, "ada": ADA, "simclr": SimCLR,
            "simclr_hq": lambda: SimCLR(blur=True), "simclr_hq_cutout": lambda: SimCLR(blur=True, cutout=True)}
assert set(_CLASSES) == set(NAMES)


def get(name, **kwargs):
    """The augmentation ``name`` built with ``kwargs`` (its constructor's arguments). Build ADA inside
    ``strategy.scope()``: it owns a variable."""
    return _CLASSES[check_name(name)](**kwargs)


def build(cfg):
    """The augmentation an ``augment`` ConfigDict describes (validated first)."""
    validate_augment_config(cfg)
    if cfg.name == "diffaugment":
        return get("diffaugment", policy=cfg.policy)
    if cfg.name == "ada":
        return get("ada", p=cfg.p, target=cfg.target, speed_kimg=cfg.speed_kimg, interval=cfg.interval)
    return get(cfg.name)
