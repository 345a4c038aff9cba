"""A slower machine on this one: a Linux cgroup CPU quota, calibrated so that the matmul peak measured inside it
(``bench.common.matmul_peak``, the yardstick every clock figure names) hits a target, e.g. the ~215 GFLOP/s of
this project's slow sittings. experiments/clock.py ``--peak=215`` trains README command 1 inside it.

    python -m experiments.throttle --peak=215          # calibrate and print the quota and the peak reached

Why a quota stands in for a slow sitting: the sittings' speed differs because the VM gets less of the host's
CPU time, and a CFS quota (here per 10 ms period, so the throttling is smooth) takes CPU time away the same
way. It is not exact: on a really slow sitting the demo reached 71-86 img/s at a 214-222 GFLOP/s peak, a
larger share of the peak than on fast sittings, so a quota calibrated on the matmul peak may make small
models *slower* than a real slow sitting (conservative for "good within 10 minutes" claims); clock.py records
the img/s reached so the two can be compared.

Needs root (or a delegated cgroup) with the cgroup v1 ``cpu`` controller or cgroup v2's ``cpu.max``;
otherwise one line says so.
"""

import os
import subprocess
import sys
import time

from experiments import common

PERIOD_US = 10000
V1 = "/sys/fs/cgroup/cpu"
V2 = "/sys/fs/cgroup"
PEAK_CODE = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; from bench.common import matmul_peak; "
             "print(matmul_peak() / 1e9)")


class ThrottleError(RuntimeError):
    """No usable cgroup CPU controller, or the calibration failed; the message is one line."""


class CpuQuota:
    """A cgroup whose processes together get at most ``cpus`` CPUs of time (``set``); ``preexec`` puts a child
    process into it. ``close`` removes it (processes still inside keep running unthrottled elsewhere only
    after they exit: call it after they ended)."""

    def __init__(self, name=None):
        name = name or f"keras_attngan_throttle_{os.getpid()}"
        if os.path.isfile(os.path.join(V1, "cpu.cfs_quota_us")):
            self.path, self.v2 = os.path.join(V1, name), False
        elif "cpu" in _read(os.path.join(V2, "cgroup.controllers")).split():
            self.path, self.v2 = os.path.join(V2, name), True
        else:
            raise ThrottleError("no cgroup CPU controller found (cgroup v1 /sys/fs/cgroup/cpu or v2 cpu.max): "
                                "throttling needs Linux with cgroups; run without --peak")
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise ThrottleError(f"cannot create the cgroup {self.path} ({e.strerror}): throttling needs root; "
                                "run as root or without --peak") from None
        self.cpus = None

    def set(self, cpus):
        quota = max(1000, int(round(cpus * PERIOD_US)))
        if self.v2:
            _write(os.path.join(self.path, "cpu.max"), f"{quota} {PERIOD_US}")
        else:
            _write(os.path.join(self.path, "cpu.cfs_period_us"), str(PERIOD_US))
            _write(os.path.join(self.path, "cpu.cfs_quota_us"), str(quota))
        self.cpus = quota / PERIOD_US

    def preexec(self, then=None):
        """A ``preexec_fn``: join the cgroup, then run ``then`` (e.g. ``common.child_preexec()``)."""
        procs = os.path.join(self.path, "cgroup.procs")

        def run():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
            if then is not None:
                then()
        return run

    def close(self):
        """Removes the cgroup; processes still inside (a child that outlived its run) move to the parent
        first, since a cgroup with members cannot be removed."""
        parent = os.path.join(os.path.dirname(self.path), "cgroup.procs")
        for pid in _read(os.path.join(self.path, "cgroup.procs")).split():
            try:
                _write(parent, pid)
            except ThrottleError:  # it exited meanwhile
                pass
        for _ in range(50):  # the kernel drops the last member a moment after the move
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise ThrottleError(f"cannot write {path} ({e.strerror}): throttling needs root") from None


def measure_peak(quota=None):
    """The matmul peak (GFLOP/s) of a fresh process, inside ``quota`` when given."""
    out = subprocess.run([sys.executable, "-c", PEAK_CODE], cwd=common.ROOT, capture_output=True, text=True,
                         preexec_fn=quota.preexec() if quota else None, timeout=600)
    if out.returncode:
        raise ThrottleError(f"measuring the matmul peak failed: {out.stderr.strip().splitlines()[-1:]}")
    return float(out.stdout.strip().splitlines()[-1])


def calibrate(target, quota, full=None, tries=4, tolerance=0.05, log=print):
    """Sets ``quota`` so that the matmul peak inside it is within ``tolerance`` of ``target`` GFLOP/s (each try
    rescales the CPU share by target / measured). Returns (unthrottled peak, peak reached)."""
    full = full or measure_peak()
    cpus = os.cpu_count() or 1
    if target >= full:
        raise ThrottleError(f"--peak={target:g} GFLOP/s is not below this machine's own peak ({full:.0f}): "
                            "nothing to throttle")
    share = cpus * target / full
    reached = None
    for i in range(tries):
        quota.set(share)
        reached = measure_peak(quota)
        log(f"throttle: {quota.cpus:.2f} of {cpus} CPUs -> matmul peak {reached:.0f} GFLOP/s (target {target:g}, "
            f"unthrottled {full:.0f})")
        if abs(reached - target) <= tolerance * target:
            break
        share *= target / reached
    return full, reached


def main(argv):
    from keras_attngan.cli import fail

    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass --peak=GFLOPS")
    try:
        if not _PEAK.value or _PEAK.value <= 0:
            raise ThrottleError("--peak is required: the target matmul peak in GFLOP/s, e.g. --peak=215")
        quota = CpuQuota()
        try:
            calibrate(_PEAK.value, quota)
        finally:
            quota.close()
    except ThrottleError as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    from absl import app, flags

    from keras_attngan.cli import parse_flags

    _PEAK = flags.DEFINE_float("peak", None, "Target matmul peak, GFLOP/s.")
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
