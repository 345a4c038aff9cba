"""Limited data (paper Sec. 3.3 / Fig. 6): 1,000 Fashion-MNIST images with ADA (bgc, adaptive p towards
E[sign(D(real))] = 0.6; Karras et al. 2020). Other sizes: --config.data.subset=5000 / 10000. With 1,000
images p adapts fast: speed 100 kimg instead of 500 (the reference's value is for 100k-image sets).

python train_main.py --config=configs/fashion_mnist_1k_ada.py --workdir=runs/fmnist_1k_ada
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import limited_data


def get_config():
    c = limited_data(base())
    c.augment.update(name="ada", p=-1.0, target=0.6, speed_kimg=100.0, interval=4)
    return c
