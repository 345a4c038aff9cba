"""Where a training step's time goes: a TF profiler trace summarised by op type.

The trace's host plane has one event per executed TF op ("scope/name:OpType") on the executor threads,
and one per XLA thunk ("convolution.8", "fusion.12", ...) on the Eigen threads for XLA-compiled code.
Durations of ops that ran in parallel add up, so the shares are of total op time, not of wall time.
"""

import collections
import glob
import os

import tensorflow as tf

# Op types grouped into what the step spends its time on.
GROUPS = {
    "convolution (forward)": ("Conv2D", "FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"),
    "convolution (backward)": ("Conv2DBackpropInput", "Conv2DBackpropFilter",
                               "DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"),
    "convolution (XLA, fwd + bwd)": ("xla:convolution", "xla:depthwise"),
    "matmul": ("MatMul", "FusedMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "xla:dot", "xla:gemm"),
    "XLA clusters": ("XlaLaunch", "_XlaRun", "_XlaCompile", "XlaLaunchV2"),
    "collectives": ("CollectiveReduceV2", "CollectiveGatherV2", "NcclAllReduce", "CollectiveBcastSendV2"),
    "random numbers": ("StatelessRandomNormalV2", "StatelessRandomUniformV2", "StatelessRandomGetKeyCounter"),
    "optimizer": ("ResourceApplyAdam", "AssignVariableOp", "AssignSubVariableOp", "AssignAddVariableOp"),
}


RUNTIME_EVENTS = {"BlockUntilReady"}  # waiting, not work


def op_type_of(event_name):
    """"scope/name:_MklNativeConv2D" -> "Conv2D" (oneDNN variants counted as the op they implement);
    None for executor bookkeeping events ("ExecutorState::Process")."""
    if "::" in event_name:
        return None
    if ":" not in event_name:  # an XLA thunk: "convolution.8" -> "xla:convolution"
        return None if event_name in RUNTIME_EVENTS else "xla:" + event_name.split(".")[0]
    op = event_name.rsplit(":", 1)[1]
    for prefix in ("_MklNative", "_Mkl", "_"):
        if op.startswith(prefix) and op not in GROUPS["XLA clusters"]:
            op = op[len(prefix):]
            break
    return op


def group_of(op_type):
    for group, types in GROUPS.items():
        if op_type in types or (op_type.startswith("xla:") and op_type.startswith(types)):
            return group
    return "element-wise (XLA fused)" if op_type.startswith("xla:") else "element-wise and other"


def trace(fn, logdir):
    """Runs ``fn()`` under the TF profiler, writing the trace to ``logdir``; returns the xplane path."""
    tf.profiler.experimental.start(logdir)
    try:
        fn()
    finally:
        tf.profiler.experimental.stop()
    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")),
                   key=os.path.getmtime)
    if not paths:
        raise RuntimeError(f"the profiler wrote no trace under {logdir}")
    return paths[-1]


def op_times(xplane_path):
    """{op_type: seconds} summed over the executor threads of the host plane."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_numa", "tf_inter_op")):
                continue
            for event in line.events:
                op = op_type_of(plane.event_metadata[event.metadata_id].name)
                if op:
                    totals[op] += event.duration_ps * 1e-12
    return totals


def summary(totals, top=8):
    """Lines: time share per group, then the top op types."""
    total = sum(totals.values()) or 1.0
    groups = collections.Counter()
    for op, t in totals.items():
        groups[group_of(op)] += t
    lines = [f"op time {total:.2f} s (summed over threads)"]
    lines += [f"  {g:<26} {t / total:6.1%}" for g, t in groups.most_common()]
    lines.append("  top op types: " + ", ".join(f"{op} {t / total:.1%}" for op, t in totals.most_common(top)))
    return lines
