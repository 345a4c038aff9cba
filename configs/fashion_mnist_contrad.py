"""ContraD (Jeong & Shin 2021, seed 003) on full Fashion-MNIST at 32x32: D learns SimCLR (L_con+) and
SupCon-of-fakes (L_con-) representations of SimCLR views; h_d on its stop-gradient features is the GAN
discriminator (non-saturating L_dis). The reference's StyleGAN2-on-CIFAR settings (docs/methods.md,
ContraD): batch 64, lr 0.002, R1 gamma 0.1 every step on h_d(D(T(x))), no path-length regularization,
hidden 512. ``lineval`` reports the linear-evaluation accuracy of D's features (Table 3's protocol).

python train_main.py --config=configs/fashion_mnist_contrad.py --workdir=runs/fmnist_contrad
python eval_main.py --workdir=runs/fmnist_contrad --metrics=lineval,fid10k
"""

from configs.fashion_mnist import get_config as base


def get_config():
    c = base()
    c.contrad.update(enabled=True, temperature=0.1, lambda_con=1.0, augment="simclr", proj_dim=128, hidden=512)
    c.train.update(batch_size=64, g_lr=0.002, d_lr=0.002, r1_gamma=0.1, r1_interval=1, pl_weight=0.0,
                   metrics="lineval", metrics_kimg=200)
    return c
