"""Named experiment grids: each module here defines ``GRID``, a plain dict (no TensorFlow import), read by
``experiments/run.py`` and ``experiments/report.py``.

Keys of ``GRID``:

- ``title``: one line for the report; ``paper``: what it reproduces.
- ``base``: a config file (``configs/...py``, relative to the repository root); ``overrides``: dotted
  fields set on it for every run (``{"data.source": "fashion_mnist:train"}``).
- ``runs``: a list of ``{"label": ..., "overrides": {...}, "seeds": [...]}`` (``seeds`` optional).
- ``seeds``: the default seeds of a run; ``kimg``: the training budget; ``eval_kimg``: the kimg at which the
  EMA generator is also evaluated on the way (the budget itself always is); ``tick_kimg``: the tick (and
  checkpoint) interval, a divisor of every evaluation point.
- ``metrics``: ``{"num_fakes": N, "num_reals": M, "reference": source}``: FID and KID of N generated images
  against the first M images of ``reference`` (the full training split, whatever ``data.subset`` a run
  trains on), precision/recall (k=3) against the first N of those reals.

A run's directory is named by a hash of its base and overrides (the label does not enter it), plus the
seed: two grids that contain the same configuration share its runs.
"""
