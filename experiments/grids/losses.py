"""Paper Table 1: the GAN losses on the same StyleGAN2 (small model, Fashion-MNIST 32x32)."""
from experiments.grids._small import (BASE, DEMO_MODEL_BEFORE_27, DUAL, EVAL_KIMG, HEADLINE_SEEDS,
                                        KIMG, METRICS, OVERRIDES, TICK_KIMG)

GRID = dict(
    title="Losses (paper Table 1)", paper="Table 1",
    base=BASE, overrides=OVERRIDES, pinned=DEMO_MODEL_BEFORE_27,
    metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0],
    runs=[
        {"label": "ns", "seeds": HEADLINE_SEEDS},
        {"label": "saturating", "overrides": {"loss.name": "saturating"}},
        {"label": "wgan_gp", "overrides": {"loss.name": "wgan_gp"}},
        {"label": "hinge", "overrides": {"loss.name": "hinge"}},
        {"label": "dual_contrastive", "overrides": DUAL, "seeds": HEADLINE_SEEDS},
    ],
    compare=[{"name": "Table 1: ns → dual contrastive", "baseline": "ns", "method": "dual_contrastive",
              "paper": "FFHQ 4.86 → 3.98, Bedroom 4.01 → 3.86, "
                       "Church 4.54 → 3.73, Horse 3.91 → 3.70, CLEVR 9.62 → 6.06"}],
)
