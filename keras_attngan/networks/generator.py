"""StyleGAN2 generator: mapping network + synthesis network, style mixing and truncation."""

import keras
import tensorflow as tf

from keras_attngan.networks.mapping import MappingNetwork, check_labels
from keras_attngan.networks.synthesis import SynthesisNetwork
from keras_attngan.rng import ALG, as_seed, batch_normal, maybe_fold


class Generator(keras.Model):
    """z [B, z_dim] -> images [B, R, R, C] in about [-1, 1].

    ``call(z, psi=1, truncation_cutoff=None, noise_mode='random', seed=None, training=False)``:
    with ``training`` and ``style_mixing_prob > 0`` a second latent takes over the ws from a random
    cutoff on (style mixing regularization, probability 0.9 in config E). ``seed`` ([2] int) makes all
    randomness stateless and reproducible; without it fresh random numbers are drawn.
    ``attention``: an optional spec (``{"type": "san", "resolution": 32, ...}``) for the attention module
    that replaces one resolution's convolution (Sec. 3.2 of Yu et al. 2021), see ``SynthesisBlock``.
    ``num_classes > 0``: class-conditional, ``call(z, labels=...)`` with int labels [B]; the label is embedded
    and joined with z at the mapping network's input (StyleGAN2-ADA's conditioning, see ``MappingNetwork``);
    style mixing draws its second latent for the same label and truncation moves towards the label's own
    mean w.
    ``weight_norm``: "equalized" (StyleGAN2) or "spectral" (Miyato et al. 2018, as SAGAN uses in G) for
    the synthesis network's modulated convolutions and ToRGBs; with "spectral" the training step calls
    ``keras_attngan.layers.spectral_update(G)`` once per step. The style path (mapping FCs and the
    affines) stays equalized: SN caps each layer's gain at 1, so the spread of w and of the styles over z
    cannot grow, and the latent stops reaching the image (the SAGAN recipe mode-collapsed that way: styles
    varied 2-3% over z after 24 kimg, against 45-75% with equalized lr). SAGAN has no such path; its
    conditional-BN gains are plain embeddings.
    """

    def __init__(self, resolution=256, img_channels=3, z_dim=512, w_dim=512, mapping_layers=8,
                 mapping_lr_mul=0.01, fmap_base=8192, fmap_max=512, style_mixing_prob=0.9, attention=None,
                 weight_norm="equalized", num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.style_mixing_prob = int(z_dim), float(style_mixing_prob)
        self.num_classes = int(num_classes)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul, num_classes=self.num_classes,
                                      name="mapping")
        self.synthesis = SynthesisNetwork(resolution, img_channels, w_dim, fmap_base, fmap_max, attention,
                                          weight_norm=weight_norm, name="synthesis")
        self.num_ws = self.synthesis.num_ws
        self.mapping.build((None, self.z_dim))
        self.built = True

    def __call__(self, *args, **kwargs):
        # Checked before Keras runs call(), which would wrap the one-line error in ten lines of context.
        if self.num_classes:
            check_labels(kwargs.get("labels"), self.num_classes, "generator")
        return super().__call__(*args, **kwargs)

    @property
    def resolution(self):
        return self.synthesis.resolution

    @property
    def img_channels(self):
        return self.synthesis.img_channels

    def map(self, z, psi=1.0, truncation_cutoff=None, labels=None):
        """z (and labels, conditional) -> ws [B, num_ws, w_dim], with the truncation trick when psi != 1."""
        w = self.mapping(z, labels)
        ws = tf.tile(w[:, None, :], [1, self.num_ws, 1])
        if isinstance(psi, (int, float)) and psi == 1.0:
            return ws
        return self.mapping.truncate(ws, psi, truncation_cutoff, labels)

    def draw_mixing(self, batch, seed=None):
        """The random inputs of style mixing: the second latents [batch, z_dim] and the cutoff layer
        (one per global batch, as in StyleGAN2; num_ws = no mixing, with prob. 1 - style_mixing_prob)."""
        if seed is None:
            cutoff = tf.random.uniform([], 1, self.num_ws, dtype=tf.int32)
            mix = tf.random.uniform([]) < self.style_mixing_prob
            z2 = tf.random.normal([batch, self.z_dim])
        else:
            s_cut, s_prob, s_z = (as_seed(maybe_fold(seed, i)) for i in range(3))
            cutoff = tf.random.stateless_uniform([], s_cut, 1, self.num_ws, dtype=tf.int32, alg=ALG)
            mix = tf.random.stateless_uniform([], s_prob, alg=ALG) < self.style_mixing_prob
            z2 = batch_normal([batch, self.z_dim], s_z)
        return {"z2": z2, "cutoff": tf.where(mix, cutoff, self.num_ws)}

    def mix_styles(self, z, ws, seed=None, mixing=None, labels=None):
        """Style mixing: from the cutoff layer on, ws come from the second latent (with the same labels).
        ``mixing``: the dict :meth:`draw_mixing` returns (drawn here from ``seed`` when not given)."""
        mixing = mixing if mixing is not None else self.draw_mixing(tf.shape(z)[0], seed)
        ws2 = self.map(mixing["z2"], labels=labels)
        layer = tf.range(self.num_ws)[None, :, None]
        return tf.where(layer < mixing["cutoff"], ws, ws2)

    def training_ws(self, z, seed=None, mixing=None, labels=None):
        """ws for a training phase: mapped, then style-mixed when ``style_mixing_prob > 0``.
        Layer 0 always keeps z's own w (the mixing cutoff is at least 1)."""
        ws = self.map(z, labels=labels)
        return self.mix_styles(z, ws, seed, mixing, labels) if self.style_mixing_prob > 0 else ws

    def draw_random(self, batch, seed):
        """Every random input of a training pass (style mixing and noise), drawn from ``seed``; the
        training step draws them outside XLA-compiled code (see ``SynthesisNetwork.draw_noise``)."""
        mixing = self.draw_mixing(batch, maybe_fold(seed, 0)) if self.style_mixing_prob > 0 else None
        return {"mixing": mixing, "noise": self.synthesis.draw_noise(batch, maybe_fold(seed, 1))}

    def call(self, z, psi=1.0, truncation_cutoff=None, noise_mode="random", seed=None, training=False,
             random=None, return_features=False, labels=None):
        """``random``: the dict of :meth:`draw_random` (else drawn from ``seed``). ``return_features``:
        passed to ``SynthesisNetwork.call`` (True -> ``(img, {res: block features})``). ``labels``: int
        class ids [B] of a conditional G (required then, ignored otherwise)."""
        labels = labels if self.num_classes else None
        ws = self.map(z, psi, truncation_cutoff, labels)
        if random is None and seed is not None:
            random = self.draw_random(tf.shape(z)[0], seed)
        random = random or {}
        if training and self.style_mixing_prob > 0:
            ws = self.mix_styles(z, ws, mixing=random.get("mixing"), labels=labels)
        return self.synthesis(ws, noise_mode=noise_mode, noise=random.get("noise"), return_features=return_features)

    def get_config(self):
        m, s = self.mapping, self.synthesis
        return {"name": self.name, "resolution": s.resolution, "img_channels": s.img_channels,
                "z_dim": m.z_dim, "w_dim": m.w_dim, "mapping_layers": m.num_layers,
                "mapping_lr_mul": m.lr_mul, "fmap_base": s.fmap_base, "fmap_max": s.fmap_max,
                "style_mixing_prob": self.style_mixing_prob, "attention": s.attention,
                "weight_norm": s.weight_norm, "num_classes": self.num_classes}
