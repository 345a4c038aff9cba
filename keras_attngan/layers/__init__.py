"""Keras layers: StyleGAN2 building blocks (and, later, the attention modules)."""

from keras_attngan.layers.equalized import EqualizedConv2D, EqualizedDense, bias_act
from keras_attngan.layers.fir import Downsample2D, Upsample2D, downsample2d, upsample2d
from keras_attngan.layers.minibatch_std import MinibatchStdDev
from keras_attngan.layers.modulated_conv import ModulatedConv2D, ToRGB
from keras_attngan.layers.noise import NoiseInjection
from keras_attngan.layers.spectral import WEIGHT_NORMS, spectral_update
