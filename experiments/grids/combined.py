"""Paper Table 6: SAN in G and the dual contrastive loss, alone and together."""
from experiments.grids._small import (BASE, DEMO_MODEL_BEFORE_27, DUAL, EVAL_KIMG, KIMG,
                                        METRICS, OVERRIDES, SAN16, TICK_KIMG)

GRID = dict(
    title="SAN in G and the dual contrastive loss combined (paper Table 6)", paper="Table 6",
    base=BASE, overrides=OVERRIDES, pinned=DEMO_MODEL_BEFORE_27,
    metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0],
    runs=[
        {"label": "ns"},
        {"label": "ns + san", "overrides": SAN16},
        {"label": "dual_contrastive", "overrides": DUAL},
        {"label": "dual_contrastive + san", "overrides": {**DUAL, **SAN16}},
    ],
    compare=[{"name": "Table 6: ns → dual contrastive + SAN", "baseline": "ns", "method": "dual_contrastive + san",
              "paper": "FFHQ 4.86 → 4.63, Bedroom 4.01 → 3.31, "
                       "Church 4.54 → 3.39, Horse 3.91 → 2.97, CLEVR 9.62 → 5.05"}],
)
