"""Finite checks of a run's state: no NaN/inf checkpoint is written, restored for use, or exported."""

import numpy as np


def nonfinite_names(named):
    """Names (keys of ``named``, a dict name -> variable or tensor) whose values hold a NaN or inf.

    One host read per variable: cheap next to writing a checkpoint, which reads them all anyway."""
    bad = []
    for name, v in named.items():
        value = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            bad.append(name)
    return bad
