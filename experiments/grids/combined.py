"""Paper Table 6: SAN in G and the dual contrastive loss, alone and together."""
from experiments.grids._small import BASE, DUAL, EVAL_KIMG, KIMG, METRICS, OVERRIDES, SAN16, TICK_KIMG

GRID = dict(
    title="SAN in G and the dual contrastive loss combined (paper Table 6)", paper="Table 6",
    base=BASE, overrides=OVERRIDES, metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0],
    runs=[
        {"label": "ns"},
        {"label": "ns + san", "overrides": SAN16},
        {"label": "dual_contrastive", "overrides": DUAL},
        {"label": "dual_contrastive + san", "overrides": {**DUAL, **SAN16}},
    ],
)
