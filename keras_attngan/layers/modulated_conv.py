"""StyleGAN2's modulated convolution (Karras et al. 2020, Eq. 1-3) and the ToRGB layer."""

import keras
import tensorflow as tf

from keras_attngan.layers import fir
from keras_attngan.layers.equalized import EqualizedDense, bias_act, check_activation
from keras_attngan.layers.noise import NoiseInjection
from keras_attngan.layers.spectral import KernelWeightNorm, check_weight_norm


class ModulatedConv2D(KernelWeightNorm, keras.layers.Layer):
    """Style-modulated, optionally demodulated and 2x up-sampling convolution + noise + bias + activation.

    ``call(x, w)``: the learned affine maps w [B, w_dim] to styles s [B, in] (bias initialised to 1);
    weights are modulated w'_ijk = s_i w_ijk (StyleGAN2 Eq. 1) and, with ``demodulate``, divided by
    sqrt(sum_ik w'_ijk^2 + eps) (Eq. 3) so every output channel has unit expected variance.

    Implementation: "scaling activations" -- x * s, one ordinary convolution shared by the batch,
    then the output scaled by the per-sample demodulation factors. This is mathematically identical
    to the per-sample fused (grouped) convolution; ``bench/modconv_forms.py`` measured both on TF 2.21
    and this form was the faster one (docs/benchmarks.md).

    ``weight_norm="spectral"`` spectrally normalizes the base weight (Miyato et al. 2018,
    ``keras_attngan.layers.spectral``); the affine stays equalized, because SN would cap the spread of
    the styles over w (``keras_attngan.networks.Generator``). Demodulation divides out any scale of the
    base weight, so SN changes the forward only of ToRGB (no demodulation).
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, up=False, activation="lrelu",
                 use_noise=True, weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.up = bool(up)
        self.activation = check_activation(activation)
        self.use_noise = bool(use_noise)
        self.weight_norm = check_weight_norm(weight_norm)

    def build(self, x_shape, w_shape=None):
        in_ch = int(x_shape[-1])
        self.affine = EqualizedDense(in_ch, bias_init=1.0, name="affine")
        self.affine.build(w_shape if w_shape is not None else (None, None))
        self.add_kernel((self.kernel_size, self.kernel_size, in_ch, self.filters))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        if self.use_noise:
            res = int(x_shape[1]) * (2 if self.up else 1)
            self.noise = NoiseInjection(name="noise")
            self.noise.build((None, res, res, self.filters))

    def styles(self, w):
        """Per-sample styles s = A(w), shape [B, in_channels]."""
        return self.affine(w)

    def modulated_conv(self, x, s):
        """The convolution itself (no noise/bias/activation), given styles s [B, in]."""
        wt = self.runtime_kernel(x.dtype)
        x = x * s[:, None, None, :]
        x = fir.upsample_conv2d(x, wt) if self.up else tf.nn.conv2d(x, wt, 1, "SAME")
        if self.demodulate:
            # sum_ik (s_i w_ijk)^2 = s^2 @ sum_k w_ijk^2 -- one small matmul instead of per-sample weights.
            wsq = tf.reduce_sum(tf.square(tf.cast(wt, tf.float32)), axis=[0, 1])  # [in, out]
            d = tf.math.rsqrt(tf.matmul(tf.square(tf.cast(s, tf.float32)), wsq) + 1e-8)
            x = x * tf.cast(d, x.dtype)[:, None, None, :]
        return x

    def call(self, x, w, noise_mode="random", seed=None, noise=None):
        x = self.modulated_conv(x, tf.cast(self.styles(w), x.dtype))
        if self.use_noise:
            x = self.noise(x, noise_mode=noise_mode, seed=seed, noise=noise)
        return bias_act(x, self.bias, self.activation)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "demodulate": self.demodulate, "up": self.up, "activation": self.activation,
                "use_noise": self.use_noise, "weight_norm": self.weight_norm}


class ToRGB(ModulatedConv2D):
    """StyleGAN2 ToRGB: modulated 1x1 convolution, no demodulation, no noise, linear output."""

    def __init__(self, filters, **kwargs):
        for key in ("kernel_size", "demodulate", "up", "activation", "use_noise"):
            kwargs.pop(key, None)  # fixed by definition; get_config returns them
        super().__init__(filters, kernel_size=1, demodulate=False, up=False, activation="linear",
                         use_noise=False, **kwargs)
