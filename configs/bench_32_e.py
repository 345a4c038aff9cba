"""Training-step benchmark at 32x32 RGB, batch 16, ~5M generator / ~15M discriminator parameters, with
StyleGAN2 config E's proportions: the 8-layer mapping network, channels halving per resolution
doubling (64 channels at 32x32 in G, 80 in D), the capacity at low resolutions. (``bench_32.py`` reaches
the same parameter counts with a 2-layer mapping and 2x wider 32x32 layers: 2.7x the FLOPs per step.)

python -m bench.train_step --config=configs/bench_32_e.py --config.loss.name=dual_contrastive
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()
    c.data.source = "embedded"
    c.model.update(resolution=32, img_channels=3, z_dim=512, w_dim=512, mapping_layers=8,
                   fmap_base=1024, fmap_max=256, d_fmap_base=1280, d_fmap_max=768)
    c.train.update(batch_size=16, r1_gamma=0.01)
    return c
