"""StyleGAN2 + SAN in G + dual contrastive loss: the paper's best (Table 6), 256x256.

python train_main.py --config=configs/stylegan2_attn_contr.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
Other sizes: --config.model.resolution=128 (the paper's 30k-subset ablations).
"""

from keras_attngan.config import paper_config


def get_config():
    return paper_config(attn=True, contr=True)
