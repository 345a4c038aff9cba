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
import signal
import sys
import tempfile

# Start-up lines TensorFlow prints on import on every machine (informational, not errors).
_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\] .*"
    r"|To enable the following instructions: .*in other operations, rebuild TensorFlow .*)$")


_INTERRUPT = {"message": "interrupted", "code": 130}


def start(interrupted="interrupted", argv=None):
    """What every entry point does first, before anything imports TensorFlow.

    Ctrl-C (SIGINT) and SIGTERM at any moment end the process with one line (``interrupted``, the
    message for a Ctrl-C that no code below handles: while TensorFlow is imported, flags parsed, a model
    built) and exit code 130 (SIGTERM: 143) instead of a traceback; code that handles KeyboardInterrupt
    itself (the training loop saves a checkpoint) still gets it first. Then TensorFlow is imported with
    :func:`quiet_tensorflow`; returns the module."""
    _INTERRUPT["message"] = interrupted
    previous = sys.excepthook

    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            return previous(kind, value, tb)
        print(f"\n{_INTERRUPT['message']}", file=sys.stderr, flush=True)
        lock = sys.modules.get("keras_attngan.training.lock")
        if lock is not None:  # a workdir lock taken by code that did not get to release it
            lock.release_all()
        sys.stdout.flush()
        os._exit(interrupt_code())  # not sys.exit: TensorFlow's threads may keep a dying interpreter waiting

    def on_term(signum, frame):
        _INTERRUPT["code"] = 143
        handler = signal.getsignal(signal.SIGINT)  # SIGTERM does what Ctrl-C does at this moment
        if callable(handler) and handler is not on_term:
            return handler(signal.SIGINT, frame)
        raise KeyboardInterrupt

    sys.excepthook = hook
    signal.signal(signal.SIGTERM, on_term)
    return quiet_tensorflow(argv)


def interrupt_code():
    """130 after Ctrl-C, 143 after SIGTERM (128 + the signal's number, as shells report them)."""
    return _INTERRUPT["code"]


def verbose_requested(argv=None):
    argv = sys.argv if argv is None else argv
    return (os.environ.get("KERAS_ATTNGAN_VERBOSE", "") not in ("", "0")
            or any(a in ("--verbose", "--verbose=true", "--verbose=True", "--verbose=1") for a in argv))


def quiet_tensorflow(argv=None):
    """Imports TensorFlow with its start-up banner filtered out and its C++ logs at ERROR+ hidden,
    unless verbose output was asked for (see the module docstring), and applies
    ``KERAS_ATTNGAN_FAST_START`` (:func:`fast_start`). Returns the ``tensorflow`` module."""
    tf = _import_tensorflow(argv)
    fast_start(tf)
    return tf


def fast_start(tf):
    """``KERAS_ATTNGAN_FAST_START=1``: the slowest passes of TensorFlow's graph optimizer (Grappler) that a
    small model does not need are switched off (constant folding, fused kernels, layout, dependency, shape
    and loop optimisation), so its first steps start sooner: a tiny StyleGAN2's first training step on
    2 CPU cores takes about 7 s instead of 8.5, at the same memory; its steps may then run slower. For
    smoke runs of a config and for the test suite, which sets it; never for training that counts.
    (Switching Grappler off entirely saves a little more, but then a test-suite worker grew past 13 GB and
    was killed for memory.)"""
    if os.environ.get("KERAS_ATTNGAN_FAST_START", "") not in ("", "0"):
        tf.config.optimizer.set_experimental_options({
            name: False for name in ("constant_folding", "remapping", "layout_optimizer", "dependency_optimization",
                                     "shape_optimization", "loop_optimization")})


def _import_tensorflow(argv):
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


def parse_flags(argv):
    """absl's flag parsing with one ``error:`` line (exit 2) instead of a traceback for an unknown flag,
    an unknown config field (``--config.train.nope=1``), a bad value or a config file that fails to load."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.UnrecognizedFlagError as e:
        name = e.flagname
        if name.startswith("config."):
            message = (f"unknown config field {name[len('config.'):]!r} (--{name}): --dry_run prints every "
                       "field of the config")
        else:
            message = f"unknown flag --{name}: --helpfull lists the flags"
    except flags.Error as e:
        message = f"bad flag: {e}"
    except Exception as e:  # noqa: BLE001 -- a config file that fails to load (missing, syntax, ...)
        # With --config=<file> the overrides are applied here, as the file is loaded: an unknown field
        # raises AttributeError/KeyError from ml_collections, which must not be blamed on the file.
        message = (_unknown_field(e, argv) or
                   f"cannot load the config ({type(e).__name__}: {e}): check --config=<file.py>")
    sys.exit(fail(message))


def _unknown_field(error, argv, name=None):
    """The one line for an ``--<name>.a.b=v`` override naming a field the config does not have, or None
    when ``error`` is not about one of the overrides in ``argv``."""
    if not isinstance(error, (AttributeError, KeyError)):
        return None
    key = str(error).strip("\"'")
    prefix = f"--{name}." if name else "--"
    overrides = [a.split("=")[0] for a in argv[1:] if a.startswith(prefix) and "." in a.split("=")[0]]
    matches = [a for a in overrides if key in a.split(".")[1:]]
    if not matches and not (name and overrides):
        return None
    arg = (matches or overrides)[0]
    field = arg.split(".", 1)[1]
    return f"unknown config field {field!r} ({arg}): --dry_run prints every field of the config"


def define_config_flag(default, help_text, name="config"):
    """``config_flags.DEFINE_config_file`` whose failures are one ``error:`` line (exit 2): it applies the
    ``--config.a.b=v`` overrides as it is defined, so an unknown field fails here, before absl runs."""
    from ml_collections import config_flags

    try:
        return config_flags.DEFINE_config_file(name, default, help_text)
    except (AttributeError, KeyError) as e:
        sys.exit(fail(_unknown_field(e, sys.argv, name) or f"unknown config field {str(e)!r}: --dry_run prints "
                      "every field of the config"))
    except Exception as e:  # noqa: BLE001 -- the default config file fails to load
        sys.exit(fail(f"cannot load the config ({type(e).__name__}: {e}): check --{name}=<file.py>"))


def load_config(flag, name="config"):
    """The flag's ConfigDict; ValueError naming the file when it does not exist or fails to load (the
    config flag defers that error to the first use of the config)."""
    try:
        config = flag.value
        if config is None:
            raise ValueError(f"--{name} is required: pass --{name}=configs/<name>.py")
        config.keys()
    except OSError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("[Errno")), lines[-1] if lines else "")
        raise ValueError(f"cannot load --{name}: {detail}: pass an existing config file, e.g. "
                         "--config=configs/demo.py") from None
    return config
