"""The model and budget every grid shares (imported by the grid files; not a grid itself).

configs/demo.py's model (G 0.8M / D 0.9M parameters, 32x32x1, ~100-220 img/s on 2 idle CPU cores) with the
demo's training settings before #14 changed them (batch 32, R1 gamma 0.1; pinned here so the grids' runs keep
their meaning), on Debian's full Fashion-MNIST training split, zero-padded to 32x32. Evaluation: 1,000 generated images
against the first 5,000 training images (FID and unbiased KID), precision/recall k=3 against the first
1,000 of them; the real statistics are cached once in <root>/metric_cache.
"""

BASE = "configs/demo.py"
OVERRIDES = {"data.source": "fashion_mnist:train", "train.batch_size": 32, "train.r1_gamma": 0.1}
# configs/demo.py's model as these grids ran it: #27 made the demo narrower (fmap_base 256), with a 2-layer
# mapping and no style mixing; pinned (not in the run ids), so every grid keeps its runs and their meaning.
DEMO_MODEL_BEFORE_27 = {"model.fmap_base": 512, "model.mapping_layers": 4, "model.style_mixing_prob": 0.9}
METRICS = {"num_fakes": 1000, "num_reals": 5000, "reference": "fashion_mnist:train"}
TICK_KIMG = 2
EVAL_KIMG = [6, 12, 24]   # plus the budget
KIMG = 24                 # the budget: a grid fits in one sitting here (the machine may be reset between sittings)
HEADLINE_SEEDS = [0, 1, 2]
# Dual contrastive loss after a non-saturating warm-up (paper Sec. 4: ~20 epochs at full scale; here 2 kimg).
DUAL = {"loss.name": "dual_contrastive", "loss.warmup_kimg": 2.0}
SAN16 = {"model.g_attention.type": "san", "model.g_attention.resolution": 16}
