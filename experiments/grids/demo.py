"""The README's headline figures: configs/demo.py exactly as README command 1 trains it (embedded 5k images,
seed 0), evaluated as issue #14 measured it: FID of 5,000 samples against the first 5,000 Fashion-MNIST
*test* images. 60 kimg is about 10 minutes of command 1 on an idle 2-core machine, 200 kimg (the config's
total) about 27-35 minutes."""

GRID = dict(
    title="configs/demo.py (README command 1)", paper="-",
    base="configs/demo.py", overrides={}, tick_kimg=4, eval_kimg=[60], kimg=200, seeds=[0],
    metrics={"num_fakes": 5000, "num_reals": 5000, "reference": "fashion_mnist:test"},
    runs=[{"label": "demo"}],
)
