"""The demo made class-conditional: the embedded 5,000 labelled Fashion-MNIST images at 32x32, the demo's tiny
StyleGAN2 with a label embedding in G's mapping network and a projection D (docs/methods.md, class-conditional).

python train_main.py --config=configs/demo_cond.py --workdir=runs/demo_cond
"""

from configs.demo import get_config as base
from keras_attngan.recipes import conditional


def get_config():
    c = conditional(base(), num_classes=10)
    # The demo's model as the conditional results (docs/results.md) were measured: #27 made the unconditional
    # demo narrower for speed; this config keeps the width its figures belong to.
    c.model.update(fmap_base=512, mapping_layers=4, style_mixing_prob=0.9)
    return c
