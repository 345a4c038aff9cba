"""The SAGAN recipe (seed 002) at 256x256 on StyleGAN2 config E: hinge, SN in G and D, TTUR (1e-4 / 4e-4,
betas 0 / 0.9), SAGAN attention in G and D at 32x32, no R1 / path-length reg / style mixing.

python train_main.py --config=configs/sagan_256.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
"""

from keras_attngan.config import paper_config
from keras_attngan.recipes import sagan


def get_config():
    return sagan(paper_config())
