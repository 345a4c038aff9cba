"""StyleGAN2 config E at 256x256 (Karras et al. 2020), the backbone of Yu et al. 2021 (same as stylegan2.py).

python train_main.py --config=configs/stylegan2_256.py --config.data.source=tfds:lsun/church_outdoor \
    --workdir=runs/church256
Lower resolutions: --config.model.resolution=128 (the paper's 128x128 ablations).
"""

from keras_attngan.config import paper_config


def get_config():
    return paper_config()
