"""keras-attngan: Dual Contrastive Loss and Attention for GANs (Yu et al., ICCV 2021) in Keras 3."""

__version__ = "0.1.0"
