"""Networks: StyleGAN2 mapping, synthesis, generator and discriminator."""

from keras_attngan.networks.discriminator import Discriminator, DiscriminatorBlock
from keras_attngan.networks.generator import Generator
from keras_attngan.networks.mapping import MappingNetwork
from keras_attngan.networks.synthesis import SynthesisBlock, SynthesisNetwork
from keras_attngan.networks.widths import num_channels
