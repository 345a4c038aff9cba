"""StyleGAN2 config E, class-conditional, on the full labelled Fashion-MNIST (60k train images, 10 classes) at
32x32: StyleGAN2-ADA's conditioning (label embedding beside z in G's mapping, projection D with an 8-layer
label mapping).

python train_main.py --config=configs/fashion_mnist_cond.py --workdir=runs/fmnist_cond
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import conditional


def get_config():
    return conditional(base(), num_classes=10)
