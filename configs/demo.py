"""Demo: the embedded 5,000 Fashion-MNIST images at 32x32, a tiny StyleGAN2 that trains on 2 CPU cores.

python train_main.py --config=configs/demo.py --workdir=runs/demo
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()
    c.data.source = "embedded"
    c.data.fit = "pad"  # 28x28 -> 32x32 with black borders: the original pixels stay exact
    # fmap_base 256 (16-128 channels), a 2-layer mapping and no style mixing (were 512, 4 and 0.9): 1.8x the
    # images per second for a model this small, so after 10 minutes on a slow machine FID5k 55-60 instead of 103
    # (issue #27; docs/results.md, "The demo's headline figures"). StyleGAN2-ADA's CIFAR config also uses a
    # 2-layer mapping and no style mixing.
    c.model.update(resolution=32, img_channels=1, z_dim=128, w_dim=128, mapping_layers=2,
                   fmap_base=256, fmap_max=128, style_mixing_prob=0.0)
    # Batch 8 and R1 gamma 0.01 (were 32 and 0.1): at 60 kimg FID5k 55 against 112, because at this size more,
    # smaller steps beat bigger batches; README "Results", grid experiments/grids/demo_defaults.py.
    c.train.update(batch_size=8, total_kimg=200, tick_kimg=4, ckpt_kimg=20, sample_kimg=20,
                   g_lr=0.0025, d_lr=0.0025, r1_gamma=0.01, pl_weight=0.0, ema_kimg=2.0, ema_rampup=0.05)
    return c
