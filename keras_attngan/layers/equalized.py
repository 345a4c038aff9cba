"""Equalized-learning-rate layers of StyleGAN/StyleGAN2 (Karras et al. 2018, 2020).

Weights are stored as N(0, 1/lr_mul) and scaled at run time by lr_mul / sqrt(fan_in), so every layer
learns at the same speed under Adam; biases are scaled by lr_mul.  Activations carry StyleGAN2's gain
(sqrt(2) for leaky ReLU) so that activations keep unit variance.
"""

import math

import keras
import tensorflow as tf

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


class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with equalized learning rate, lr multiplier and bias + activation."""

    def __init__(self, units, activation="linear", lr_mul=1.0, bias_init=0.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = check_activation(activation)
        self.lr_mul = float(lr_mul)
        self.bias_init = float(bias_init)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_mul))
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_mul))
        self.weight_gain = self.lr_mul / math.sqrt(fan_in)

    def call(self, x):
        w = tf.cast(self.kernel, x.dtype) * self.weight_gain
        b = self.bias * self.lr_mul if self.use_bias else None
        return bias_act(tf.matmul(x, w), b, self.activation)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "lr_mul": self.lr_mul, "bias_init": self.bias_init, "use_bias": self.use_bias}


class EqualizedConv2D(keras.layers.Layer):
    """2-D convolution (NHWC, 'same' size) with equalized learning rate and optional FIR 2x down-sampling.

    With ``down=True`` the input is low-pass filtered with the [1,3,3,1] FIR filter before a stride-2
    convolution, as in StyleGAN2's discriminator, which avoids aliasing.
    """

    def __init__(self, filters, kernel_size=3, activation="linear", down=False, use_bias=True,
                 lr_mul=1.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation = check_activation(activation)
        self.down = bool(down)
        self.use_bias = bool(use_bias)
        self.lr_mul = float(lr_mul)

    def build(self, input_shape):
        fan_in = int(input_shape[-1]) * self.kernel_size ** 2
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, int(input_shape[-1]), self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_mul))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.weight_gain = self.lr_mul / math.sqrt(fan_in)

    def call(self, x):
        from keras_attngan.layers import fir  # local import: fir imports nothing from here

        w = tf.cast(self.kernel, x.dtype) * self.weight_gain
        if self.down:
            x = fir.downsample_conv2d(x, w)
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        b = self.bias * self.lr_mul if self.use_bias else None
        return bias_act(x, b, self.activation)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "activation": self.activation, "down": self.down, "use_bias": self.use_bias,
                "lr_mul": self.lr_mul}
