"""Limited data (paper Sec. 3.3 / Fig. 6): 1,000 Fashion-MNIST images with reference attention in D at 8x8
(Eq. 8 of Yu et al. 2021), G without attention (the Table 5 / Fig. 6 comparison; configs/
fashion_mnist_refattn.py adds SAN in G, Table 12). Other sizes: --config.data.subset=5000 / 10000.

python train_main.py --config=configs/fashion_mnist_1k_refattn.py --workdir=runs/fmnist_1k_refattn
"""

from configs.fashion_mnist import get_config as base
from keras_attngan.recipes import limited_data


def get_config():
    c = limited_data(base())
    c.model.d_attention.update(type="reference", module="san", variant="eq8", resolution=8, patch_size=5,
                               share_planes=8)
    return c
