"""The paper's best setting (SAN in G at 16x16 + dual contrastive loss) on full Fashion-MNIST, CPU-sized.

python train_main.py --config=configs/fashion_mnist_attn_contr.py --workdir=runs/fmnist_attn_contr
"""

from configs.fashion_mnist import get_config as base


def get_config():
    c = base()
    c.model.g_attention.update(type="san", resolution=16, patch_size=7, share_planes=8)
    c.loss.update(name="dual_contrastive", warmup_kimg=300.0)  # ~5 epochs of 60k images
    return c
