"""Paper Table 3: attention modules in G at 16x16 (replacing that resolution's non-up-sampling conv)."""
from experiments.grids._small import (BASE, DEMO_MODEL_BEFORE_27, EVAL_KIMG, HEADLINE_SEEDS, KIMG,
                                        METRICS, OVERRIDES, SAN16, TICK_KIMG)

GRID = dict(
    title="Attention in G at 16x16 (paper Table 3)", paper="Table 3",
    base=BASE, overrides=OVERRIDES, pinned=DEMO_MODEL_BEFORE_27,
    metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0],
    runs=[
        {"label": "none", "seeds": HEADLINE_SEEDS},
        {"label": "san", "overrides": SAN16, "seeds": HEADLINE_SEEDS},
        {"label": "sagan", "overrides": {"model.g_attention.type": "sagan", "model.g_attention.resolution": 16}},
        {"label": "dfn", "overrides": {"model.g_attention.type": "dfn", "model.g_attention.resolution": 16}},
        {"label": "vt", "overrides": {"model.g_attention.type": "vt", "model.g_attention.resolution": 16}},
    ],
    compare=[{"name": "Table 3: no attention → SAN in G (16x16)", "baseline": "none", "method": "san",
              "paper": "CelebA 9.84 → 8.60, "
                       "Animal Face 36.55 → 32.72, Bedroom 19.33 → 16.36, Church 11.02 → 9.62"}],
)
