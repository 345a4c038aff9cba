"""README command 1's model and data (configs/demo.py: embedded 5k images, seed 0) with the demo's training
settings before #14 changed them (batch 32, R1 gamma 0.1; pinned so this run keeps its meaning), evaluated as
issue #14 measured it: FID of 5,000 samples against the first 5,000 Fashion-MNIST *test* images. Its metric
set is also the one experiments/clock.py uses for the demo's figures by the clock (the current defaults)."""
from experiments.grids._small import DEMO_MODEL_BEFORE_27

GRID = dict(
    title="configs/demo.py with its defaults before #14 (batch 32, R1 gamma 0.1)", paper="-",
    base="configs/demo.py", pinned=DEMO_MODEL_BEFORE_27, overrides={"train.batch_size": 32, "train.r1_gamma": 0.1},
    tick_kimg=4,
    eval_kimg=[60], kimg=200, seeds=[0],
    metrics={"num_fakes": 5000, "num_reals": 5000, "reference": "fashion_mnist:test"},
    runs=[{"label": "demo"}],
)
