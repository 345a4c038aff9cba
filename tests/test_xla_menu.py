"""Every option of the config menu compiles under XLA: one training step with ``train.xla="on"`` on one CPU
device (each phase's forward, and so its backward, is ``tf.function(jit_compile=True)``, README "Scaling
out") ends with finite losses. Options are grouped so that five tiny trainers cover the menu: the five
losses, the four G attention modules, D self/reference attention (SAN), DiffAugment, ADA with a fixed p and
spectral normalization in G and D; two more cover ContraD (simclr_hq_cutout, a superset of the other SimCLR variants' ops; its heads, NT-Xent and
SupCon around the global-batch gathers) and GGDR (decoder, cosine loss, target warped by ADA's geometric
part). A graph op without an XLA kernel fails the compile with an error naming it. These steps are also the suite's
one training step per loss of the menu (test_losses checks the formulas)."""

import numpy as np
import pytest

from keras_attngan.training.loop import make_dataset
from keras_attngan.training.setup import build_trainer
from tests.helpers import tiny_config
from tests.test_training import run_steps

ATTN = dict(patch_size=3, share_planes=4)

MENU = {
    # loss: (G attention, D attention, augment, weight norms G/D)
    "dual_contrastive": ("san", "reference", dict(name="ada", p=0.5, target=0.0), ("spectral", "spectral")),
    "ns": ("sagan", "self", dict(name="diffaugment", policy="color,translation,cutout"), None),
    "saturating": ("dfn", None, None, None),
    "wgan_gp": ("vt", None, None, None),
    "hinge": (None, "self", None, (None, "spectral")),
}


@pytest.mark.parametrize("loss", list(MENU))
def test_one_xla_step_is_finite(loss):
    g_attn, d_attn, augment, norms = MENU[loss]
    config = tiny_config(resolution=8, batch_size=4, xla="on", r1_interval=1, pl_interval=1)
    config.loss.name = loss
    if g_attn:
        config.model.g_attention.update(type=g_attn, resolution=8, **ATTN)
    if d_attn:
        config.model.d_attention.update(type=d_attn, module="san", resolution=8, **ATTN)
    if augment:
        config.augment.update(**augment)
    for side, norm in zip("gd", norms or ()):
        if norm:
            config.model[f"{side}_weight_norm"] = norm
    trainer = build_trainer(config)
    assert trainer.xla
    dataset = make_dataset(config, 0, references=trainer.discriminator.uses_reference)
    logs = run_steps(trainer, dataset, 1)  # r1/pl intervals 1: every phase runs (and compiles) in this step
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["r1_penalty"] > 0


METHODS = {
    "contrad_simclr_hq_cutout": dict(contrad=dict(enabled=True, hidden=16, proj_dim=8, augment="simclr_hq_cutout")),
    "ggdr_ada": dict(ggdr=dict(weight=10.0, resolution=8), augment=dict(name="ada", p=0.5, target=0.0)),
}


@pytest.mark.parametrize("method", list(METHODS))
def test_methods_compile_with_xla(method):
    config = tiny_config(resolution=8, batch_size=4, xla="on", r1_interval=1, pl_interval=1)
    for section, fields in METHODS[method].items():
        config[section].update(**fields)
    trainer = build_trainer(config)
    assert trainer.xla and trainer.terms  # the method's objective term is part of the compiled step
    logs = run_steps(trainer, make_dataset(config, 0), 1)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert any(k.startswith(("contrad", "ggdr")) for k in logs), logs
