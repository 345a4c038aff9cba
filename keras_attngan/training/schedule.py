"""Training schedules: lazy-regularization optimizer correction and the EMA generator's decay."""

import keras


def lazy_reg_ratio(interval):
    """StyleGAN2 (Appendix B): with a regularizer evaluated every ``interval`` steps as its own
    optimizer step, the optimizer sees interval + 1 updates per interval main steps."""
    return interval / (interval + 1.0) if interval and interval > 0 else 1.0


def adam_hparams(learning_rate, beta_1=0.0, beta_2=0.99, epsilon=1e-8, reg_interval=0):
    """Adam's arguments with StyleGAN2's correction for lazy regularization: lr *= c, beta ** c,
    c = k / (k + 1)."""
    c = lazy_reg_ratio(reg_interval)
    return dict(learning_rate=learning_rate * c, beta_1=beta_1 ** c, beta_2=beta_2 ** c, epsilon=epsilon)


def make_adam(learning_rate, beta_1=0.0, beta_2=0.99, epsilon=1e-8, reg_interval=0, name=None):
    """Adam with :func:`adam_hparams`."""
    return keras.optimizers.Adam(**adam_hparams(learning_rate, beta_1, beta_2, epsilon, reg_interval), name=name)


def ema_beta(cur_nimg, batch_size, ema_kimg=10.0, ema_rampup=None):
    """EMA decay per step so that the weights' half-life is ``ema_kimg`` thousand images; with
    ``ema_rampup`` the half-life is at most ``cur_nimg * ema_rampup`` early in training.
    Works on Python numbers and tensors alike."""
    ema_nimg = ema_kimg * 1000.0
    if ema_rampup is not None and ema_rampup > 0:
        ema_nimg = keras.ops.minimum(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / keras.ops.maximum(ema_nimg, 1e-8))
