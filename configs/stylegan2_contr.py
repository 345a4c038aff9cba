"""StyleGAN2 + dual contrastive loss (Table 1/6 'Contr'), 256x256.

python train_main.py --config=configs/stylegan2_contr.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
Other sizes: --config.model.resolution=128 (the paper's 30k-subset ablations).
"""

from keras_attngan.config import paper_config


def get_config():
    return paper_config(contr=True)
