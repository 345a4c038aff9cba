"""Augmentations of everything D sees: ``none``, DiffAugment (Zhao et al. 2020), ADA (Karras et al. 2020) and
ContraD's SimCLR T (``simclr*``, Jeong & Shin 2021).

    aug = augment.build(config.augment)            # inside strategy.scope(): ADA owns a variable (p)
    params = aug.draw(local_batch, seed)           # outside XLA; per-replica rows of the global draw
    images = aug.apply(images, params)             # inside the XLA-compiled forward, before D
    fmap = aug.apply_geometric(g_feature, params)  # GGDR: the same geometric transform on G's feature map
    aug.observe(real_logits, step, global_batch)   # each D step: ADA's statistic E[sign(D(x))], its p

Both papers augment reals and fakes alike, in the D step and in the G step, with a differentiable
transform: call D in one place that augments first (stylegan2-ada-pytorch ``run_D``), so the losses, R1
(taken through the augmentation) and ADA's statistic E[sign(D(real))] all see the same pipeline. Each
call site draws its own params from its own seed. See :mod:`keras_attngan.augment.base` for the contract,
:mod:`.config` for the config fields.
"""

from keras_attngan.augment.ada import ADA, adjust_p, identity_params
from keras_attngan.augment.base import Augment, Identity
from keras_attngan.augment.config import build, default_augment_config, get, validate_augment_config
from keras_attngan.augment.diffaugment import DiffAugment
from keras_attngan.augment.simclr import SimCLR

__all__ = ["ADA", "Augment", "DiffAugment", "Identity", "SimCLR", "adjust_p", "build", "default_augment_config", "get",
           "identity_params", "validate_augment_config"]
