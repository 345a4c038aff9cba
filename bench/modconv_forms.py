"""Measures the two ways to run StyleGAN2's modulated convolution on this TF build.

    python -m bench.modconv_forms --batch=16 --res=32 --channels=128

"fused": per-sample weights and one grouped convolution (input [1, H, W, B*C], filter [k, k, C, B*O]).
"scaling": scale activations by the styles, one shared convolution, scale outputs by the demodulation
factors (what keras_attngan.layers.ModulatedConv2D implements). Both are timed forward+backward, with
and without XLA, and checked to agree.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from absl import app, flags

_BATCH = flags.DEFINE_integer("batch", 16, "Batch size.")
_RES = flags.DEFINE_integer("res", 32, "Resolution.")
_CH = flags.DEFINE_integer("channels", 128, "Input = output channels.")
_ITERS = flags.DEFINE_integer("iters", 20, "Timed iterations.")


def fused(x, w, s):
    b, h, wd, c = x.shape
    o = w.shape[-1]
    wb = w[None] * s[:, None, None, :, None]  # [B, k, k, C, O]
    wb = wb * tf.math.rsqrt(tf.reduce_sum(tf.square(wb), axis=[1, 2, 3], keepdims=True) + 1e-8)
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, b * c])
    wg = tf.reshape(tf.transpose(wb, [1, 2, 3, 0, 4]), [w.shape[0], w.shape[1], c, b * o])
    y = tf.nn.conv2d(xg, wg, 1, "SAME")  # grouped: filter in-depth C divides input depth B*C
    return tf.transpose(tf.reshape(y, [h, wd, b, o]), [2, 0, 1, 3])


def scaling(x, w, s):
    y = tf.nn.conv2d(x * s[:, None, None, :], w, 1, "SAME")
    d = tf.math.rsqrt(tf.matmul(tf.square(s), tf.reduce_sum(tf.square(w), axis=[0, 1])) + 1e-8)
    return y * d[:, None, None, :]


def timed(fn, x, w, s, xla):
    @tf.function(jit_compile=xla)
    def step():
        with tf.GradientTape() as tape:
            tape.watch([x, w, s])
            y = fn(x, w, s)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, [x, w, s])

    for _ in range(3):
        y, _ = step()
    t0 = time.perf_counter()
    for _ in range(_ITERS.value):
        y, g = step()
    g[0].numpy()
    return (time.perf_counter() - t0) / _ITERS.value, y.numpy()


def main(argv):
    del argv
    rng = np.random.RandomState(0)
    b, r, c = _BATCH.value, _RES.value, _CH.value
    x = tf.constant(rng.randn(b, r, r, c), tf.float32)
    w = tf.constant(rng.randn(3, 3, c, c) / np.sqrt(9 * c), tf.float32)
    s = tf.constant(rng.randn(b, c) * 0.5 + 1, tf.float32)
    print(f"modulated 3x3 conv, batch {b}, {r}x{r}, {c}->{c} channels, forward+backward")
    outs = {}
    for xla in (False, True):
        for name, fn in (("fused", fused), ("scaling", scaling)):
            try:
                dt, outs[name] = timed(fn, x, w, s, xla)
                print(f"  {name:8s} xla={xla!s:5s} {dt * 1000:8.1f} ms")
            except Exception as e:  # e.g. grouped conv without an XLA kernel on some devices
                print(f"  {name:8s} xla={xla!s:5s} failed: {str(e).splitlines()[0][:120]}")
    if len(outs) == 2:
        print(f"  max |fused - scaling| = {np.abs(outs['fused'] - outs['scaling']).max():.2e}")


if __name__ == "__main__":
    app.run(main)
