"""StyleGAN2 + SAN self-attention in G (Table 3/6 'w/ attn', Adv), 256x256.

python train_main.py --config=configs/stylegan2_attn.py --config.data.source=tfds:lsun/church_outdoor --workdir=W
Other sizes: --config.model.resolution=128 (the paper's 30k-subset ablations).
"""

from keras_attngan.config import paper_config


def get_config():
    return paper_config(attn=True)
