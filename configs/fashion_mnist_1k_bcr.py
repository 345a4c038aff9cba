"""Limited data with bCR (Zhao et al. 2020, "Improved Consistency Regularization for GANs"): 1,000
Fashion-MNIST images, D penalised for scoring an image and its translated/cut-out copy differently
(lambda_real = lambda_fake = 10). T is DiffAugment's translation and cutout, applied only inside bCR's
penalty: D's own passes see it too (augment.name), as the other 1k configs do.

python train_main.py --config=configs/fashion_mnist_1k_bcr.py --workdir=runs/fmnist_1k_bcr
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import limited_data


def get_config():
    c = limited_data(base())
    c.augment.update(name="diffaugment", policy="translation,cutout")
    c.bcr.update(enabled=True, lambda_real=10.0, lambda_fake=10.0)
    return c
