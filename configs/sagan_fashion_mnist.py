"""The SAGAN recipe (seed 002) on Fashion-MNIST at 32x32: hinge, SN in G and D, TTUR, SAGAN attention at 16x16.

python train_main.py --config=configs/sagan_fashion_mnist.py --workdir=runs/sagan_fmnist
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import sagan


def get_config():
    return sagan(base())
