"""What every ``*_main.py`` entry point shares: a quiet TensorFlow start-up and one ``error:`` line.

Call :func:`quiet_tensorflow` before anything imports TensorFlow. TensorFlow 2.21 prints its C++
start-up banner (oneDNN, "Could not find cuda drivers", once per loaded library) before its logging is
initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide it; those lines are captured while TensorFlow is
imported and only lines that are not known start-up chatter are passed on. After import, C++ log
lines are hidden by ``TF_CPP_MIN_LOG_LEVEL=3`` (which also hides the harmless ``cuInit`` error
of machines without GPUs and grappler's "remapper failed" notes). Failures still reach the user: as
Python exceptions, which the entry points print as one ``error:`` line.

``--verbose`` on any entry point, ``KERAS_ATTNGAN_VERBOSE=1`` or an explicit ``TF_CPP_MIN_LOG_LEVEL``
in the environment shows everything TensorFlow prints.
"""

import os
import re
import sys
import tempfile

# Start-up lines TensorFlow prints on import on every machine (informational, not errors).
_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\] .*"
    r"|To enable the following instructions: .*in other operations, rebuild TensorFlow .*)$")


def verbose_requested(argv=None):
    argv = sys.argv if argv is None else argv
    return (os.environ.get("KERAS_ATTNGAN_VERBOSE", "") not in ("", "0")
            or any(a in ("--verbose", "--verbose=true", "--verbose=True", "--verbose=1") for a in argv))


def quiet_tensorflow(argv=None):
    """Imports TensorFlow with its start-up banner filtered out and its C++ logs at ERROR+ hidden,
    unless verbose output was asked for (see the module docstring). Returns the ``tensorflow`` module."""
    if verbose_requested(argv):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        import tensorflow as tf
        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines()
                    if line.strip() and not _BANNER.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
    return tf


def quiet_python_logs(argv=None):
    """Call in ``main`` (after absl parsed its flags): absl's INFO lines (TF's checkpoint saver's
    "Sharding callback duration", ...) only with --verbose."""
    from absl import logging

    logging.set_verbosity(logging.INFO if verbose_requested(argv) else logging.WARNING)


def fail(message):
    """Prints ``message`` as the one ``error:`` line of an entry point; returns exit code 2."""
    message = " ".join(str(message).split("\n")[0].split()) or "unknown error"
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2
