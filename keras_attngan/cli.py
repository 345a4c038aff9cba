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
        message = f"cannot load the config ({type(e).__name__}: {e}): check --config=<file.py>"
    sys.exit(fail(message))


def define_config_flag(default, help_text, name="config"):
    """``config_flags.DEFINE_config_file`` whose failures are one ``error:`` line (exit 2): it applies the
    ``--config.a.b=v`` overrides as it is defined, so an unknown field fails here, before absl runs."""
    from ml_collections import config_flags

    try:
        return config_flags.DEFINE_config_file(name, default, help_text)
    except (AttributeError, KeyError) as e:
        key = str(e).strip("\"'")
        args = [a.split("=")[0] for a in sys.argv[1:] if a.startswith(f"--{name}.")]
        arg = next((a for a in args if key in a[len(name) + 3:].split(".")), args[0] if args else "")
        sys.exit(fail(f"unknown config field {arg[len(name) + 3:] or key!r} ({arg}): --dry_run prints every "
                      "field of the config"))
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
