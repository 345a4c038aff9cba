"""The SAGAN recipe (seed 002) class-conditional at 256x256 on StyleGAN2 config E, as SAGAN's ImageNet models:
hinge, SN in G and D, TTUR, SAGAN attention at 32x32, projection D (label embedding straight into the
projection), G conditioned through its mapping network (docs/methods.md). The data must carry labels: ImageNet
from tensorflow-datasets (prepared by hand, 1,000 classes) or a dataset_tool.py output with its class count.

python train_main.py --config=configs/sagan_256_cond.py --config.data.source=tfds:imagenet2012 --workdir=W
python train_main.py --config=configs/sagan_256_cond.py --config.data.source=tfds:mydata \
    --config.data.tfds_data_dir=DIR --config.model.num_classes=<classes> --workdir=W
"""

from keras_attngan.config import paper_config
from keras_attngan.recipes import conditional, sagan


def get_config():
    c = sagan(conditional(paper_config(), num_classes=1000, d_mapping_layers=0))
    c.data.source = "tfds:imagenet2012"
    return c
