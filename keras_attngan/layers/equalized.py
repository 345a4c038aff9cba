"""Equalized-learning-rate layers of StyleGAN/StyleGAN2 (Karras et al. 2018, 2020).

Weights are stored as N(0, 1/lr_mul) and scaled at run time by lr_mul / sqrt(fan_in), so every layer
learns at the same speed under Adam; biases are scaled by lr_mul.  Activations carry StyleGAN2's gain
(sqrt(2) for leaky ReLU) so that activations keep unit variance.

``weight_norm="spectral"`` replaces the run-time gain by spectral normalization, K / sigma(K)
(Miyato et al. 2018); see ``keras_attngan.layers.spectral`` for the parameterization and its init.
"""

import math

import keras
import tensorflow as tf

from keras_attngan.layers.spectral import KernelWeightNorm, check_weight_norm

LRELU_ALPHA = 0.2
# activation name -> (function, default gain)
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "lrelu": (lambda x: tf.nn.leaky_relu(x, LRELU_ALPHA), math.sqrt(2.0)),
}


def check_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: use one of {sorted(ACTIVATIONS)}")
    return name


def bias_act(x, bias=None, activation="linear", gain=None):
    """Adds a per-channel bias (last axis), applies the activation and multiplies by its gain."""
    if bias is not None:
        x = x + tf.cast(bias, x.dtype)
    fn, default_gain = ACTIVATIONS[activation]
    x = fn(x)
    gain = default_gain if gain is None else gain
    return x * gain if gain != 1.0 else x


class EqualizedDense(KernelWeightNorm, keras.layers.Layer):
    """Fully connected layer with equalized learning rate (or spectral normalization: ``weight_norm``),
    lr multiplier and bias + activation."""

    def __init__(self, units, activation="linear", lr_mul=1.0, bias_init=0.0, use_bias=True,
                 weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = check_activation(activation)
        self.lr_mul = float(lr_mul)
        self.bias_init = float(bias_init)
        self.use_bias = bool(use_bias)
        self.weight_norm = check_weight_norm(weight_norm)

    def build(self, input_shape):
        self.add_kernel((int(input_shape[-1]), self.units), self.lr_mul)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_mul))

    def call(self, x):
        w = self.runtime_kernel(x.dtype)
        b = self.bias * self.lr_mul if self.use_bias else None
        return bias_act(tf.matmul(x, w), b, self.activation)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "lr_mul": self.lr_mul, "bias_init": self.bias_init, "use_bias": self.use_bias,
                "weight_norm": self.weight_norm}


class EqualizedConv2D(KernelWeightNorm, keras.layers.Layer):
    """2-D convolution (NHWC, 'same' size) with equalized learning rate (or spectral normalization:
    ``weight_norm``) and optional FIR 2x down-sampling.

    With ``down=True`` the input is low-pass filtered with the [1,3,3,1] FIR filter before a stride-2
    convolution, as in StyleGAN2's discriminator, which avoids aliasing.
    """

    def __init__(self, filters, kernel_size=3, activation="linear", down=False, use_bias=True,
                 lr_mul=1.0, weight_norm="equalized", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation = check_activation(activation)
        self.down = bool(down)
        self.use_bias = bool(use_bias)
        self.lr_mul = float(lr_mul)
        self.weight_norm = check_weight_norm(weight_norm)

    def build(self, input_shape):
        self.add_kernel((self.kernel_size, self.kernel_size, int(input_shape[-1]), self.filters), self.lr_mul)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        from keras_attngan.layers import fir  # local import: fir imports nothing from here

        w = self.runtime_kernel(x.dtype)
        if self.down:
            x = fir.downsample_conv2d(x, w)
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        b = self.bias * self.lr_mul if self.use_bias else None
        return bias_act(x, b, self.activation)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "activation": self.activation, "down": self.down, "use_bias": self.use_bias,
                "lr_mul": self.lr_mul, "weight_norm": self.weight_norm}
