"""Training across several machines (``train.strategy=multi_worker``), for real: two worker processes on
127.0.0.1 ports, one CPU device each. The 2-worker step equals the one-device step on the same global
batch; a killed worker makes the other stop with one line, and running both again resumes. Plus the
one-line errors for a wrong cluster description and the non-chief writing nothing."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.training import cluster
from keras_attngan.training import strategy as st
from tests import test_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = test_main.TINY + ["--config.train.strategy=multi_worker"]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def start_workers(args, ports=None, script=("train_main.py",)):
    """Starts one process per worker with its TF_CONFIG; returns the Popen objects (worker 0 = chief)."""
    ports = ports or free_ports(2)
    procs = []
    for i in range(len(ports)):
        env = dict(os.environ, TF_CONFIG=tf_config(ports, i), TF_CPP_MIN_LOG_LEVEL="3")
        procs.append(subprocess.Popen([sys.executable, *script, *args[i]], cwd=ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


def finish(procs, timeout=300):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


# ---- the 2-worker step equals the one-device step -------------------------------------------------

def _equivalence_config():
    from tests.helpers import tiny_config

    # R1 and path length every step (interval 1): every phase in one traced step variant.
    return tiny_config(resolution=8, batch_size=8, pl_weight=2.0)


def _trained_state(trainer, config, steps=3):
    """Runs ``steps`` steps on the run's real input pipeline (the embedded Fashion-MNIST, seeded and
    sharded as in training); returns the last logs and every weight."""
    from keras_attngan.training.loop import make_dataset
    from tests.helpers import all_weights
    from tests.test_training import run_steps

    logs = run_steps(trainer, make_dataset(config, seed=config.seed), steps)
    weights = all_weights(trainer.generator, trainer.discriminator, trainer.g_ema)
    return logs, weights + [trainer.pl_mean.numpy(), trainer.generator.mapping.w_avg.numpy()]


def _worker_main(out):
    """One worker of the equivalence test (run as ``python -m tests.test_multi_worker OUT.npz``)."""
    strategy = st.make_strategy("multi_worker")  # before anything initialises TensorFlow's devices
    from keras_attngan.training.setup import build_trainer

    config = _equivalence_config()
    logs, state = _trained_state(build_trainer(config, strategy), config)
    np.savez(out, *state, logs=json.dumps(logs), replicas=strategy.num_replicas_in_sync)


def test_two_workers_equal_one_device(tmp_path):
    """Global batch 8 over 2 worker processes == batch 8 on one device after 3 steps with R1 and path-length
    reg, EMA, style mixing, noise and the real input pipeline."""
    outs = [str(tmp_path / f"w{i}.npz") for i in range(2)]
    results = finish(start_workers([[o] for o in outs], script=("-m", "tests.test_multi_worker")))
    for rc, _, stderr in results:
        assert rc == 0, stderr[-3000:]
    from keras_attngan.training.setup import build_trainer

    config = _equivalence_config()
    logs, state = _trained_state(build_trainer(config), config)
    assert logs["r1_penalty"] > 0 and logs["pl_penalty"] > 0  # the regularization phases ran
    for out in outs:
        saved = np.load(out)
        assert int(saved["replicas"]) == 2
        worker_logs = json.loads(str(saved["logs"]))
        for key in logs:
            assert worker_logs[key] == pytest.approx(logs[key], rel=1e-5, abs=1e-6), key
        for i, x in enumerate(state):
            np.testing.assert_allclose(saved[f"arr_{i}"], x, atol=1e-5, rtol=0, err_msg=f"weight {i}")


# ---- train_main.py on two workers: a killed worker, resume, a workdir that is not shared --------------

def _wait_for(path, procs, timeout=240):
    t0 = time.time()
    while not os.path.exists(path):
        if any(p.poll() is not None for p in procs) or time.time() - t0 > timeout:
            for p in procs:
                p.kill()
            raise AssertionError(f"{path} never appeared: " + "\n".join(p.communicate()[1][-2000:] for p in procs))
        time.sleep(0.5)


def test_killed_worker_stops_the_other_and_both_resume(tmp_path):
    workdir = str(tmp_path / "run")
    args = TINY + [f"--workdir={workdir}", "--config.train.total_kimg=100"]
    procs = start_workers([args, args])
    _wait_for(os.path.join(workdir, "checkpoints", "ckpt-4.index"), procs)
    assert json.load(open(os.path.join(workdir, "train.lock")))["pid"] == procs[0].pid  # the chief holds the lock
    procs[1].kill()  # worker 1 dies (SIGKILL: no goodbye)
    t0 = time.time()
    rc, _, stderr = finish(procs[:1], timeout=240)[0]
    procs[1].communicate()
    assert rc == 2, stderr[-3000:]
    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, stderr[-3000:]
    assert "worker 0: lost contact with another worker" in error[0] and "start all workers again" in error[0]
    assert time.time() - t0 < 200  # detected, not hanging until a test timeout
    saved = sorted(int(n[5:-6]) for n in os.listdir(os.path.join(workdir, "checkpoints")) if n.endswith(".index"))
    assert saved and "last checkpoint is" in error[0]
    # Both again, the same command with a budget just past the last checkpoint: they resume from it.
    last = saved[-1]
    args = TINY + [f"--workdir={workdir}", f"--config.train.total_kimg={(last + 4) * 4 / 1000}"]
    results = finish(start_workers([args, args]))
    for rc, stdout, stderr in results:
        assert rc == 0, stderr[-3000:]
        assert f"resuming {workdir} from step {last}" in stdout
        assert "took over" not in stdout  # the chief released its lock when it stopped with its error line
    assert os.path.exists(os.path.join(workdir, "checkpoints", f"ckpt-{last + 4}.index"))
    assert not os.path.exists(os.path.join(workdir, "train.lock"))
    assert not os.path.exists(os.path.join(workdir, cluster.MARKER))  # the chief cleans its check file up
    stats = [json.loads(line) for line in open(os.path.join(workdir, "stats.jsonl"))]
    assert [row["step"] for row in stats] == sorted({row["step"] for row in stats})  # no tick logged twice


def test_workdir_not_shared_fails_on_every_worker(tmp_path):
    args = [TINY + [f"--workdir={tmp_path / f'own{i}'}", "--config.train.total_kimg=0.016"] for i in range(2)]
    for rc, _, stderr in finish(start_workers(args)):
        assert rc == 2, stderr[-3000:]
        assert "is not shared by all workers: worker 1 cannot see the file the chief wrote" in stderr
    assert not os.path.exists(tmp_path / "own0" / "checkpoints")  # stopped before training


def test_a_workdir_locked_elsewhere_stops_every_worker(tmp_path):
    """The chief alone takes the lock; when another run holds it, every worker stops with one line."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "train.lock").write_text(json.dumps({"host": "elsewhere", "pid": 7, "started": "earlier"}))
    args = TINY + [f"--workdir={workdir}", "--config.train.total_kimg=0.016"]
    (rc0, _, err0), (rc1, _, err1) = finish(start_workers([args, args]))
    assert rc0 == 2 and "error: " in err0 and "locked by a training run on another host (pid 7" in err0, err0[-3000:]
    assert rc1 == 2 and "worker 1: the chief could not lock" in err1, err1[-3000:]
    assert sorted(os.listdir(workdir)) == ["train.lock"]


# ---- one-line errors and the chief-only writes, in this process -------------------------------------

GOOD = {"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize("tf_config_value,message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{cluster: [", "TF_CONFIG is not valid JSON"),
    (json.dumps({"task": GOOD["task"]}), "TF_CONFIG has no 'cluster'"),
    (json.dumps(dict(GOOD, cluster={"worker": ["h1:2222"], "ps": ["h3:2222"]})), "has a 'ps' job"),
    (json.dumps(dict(GOOD, cluster={"worker": ["h1"]})), "list of 'host:port' strings"),
    (json.dumps({"cluster": GOOD["cluster"]}), "TF_CONFIG has no 'task'"),
    (json.dumps(dict(GOOD, task={"type": "chief", "index": 0})), "task type 'chief' is not a job"),
    (json.dumps(dict(GOOD, task={"type": "worker", "index": 2})), "task index 2 is not in 0..1"),
])
def test_bad_tf_config_is_one_line(tf_config_value, message):
    environ = {} if tf_config_value is None else {"TF_CONFIG": tf_config_value}
    with pytest.raises(cluster.ClusterError, match=message) as e:
        cluster.resolver("tf_config", environ)
    assert "\n" not in str(e.value)


def test_tf_config_and_slurm_resolvers(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(GOOD))
    r = cluster.resolver("tf_config")
    assert (r.task_type, r.task_id) == ("worker", 1)
    assert r.cluster_spec().as_dict() == GOOD["cluster"]
    with pytest.raises(cluster.ClusterError, match="SLURM_PROCID is not set: start every worker with srun"):
        cluster.resolver("slurm", environ={})
    # A 2-node CPU job step as srun describes it (no GPUs: nvidia-smi is absent here).
    for key, value in dict(SLURM_PROCID="1", SLURM_STEP_NUM_TASKS="2", SLURM_STEP_NODELIST="node[07-08]",
                           SLURM_STEP_TASKS_PER_NODE="1(x2)").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    r = cluster.resolver("slurm")
    assert r.cluster_spec().as_dict() == {"worker": ["node07:8888", "node08:8888"]}
    assert (r.task_type, r.task_id) == ("worker", 1)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_train_main_without_tf_config_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    r = subprocess.run([sys.executable, "train_main.py", *TINY, f"--workdir={tmp_path / 'w'}"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: train.strategy=multi_worker needs the TF_CONFIG")


def test_batch_not_divisible_by_all_replicas_names_the_workers(monkeypatch):
    class FakeStrategy:
        num_replicas_in_sync = 4

    monkeypatch.setattr(st, "num_workers", lambda strategy: 2)
    with pytest.raises(ValueError, match=r"batch_size=6 must be divisible by the 4 replicas \(2 workers x 2\)"):
        st.check_batch(6, FakeStrategy(), 2)


def test_tpu_on_tensorflow_without_tpu_support(monkeypatch):
    monkeypatch.setattr(st, "has_tpu_support", lambda: False)
    with pytest.raises(ValueError, match="no TPU support .*install requirements-tpu.txt .*docs/scaling.md"):
        st.make_strategy("tpu", resolver_fn=lambda tpu: None)
    monkeypatch.setattr(st, "has_tpu_support", lambda: True)  # a TPU build on a machine without a TPU
    with pytest.raises(ValueError, match="no TPU was found: run on a Cloud TPU VM"):
        st.make_strategy("tpu", resolver_fn=lambda tpu: None)


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path, monkeypatch):
    """Everything a run writes into its workdir is the chief's job: run the loop as a non-chief worker
    (one process stands in for it) and the workdir stays untouched, while the run itself completes."""
    from keras_attngan.training.loop import train
    from tests.helpers import tiny_config

    monkeypatch.setattr(cluster, "is_chief", lambda strategy: False)
    workdir = tmp_path / "run"
    config = tiny_config(nan_policy="rollback", metrics="fid1k", metrics_kimg=0.008)
    trainer = train(config, str(workdir))
    assert int(trainer.step.numpy()) == 4  # trained to the end
    assert not workdir.exists()


def test_message_of_a_lost_worker():
    class Strategy:  # what task_name reads
        pass

    error = tf.errors.UnavailableError(None, None, (
        "Graph execution error:\n{{function_node __wrapped__CollectiveReduceV2}} Collective ops is aborted by: "
        "The following tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n"))
    line = cluster.failure_message(error, Strategy(), "/w", "/w/checkpoints/ckpt-4")
    assert "(worker 1 stopped sending heartbeats); the last checkpoint is /w/checkpoints/ckpt-4" in line
    refused = tf.errors.UnavailableError(None, None, "failed to connect to all addresses; ipv4:127.0.0.1:5: "
                                                     "Connection refused")
    assert "refused the connection (ipv4:127.0.0.1:5)); no checkpoint was written yet" in \
        cluster.failure_message(refused, Strategy(), "/w", None)


if __name__ == "__main__":
    _worker_main(sys.argv[1])
