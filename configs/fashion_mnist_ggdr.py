"""GGDR (Lee et al. 2022, seed 004) on full Fashion-MNIST at 32x32: D's U-Net decoder predicts G's 8x8
feature map of each fake (resolution / 4, the reference's CIFAR setting), weight 10 (hard-coded there).
The paper's CIFAR numbers are ADA + GGDR: add --config.augment.name=ada to train that way (G's features
then move with the fakes' geometric augmentation).

python train_main.py --config=configs/fashion_mnist_ggdr.py --workdir=runs/fmnist_ggdr
"""

from configs.fashion_mnist import get_config as base


def get_config():
    c = base()
    c.ggdr.update(weight=10.0, resolution=8)
    return c
