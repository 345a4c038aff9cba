"""One training run per workdir: ``<workdir>/train.lock``.

A second ``train_main.py`` on the same workdir (a user's second terminal, a scheduler retrying a job that is
still running) would write checkpoints into the same folder and log every tick twice. The lock file is
created before anything else is written and holds who owns the run (host, pid, process start, command), so
the refusal can name the holder. It is removed on every exit path that runs Python code (normal end, error,
Ctrl-C, SIGTERM, a second Ctrl-C's immediate exit); after ``kill -9`` or a crash it stays, and the next start
on the same host sees that its process is gone and takes it over with one line. A lock held from another
host cannot be checked from here: the refusal says how to remove it once that run is known to be dead.

On a local file system the lock is created with ``O_EXCL`` (atomic: of two starts at the same moment exactly
one wins). Other file systems (``gs://``) have no exclusive create through ``tf.io.gfile``: there the lock is
written, read back and compared, which catches every start that is not simultaneous to the second.
"""

import atexit
import contextlib
import datetime
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid

import tensorflow as tf

from keras_attngan.training.files import WorkdirError, writing

LOCK_NAME = "train.lock"
_HELD = []  # the locks this process holds, for release_all() on an immediate exit


@contextlib.contextmanager
def interrupts_deferred():
    """Ctrl-C (and SIGTERM, which the tools route to the SIGINT handler) waits until the block is done, so
    that creating the workdir and its lock, or giving them back, is never cut in half (a lock file written
    but not yet known as ours would be left behind). The deferred signal is delivered right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, caught[0])
            else:
                raise KeyboardInterrupt


class WorkdirLocked(WorkdirError):
    """Another run holds the workdir's lock."""


def _is_local(path):
    return "://" not in path or path.startswith("file://")


def _process_start(pid):
    """The process's start time in clock ticks since boot (Linux), so a pid reused by another process after
    the holder died is not mistaken for the holder; None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _alive(holder):
    """Whether the lock's holder (on this host) still runs."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if holder.get("boot_id") and _boot_id() and holder["boot_id"] != _boot_id():
        return False  # the machine rebooted since: every process of that boot is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    start = holder.get("process_start")
    return start is None or _process_start(pid) in (None, start)


def describe(holder):
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {holder.get('started', '?')}"
            + (f": {holder['command']}" if holder.get("command") else ""))


class WorkdirLock:
    """``<workdir>/train.lock`` for the lifetime of a training process (see the module docstring)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.path = os.path.join(workdir, LOCK_NAME)
        self.token = uuid.uuid4().hex
        self.held = False

    def _content(self):
        return json.dumps({
            "host": socket.gethostname(), "pid": os.getpid(), "process_start": _process_start(os.getpid()),
            "boot_id": _boot_id(), "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "token": self.token}, indent=2) + "\n"

    def read(self):
        """The holder's record (a dict; ``{}`` when unreadable), or None when there is no lock."""
        try:
            with tf.io.gfile.GFile(self.path) as f:
                text = f.read()
        except tf.errors.NotFoundError:
            return None
        try:
            holder = json.loads(text)
        except ValueError:
            return {}
        return holder if isinstance(holder, dict) else {}

    def _create(self):
        """Creates the lock file; False when it already exists."""
        with writing(self.path):
            if _is_local(self.path):
                path = self.path[len("file://"):] if self.path.startswith("file://") else self.path
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "w") as f:
                    f.write(self._content())
                return True
            if tf.io.gfile.exists(self.path):
                return False
            with tf.io.gfile.GFile(self.path, "w") as f:
                f.write(self._content())
            return (self.read() or {}).get("token") == self.token  # the last writer of a race wins

    def acquire(self):
        """Takes the lock; WorkdirLocked naming the holder when another live run has it. A lock whose
        process is gone (same host) is taken over with one ``warning:`` line."""
        for attempt in range(5):  # a race with another start that takes over the same stale lock: look again
            if self._create():
                self.held = True
                _HELD.append(self)
                return self
            holder = self.read()
            if holder is None:
                continue  # released between our create and our read
            if holder == {} and not attempt:
                time.sleep(1.0)  # unreadable: maybe being written by a start that just created it; look again
                continue
            same_host = holder.get("host") == socket.gethostname()
            if holder and same_host and _alive(holder):
                raise WorkdirLocked(f"{self.workdir} is in use by another training run ({describe(holder)}): wait "
                                    "for it to finish, or pass another --workdir")
            if holder and not same_host:  # whether it still runs cannot be checked from here
                raise WorkdirLocked(f"{self.workdir} is locked by a training run on another host ({describe(holder)})"
                                    f": wait for it to finish, or pass another --workdir; if that run is no longer "
                                    f"running, delete {self.path}")
            # Stale (its process is gone) or unreadable (a kill while writing it): move it aside atomically,
            # so of two starts taking it over only one succeeds.
            aside = f"{self.path}.stale-{self.token}"
            try:
                tf.io.gfile.rename(self.path, aside)
            except tf.errors.NotFoundError:
                continue
            tf.io.gfile.remove(aside)
            print(f"warning: took over {self.path} from {describe(holder) if holder else 'an unreadable lock'}, "
                  "which is no longer running", flush=True)
        raise WorkdirLocked(f"cannot take {self.path}: other starts keep taking it; start one run per --workdir")

    def release(self):
        """Removes the lock if it is still ours (never another run's)."""
        if not self.held:
            return
        self.held = False
        if self in _HELD:
            _HELD.remove(self)
        try:
            if (self.read() or {}).get("token") == self.token:
                tf.io.gfile.remove(self.path)
        except (OSError, tf.errors.OpError):
            pass  # the workdir vanished or became unwritable: nothing more to do on the way out

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class WorkdirClaim:
    """The start of a run in ``workdir``: the chief creates the workdir (noting whether it existed) and takes
    its lock; under multi-worker training every worker learns whether the chief got it, so all stop with the
    chief's line instead of waiting for it. :meth:`commit` marks the moment the run starts writing its files;
    :meth:`release` gives the lock back and, for a start that failed before :meth:`commit`, also removes the
    workdir it created if it is still empty, so a failed start leaves nothing behind."""

    def __init__(self, workdir, strategy=None, chief=True):
        self.workdir, self.strategy, self.chief = workdir, strategy, chief
        self.lock = WorkdirLock(workdir)
        self.created = self.committed = False

    def acquire(self):
        from keras_attngan.training import cluster

        error = None
        if self.chief:
            with interrupts_deferred():
                self.created = not tf.io.gfile.isdir(self.workdir)
                with writing(self.workdir):
                    tf.io.gfile.makedirs(self.workdir)
                try:
                    self.lock.acquire()
                except WorkdirError as e:
                    error = e
        if self.strategy is not None and cluster.is_multi_worker(self.strategy):
            if cluster.host_gather(self.strategy, float(error is None)).min() == 0 and error is None:
                raise WorkdirLocked(f"{cluster.task_name(self.strategy)}: the chief could not lock {self.workdir} "
                                    "(its error line says why)")
        if error is not None:
            self.release()
            raise error
        return self

    def commit(self):
        self.committed = True

    def release(self):
        with interrupts_deferred():
            self.lock.release()
            if self.chief and self.created and not self.committed:
                try:
                    if not tf.io.gfile.listdir(self.workdir):
                        tf.io.gfile.rmtree(self.workdir)
                except (OSError, tf.errors.OpError):
                    pass


def release_all():
    """Releases every lock of this process (before ``os._exit``, which skips ``finally`` and atexit)."""
    for lock in list(_HELD):
        lock.release()


atexit.register(release_all)
