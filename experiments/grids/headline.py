"""The paper's three headline comparisons at the demo's settings (issue #27), 6 seeds per arm, to 60 kimg.

configs/demo.py's model and training settings (batch 8, R1 gamma 0.01, 4-layer mapping, lr 0.0025; pinned here,
so the grid keeps its meaning if the demo's defaults change) on Debian's 60,000 Fashion-MNIST training images
(zero-padded to 32x32), and the first 1,000 of them for the attention-in-D pair (paper Table 5's 1k setting):

- Table 1: ns → dual contrastive (Eq. 1-3 after 2 kimg of ns warm-up);
- Table 3: no attention → SAN (Eq. 4-7) replacing G's 16x16 convolution (the ns arm is the baseline);
- Table 5: no attention → reference attention in D at 8x8 (Eq. 8, SAN module, patch 5), 1k images;
- and the dual contrastive loss at batch 32 (3 seeds): batch 8 gives Eq. 1-3 only 7 negatives per anchor.

Evaluation: the EMA generator, no truncation, 1,000 fakes at 20 and 40 kimg and 5,000 at 60 kimg (the first
1,000 of those continue the 1k curve), against the first 5,000 Fashion-MNIST *test* images (the demo's measure;
held out from every arm). Seeds run in order (every arm of seed 0, then seed 1, ...), so the pairs complete as
the grid goes; report.py gives paired differences with 95% intervals and an exact sign test.
"""
from experiments.grids._small import DEMO_MODEL_BEFORE_27

DEMO = {"data.source": "fashion_mnist:train", "train.batch_size": 8, "train.r1_gamma": 0.01,
        "model.mapping_layers": 4, "train.g_lr": 0.0025, "train.d_lr": 0.0025}
SEEDS = [0, 1, 2, 3, 4, 5]
DUAL = {"loss.name": "dual_contrastive", "loss.warmup_kimg": 2.0}
SAN16 = {"model.g_attention.type": "san", "model.g_attention.resolution": 16}
REFERENCE = {"model.d_attention.type": "reference", "model.d_attention.module": "san",
             "model.d_attention.variant": "eq8", "model.d_attention.resolution": 8,
             "model.d_attention.patch_size": 5, "model.d_attention.share_planes": 8}

GRID = dict(
    title="Headline comparisons at the demo's settings (batch 8, 60 kimg, 6 seeds)", paper="Tables 1, 3, 5",
    base="configs/demo.py", pinned=DEMO_MODEL_BEFORE_27, overrides=DEMO, tick_kimg=2, eval_kimg=[20, 40], kimg=60,
    seeds=SEEDS, order="seed",
    metrics={"num_fakes": 1000, "final_num_fakes": 5000, "num_reals": 5000, "reference": "fashion_mnist:test"},
    runs=[
        {"label": "ns"},
        {"label": "dual_contrastive", "overrides": DUAL},
        {"label": "san", "overrides": SAN16},
        {"label": "none_1k", "overrides": {"data.subset": 1000}},
        {"label": "reference_1k", "overrides": {"data.subset": 1000, **REFERENCE}},
        {"label": "dual_contrastive_b32", "overrides": {**DUAL, "train.batch_size": 32}, "seeds": [0, 1, 2]},
    ],
    compare=[
        {"name": "Table 1: ns → dual contrastive", "baseline": "ns", "method": "dual_contrastive",
         "paper": "FFHQ 4.86 → 3.98, Bedroom 4.01 → 3.86, Church 4.54 → 3.73, Horse 3.91 → 3.70, "
                  "CLEVR 9.62 → 6.06",
         "paper_gain": 0.037},  # the smallest relative gain of those: Bedroom, 3.7%
        {"name": "Table 3: no attention → SAN in G (16x16)", "baseline": "ns", "method": "san",
         "paper": "CelebA 9.84 → 8.60, Animal Face 36.55 → 32.72, Bedroom 19.33 → 16.36, Church 11.02 → 9.62",
         "paper_gain": 0.105},  # Animal Face, 10.5%
        {"name": "Table 5: no attention → reference attention in D, 1k images", "baseline": "none_1k",
         "method": "reference_1k", "paper": "1k images: CelebA 55.71 → 43.19, Animal Face 181.26 → 123.08, "
                                            "Bedroom 230.40 → 79.81, Church 107.31 → 43.05",
         "paper_gain": 0.225},  # CelebA, 22.5%
        {"name": "dual contrastive: batch 8 → batch 32", "baseline": "dual_contrastive",
         "method": "dual_contrastive_b32", "paper": "- (the paper trains at batch 32-64 with 8 GPUs)"},
    ],
)
