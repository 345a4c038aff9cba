"""StyleGAN2 residual discriminator (config E) with the minibatch-stddev epilogue."""

import math

import keras
import tensorflow as tf

from keras_attngan.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev
from keras_attngan.networks.widths import block_resolutions, check_resolution, num_channels


class DiscriminatorBlock(keras.layers.Layer):
    """Residual block at ``resolution``: two 3x3 convs (the second down-samples) + 1x1 down-sampled skip,
    summed and scaled by sqrt(1/2)."""

    def __init__(self, resolution, in_channels, out_channels, **kwargs):
        super().__init__(**kwargs)
        self.resolution, self.in_channels, self.out_channels = int(resolution), int(in_channels), int(out_channels)
        self.conv0 = EqualizedConv2D(self.in_channels, 3, activation="lrelu", name="conv0")
        self.conv1 = EqualizedConv2D(self.out_channels, 3, activation="lrelu", down=True, name="conv1")
        self.skip = EqualizedConv2D(self.out_channels, 1, down=True, use_bias=False, name="skip")

    def build(self, input_shape):
        r, c = self.resolution, self.in_channels
        self.conv0.build((None, r, r, c))
        self.conv1.build((None, r, r, c))
        self.skip.build((None, r, r, c))

    def call(self, x):
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "in_channels": self.in_channels,
                "out_channels": self.out_channels}


class Discriminator(keras.Model):
    """images [B, R, R, C] -> logits [B, 1] (float32).

    ``call(img, return_features=True)`` also returns the last hidden layer (the input of the output
    layer), used for FDDF (Table 2 of Yu et al. 2021).
    """

    def __init__(self, resolution=256, img_channels=3, fmap_base=8192, fmap_max=512, mbstd_group=4,
                 mbstd_features=1, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_resolution(resolution)
        self.img_channels, self.fmap_base, self.fmap_max = int(img_channels), int(fmap_base), int(fmap_max)
        self.mbstd_group, self.mbstd_features = int(mbstd_group), int(mbstd_features)

        def nf(res):
            return num_channels(res, self.fmap_base, self.fmap_max)

        r = self.resolution
        self.fromrgb = EqualizedConv2D(nf(r), 1, activation="lrelu", name="fromrgb")
        self.fromrgb.build((None, r, r, self.img_channels))
        self.blocks = []
        for res in reversed(block_resolutions(r)):
            block = DiscriminatorBlock(res, nf(res), nf(res // 2), name=f"b{res}")
            block.build(None)
            self.blocks.append(block)
        c4 = nf(4)
        self.mbstd = MinibatchStdDev(self.mbstd_group, self.mbstd_features, name="mbstd")
        self.conv = EqualizedConv2D(c4, 3, activation="lrelu", name="conv")
        self.conv.build((None, 4, 4, c4 + self.mbstd_features))
        self.fc = EqualizedDense(c4, activation="lrelu", name="fc")
        self.fc.build((None, 16 * c4))
        self.out = EqualizedDense(1, name="out")
        self.out.build((None, c4))
        self.built = True

    def call(self, img, return_features=False):
        x = self.fromrgb(tf.cast(img, tf.float32))
        for block in self.blocks:
            x = block(x)
        x = self.conv(self.mbstd(x))
        features = self.fc(tf.reshape(x, [tf.shape(x)[0], -1]))
        logits = tf.cast(self.out(features), tf.float32)
        return (logits, features) if return_features else logits

    def get_config(self):
        return {"name": self.name, "resolution": self.resolution, "img_channels": self.img_channels,
                "fmap_base": self.fmap_base, "fmap_max": self.fmap_max, "mbstd_group": self.mbstd_group,
                "mbstd_features": self.mbstd_features}
