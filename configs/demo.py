"""Demo: the embedded 5,000 Fashion-MNIST images at 32x32, a tiny StyleGAN2 that trains on 2 CPU cores.

python train_main.py --config=configs/demo.py --workdir=runs/demo
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()
    c.data.source = "embedded"
    c.data.fit = "pad"  # 28x28 -> 32x32 with black borders: the original pixels stay exact
    c.model.update(resolution=32, img_channels=1, z_dim=128, w_dim=128, mapping_layers=4,
                   fmap_base=512, fmap_max=128)
    # Batch 8 and R1 gamma 0.01 (were 32 and 0.1): at 60 kimg FID5k 55 against 112, because at this size more,
    # smaller steps beat bigger batches; README "Results", grid experiments/grids/demo_defaults.py.
    c.train.update(batch_size=8, total_kimg=200, tick_kimg=4, ckpt_kimg=20, sample_kimg=20,
                   g_lr=0.0025, d_lr=0.0025, r1_gamma=0.01, pl_weight=0.0, ema_kimg=2.0, ema_rampup=0.05)
    return c
