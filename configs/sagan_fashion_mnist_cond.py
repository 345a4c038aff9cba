"""The SAGAN recipe (seed 002) class-conditional, on labelled Fashion-MNIST at 32x32: hinge, SN in G and D, TTUR,
SAGAN attention at 16x16, a projection D whose label embedding feeds the projection directly (Miyato & Koyama,
as SAGAN) and G conditioned through its mapping network (not SAGAN's conditional batch norm: docs/methods.md).

python train_main.py --config=configs/sagan_fashion_mnist_cond.py --workdir=runs/sagan_fmnist_cond
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import conditional, sagan


def get_config():
    return sagan(conditional(base(), num_classes=10, d_mapping_layers=0))
