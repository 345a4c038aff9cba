"""The project's own console lines: ``warning: ...`` once per process, and TensorFlow's Python-logger
warnings that are expected here kept off the console (or replaced by a ``warning:`` line of our own)."""

import contextlib
import logging

_SEEN = set()


def warn(message):
    """Prints ``warning: <message>`` once per process (a dataset built twice, for the sample grid's reals
    and for training, warns once)."""
    if message in _SEEN:
        return
    _SEEN.add(message)
    print(f"warning: {message}", flush=True)


class _Expected(logging.Filter):
    """TensorFlow warnings about what this project does on purpose: a rollback after a divergence retraces
    the train step with a new seed, so TF's "triggered tf.function retracing" note has nothing to fix."""

    NOTES = ("triggered tf.function retracing",)

    def filter(self, record):
        return not any(note in record.getMessage() for note in self.NOTES)


def hide_expected_tf_warnings():
    """Installs the filter on TensorFlow's Python logger (idempotent)."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _Expected) for f in logger.filters):
        logger.addFilter(_Expected())


@contextlib.contextmanager
def tf_warnings_hidden():
    """TensorFlow's Python-logger warnings off for the block, where the caller reports the problem itself
    (e.g. a corrupt checkpoint list, which TF logs as a protobuf ParseError and "Checkpoint ignored")."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
