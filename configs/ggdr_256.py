"""GGDR (Lee et al. 2022, seed 004) at 256x256 on StyleGAN2 config E (keras_attngan.config.paper_config):
D's U-Net decoder predicts G's 64x64 feature map of each fake (the reference's --ggdr_res default for
256 px), weight 10 (hard-coded in the reference's loss_ggdr.py).

python train_main.py --config=configs/ggdr_256.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
"""

from keras_attngan.config import paper_config


def get_config():
    c = paper_config()
    c.ggdr.update(weight=10.0, resolution=64)
    return c
