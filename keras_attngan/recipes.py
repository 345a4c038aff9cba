"""Method recipes applied on top of a base config: the related methods of the seeds as configurations.

Each function changes a ConfigDict in place and returns it, so ``configs/<method>_<data>.py`` is the
base config of a dataset plus one call.
"""


def sagan(c, attention_resolution=None):
    """SAGAN (Zhang et al. 2019, seed 002) on this project's StyleGAN2 backbone: hinge loss (Eq. 4),
    spectral normalization in G and D (Sec. 4; G's style path stays equalized, see ``Generator``), TTUR
    (G lr 1e-4, D lr 4e-4) with Adam betas (0, 0.9) (Sec. 5), SAGAN self-attention in G and D at 32x32
    (16x16 for 32 px images); no R1, no path-length regularization, no style mixing (none is in SAGAN).
    The backbone stays StyleGAN2's (mapping network, modulated convolutions, skip G, residual D) instead
    of SAGAN's ResNet: docs/methods.md, SAGAN recipe."""
    res = attention_resolution or (16 if c.model.resolution <= 32 else 32)
    c.loss.update(name="hinge", warmup_kimg=0.0)
    c.model.update(g_weight_norm="spectral", d_weight_norm="spectral", style_mixing_prob=0.0)
    c.model.g_attention.update(type="sagan", resolution=res)
    c.model.d_attention.update(type="self", module="sagan", resolution=res)
    c.train.update(g_lr=1e-4, d_lr=4e-4, beta1=0.0, beta2=0.9, r1_gamma=0.0, pl_weight=0.0)
    return c


def conditional(c, num_classes, d_mapping_layers=None):
    """Class-conditional training on a labelled source (docs/methods.md, class-conditional): the dataset
    yields labels (``data.labels``), G embeds the label beside z and D is a projection discriminator
    (``model.num_classes``). ``d_mapping_layers``: depth of D's label mapping (None keeps the config's,
    StyleGAN2-ADA's 8; 0 = the label embedding alone, Miyato & Koyama's projection as SAGAN uses it)."""
    c.data.labels = True
    c.model.num_classes = int(num_classes)
    if d_mapping_layers is not None:
        c.model.d_mapping_layers = int(d_mapping_layers)
    return c


def limited_data(c, subset=1000):
    """The paper's limited-data setting (Sec. 3.3, Fig. 6): train on the first ``subset`` images
    (``data.subset``, overridable on the command line)."""
    c.data.subset = subset
    return c
