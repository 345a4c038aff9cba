"""Builds the networks, optimizers and trainer of a run from its config."""

import keras
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.config import lazy_interval
from keras_attngan.data.pipeline import class_frequencies
from keras_attngan.networks import Discriminator, Generator
from keras_attngan.registry import METHODS
from keras_attngan.training.schedule import adam_hparams, make_adam
from keras_attngan.training.strategy import precision_policy, use_xla
from keras_attngan.training.trainer import GANTrainer


# Config fields passed to the constructors under their own names: a field added to the config and to
# a constructor is wired by adding its name here, not by copying it through positional arguments.
GENERATOR_FIELDS = ("resolution", "img_channels", "z_dim", "w_dim", "mapping_layers", "mapping_lr_mul", "fmap_base",
                    "fmap_max", "style_mixing_prob", "num_classes")
DISCRIMINATOR_FIELDS = ("resolution", "img_channels", "mbstd_group", "mbstd_features", "num_classes", "cmap_dim")
TRAINER_FIELDS = ("r1_gamma", "r1_interval", "pl_weight", "pl_interval", "pl_decay", "pl_batch_shrink", "ema_kimg")


def _pick(section, names):
    return {name: section[name] for name in names}


def build_generator(model_cfg, name="generator"):
    m = model_cfg
    return Generator(**_pick(m, GENERATOR_FIELDS), attention=m.g_attention.to_dict(), weight_norm=m.g_weight_norm,
                     name=name)


def build_discriminator(model_cfg):
    m = model_cfg
    return Discriminator(**_pick(m, DISCRIMINATOR_FIELDS), fmap_base=m.d_fmap_base or m.fmap_base,
                         fmap_max=m.d_fmap_max or m.fmap_max, attention=m.d_attention.to_dict(),
                         weight_norm=m.d_weight_norm, mapping_layers=m.d_mapping_layers, name="discriminator")


def build_terms(config):
    """The objective terms the config turns on: every registered method's ``from_config`` (None when off),
    in the methods' registered order."""
    terms = (entry.obj.from_config(config) for entry in METHODS.entries())
    return [term for term in terms if term is not None]


def build_trainer(config, strategy=None, label_probs=None):
    """G, D, G_ema (initialised to G), the augmentation, the objective terms and the compiled
    :class:`GANTrainer`, initialised from config.seed, with their variables on ``strategy`` (default: the
    current one) and ``train.precision``'s policy. A class-conditional model draws its fakes' labels from
    ``label_probs``, by default the class frequencies of ``data.source``."""
    strategy = strategy or tf.distribute.get_strategy()
    if config.model.num_classes and label_probs is None:
        label_probs = data_label_probs(config)
    with strategy.scope(), precision_policy(config.train.precision):
        return _build_trainer(config, strategy, label_probs)


def data_label_probs(config):
    """The class frequencies of the configured training data; a class count that differs from
    ``model.num_classes`` is refused in one line."""
    d = config.data
    probs = class_frequencies(d.source, d.tfds_data_dir or None, d.subset)
    if len(probs) != config.model.num_classes:
        raise ValueError(f"model.num_classes={config.model.num_classes} but data.source={d.source!r} has {len(probs)} "
                         f"classes: set model.num_classes={len(probs)}")
    return probs


def _build_trainer(config, strategy, label_probs=None):
    t = config.train
    keras.utils.set_random_seed(config.seed)  # the initial weights follow the run's seed
    G = build_generator(config.model)
    g_ema = build_generator(config.model, name="g_ema")
    for src, dst in zip(G.weights, g_ema.weights):
        dst.assign(src)
    trainer = GANTrainer(G, build_discriminator(config.model), g_ema, loss=config.loss.name,
                         warmup_kimg=config.loss.warmup_kimg, ema_rampup=t.ema_rampup or None, seed=config.seed,
                         xla=use_xla(t.xla, strategy), augment=augment.build(config.augment),
                         terms=build_terms(config), label_probs=label_probs, **_pick(t, TRAINER_FIELDS))
    trainer.global_batch = t.batch_size
    # mixed_float16: dynamic loss scaling (skips steps with inf/NaN gradients, adjusts the scale).
    scaled = (keras.optimizers.LossScaleOptimizer if t.precision == "mixed_float16" else (lambda o: o))
    g_args, d_args = optimizer_args(config)
    trainer.compile(g_optimizer=scaled(make_adam(*g_args, name="g_adam")),
                    d_optimizer=scaled(make_adam(*d_args, name="d_adam")))
    return trainer


def optimizer_args(config):
    """make_adam's (lr, beta1, beta2, epsilon, lazy-reg interval) for G and for D."""
    t = config.train
    g_reg, d_reg = lazy_interval(t.pl_weight, t.pl_interval), lazy_interval(t.r1_gamma, t.r1_interval)
    return ((t.g_lr, t.beta1, t.beta2, t.adam_epsilon, g_reg), (t.d_lr, t.beta1, t.beta2, t.adam_epsilon, d_reg))


def apply_optimizer_config(trainer, config):
    """Sets both optimizers' hyper-parameters from ``config`` after a checkpoint restored them.

    The restored Adam keeps the learning rate it was saved with (a variable in its state); betas and
    epsilon are plain attributes taken from the config at build time. A resumed run must train with the
    config's values, so the learning rates are assigned again from the same make_adam formula."""
    for optimizer, args in zip((trainer.g_optimizer, trainer.d_optimizer), optimizer_args(config)):
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps Adam
        h = adam_hparams(*args)
        inner.learning_rate.assign(h["learning_rate"])
        inner.beta_1, inner.beta_2, inner.epsilon = h["beta_1"], h["beta_2"], h["epsilon"]
