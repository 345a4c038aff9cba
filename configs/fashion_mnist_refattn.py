"""Limited data: 1,000 Fashion-MNIST images, SAN in G + reference attention in D at 8x8 (Table 12), CPU-sized.

python train_main.py --config=configs/fashion_mnist_refattn.py --workdir=runs/fmnist_refattn
"""

from configs.fashion_mnist import get_config as base


def get_config():
    c = base()
    c.data.subset = 1000
    c.model.g_attention.update(type="san", resolution=16, patch_size=7, share_planes=8)
    c.model.d_attention.update(type="reference", module="san", variant="eq8", resolution=8, patch_size=5,
                               share_planes=8)
    return c
