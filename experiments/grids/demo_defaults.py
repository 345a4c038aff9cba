"""Quality of the demo's defaults (issue #14): configs/demo.py's model on its embedded 5k images, one knob at a
time against the defaults it had before this grid (R1 gamma 0.1, 4-layer mapping, batch 32, lr 0.0025),
evaluated as the demo's headline figure (5,000 fakes against the first 5,000 Fashion-MNIST test images) at
30 and 60 kimg (60 kimg: about 10 minutes of README command 1 on the slower of the machines this project
was measured on). Every run spells out all the knobs, so the grid means the same after a default changes."""
from experiments.grids._small import DEMO_MODEL_BEFORE_27

OLD = {"train.r1_gamma": 0.1, "model.mapping_layers": 4, "train.batch_size": 32,
       "train.g_lr": 0.0025, "train.d_lr": 0.0025}


def _knobs(**changes):
    return {**OLD, **{k.replace("__", "."): v for k, v in changes.items()}}


GRID = dict(
    title="Demo defaults (configs/demo.py, embedded 5k images)", paper="-",
    base="configs/demo.py", pinned=DEMO_MODEL_BEFORE_27, overrides={"data.source": "embedded"}, tick_kimg=2,
    eval_kimg=[30], kimg=60,
    seeds=[0], metrics={"num_fakes": 5000, "num_reals": 5000, "reference": "fashion_mnist:test"},
    runs=[
        {"label": "old_defaults", "overrides": _knobs()},
        {"label": "r1_0.01", "overrides": _knobs(train__r1_gamma=0.01)},
        {"label": "r1_0.01_map2", "overrides": _knobs(train__r1_gamma=0.01, model__mapping_layers=2)},
        {"label": "r1_0.01_batch16", "overrides": _knobs(train__r1_gamma=0.01, train__batch_size=16)},
        {"label": "r1_0.01_batch8", "overrides": _knobs(train__r1_gamma=0.01, train__batch_size=8)},
        {"label": "batch16", "overrides": _knobs(train__batch_size=16)},
        {"label": "r1_0.01_lr0.005", "overrides": _knobs(train__r1_gamma=0.01, train__g_lr=0.005,
                                                          train__d_lr=0.005)},
    ],
    compare=[{"name": "demo defaults: old → batch 8 + R1 gamma 0.01", "baseline": "old_defaults",
              "method": "r1_0.01_batch8", "paper": "- (not in the paper)"}],
)
