"""ContraD (Jeong & Shin 2021) on StyleGAN2 config E at 256x256 (paper_config), the AFHQ recipe of the
reference scaled to 256 (docs/methods.md, ContraD): batch 64, lr 0.0025, lazy R1 gamma 0.5 every 16
steps on h_d(D(T(x))), EMA half-life 20 kimg, the stronger ``simclr_hq`` T (add cutout with
--config.contrad.augment=simclr_hq_cutout). Set data.source to the dataset.

python train_main.py --config=configs/contrad_256.py --config.data.source=folder:/data/afhq/cat \
    --workdir=runs/contrad256
"""

from keras_attngan.config import paper_config


def get_config():
    c = paper_config()
    c.contrad.update(enabled=True, augment="simclr_hq")
    c.train.update(batch_size=64, g_lr=0.0025, d_lr=0.0025, r1_gamma=0.5, r1_interval=16, ema_kimg=20.0)
    return c
