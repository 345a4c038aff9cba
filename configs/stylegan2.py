"""StyleGAN2 config E baseline (Table 1/6 'StyleGAN2, Adv'), 256x256.

python train_main.py --config=configs/stylegan2.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
Other sizes: --config.model.resolution=128 (the paper's 30k-subset ablations).
"""

from keras_attngan.config import paper_config


def get_config():
    return paper_config()
