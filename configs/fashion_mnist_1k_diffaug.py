"""Limited data (paper Sec. 3.3 / Fig. 6): 1,000 Fashion-MNIST images with DiffAugment (color, translation,
cutout; Zhao et al. 2020). Other sizes: --config.data.subset=5000 / 10000.

python train_main.py --config=configs/fashion_mnist_1k_diffaug.py --workdir=runs/fmnist_1k_diffaug
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import limited_data


def get_config():
    c = limited_data(base())
    c.augment.update(name="diffaugment", policy="color,translation,cutout")
    return c
