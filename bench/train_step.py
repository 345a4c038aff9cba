"""Times the training step (G main + D main, lazy regularizers at their schedule, EMA) and prints img/s.

    python -m bench.train_step --config=configs/bench_32.py --config.loss.name=dual_contrastive
    python -m bench.train_step --config=configs/bench_32.py --xla=on --precision=mixed_bfloat16
    python -m bench.train_step --config=configs/bench_32.py --strategy=mirrored --logical_cpus=2
    python -m bench.train_step --config=configs/bench_32.py --strategy=multi_worker   # 2 local workers
    python -m bench.train_step --config=configs/bench_32.py --profile=/tmp/prof   # where the time goes

Random reals are fed, so only the step is measured (not the input pipeline). Prints parameter counts,
mean step time over the timed steps (after warm-up steps that include tracing/compilation), img/s, the
model FLOPs of the step and the share of this machine's measured fp32 matmul peak they reach.

``--strategy=multi_worker`` without ``TF_CONFIG`` starts ``--workers`` local worker processes of this
script on 127.0.0.1 ports (each with its own TF_CONFIG) and prints the chief's figures; with ``TF_CONFIG``
set (one command per machine) it is one of the workers.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", "configs/demo.py", "Config file.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing, compilation).")
_STRATEGY = flags.DEFINE_enum("strategy", None, ["auto", "default", "mirrored", "tpu", "multi_worker"],
                              "Override train.strategy.")
_WORKERS = flags.DEFINE_integer("workers", 2, "--strategy=multi_worker without TF_CONFIG: local worker processes.",
                                lower_bound=1)
_XLA = flags.DEFINE_enum("xla", None, ["auto", "on", "off"], "Override train.xla.")
_PRECISION = flags.DEFINE_enum("precision", None, ["float32", "mixed_bfloat16", "mixed_float16"],
                               "Override train.precision.")
_LOGICAL_CPUS = flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into N logical devices (N replicas "
                                     "for --strategy=mirrored without GPUs).")
_PROFILE = flags.DEFINE_string("profile", "", "Also trace a few steps into this directory and print the op-time "
                               "breakdown.")


def launch_local_workers(n):
    """Runs this script as ``n`` workers of a local cluster; returns the exit code, printing the chief's output."""
    import json
    import socket
    import subprocess

    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in socks]
    for sock in socks:
        sock.close()
    procs = []
    for i in range(n):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": addresses},
                                                     "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen([sys.executable, *sys.argv], env=env, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    outputs = [p.communicate() for p in procs]
    print(f"{n} local workers on {', '.join(addresses)}; chief (worker 0):")
    print(outputs[0][0], end="")
    for i, (p, (_, stderr)) in enumerate(zip(procs, outputs)):
        if p.returncode:  # the workers' logs only when one failed
            print(f"worker {i} exited with {p.returncode}:\n{stderr[-3000:]}", file=sys.stderr)
    return max(p.returncode for p in procs)


def main(argv):
    del argv
    if _STRATEGY.value == "multi_worker" and not os.environ.get("TF_CONFIG"):
        sys.exit(launch_local_workers(_WORKERS.value))
    import tensorflow as tf

    from keras_attngan.training.cluster import strategy_name
    from keras_attngan.training.strategy import check_batch, make_strategy, split_cpu, use_xla

    if _LOGICAL_CPUS.value:
        split_cpu(_LOGICAL_CPUS.value)
    from bench.common import forward_flops, matmul_peak, train_step_timer
    from keras_attngan.config import validate
    from keras_attngan.training.setup import build_trainer

    config = _CONFIG.value
    for flag, key in ((_STRATEGY, "strategy"), (_XLA, "xla"), (_PRECISION, "precision")):
        if flag.value is not None:
            config.train[key] = flag.value
    validate(config)
    t, m, b = config.train, config.model, config.train.batch_size
    strategy = make_strategy(t.strategy, t.tpu, cluster=t.cluster, timeout=t.collective_timeout)
    check_batch(b, strategy, m.mbstd_group)
    trainer = build_trainer(config, strategy)
    timer = train_step_timer(trainer, config, _WARMUP.value)
    dt = timer(_STEPS.value)
    print(f"resolution {m.resolution} channels {m.img_channels} batch {b} loss {config.loss.name} "
          f"strategy {strategy_name(strategy)} x{strategy.num_replicas_in_sync} xla {use_xla(t.xla, strategy)} "
          f"precision {t.precision} r1_interval {t.r1_interval if t.r1_gamma else 0} "
          f"pl_interval {t.pl_interval if t.pl_weight else 0}")
    print(f"params G {trainer.generator.count_params() / 1e6:.2f}M D {trainer.discriminator.count_params() / 1e6:.2f}M")
    print(f"step {dt * 1000:.1f} ms  {b / dt:.1f} img/s")
    # Model FLOPs of a D+G step: G step = G fwd+bwd (3 G) + D fwd + input-grad (2 D) [+ D fwd on reals for
    # the contrastive loss]; D step = G fwd (1 G) + D fwd+bwd on reals and fakes (6 D). Lazy regs not counted.
    with strategy.scope():
        g = forward_flops(lambda z: trainer.generator(z, noise_mode="const"), tf.TensorSpec([1, m.z_dim]))
        d = forward_flops(trainer.discriminator, tf.TensorSpec([4, m.resolution, m.resolution, m.img_channels])) / 4
    d_passes = 9 if trainer.loss_pair.g_needs_reals else 8
    step_flops = b * (4 * g + d_passes * d)
    peak = matmul_peak()
    print(f"forward GFLOP/img: G {g / 1e9:.3f} D {d / 1e9:.3f}; D+G step {step_flops / 1e9:.0f} GFLOP "
          f"(4 G + {d_passes} D per image); matmul peak {peak / 1e9:.0f} GFLOP/s; "
          f"step reaches {step_flops / dt / peak:.0%} of it")
    if _PROFILE.value:
        from bench.profiling import op_times, summary, trace

        for line in summary(op_times(trace(lambda: timer(3), _PROFILE.value))):
            print(line)


if __name__ == "__main__":
    app.run(main)
