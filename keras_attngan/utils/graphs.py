"""How the package turns Python into TensorFlow graphs.

Every function here is traced with ``autograph=False``: the package writes its graph control flow explicitly
(``tf.cond`` / host-side schedules), so AutoGraph's source-to-source conversion of every Python function the
step calls (a few hundred Keras and package functions) only costs start-up time: about 2 of the 10 seconds the
first training step of a small model spends tracing on a 2-core CPU.
"""

import tensorflow as tf


def graph_function(fn=None, *, xla=False, **kwargs):
    """``tf.function(fn, autograph=False)``, XLA-compiled when ``xla``; usable as a decorator."""
    if fn is None:
        return lambda f: graph_function(f, xla=xla, **kwargs)
    return tf.function(fn, jit_compile=bool(xla), autograph=False, **kwargs)


def maybe_xla(fn, xla):
    """``fn`` XLA-compiled in its own graph function when ``xla``, else ``fn`` itself (traced in its caller)."""
    return graph_function(fn, xla=True) if xla else fn
