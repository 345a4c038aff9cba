"""Training across several machines: ``train.strategy=multi_worker``.

``tf.distribute.MultiWorkerMirroredStrategy`` (collective all-reduce across workers) with the cluster from
``TF_CONFIG`` (``train.cluster=tf_config``) or from Slurm's environment (``train.cluster=slurm``,
``SlurmClusterResolver``). Every worker runs the same command on the same shared workdir: the global batch
is split over all replicas of all workers, every worker builds the same seeded input pipeline and keeps its
own slice of each global batch (``AutoShardPolicy.DATA``), so the update equals the one-device update on
the same global batch. Only the chief (task ``chief``, else ``worker`` 0) writes into the workdir.
"""

import json
import os
import random
import re
import shutil

import numpy as np
import tensorflow as tf

from keras_attngan.config import check_cluster
from keras_attngan.training.files import WorkdirError, write_text_atomic

JOBS = ("chief", "worker")  # the task types MultiWorkerMirroredStrategy trains with
MARKER = ".multi_worker_check"


class ClusterError(ValueError):
    """The cluster description (TF_CONFIG, Slurm environment) is missing or wrong."""


def _check_tf_config(raw):
    """Parses and checks ``TF_CONFIG``; returns (cluster dict, task type, task index)."""
    if not raw or not raw.strip():
        raise ClusterError("train.strategy=multi_worker needs the TF_CONFIG environment variable on every worker "
                           "(JSON with 'cluster' and 'task', docs/scaling.md, 'Several machines'), or train.cluster=slurm "
                           "inside a Slurm job")
    try:
        spec = json.loads(raw)
    except ValueError as e:
        raise ClusterError(f"TF_CONFIG is not valid JSON ({e}): set it to e.g. "
                           '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                           '"task": {"type": "worker", "index": 0}}') from None
    cluster, task = (spec.get("cluster"), spec.get("task")) if isinstance(spec, dict) else (None, None)
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterError("TF_CONFIG has no 'cluster' (a dict of job name -> list of 'host:port'): add it, "
                           "the same on every worker")
    for job, addresses in cluster.items():
        if job not in JOBS:
            raise ClusterError(f"TF_CONFIG's cluster has a {job!r} job: multi-worker training uses only "
                               f"{' and '.join(JOBS)} tasks; remove it")
        if (not isinstance(addresses, list) or not addresses or
                not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise ClusterError(f"TF_CONFIG's cluster[{job!r}] must be a non-empty list of 'host:port' strings, "
                               f"not {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ClusterError("TF_CONFIG's cluster has more than one chief: list one, or none (worker 0 is chief)")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterError("TF_CONFIG has no 'task' with 'type' and 'index' (which task this process is): add "
                           "it, different on every worker")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise ClusterError(f"TF_CONFIG's task type {kind!r} is not a job of its cluster ({', '.join(cluster)}): "
                           "fix the task type")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise ClusterError(f"TF_CONFIG's task index {index!r} is not in 0..{len(cluster[kind]) - 1} for the "
                           f"{len(cluster[kind])} {kind} addresses: give each worker its own index")
    return cluster, kind, index


def resolver(cluster="tf_config", environ=None):
    """The cluster resolver for ``train.cluster``; ClusterError (one line) when its description is wrong."""
    environ = os.environ if environ is None else environ
    check_cluster(cluster)
    if cluster == "slurm":
        if "SLURM_PROCID" not in environ:
            raise ClusterError("train.cluster=slurm but SLURM_PROCID is not set: start every worker with srun "
                               "inside a Slurm allocation (docs/scaling.md, 'Several machines')")
        # SlurmClusterResolver counts GPUs with nvidia-smi and gives each task its share (CUDA_VISIBLE_DEVICES).
        # Without GPUs it fails (nvidia-smi missing, then a zero range step): give it placeholder GPU ids and
        # do not let it set CUDA_VISIBLE_DEVICES.
        gpu_node = shutil.which("nvidia-smi") or "CUDA_VISIBLE_DEVICES" in environ
        args = {} if gpu_node else dict(gpus_per_node=1024, gpus_per_task=1, auto_set_gpu=False)
        try:
            return tf.distribute.cluster_resolver.SlurmClusterResolver(**args)
        except (RuntimeError, ValueError, KeyError) as e:
            raise ClusterError(f"cannot read the Slurm job's layout ({str(e).splitlines()[0]}): run the workers "
                               "as one srun job step") from None
    _check_tf_config(environ.get("TF_CONFIG"))
    return tf.distribute.cluster_resolver.TFConfigClusterResolver()


def multi_worker_strategy(cluster="tf_config", timeout=0, environ=None):
    """``MultiWorkerMirroredStrategy`` over the cluster; ``timeout`` (seconds, 0 = none) aborts a collective
    that waits longer, on top of the coordination service's heartbeats that detect a dead worker."""
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout or None)
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver(cluster, environ),
                                                     communication_options=options)


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and num_workers(strategy) > 1


def num_workers(strategy):
    resolver_ = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver_ is None:
        return 1
    jobs = resolver_.cluster_spec().as_dict()
    return sum(len(jobs.get(job, [])) for job in JOBS) or 1


def strategy_name(strategy):
    """The class name users know (TF names MultiWorkerMirroredStrategy's class CollectiveAllReduceStrategy)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def task_name(strategy):
    """``worker 1``, ``chief 0``; ``""`` outside a cluster."""
    if not is_multi_worker(strategy):
        return ""
    return f"{strategy.cluster_resolver.task_type} {strategy.cluster_resolver.task_id}"


def is_chief(strategy):
    """Whether this process writes the run's files: the chief of a cluster, or the only process."""
    return strategy.extended.should_checkpoint if is_multi_worker(strategy) else True


def host_gather(strategy, value):
    """One float from every worker (host side), in worker order: a barrier that also exchanges values."""
    if not is_multi_worker(strategy):
        return np.array([float(value)])
    @tf.function  # an eager strategy.run across workers is slow and warns
    def gather(x):
        return strategy.gather(strategy.run(lambda: tf.identity(x)), axis=0)

    values = gather(tf.constant([float(value)], tf.float64)).numpy()
    per_worker = len(values) // num_workers(strategy)
    return values[::per_worker]  # the replicas of one worker all sent the same value


def check_shared_workdir(strategy, workdir):
    """Fails on every worker (one line) when a worker does not see the file the chief wrote into
    ``workdir``: the workdir must be the same shared directory (NFS, GCS) on all of them."""
    if not is_multi_worker(strategy):
        return
    path = os.path.join(workdir, MARKER)
    chief = is_chief(strategy)
    token = random.SystemRandom().randrange(1, 1 << 40) if chief else 0
    if chief:
        write_text_atomic(path, str(token))
    token = int(host_gather(strategy, token).max())  # after this barrier the chief's file exists
    try:
        with tf.io.gfile.GFile(path) as f:
            seen = f.read().strip() == str(token)
    except (OSError, tf.errors.OpError):
        seen = False
    missing = np.flatnonzero(host_gather(strategy, float(seen)) == 0)
    if chief:
        tf.io.gfile.remove(path)
    if len(missing):
        raise WorkdirError(f"{workdir} is not shared by all workers: worker{'s' * (len(missing) > 1)} "
                           f"{', '.join(map(str, missing))} cannot see the file the chief wrote there: put the "
                           "workdir on storage every worker mounts at the same path (NFS, gs://...)")


def check_same_step(strategy, step):
    """Every worker restored the same checkpoint (the same step); ValueError naming the steps otherwise."""
    steps = host_gather(strategy, step)
    if len(set(steps.tolist())) > 1:
        raise ValueError(f"the workers restored different checkpoints (steps {', '.join(str(int(s)) for s in steps)}):"
                         " give every worker the same --workdir (shared storage) and the same --checkpoint")


def failure_message(error, strategy, workdir, latest):
    """One line for a collective that failed because another worker died or stopped answering."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(error))
    tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text.split("unhealthy", 1)[1]) if "unhealthy" in text else []
    if tasks:
        reason = f"{' and '.join(f'{job} {i}' for job, i in dict.fromkeys(tasks))} stopped sending heartbeats"
    elif re.search(r"Connection refused|failed to connect", text):
        reason = "a worker refused the connection (" + (re.findall(r"ipv4:[\d.]+:\d+", text) or ["it exited"])[0] + ")"
    elif isinstance(error, tf.errors.DeadlineExceededError):
        reason = "a collective timed out (train.collective_timeout)"
    else:
        reason = (text.strip().splitlines() or [type(error).__name__])[0][:200]
    where = f"the last checkpoint is {latest}" if latest else "no checkpoint was written yet"
    return (f"{task_name(strategy)}: lost contact with another worker ({reason}); {where}: start all workers "
            f"again with the same command to resume (--workdir={workdir})")


class WorkerLost(RuntimeError):
    """Another worker died or stopped answering (its collectives failed or timed out)."""


# What a collective raises when a peer is gone: refused connections, missed heartbeats, the timeout.
LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
               tf.errors.CancelledError)
