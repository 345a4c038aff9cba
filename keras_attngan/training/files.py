"""The run directory's small files (config.json, stats.jsonl, metrics.jsonl): written atomically, read
with one-line errors, and trimmed on resume so that no tick is logged twice."""

import contextlib
import json
import os

import tensorflow as tf

from keras_attngan.utils.disk import is_disk_full


class WorkdirError(RuntimeError):
    """The run directory cannot be written (read-only, full disk, not a directory)."""


def _reason(e):
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text[:200]


def _size(n):
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def _free_bytes(path):
    """Free bytes on the local file system holding ``path`` (None for other file systems)."""
    if "://" in path:
        return None
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def writing(path, needed=None):
    """Turns a failed write under ``path`` into one WorkdirError line naming it and the fix; a full disk is
    named as such, with the free space and ``needed`` (bytes a write of this kind takes, when known)."""
    try:
        yield
    except (OSError, tf.errors.OpError) as e:
        if is_disk_full(e):
            free = _free_bytes(path)
            detail = ", ".join(x for x in (f"{_size(free)} free" if free is not None else "",
                                           f"the last checkpoint took {_size(needed)}" if needed else "") if x)
            raise WorkdirError(f"cannot write {path}: no space left on the device that holds it (ENOSPC"
                               f"{'; ' + detail if detail else ''}): free disk space or pass a --workdir on a "
                               "larger disk; checkpoints written before are intact") from None
        raise WorkdirError(f"cannot write {path} ({_reason(e)}): free disk space or pass a writable "
                           "--workdir; checkpoints written before are intact") from None


def makedirs(path):
    with writing(path):
        tf.io.gfile.makedirs(path)


def write_text_atomic(path, text):
    """Writes ``text`` to a temporary file beside ``path`` and renames it over ``path``: a reader never
    sees half a file, and a failed write leaves the old file as it was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with writing(path):
        try:
            with tf.io.gfile.GFile(tmp, "w") as f:
                f.write(text)
            tf.io.gfile.rename(tmp, path, overwrite=True)
        finally:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)


def read_json(path, what="file"):
    """The JSON object in ``path`` (None when it does not exist); ValueError naming a corrupt file."""
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            value = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({_reason(e)}): the {what} is corrupt; restore it from a "
                         "backup or delete it") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object: the {what} is corrupt")
    return value


def append_jsonl(path, row):
    """Appends one JSON line (a tick's stats, a metric's result) to ``path``."""
    with writing(path):
        tf.io.gfile.makedirs(os.path.dirname(path) or ".")
        with tf.io.gfile.GFile(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def trim_jsonl(path, max_step):
    """Drops the rows of a per-tick log whose ``step`` lies beyond ``max_step`` (written after the
    checkpoint a run resumes from), so the resumed run does not log those ticks twice. Unreadable
    lines (a kill mid-write) are dropped too. Returns how many rows were dropped."""
    if not tf.io.gfile.exists(path):
        return 0
    with tf.io.gfile.GFile(path) as f:
        lines = f.read().splitlines()
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= max_step:
            kept.append(line)
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(line + "\n" for line in kept))
    return len(lines) - len(kept)
