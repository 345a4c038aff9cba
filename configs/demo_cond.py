"""The demo made class-conditional: the embedded 5,000 labelled Fashion-MNIST images at 32x32, the demo's tiny
StyleGAN2 with a label embedding in G's mapping network and a projection D (docs/methods.md, class-conditional).

python train_main.py --config=configs/demo_cond.py --workdir=runs/demo_cond
"""

from configs.demo import get_config as base
from keras_attngan.recipes import conditional


def get_config():
    return conditional(base(), num_classes=10)
