"""Benchmark size: 32x32 RGB, batch 16, about 5M generator / 15M discriminator parameters.

python -m bench.train_step --config=configs/bench_32.py
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()
    c.data.source = "embedded"
    c.model.update(resolution=32, img_channels=3, z_dim=512, w_dim=512, mapping_layers=2,
                   fmap_base=2048, fmap_max=256, d_fmap_base=2560, d_fmap_max=512)
    c.train.update(batch_size=16, r1_gamma=0.01)
    return c
