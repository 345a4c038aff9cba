"""Paper Table 5 / Fig. 6: attention in D (none, self-attention, reference attention; SAN at 8x8, Eq. 8) at
1k, 5k and 60k training images (data.subset; 60k = the whole training split)."""
from experiments.grids._small import (BASE, DEMO_MODEL_BEFORE_27, EVAL_KIMG, HEADLINE_SEEDS, KIMG,
                                        METRICS, OVERRIDES, TICK_KIMG)

ATTN = {"module": "san", "variant": "eq8", "resolution": 8, "patch_size": 5, "share_planes": 8}


def _runs():
    runs = []
    for size, subset in (("1k", 1000), ("5k", 5000), ("60k", 0)):
        for kind in ("none", "self", "reference"):
            o = {} if subset == 0 else {"data.subset": subset}
            if kind != "none":
                o.update({"model.d_attention.type": kind}, **{f"model.d_attention.{k}": v for k, v in ATTN.items()})
            headline = size == "1k" and kind in ("none", "reference")
            runs.append({"label": f"{kind}_{size}", "overrides": o, "seeds": HEADLINE_SEEDS if headline else [0]})
    return runs


GRID = dict(
    title="Attention in D by training-set size (paper Table 5, Fig. 6)", paper="Table 5, Fig. 6",
    base=BASE, overrides=OVERRIDES, pinned=DEMO_MODEL_BEFORE_27,
    metrics=METRICS, tick_kimg=TICK_KIMG, eval_kimg=EVAL_KIMG, kimg=KIMG,
    seeds=[0], runs=_runs(),
    compare=[{"name": "Table 5 / Fig. 6: no attention → reference attention in D, 1k images", "baseline": "none_1k",
              "method": "reference_1k", "paper": "1k images: CelebA 55.71 → 43.19, Animal Face 181.26 → 123.08, "
                                                  "Bedroom 230.40 → 79.81, Church 107.31 → 43.05"}],
)
