"""Full Fashion-MNIST (Debian's dataset-fashion-mnist, 60k train images) at 32x32, a small StyleGAN2.

python train_main.py --config=configs/fashion_mnist.py --workdir=runs/fmnist
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()
    c.data.source = "fashion_mnist:train"
    c.data.fit = "pad"
    c.model.update(resolution=32, img_channels=1, z_dim=256, w_dim=256, mapping_layers=8,
                   fmap_base=2048, fmap_max=256)
    c.train.update(batch_size=32, total_kimg=5000, tick_kimg=4, ckpt_kimg=40, sample_kimg=40,
                   g_lr=0.0025, d_lr=0.0025, r1_gamma=0.1, ema_kimg=10.0, ema_rampup=0.05)
    return c
