"""StyleGAN2 config E at 256x256 (Karras et al. 2020), the backbone of Yu et al. 2021.

python train_main.py --config=configs/stylegan2_256.py --config.data.source=tfds:lsun/church_outdoor \
    --workdir=runs/church256
Lower resolutions: --config.model.resolution=128 (the paper's 128x128 ablations).
"""

from keras_attngan.config import default_config


def get_config():
    c = default_config()  # config E: fmap_base 8192, fmap_max 512, batch 32, R1 gamma 10, EMA 10 kimg
    c.data.source = "tfds:lsun/church_outdoor"
    c.data.xflip = False
    c.model.update(resolution=256, img_channels=3)
    c.train.update(total_kimg=25000.0, tick_kimg=4, ckpt_kimg=200, sample_kimg=200)
    return c
