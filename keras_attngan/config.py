"""Default configuration (StyleGAN2 config E) and its validation.

Config files in ``configs/`` start from :func:`default_config` and override fields; any field can be
overridden on the command line (``--config.train.batch_size=8``).

This module assembles: the sections of the model, the loss, the data and the training system are defined
here; the augmentation's fields and each method's section come from what registered itself in
:mod:`keras_attngan.registry` (with their checks, beside their code). It imports no training code: the
training system reads its choices (strategies, precisions, clusters) from here.
"""

import ml_collections

from keras_attngan.augment.config import default_augment_config, validate_augment_config
from keras_attngan.data.sources import FITS
from keras_attngan.networks.attention_config import check_attention_config
from keras_attngan.networks.widths import check_resolution
from keras_attngan.registry import LOSSES, METHODS

WEIGHT_NORMS = ("equalized", "spectral")
STRATEGIES = ("auto", "default", "mirrored", "tpu", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
CLUSTERS = ("tf_config", "slurm")
_XLA_VALUES = {"auto": None, "on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def default_config():
    """StyleGAN2 config E defaults (Karras et al. 2020), at 256x256 RGB."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = "embedded"      # see keras_attngan.data for the accepted forms
    c.data.fit = "resize"           # 'resize' (center-crop + resize), 'pad' (center-crop + pad) or 'crop'
    c.data.tfds_data_dir = ""       # where tfds:<name> datasets are (a local path or gs://...; "" = TFDS_DATA_DIR)
    c.data.labels = False           # yield (image, label): sources with labels only (docs/data.md)
    c.data.test_source = ""         # labelled test split of cas/gen_acc ("" = derived: docs/evaluation.md)
    c.data.xflip = False
    c.data.subset = 0               # >0: train on the first N images only
    c.data.skip_bad = False         # skip unreadable images instead of stopping

    c.model = ml_collections.ConfigDict()
    c.model.resolution = 256
    c.model.img_channels = 3
    c.model.z_dim = 512
    c.model.w_dim = 512
    c.model.mapping_layers = 8
    c.model.mapping_lr_mul = 0.01
    c.model.fmap_base = 8192        # config E (config F: 16384)
    c.model.fmap_max = 512
    c.model.d_fmap_base = 0         # 0: same as fmap_base
    c.model.d_fmap_max = 0          # 0: same as fmap_max
    c.model.mbstd_group = 4
    c.model.mbstd_features = 1
    c.model.style_mixing_prob = 0.9
    # Generator attention (Sec. 3.2, Tables 3/7): replaces the non-up-sampling conv of one resolution.
    c.model.g_attention = ml_collections.ConfigDict(dict(
        type="none",                # none | san | sagan | dfn | vt
        resolution=32, patch_size=7, share_planes=8, kq_channels=0, hidden_channels=0))
    # Discriminator attention (Sec. 3.3, Table 5): 'self' or 'reference' (Eq. 8; variant eq9/eq10).
    c.model.d_attention = ml_collections.ConfigDict(dict(
        type="none", module="san", variant="eq8",
        resolution=8, patch_size=7, share_planes=8, kq_channels=0, hidden_channels=0))

    # Class-conditional G and D (docs/methods.md, conditional): 0 = unconditional; > 0 needs data.labels=True
    # and a source with this many classes. D's projection: cmap_dim (0 = nf(4)) and its label mapping's depth.
    c.model.num_classes = 0
    c.model.cmap_dim = 0
    c.model.d_mapping_layers = 8    # StyleGAN2-ADA's D mapping depth (its MappingNetwork default)
    c.model.g_weight_norm = "equalized"  # equalized (StyleGAN2's equalized lr) | spectral (Miyato et al. 2018)
    c.model.d_weight_norm = "equalized"

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "ns"              # ns | saturating | wgan_gp | hinge | dual_contrastive
    c.loss.warmup_kimg = 0.0        # train with 'ns' for this long first (paper: ~20 epochs)
    c.loss.drift = 0.0              # ProGAN's drift penalty epsilon * E[D(x)^2] (objective term); 0 = off

    # What D sees goes through this augmentation (docs/methods.md): none | diffaugment | ada | simclr*;
    # each augmentation adds the fields it reads (keras_attngan.augment.config).
    c.augment = default_augment_config()

    # Each method's own section (GGDR's ggdr, ContraD's contrad, bCR's bcr, ...), off by default: the
    # defaults its module registered (keras_attngan.methods).
    for entry in METHODS.entries():
        if entry.section:
            c[entry.section] = ml_collections.ConfigDict(entry.config)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32
    c.train.total_kimg = 25000.0
    c.train.tick_kimg = 4.0         # one Keras epoch: progress bar, logs
    c.train.ckpt_kimg = 40.0        # must be a multiple of tick_kimg
    c.train.sample_kimg = 40.0      # PNG grid of the EMA generator; a multiple of tick_kimg
    c.train.keep_checkpoints = 3
    # Divergence (docs/training.md): non-finite losses or weights are never checkpointed.
    c.train.nan_policy = "stop"     # stop: exit 2 naming the step | rollback: retry from the last finite ckpt
    c.train.nan_retries = 2         # rollback: retries (each with a fresh random stream) before stopping
    c.train.g_lr = 0.002
    c.train.d_lr = 0.002
    c.train.beta1 = 0.0
    c.train.beta2 = 0.99
    c.train.adam_epsilon = 1e-8
    c.train.r1_gamma = 10.0
    c.train.r1_interval = 16
    c.train.pl_weight = 2.0         # path-length regularization (config E); 0 disables it
    c.train.pl_interval = 4
    c.train.pl_decay = 0.01
    c.train.pl_batch_shrink = 2
    c.train.ema_kimg = 10.0
    c.train.ema_rampup = 0.0        # 0: no ramp-up (config E); e.g. 0.05 for short runs
    # Devices and numerics (docs/scaling.md): tf.distribute strategy, per-replica XLA, precision.
    c.train.strategy = "auto"       # auto | default | mirrored | tpu | multi_worker
    c.train.tpu = ""                # TPU name or grpc:// address for strategy tpu/auto (Cloud TPU VM: "")
    c.train.cluster = "tf_config"   # multi_worker: cluster from TF_CONFIG | slurm (SlurmClusterResolver)
    c.train.collective_timeout = 1800  # multi_worker: s a collective may wait (longer than chief-only pauses)
    c.train.xla = "auto"            # auto (on with GPUs, off on CPU) | on | off
    c.train.precision = "float32"   # float32 | mixed_bfloat16 | mixed_float16 (dynamic loss scaling)
    c.train.grid_size = 64          # images in the sample grid
    c.train.metrics = ""            # e.g. "fid10k,fddf10k": evaluated every metrics_kimg, logged
    c.train.metrics_kimg = 0.0      # 0: off; a multiple of tick_kimg
    c.train.tensorboard_every = 50  # steps between TensorBoard writes (and status lines when not a tty)
    return c


def paper_config(attn=False, contr=False, refattn=False, resolution=256):
    """The rows of Yu et al. 2021 on StyleGAN2 config E (Tables 1, 6, 12):

    ``attn``: SAN self-attention replacing the 32x32 convolution of G (Sec. 3.2; Table 7 picks the
    resolution per dataset, override ``model.g_attention.resolution``).
    ``contr``: the dual contrastive loss (Eq. 1-3) after a non-saturating warm-up of about 20 epochs
    (Sec. 4; 1400 kimg = 20 epochs of a 70k-image dataset: set ``loss.warmup_kimg`` to 20 x your size).
    ``refattn``: reference attention at 8x8 in D (Eq. 8, Sec. 3.3, supplementary C), the limited-data
    setting (1k-30k images; ``data.subset``).
    """
    c = default_config()
    c.data.source = "tfds:lsun/church_outdoor"
    c.model.update(resolution=resolution, img_channels=3)
    c.train.update(tick_kimg=4, ckpt_kimg=200, sample_kimg=200)
    if attn:
        c.model.g_attention.update(type="san", resolution=32)
    if contr:
        c.loss.update(name="dual_contrastive", warmup_kimg=1400.0)
    if refattn:
        c.model.d_attention.update(type="reference", module="san", variant="eq8", resolution=8)
        c.data.subset = 10000
    return c


def apply_overrides(config, overrides):
    """Sets dotted fields (``{"train.g_lr": 0.001}`` or (name, value) pairs) on ``config`` in place, as
    ``--config.x.y=v`` flags do; an int given for a float field becomes a float. ValueError (one line) for a
    field the config does not have. Returns ``config``."""
    for dotted, value in dict(overrides).items():
        *path, key = dotted.split(".")
        node = config
        for part in path:
            node = node.get(part) if hasattr(node, "get") else None
        if not hasattr(node, "keys") or key not in node:
            raise ValueError(f"unknown config field {dotted!r}")
        node[key] = type(node[key])(value) if isinstance(node[key], float) else value
    return config


def steps_per_tick(config):
    return max(1, int(round(config.train.tick_kimg * 1000 / config.train.batch_size)))


def _positive(section, name, value, integer=False):
    if (integer and value != int(value)) or not value > 0:
        kind = "a positive integer" if integer else "positive"
        raise ValueError(f"{section}.{name} must be {kind}, got {value!r}")


def lazy_interval(weight, interval):
    """The one decision whether a lazy regularizer (R1: ``train.r1_gamma``/``r1_interval``; path length:
    ``pl_weight``/``pl_interval``) runs: its interval in steps, or 0 when it is off (weight 0)."""
    return int(interval) if weight > 0 else 0


def check_strategy(name):
    if name not in STRATEGIES:
        raise ValueError(f"train.strategy={name!r} is not one of {STRATEGIES}")
    return name


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision={precision!r} is not one of {PRECISIONS}")
    return precision


def check_cluster(name):
    if name not in CLUSTERS:
        raise ValueError(f"train.cluster={name!r} is not one of {CLUSTERS}")
    return name


def parse_xla(xla):
    """``train.xla`` as True, False or None (auto); accepts on/off/true/false/auto and booleans."""
    if isinstance(xla, bool):
        return xla
    key = str(xla).strip().lower()
    if key not in _XLA_VALUES:
        raise ValueError(f"train.xla={xla!r} must be one of auto, on, off")
    return _XLA_VALUES[key]


def validate_components(config):
    """Dispatches to the checks the components registered: the named loss and augmentation, every method
    (each checks its own section, and its settings against the rest of the config)."""
    check_attention_config(config.model)
    LOSSES.entry(config.loss.name, "loss.name")
    validate_augment_config(config.augment)
    for entry in METHODS.entries():
        if entry.validate is not None:
            entry.validate(config)


def validate(config):
    """Raises ValueError with a one-line message naming the field and the fix."""
    m, t = config.model, config.train
    check_resolution(m.resolution)
    if m.img_channels not in (1, 3):
        raise ValueError(f"model.img_channels must be 1 or 3, got {m.img_channels}")
    for name in ("z_dim", "w_dim", "mapping_layers", "fmap_base", "fmap_max", "mbstd_group", "mbstd_features"):
        _positive("model", name, getattr(m, name), integer=True)
    for net in ("g", "d"):
        value = m[f"{net}_weight_norm"]
        if value not in WEIGHT_NORMS:
            raise ValueError(f"model.{net}_weight_norm={value!r} is not one of {', '.join(WEIGHT_NORMS)}")
    validate_components(config)
    if config.loss.warmup_kimg < 0:
        raise ValueError(f"loss.warmup_kimg must be >= 0, got {config.loss.warmup_kimg}")
    for name in ("batch_size", "grid_size", "keep_checkpoints", "tensorboard_every"):
        _positive("train", name, getattr(t, name), integer=True)
    for name in ("tick_kimg", "total_kimg", "g_lr", "d_lr", "adam_epsilon"):
        _positive("train", name, getattr(t, name))
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(t, name) < 1:
            raise ValueError(f"train.{name} must be in [0, 1), got {getattr(t, name)}")
    for name in ("r1_gamma", "pl_weight", "ema_kimg", "ema_rampup", "metrics_kimg"):
        if getattr(t, name) < 0:
            raise ValueError(f"train.{name} must be >= 0, got {getattr(t, name)}")
    for weight, interval in (("r1_gamma", "r1_interval"), ("pl_weight", "pl_interval")):
        if getattr(t, weight) > 0 and lazy_interval(getattr(t, weight), getattr(t, interval)) < 1:
            raise ValueError(f"train.{interval}={getattr(t, interval)} must be >= 1 when train.{weight} > 0 "
                             f"(1 = every step); set train.{weight}=0 to switch it off")
    if t.pl_weight > 0:
        _positive("train", "pl_batch_shrink", t.pl_batch_shrink, integer=True)
    if t.batch_size % min(m.mbstd_group, t.batch_size):
        raise ValueError(f"train.batch_size={t.batch_size} must be divisible by model.mbstd_group="
                         f"{m.mbstd_group} (minibatch-stddev groups); change one of them")
    names = ("ckpt_kimg", "sample_kimg") + (("metrics_kimg",) if t.metrics and t.metrics_kimg else ())
    for name in names:
        ratio = getattr(t, name) / t.tick_kimg
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(f"train.{name}={getattr(t, name)} must be a positive multiple of "
                             f"train.tick_kimg={t.tick_kimg}")
    if t.nan_policy not in ("stop", "rollback"):
        raise ValueError(f"train.nan_policy={t.nan_policy!r} is not one of stop, rollback")
    if t.nan_retries < 0:
        raise ValueError(f"train.nan_retries must be >= 0, got {t.nan_retries}")
    check_strategy(t.strategy)
    check_cluster(t.cluster)
    if t.collective_timeout < 0:
        raise ValueError(f"train.collective_timeout must be >= 0 seconds (0 = no limit), got {t.collective_timeout}")
    check_precision(t.precision)
    parse_xla(t.xla)
    if config.data.fit not in FITS:
        raise ValueError(f"data.fit must be one of {', '.join(FITS)}, got {config.data.fit!r}")
    if not isinstance(config.data.get("test_source", ""), str):
        raise ValueError(f"data.test_source must be a source string ('' = derived), got {config.data.test_source!r}")
    if not isinstance(config.data.labels, bool):
        raise ValueError(f"data.labels must be True or False, got {config.data.labels!r}")
    for name in ("num_classes", "cmap_dim", "d_mapping_layers"):
        if not isinstance(m[name], int) or m[name] < 0:
            raise ValueError(f"model.{name} must be an integer >= 0, got {m[name]!r}")
    if m.num_classes and not config.data.labels:
        raise ValueError(f"model.num_classes={m.num_classes} trains a class-conditional model on labelled data: set "
                         "data.labels=True (a source with labels), or model.num_classes=0 for an unconditional one")
    if config.data.subset < 0:
        raise ValueError(f"data.subset must be >= 0 (0 = every image), got {config.data.subset}")
    return config
